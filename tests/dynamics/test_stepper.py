"""Tests of the stochastic LL integrator (llgsim.dynamics) against analytic solutions, conservation
laws, closed-form thermal averages and its own numpy reference."""

import math

import numba
import numpy as np
import pytest

from llgsim import InputError, Lattice
from llgsim.backend import get_backend
from llgsim.dynamics import TemperatureSchedule, heun_step, noise_amplitude, sib_step
from llgsim.fields import ClassicalSpins
from llgsim.states import random_spins
from llgsim.testing import torque

# Tolerance tiers.
# TOL_EXACT: same algorithm, numpy reference vs numba kernel, O(10) flops per site and step in
#   float64 (eps = 2.2e-16); a few steps of a smooth map keep the difference at this level.
TOL_EXACT = 1e-13
# TOL_NORM: |S_i| after 200 steps; each SIB solve conserves the length (Heun renormalises) up
#   to round-off of a few eps, which accumulates at most linearly: 200 * 5 eps ~ 2e-13.
TOL_NORM = 1e-12
# TOL_F32: spins stored in float32 (eps = 6e-8): kernel vs reference one rounding apart, and
#   the length after 200 steps, one rounding per step, worst case 200 * 6e-8 ~ 1e-5.
TOL_F32 = 1e-5
# TOL_TORQUE: a damped T = 0 run is relaxed when max |S_i x H_i| is this small (fields ~ 1).
TOL_TORQUE = 1e-8
# TOL_MONOTONE: damped T = 0 energy may rise by round-off only (|E| ~ N).
TOL_MONOTONE = 1e-12
# Statistical tolerance: N_SIGMA standard errors of a time- and site-averaged observable, the
#   standard error derived from the exact variance and the number of independent samples.
N_SIGMA = 4.0

BACKENDS = ("reference", "cpu")
backends = pytest.mark.parametrize("backend", BACKENDS)
schemes = pytest.mark.parametrize("step", [sib_step, heun_step], ids=["sib", "heun"])


