"""The provider registry: a provider defined outside llgsim (here, in this test) is registered
and run from a TOML config, alone and in a sum, without editing any module of the package."""

from typing import Literal

import numpy as np
import pytest
from typer.testing import CliRunner

from llgsim.cli import app
from llgsim.fields import FieldProvider
from llgsim.run.providers import PROVIDERS, register_provider
from llgsim.run.runfile import Trajectory
from llgsim.run.tables import FiniteFloat, Table


class ToyField(FieldProvider):
    """E = -b sum_i S_i^z: a field b along z on every site."""

    def __init__(self, lattice, b, backend):
        self.n_sites, self.b, self.backend = lattice.n_sites, b, backend

    def evaluate(self, spins, field, energy):
        field[...] = 0.0
        field[:, 2] = self.b
        return float(-self.b * spins[:, 2].sum()) if energy else None

    def describe(self):
        return {"name": "toy", "b": self.b}


class ToyTable(Table):
    kind: Literal["toy"]
    b: FiniteFloat = 1.0


@pytest.fixture
def toy():
    register_provider("toy", ToyTable, lambda t, lattice, model, backend:
                      ToyField(lattice, t.b, backend))
    yield
    PROVIDERS.pop("toy")


CONFIG = """
[lattice]
kind = "square"
Lx = 4
[provider]
{provider}
[initial]
kind = "random"
seed = 3
[dynamics]
dt = 0.05
alpha = 0.5
steps = 1000
seed = 1
[output]
path = "unused.h5"
frame_interval = 1000
observable_interval = 1000
"""


@pytest.mark.parametrize("provider, field", [
    ('kind = "toy"\nb = 0.8', 0.8),
    ('kind = "sum"\nterms = [{ kind = "toy", b = 0.5 }, { kind = "classical", '
     'field = [0.0, 0.0, 0.3] }]', 0.8)], ids=["alone", "in-a-sum"])
def test_a_registered_provider_runs_from_toml(tmp_path, toy, provider, field):
    """Damped T = 0 motion in a uniform field b along z ends aligned with it (energy -b N)."""
    config = tmp_path / "toy.toml"
    config.write_text(CONFIG.format(provider=provider))
    out = tmp_path / "toy.h5"
    runner = CliRunner()
    assert runner.invoke(app, ["validate", str(config)]).exit_code == 0
    result = runner.invoke(app, ["run", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    with Trajectory(out) as traj:
        _, _, energy = traj.observable("energy")
        np.testing.assert_allclose(energy[-1], -field, rtol=1e-6)  # per site: 1 - S_z ~ 2 exp(-2 alpha b t) = 2e-35 at t = 50
        assert "'name': 'toy'" in str(traj.provenance["provider"])


def test_a_registered_table_is_strict(tmp_path, toy):
    config = tmp_path / "toy.toml"
    config.write_text(CONFIG.format(provider='kind = "toy"\nbee = 0.8'))
    result = CliRunner().invoke(app, ["validate", str(config)])
    assert result.exit_code == 2
    assert result.stderr == ("error: provider.bee = 0.8: expected no such key here "
                             "(see docs/running.md)\n")
