"""Run driver: bitwise restart, noise drawn only at kT > 0, recorder cadence, non-finite stop."""

import numpy as np
import pytest

import llgsim.run.schema
from llgsim.run.schema import parse_config
from llgsim.run.runfile import Trajectory
from llgsim.run.driver import SimulationError, run

CLASSICAL = """
[lattice]
kind = "triangular"
Lx = 6
[provider]
kind = "classical"
heisenberg = [1.0]
field = [0.0, 0.0, 0.3]
[initial]
kind = "random"
seed = 1
[dynamics]
dt = 0.05
alpha = 0.2
steps = 60
seed = 5
temperature = { kind = "linear", kT_start = 0.0, kT_end = 0.2, duration = 1.0 }
[output]
path = "unused.h5"
frame_interval = 4
observable_interval = 3
checkpoint_interval = 10
"""

ED = """
[lattice]
kind = "square"
Lx = 4
[model]
J = 6.0
filling = 0.485
[provider]
kind = "sum"
terms = [{ kind = "ed" }, { kind = "classical", heisenberg = [0.1] }]
[initial]
kind = "random"
seed = 3
[dynamics]
dt = 0.02
alpha = 0.3
steps = 20
seed = 9
temperature = { kind = "constant", kT_start = 0.05 }
[output]
path = "unused.h5"
frame_interval = 5
observable_interval = 2
checkpoint_interval = 7
frame_precision = "float64"
compression = "none"
"""


def config(text, path, steps=None):
    overrides = {("output", "path"): str(path)}
    if steps is not None:
        overrides[("dynamics", "steps")] = steps
    return parse_config(text, overrides)


def assert_same_run(path_a, path_b):
    """Bitwise equality of frames, observables and checkpoint (spins, step, time, RNG)."""
    with Trajectory(path_a) as a, Trajectory(path_b) as b:
        assert a.n_frames == b.n_frames
        for fa, fb in zip(a.frames(), b.frames()):
            assert fa[:2] == fb[:2]
            np.testing.assert_array_equal(fa[2], fb[2])
        assert a.observable_names == b.observable_names
        for name in a.observable_names:
            for xa, xb in zip(a.observable(name), b.observable(name)):
                np.testing.assert_array_equal(xa, xb)
        ca, cb = a.checkpoint(), b.checkpoint()
        assert (ca.step, ca.time, ca.rng_state) == (cb.step, cb.time, cb.rng_state)
        np.testing.assert_array_equal(ca.spins, cb.spins)


KPM = ED.replace('terms = [{ kind = "ed" }, { kind = "classical", heisenberg = [0.1] }]',
                 'terms = [{ kind = "kpm", order = 40, colors = 2, seed = 3 }]')


@pytest.mark.parametrize("text, split", [(CLASSICAL, 27), (ED, 9), (KPM, 9)],
                         ids=["classical", "ed+classical", "kpm"])
def test_resume_continues_bit_for_bit(tmp_path, text, split):
    """2n steps in one go == n steps, resume, rest: noise on (kT > 0), split off the
    checkpoint cadence so the resume also truncates entries written after the checkpoint."""
    total = parse_config(text).dynamics.total_steps
    whole, pieces = tmp_path / "whole.h5", tmp_path / "pieces.h5"
    assert run(config(text, whole), text).completed
    first = run(config(text, pieces, steps=split), text)
    assert (first.end_step, first.completed) == (split, True)
    second = run(config(text, pieces), text, resume=True)
    assert (second.start_step, second.end_step) == (split, total)
    assert_same_run(whole, pieces)
    with Trajectory(whole) as traj:
        cfg = parse_config(text)
        steps = [f[0] for f in traj.frames()]
        assert steps == list(range(0, total + 1, cfg.output.frame_interval))
        assert list(traj.observable("energy")[0]) == list(
            range(0, total + 1, cfg.output.observable_interval))
        np.testing.assert_array_equal(traj.observable("energy")[1],
                                      traj.observable("energy")[0] * cfg.dynamics.dt)


def test_stop_checkpoints_and_resume_matches(tmp_path):
    """Stopped after 33 steps, or before the first step (a new file starts with a checkpoint at
    step 0, so even that run resumes)."""
    text = CLASSICAL
    run(config(text, tmp_path / "whole.h5"), text)
    for stop_at in (0, 33):
        cut = tmp_path / f"cut{stop_at}.h5"
        calls = []
        stopped = run(config(text, cut), text,
                      stop=lambda: calls.append(1) or len(calls) > stop_at)
        assert (stopped.end_step, stopped.completed) == (stop_at, False)
        with Trajectory(cut) as traj:
            assert traj.checkpoint().step == stop_at
        run(config(text, cut), text, resume=True)
        assert_same_run(tmp_path / "whole.h5", cut)


