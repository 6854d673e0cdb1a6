"""Sweep files: expansion into points (order, names) and one-line refusals of bad files by
``llgsim sweep`` (exit status 2, before any cluster starts)."""

import re

import pytest
from typer.testing import CliRunner

from conftest import classical_run_toml
from llgsim.cli import app
from llgsim.errors import InputError
from llgsim.sweep.schema import MAX_NAME, expand, load_sweep

BASE = classical_run_toml(20, path="unused.h5")


def write_sweep(tmp_path, body, base=BASE):
    (tmp_path / "run.toml").write_text(base)
    path = tmp_path / "sweep.toml"
    path.write_text('base = "run.toml"\nout_dir = "out"\n' + body)
    return path


def test_product_varies_the_first_axis_slowest_and_zip_pairs_values():
    axes = {"dynamics.seed": [1, 2], "model.mu": [-0.5, 0.25, 1e-05]}
    product = expand(axes, zipped=False)
    assert [p.overrides for p in product] == [
        {"dynamics.seed": s, "model.mu": m} for s in (1, 2) for m in (-0.5, 0.25, 1e-05)]
    assert product[0].name == "seed=1_mu=-0.5" and product[5].name == "seed=2_mu=1e-05"
    zipped = expand({"dynamics.seed": [1, 2], "model.mu": [0.5, 0.25]}, zipped=True)
    assert [p.name for p in zipped] == ["seed=1_mu=0.5", "seed=2_mu=0.25"]


def test_names_are_filesystem_safe_unique_and_short():
    # axes sharing a last key part are named in full; unsafe characters become "_" plus a hash
    points = expand({"model.kT": [0.0], "provider.kT": ["a/b", "a:b"],
                     "initial.path": ["x" * 300]}, zipped=False)
    names = [p.name for p in points]
    assert len(set(names)) == 2
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9.,+=_~-]+", name) and len(name) <= MAX_NAME
        assert name.startswith("model.kT=0.0_provider.kT=a_b~")


def test_a_point_is_the_base_with_its_values_and_its_own_run_file(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, '[axes]\n"dynamics.seed" = [1, 2]\n'))
    assert sweep.out_dir == tmp_path / "out" and sweep.cluster.kind == "local"
    assert sweep.run_overrides(sweep.points[1]) == {
        "dynamics.seed": 2, "output.path": str(tmp_path / "out" / "seed=2.h5")}


@pytest.mark.parametrize("body, base, expected", [
    ('[axes]\n"dynamics.sed" = [1, 2]\n', BASE,
     "axes.dynamics.sed = [1, 2]: expected a key of the run config run.toml (did you mean "
     "dynamics.seed?)"),
    ('[axes]\n"dynamics.seed" = []\n', BASE,
     "axes.dynamics.seed = []: expected a list of at least one value"),
    ('[axes]\n', BASE, "axes = {}: expected at least one axis"),
    ('zip = true\n[axes]\n"dynamics.seed" = [1, 2, 3]\n"dynamics.alpha" = [0.1, 0.2]\n', BASE,
     "axes.dynamics.alpha = [0.1, 0.2]: expected 3 values, as many as axes.dynamics.seed"),
    ('[axes]\n"dynamics.seed" = [1, 1]\n', BASE,
     "axes = {'dynamics.seed': [1, 1]}: expected distinct points (two points are named "
     "'seed=1'"),
    ('[axes]\n"output.path" = ["a.h5"]\n', BASE, "axes.output.path = ['a.h5']: expected another "
     "key"),
    ('[axes]\n"dynamics.seed" = [1]\n', BASE.replace("dt = 0.05", "dt = 0.0"),
     "dynamics.dt = 0.0: expected greater than 0 (base run.toml, point seed=1)"),
    ('[axes]\n"dynamics.alpha" = [0.1, -1.0]\n', BASE,
     "dynamics.alpha = -1.0: expected greater than or equal to 0 (base run.toml, point "
     "alpha=-1.0)"),
    ('[axes]\n"dynamics.seed" = [1]\n[cluster]\nkind = "slurmm"\n', BASE,
     "cluster.kind = 'slurmm': expected one of 'local', 'address', 'slurm', 'pbs'"),
    ('[axes]\n"dynamics.seed" = [1]\n[cluster]\nkind = "slurm"\njobs = 2\nqueu = "x"\n', BASE,
     "cluster.queu = 'x': expected jobs or an option of dask_jobqueue's SLURMCluster (account,"),
    ('[axes]\n"dynamics.seed" = [1]\n[cluster]\nkind = "address"\naddress = "host"\n', BASE,
     "cluster.address = 'host': expected the address of a Dask scheduler"),
    ('seeds = 3\n[axes]\n"dynamics.seed" = [1]\n', BASE,
     "seeds = 3: expected no such key here (see docs/sweeps.md)"),
    ('[axes]\n"dynamics.seed" = 3\n', BASE, "axes.dynamics.seed = 3: expected a valid list"),
], ids=["unknown-axis-key", "empty-axis", "no-axes", "zip-unequal", "repeated-value",
        "output-path-axis", "base-invalid", "axis-value-invalid", "cluster-kind",
        "jobqueue-option", "address", "unknown-key", "axis-not-a-list"])
def test_bad_sweep_file_is_one_line_with_status_2(tmp_path, body, base, expected):
    result = CliRunner().invoke(app, ["sweep", str(write_sweep(tmp_path, body, base))])
    assert result.exit_code == 2
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: " + expected), result.stderr
    assert not (tmp_path / "out").exists()


def test_missing_base_names_the_base(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('base = "nope.toml"\nout_dir = "out"\n[axes]\n"dynamics.seed" = [1]\n')
    with pytest.raises(InputError, match=r"^base = 'nope.toml': expected a readable TOML file"):
        load_sweep(path)