@pytest.fixture(autouse=True)
def _one_numba_thread():
    """These systems are small (N <= 2500): a second thread buys nothing and, on a machine shared
    with other jobs, OpenMP's spin-waiting makes each launch ~7x slower. Same code path."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(threads)


def _classical(lattice, backend="cpu", dtype="float64"):
    """A generic classical system: AFM J1, FM J2, field and easy axis not along the field."""
    return ClassicalSpins(lattice, heisenberg=(1.0, -0.4), field=(0.1, 0.0, 0.3),
                          anisotropy=(0.5, (1.0, 0.0, 1.0)), backend=get_backend(backend, dtype))


def _run(step, spins, provider, dt, alpha, n_steps, kT=0.0, rng=None):
    """n_steps steps of ``step``; returns the final spins and the energy before every step."""
    energies = []
    for _ in range(n_steps):
        normals = None if kT == 0 else rng.standard_normal(spins.shape)
        result = step(spins, provider, dt, alpha, kT, normals)
        energies.append(result.energy)
        spins = result.spins
    return spins, np.array(energies)


# ---------------------------------------------------------------------- exactness and round-off

@schemes
@pytest.mark.parametrize("dtype, tol", [(np.float64, TOL_EXACT), (np.float32, TOL_F32)])
@pytest.mark.parametrize("kT", [0.0, 0.3])
def test_kernel_matches_reference(step, dtype, tol, kT):
    lattice = Lattice.triangular(6, 5)
    spins = random_spins(lattice, 11).astype(dtype)
    rng = np.random.default_rng(12)
    normals = [None if kT == 0 else rng.standard_normal(spins.shape) for _ in range(3)]
    out = {}
    for backend in BACKENDS:
        provider, s = _classical(lattice, backend, np.dtype(dtype).name), spins
        for n in normals:
            result = step(s, provider, 0.05, 0.3, kT, n)
            s = result.spins
        assert s.dtype == dtype
        out[backend] = (s, result.energy, result.field)
    ref, cpu = out["reference"], out["cpu"]
    np.testing.assert_allclose(cpu[0], ref[0], rtol=0, atol=tol)
    np.testing.assert_allclose(cpu[1], ref[1], rtol=0, atol=tol * lattice.n_sites)
    np.testing.assert_allclose(cpu[2], ref[2], rtol=0, atol=tol * 10)


@schemes
@backends
@pytest.mark.parametrize("dtype, tol", [(np.float64, TOL_NORM), (np.float32, TOL_F32)])
def test_spin_length_conserved(step, backend, dtype, tol):
    lattice = Lattice.square(6)
    spins = random_spins(lattice, 3).astype(dtype)
    # large dt and strong noise: the length is conserved by construction, not by accuracy
    final, _ = _run(step, spins, _classical(lattice, backend, np.dtype(dtype).name), 0.1, 0.5,
                    200, kT=1.0, rng=np.random.default_rng(4))
    np.testing.assert_allclose(np.linalg.norm(final.astype(np.float64), axis=1), 1.0,
                               rtol=0, atol=tol)


@schemes
@backends
def test_step_reports_energy_and_field_at_the_start(step, backend):
    lattice = Lattice.square(4)
    provider = _classical(lattice, backend)
    spins = random_spins(lattice, 8)
    result = step(spins, provider, 0.05, 0.2, 0.0, None)
    energy, field = provider.energy_and_field(spins)
    assert result.energy == pytest.approx(energy, abs=TOL_EXACT * lattice.n_sites)
    np.testing.assert_allclose(result.field, field, rtol=0, atol=TOL_EXACT)
    assert not np.allclose(result.spins, spins)


# ---------------------------------------------------------------------- deterministic dynamics

def _larmor(t, B, alpha):
    """LL solution for S(0) = x in the field B z: azimuth B t, S_z = tanh(alpha B t)."""
    sz = np.tanh(alpha * B * t)
    sxy = np.sqrt(1.0 - sz ** 2)
    return np.stack([np.cos(B * t) * sxy, np.sin(B * t) * sxy, sz], axis=-1)


def _larmor_error(step, backend, dt, alpha, B=1.3, t_end=10.0):
    """Max deviation from the analytic LL solution over a run to t_end."""
    provider = ClassicalSpins(Lattice.square(1), field=(0.0, 0.0, B), backend=backend)
    s = np.array([[1.0, 0.0, 0.0]])
    err = 0.0
    for k in range(1, int(round(t_end / dt)) + 1):
        s = step(s, provider, dt, alpha, 0.0, None).spins
        err = max(err, np.abs(s[0] - _larmor(k * dt, B, alpha)).max())
    return err


@pytest.mark.parametrize("step, bound", [
    # second order for both schemes, damping included: measured at dt = 0.01, alpha = 0.5,
    # 2.55e-5 (SIB, field and damping cross product at the midpoint) and 2.32e-5 (Heun); the
    # bound leaves 2x headroom
    (sib_step, 5e-5), (heun_step, 5e-5)], ids=["sib", "heun"])
@backends
def test_damped_larmor_precession_converges_at_second_order(step, bound, backend):
    """Errors against the analytic LL solution fall by >= 3.4x per halving of dt (4 for second
    order; a first-order damping term, as in SIB with the start spin in the damping cross
    product, gives 2)."""
    errors = [_larmor_error(step, backend, dt, alpha=0.5) for dt in (0.04, 0.02, 0.01)]
    assert errors[-1] < bound
    assert all(coarse / fine >= 3.4 for coarse, fine in zip(errors, errors[1:])), errors


@backends
def test_undamped_precession_is_the_cayley_rotation(backend):
    # alpha = 0, constant field: each step solves s' = s + (s + s') x w with w = -B dt z / 2
    # exactly, the rotation by 2 atan(B dt / 2) about z, a phase error O(B^3 dt^3) per step.
    B, dt, n = 1.3, 0.02, 500
    provider = ClassicalSpins(Lattice.square(1), field=(0.0, 0.0, B), backend=backend)
    s = np.array([[1.0, 0.0, 0.0]])
    for _ in range(n):
        s = sib_step(s, provider, dt, 0.0, 0.0, None).spins
    phi = 2 * n * math.atan(B * dt / 2)
    np.testing.assert_allclose(s[0], [math.cos(phi), math.sin(phi), 0.0], rtol=0, atol=TOL_NORM)
    # and not the exact rotation B t: the phase lags by n (B dt)^3 / 12 = 2.3e-5 here, far
    # above round-off, so a step that rotated exactly (or by another angle) would fail above
    exact = B * n * dt
    assert np.abs(s[0] - [math.cos(exact), math.sin(exact), 0.0]).max() > 1e-5


@pytest.mark.parametrize("step, bound", [
    # per site (energies per site ~1); measured at dt = 0.01: SIB 7.5e-6, Heun 2.2e-5; bounds
    # with 2x headroom, per scheme (one bound for both would hide a SIB regression)
    (sib_step, 1.5e-5), (heun_step, 4.5e-5)], ids=["sib", "heun"])
@backends
def test_undamped_energy_drift_falls_as_dt_squared(step, bound, backend):
    lattice = Lattice.square(4)
    provider = _classical(lattice, backend)
    spins = random_spins(lattice, 5)
    drift = {}
    for dt in (0.01, 0.005):
        final, energies = _run(step, spins, provider, dt, 0.0, int(round(2.0 / dt)))
        energies = np.append(energies, provider.energy_and_field(final)[0])
        drift[dt] = np.abs(energies - energies[0]).max() / lattice.n_sites
    assert drift[0.01] < bound
    # measured 3.7 (SIB) and 4.4 (Heun): 4 for second order (2 first, 8 third)
    assert 3.0 < drift[0.01] / drift[0.005] < 5.5


@schemes
@backends
def test_damped_relaxation_lowers_energy_to_a_torque_free_state(step, backend):
    lattice = Lattice.square(4)
    provider = ClassicalSpins(lattice, heisenberg=(-1.0, 0.3), field=(0.0, 0.0, 0.4),
                              anisotropy=(0.3, (1.0, 0.0, 0.0)), backend=backend)
    spins = random_spins(lattice, 6)
    final, energies = _run(step, spins, provider, 0.05, 0.5, 1500)
    assert np.all(np.diff(energies) <= TOL_MONOTONE * lattice.n_sites)
    assert energies[-1] < energies[0]
    _, field = provider.energy_and_field(final)
    assert np.abs(torque(final, field)).max() < TOL_TORQUE


# ---------------------------------------------------------------------- Langevin statistics

def _langevin_function(x):
    """<cos theta> = coth(x) - 1/x for a classical unit spin with weight exp(x cos theta)."""
    return 1.0 / math.tanh(x) - 1.0 / x


@pytest.mark.parametrize("step, dt, backend", [
    # time-step bias of <S.h>/h, linear in dt (benchmarks/sib_thermal_bias.py, BENCHMARKS.md):
    # at alpha = 1 and kT/h = 2, SIB 0.014 and Heun 0.023 at dt = 0.04; the steps here keep it
    # at ~3.5e-3 (SIB, dt = 0.01) and ~3e-3 (Heun, dt = 0.005), a third of the statistical
    # tolerance (~1e-2); the numpy reference (tested against the kernels above) only in slow runs
    (sib_step, 0.01, "cpu"), (heun_step, 0.005, "cpu"),
    pytest.param(sib_step, 0.01, "reference", marks=pytest.mark.slow),
    pytest.param(heun_step, 0.005, "reference", marks=pytest.mark.slow)],
    ids=["sib-cpu", "heun-cpu", "sib-reference", "heun-reference"])
@pytest.mark.parametrize("kT", [0.5, 2.0])
def test_langevin_spins_in_a_field_reach_the_boltzmann_average(step, dt, backend, kT):
    h, alpha = 1.0, 1.0
    lattice = Lattice.square(50)  # N independent spins: the Zeeman term couples nothing
    n = lattice.n_sites
    provider = ClassicalSpins(lattice, field=(0.0, h, 0.0), backend=backend)
    rng = np.random.default_rng(21)
    spins = np.tile([0.0, 1.0, 0.0], (n, 1))
    t_equilibrate, t_sample = 8.0, 40.0
    spins, _ = _run(step, spins, provider, dt, alpha, int(t_equilibrate / dt), kT, rng)
    samples = []
    for _ in range(int(t_sample / dt)):
        spins = step(spins, provider, dt, alpha, kT, rng.standard_normal((n, 3))).spins
        samples.append(spins[:, 1].mean())
    x = h / kT
    mean = _langevin_function(x)
    variance = 1.0 - 2.0 * mean / x - mean ** 2  # <cos^2> = 1 - 2 L(x) / x
    # correlation time: transverse relaxation 1 / (alpha h) at low T, rotational diffusion
    # 1 / (2 D) at high T; a time average over t_sample holds t_sample / (2 tau) independent
    # samples per spin
    tau = max(1.0 / (alpha * h), (1.0 + alpha ** 2) / (2.0 * alpha * kT))
    n_independent = n * t_sample / (2.0 * tau)
    tolerance = N_SIGMA * math.sqrt(variance / n_independent)  # ~1e-2
    assert abs(np.mean(samples) - mean) < tolerance


# ---------------------------------------------------------------------- schedules and inputs

def test_noise_amplitude_closed_form():
    # D = alpha kT / (1 + alpha^2) = 0.1 / 1.25 = 0.08; sqrt(2 D dt) = sqrt(0.0016)
    assert noise_amplitude(0.5, 0.2, 0.01) == pytest.approx(0.04, rel=1e-15)
    assert noise_amplitude(0.0, 1.0, 0.01) == 0.0
    assert noise_amplitude(1.0, 0.0, 0.01) == 0.0


def test_temperature_schedules():
    constant = TemperatureSchedule("constant", 0.3)
    assert constant(0.0) == constant(1e6) == 0.3
    linear = TemperatureSchedule("linear", 1.0, 0.2, duration=10.0)
    assert linear(0.0) == 1.0
    assert linear(5.0) == pytest.approx(0.6, rel=1e-15)
    assert linear(10.0) == linear(50.0) == 0.2
    exponential = TemperatureSchedule("exponential", 1.0, 0.01, duration=4.0)
    assert exponential(2.0) == pytest.approx(0.1, rel=1e-14)  # geometric mean
    assert exponential(1.0) == pytest.approx(0.01 ** 0.25, rel=1e-14)
    assert exponential(4.0) == exponential(9.0) == 0.01


@pytest.mark.parametrize("kwargs", [
    dict(kind="cosine", kT_start=1.0),
    dict(kind="constant", kT_start=-0.1),
    dict(kind="constant", kT_start=1.0, kT_end=0.5),
    dict(kind="linear", kT_start=1.0, kT_end=0.5),
    dict(kind="linear", kT_start=1.0, kT_end=0.5, duration=0.0),
    dict(kind="linear", kT_start=1.0, kT_end=float("nan"), duration=1.0),
    dict(kind="exponential", kT_start=1.0, kT_end=0.0, duration=1.0),
])
def test_bad_schedule_is_refused(kwargs):
    with pytest.raises(InputError):
        TemperatureSchedule(**kwargs)


def test_schedule_refuses_negative_time():
    with pytest.raises(InputError):
        TemperatureSchedule("constant", 1.0)(-1.0)


@pytest.mark.parametrize("change", [
    dict(dt=0.0), dict(dt=-0.01), dict(dt=float("nan")), dict(dt=float("inf")),
    dict(alpha=-0.1), dict(alpha=float("nan")), dict(kT=-1e-3),
    dict(kT=0.1, normals=None), dict(kT=0.1, normals=np.zeros((3, 3))),
    dict(kT=0.1, normals=np.zeros((16, 3), dtype=np.int64)),
    dict(spins=np.ones((16, 3))), dict(spins=np.zeros((15, 3))),
])
@schemes
def test_bad_step_input_is_refused(step, change):
    lattice = Lattice.square(4)
    args = dict(spins=random_spins(lattice, 1), provider=_classical(lattice), dt=0.01,
                alpha=0.1, kT=0.0, normals=None)
    args.update(change)
    with pytest.raises(InputError):
        step(**args)