def test_noise_is_drawn_only_when_kT_is_positive(tmp_path):
    """kT(t) = 0 throughout: no draws; constant kT > 0: one (N, 3) draw per step."""
    cold = CLASSICAL.replace('kind = "linear", kT_start = 0.0, kT_end = 0.2, duration = 1.0',
                             'kind = "constant", kT_start = 0.0')
    hot = CLASSICAL.replace('kind = "linear", kT_start = 0.0, kT_end = 0.2, duration = 1.0',
                            'kind = "constant", kT_start = 0.1')
    for text, draws in ((cold, 0), (hot, 60)):
        path = tmp_path / f"{draws}.h5"
        run(config(text, path), text)
        rng = np.random.Generator(np.random.PCG64(5))
        for _ in range(draws):
            rng.standard_normal((36, 3))
        with Trajectory(path) as traj:
            assert traj.checkpoint().rng_state == rng.bit_generator.state


def test_resume_refuses_changed_physics_and_existing_output(tmp_path):
    from llgsim.errors import InputError

    path = tmp_path / "run.h5"
    run(config(CLASSICAL, path, steps=10), CLASSICAL)
    with pytest.raises(InputError, match="^output.path = .*does not exist yet"):
        run(config(CLASSICAL, path), CLASSICAL)
    changed = CLASSICAL.replace("alpha = 0.2", "alpha = 0.25")
    with pytest.raises(InputError, match=r"^dynamics.alpha = 0.25: expected the value stored"):
        run(config(changed, path), changed, resume=True)
    with pytest.raises(InputError, match=r"^dynamics.steps = 5: expected at least the checkpoint"):
        run(config(CLASSICAL, path, steps=5), CLASSICAL, resume=True)


class PoisonedAfter:
    """Wraps a provider; from call ``calls`` on, the field at ``site`` is NaN."""

    def __init__(self, provider, calls, site):
        self.provider, self.calls, self.site = provider, calls, site
        self.n_sites, self.count = provider.n_sites, 0

    def energy_and_field(self, spins):
        energy, field = self.provider.energy_and_field(spins)
        self.count += 1
        if self.count > self.calls:
            field = field.copy()
            field[self.site, 1] = np.nan
        return energy, field

    def describe(self):
        return self.provider.describe()


def test_non_finite_field_stops_with_step_and_site(tmp_path, monkeypatch):
    build = llgsim.run.schema.build_provider

    def poisoned(cfg):
        lattice, model, provider = build(cfg)
        return lattice, model, PoisonedAfter(provider, calls, site=7)

    monkeypatch.setattr(llgsim.run.schema, "build_provider", poisoned)
    # 2 provider calls per step: call 2k + 1 gives the field at the start of step k (a NaN there
    # makes a NaN midpoint spin, which the provider refuses), 2k + 2 the midpoint field (a NaN
    # there makes a NaN new spin, which the driver catches)
    for calls, message in ((2 * 23, "step 23: spins[7] = [nan, nan, nan]"),
                           (2 * 23 + 1, "step 24: non-finite spin at site 7")):
        path = tmp_path / f"nan{calls}.h5"
        with pytest.raises(SimulationError) as info:
            run(config(CLASSICAL, path), CLASSICAL)
        assert str(info.value).startswith(message)
        with Trajectory(path) as traj:
            assert traj.checkpoint().step == 20  # the last good one (interval 10)


def test_scheme_heun_drives_heun_step(tmp_path):
    """dynamics.scheme = "heun" runs llgsim.dynamics.heun_step: the run's final spins equal a
    hand loop of heun_step with the same initial spins and noise stream (same arithmetic, so
    bitwise), and differ from the SIB run."""
    from llgsim.run.schema import build_provider, initial_spins
    from llgsim.dynamics import heun_step

    text = CLASSICAL.replace("[dynamics]", '[dynamics]\nscheme = "heun"')
    cfg = config(text, tmp_path / "heun.h5", steps=12)
    run(cfg, text)
    lattice, _, provider = build_provider(cfg)
    spins = initial_spins(cfg.initial, lattice)
    rng = np.random.Generator(np.random.PCG64(cfg.dynamics.seed))
    schedule = llgsim.run.schema.temperature_schedule(cfg)
    for step in range(12):
        kT = schedule(step * cfg.dynamics.dt)
        normals = rng.standard_normal(spins.shape) if kT > 0 else None
        spins = heun_step(spins, provider, cfg.dynamics.dt, cfg.dynamics.alpha, kT, normals).spins
    with Trajectory(tmp_path / "heun.h5") as traj:
        np.testing.assert_array_equal(traj.checkpoint().spins, spins)
    run(config(CLASSICAL, tmp_path / "sib.h5", steps=12), CLASSICAL)
    with Trajectory(tmp_path / "sib.h5") as traj:
        assert not np.array_equal(traj.checkpoint().spins, spins)
