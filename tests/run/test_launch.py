"""Running configs: bitwise restart, counter-based noise drawn only at kT > 0, recorder cadence,
host copies only where observers need them, non-finite stop."""

import numpy as np
import pytest

import llgsim.fields
import llgsim.run.providers
from llgsim.backend import Backend
from llgsim.run.driver import SimulationError
from llgsim.run.launch import run
from llgsim.run.runfile import Trajectory
from llgsim.run.schema import parse_config

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
    overrides = {"output.path": str(path)}
    if steps is not None:
        overrides["dynamics.steps"] = steps
    return parse_config(text, overrides)


def assert_same_run(path_a, path_b):
    """Bitwise equality of frames, observables and checkpoint (spins, step, time)."""
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
        assert (ca.step, ca.time) == (cb.step, cb.time)
        np.testing.assert_array_equal(ca.spins, cb.spins)


KPM = ED.replace('terms = [{ kind = "ed" }, { kind = "classical", heisenberg = [0.1] }]',
                 'terms = [{ kind = "kpm", order = 40, colors = 2, seed = 3 }]')


ML = """
[lattice]
kind = "square"
Lx = 10
[provider]
kind = "ml"
path = "{model}"
[initial]
kind = "random"
seed = 3
[dynamics]
dt = 0.02
alpha = 0.3
steps = 16
seed = 9
temperature = {{ kind = "constant", kT_start = 0.05 }}
[output]
path = "unused.h5"
frame_interval = 4
observable_interval = 2
checkpoint_interval = 5
"""

HEUN = CLASSICAL.replace("[dynamics]", '[dynamics]\nscheme = "heun"')


@pytest.fixture
def ml_text(tmp_path):
    from conftest import write_random_model

    return ML.format(model=write_random_model(tmp_path / "m.safetensors", "square"))


@pytest.fixture
def ml_canonical_text(tmp_path):
    """A random model with a chemical-potential input (llgsim.ml.network) at the filling it
    holds at mu = -3.9 on the start spins: mu* is solved at every evaluation."""
    import torch
    from conftest import mu_input_model

    from llgsim.states import random_spins

    model = mu_input_model(10, seed=2)
    lattice = model.descriptor.lattice
    path = tmp_path / "mu.safetensors"
    model.save(path, {"J": 6.0, "mu": [-4.4, -3.6]}, "0" * 64, {})
    n = float(model.site_densities(torch.from_numpy(random_spins(lattice, 3)), -3.9).sum())
    return ML.format(model=path).replace(f'path = "{path}"',
                                         f'path = "{path}"\nfilling = {n / 200!r}')


@pytest.mark.parametrize("text, split", [(CLASSICAL, 27), (HEUN, 27), (ED, 9), (KPM, 9),
                                         ("ml", 7), ("ml_canonical", 7)],
                         ids=["classical", "heun", "ed+classical", "kpm", "ml", "ml-canonical"])
def test_resume_continues_bit_for_bit(tmp_path, request, text, split):
    """2n steps in one go == n steps, resume, rest: noise on (kT > 0), split off the
    checkpoint cadence so the resume also truncates entries written after the checkpoint.
    The canonical ML run (cpu kernels) restarts with the reference mu as its first guess where
    the uninterrupted run has the last mu*: the grid bracket makes mu* the same."""
    if text in ("ml", "ml_canonical"):
        text = request.getfixturevalue(f"{text}_text")
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


@pytest.mark.parametrize("text", [CLASSICAL, KPM, "ml"], ids=["classical", "kpm", "ml"])
def test_resume_under_another_thread_count_is_bitwise(tmp_path, request, text):
    """The first half on one thread (numba and torch), the rest on two: the same run. Per-site
    kernels do not depend on the thread that runs them and sums over sites run over fixed
    blocks; torch's CPU matrix products split rows, not the summed dimension."""
    import numba
    import torch

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread on this machine: nothing to compare")
    if text == "ml":
        text = request.getfixturevalue("ml_text")
    whole, pieces = tmp_path / "whole.h5", tmp_path / "pieces.h5"
    before = numba.get_num_threads(), torch.get_num_threads()
    try:
        numba.set_num_threads(2)
        torch.set_num_threads(2)
        run(config(text, whole), text)
        numba.set_num_threads(1)
        torch.set_num_threads(1)
        run(config(text, pieces, steps=9), text)
        numba.set_num_threads(2)
        torch.set_num_threads(2)
        run(config(text, pieces), text, resume=True)
    finally:
        numba.set_num_threads(before[0])
        torch.set_num_threads(before[1])
    assert_same_run(whole, pieces)


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


def test_noise_is_drawn_only_when_kT_is_positive(tmp_path, monkeypatch):
    """kT(t) = 0 throughout: no draws; constant kT > 0: one (N, 3) draw per step, keyed by the
    dynamics seed and the step (nothing else: a checkpoint needs only the step)."""
    draws = []
    normals = Backend.normals

    def spy(self, seed, step, out):
        draws.append((seed, step, out.shape))
        normals(self, seed, step, out)

    monkeypatch.setattr(Backend, "normals", spy)
    cold = CLASSICAL.replace('kind = "linear", kT_start = 0.0, kT_end = 0.2, duration = 1.0',
                             'kind = "constant", kT_start = 0.0')
    hot = CLASSICAL.replace('kind = "linear", kT_start = 0.0, kT_end = 0.2, duration = 1.0',
                            'kind = "constant", kT_start = 0.1')
    for text, expected in ((cold, []), (hot, [(5, k, (36, 3)) for k in range(60)])):
        draws.clear()
        run(config(text, tmp_path / f"{len(expected)}.h5"), text)
        assert draws == expected


def test_host_copies_only_at_output_intervals(tmp_path, monkeypatch):
    """100 steps, frames every 50, observables every 25, checkpoints every 1000: the spins leave
    the backend at steps 0, 25, 50, 75 and 100 only, once each (the final checkpoint shares
    the copy of step 100; the checkpoint of step 0 is written from the initial host spins)."""
    copies = []
    to_host = Backend.to_host

    def spy(self, array):
        copies.append(array.shape)
        return to_host(self, array)

    monkeypatch.setattr(Backend, "to_host", spy)
    text = (CLASSICAL.replace("steps = 60", "steps = 100")
            .replace("frame_interval = 4", "frame_interval = 50")
            .replace("observable_interval = 3", "observable_interval = 25")
            .replace("checkpoint_interval = 10", "checkpoint_interval = 1000"))
    path = tmp_path / "copies.h5"
    run(config(text, path), text)
    assert copies == [(36, 3)] * 5
    with Trajectory(path) as traj:
        assert [f[0] for f in traj.frames()] == [0, 50, 100]
        assert list(traj.observable("energy")[0]) == [0, 25, 50, 75, 100]
        assert traj.checkpoint().step == 100


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


class PoisonedAfter(llgsim.fields.FieldProvider):
    """Wraps a provider; from call ``calls`` on, the field at ``site`` is NaN."""

    def __init__(self, provider, calls, site):
        self.provider, self.calls, self.site = provider, calls, site
        self.n_sites, self.backend, self.count = provider.n_sites, provider.backend, 0

    def evaluate(self, spins, field, energy):
        e = self.provider.evaluate(spins, field, energy)
        self.count += 1
        if self.count > self.calls:
            field[self.site, 1] = np.nan
        return e

    def describe(self):
        return self.provider.describe()


def test_non_finite_field_stops_with_step_and_site(tmp_path, monkeypatch):
    """A NaN field makes NaN spins; the run stops at the next configuration copied to the host
    (observables every 3 steps here), naming that step and the site, and the file keeps the
    last good checkpoint (interval 10)."""
    build = llgsim.run.providers.build_provider

    def poisoned(*args, **kwargs):
        return PoisonedAfter(build(*args, **kwargs), calls, site=7)

    monkeypatch.setattr(llgsim.run.providers, "build_provider", poisoned)
    # 2 provider calls per step: call 2k + 1 gives the field at the start of step k (NaN there
    # spreads to the neighbours of site 7 through the midpoint field), 2k + 2 the midpoint
    # field (NaN at site 7 alone); either way the spins of step 24 are the first copied
    for calls, message in ((2 * 23, "step 24: non-finite spin at site "),
                           (2 * 23 + 1, "step 24: non-finite spin at site 7: [nan")):
        path = tmp_path / f"nan{calls}.h5"
        with pytest.raises(SimulationError) as info:
            run(config(CLASSICAL, path), CLASSICAL)
        assert str(info.value).startswith(message), info.value
        with Trajectory(path) as traj:
            assert traj.checkpoint().step == 20  # the last good one (interval 10)
            assert traj.observable("energy")[0][-1] == 21


def test_scheme_heun_drives_heun_step(tmp_path):
    """dynamics.scheme = "heun" runs the Heun step: the run's final spins equal a hand loop of
    heun_step with the same initial spins and the counter-based normals of (seed, step) (same
    arithmetic, so bitwise), and differ from the SIB run."""
    from llgsim.dynamics import heun_step
    from llgsim.run.build import build

    text = CLASSICAL.replace("[dynamics]", '[dynamics]\nscheme = "heun"')
    cfg = config(text, tmp_path / "heun.h5", steps=12)
    run(cfg, text)
    built = build(cfg)
    spins, normals = built.initial, np.empty_like(built.initial)
    for step in range(12):
        kT = built.schedule(step * cfg.dynamics.dt)
        built.backend.normals(cfg.dynamics.seed, step, normals)
        spins = heun_step(spins, built.provider, cfg.dynamics.dt, cfg.dynamics.alpha, kT,
                          normals if kT > 0 else None).spins
    with Trajectory(tmp_path / "heun.h5") as traj:
        np.testing.assert_array_equal(traj.checkpoint().spins, spins)
    run(config(CLASSICAL, tmp_path / "sib.h5", steps=12), CLASSICAL)
    with Trajectory(tmp_path / "sib.h5") as traj:
        assert not np.array_equal(traj.checkpoint().spins, spins)
