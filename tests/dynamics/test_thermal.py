"""Thermal equilibrium of the stochastic LL integrators with interacting spins.

Two references computed independently in the test:

* Heisenberg dimers with easy-axis anisotropy and a transverse field, E = J S_a . S_b
  - K (S_a,z^2 + S_b,z^2) - h (S_a,x + S_b,x): Boltzmann averages and the energy distribution by
  quadrature over both spheres (Gauss-Legendre in cos(theta), uniform in phi), for each scheme
  (SIB, Heun) at alpha = 0.1, 0.5 and 2. At alpha = 1 several wrong noise strengths agree
  (alpha / (1 + alpha^2) = 1/2), so alpha = 1 is left out on purpose.
* A tiny s-d lattice (2 x 2, exact diagonalization and KPM with full probing): Langevin averages
  against exact samples of the Boltzmann distribution of the same energy function (rejection
  sampling from uniform spins).

Standard errors come from the exact variance and the number of independent samples: snapshots
of independent dimers taken further apart than the relaxation time (measured below), or the
time average of one small system over t / (2 tau) correlation times. Tolerance: N_SIGMA
standard errors, plus the measured time-step bias where it matters (stated per test).
"""

import math

import numpy as np
import pytest

from llgsim import KondoModel, Lattice
from llgsim.backend import get_backend
from llgsim.dynamics import GenericStepper
from llgsim.fields import FieldProvider
from llgsim.run.driver import Observer, RunState, drive

N_SIGMA = 4.0  # a correct integrator fails one comparison in ~10^4 at 4 standard errors

# ---------------------------------------------------------------------- dimers

J, K, H = 1.0, 0.5, 0.3  # exchange (AFM), easy axis z, field along x: all symmetries broken
KT = 0.5


class Dimers(FieldProvider):
    """Independent dimers (2k, 2k + 1) with the energy of the module docstring."""

    def __init__(self, n_dimers, backend="cpu"):
        self.n_sites, self.backend = 2 * n_dimers, get_backend(backend)

    def evaluate(self, spins, field, energy):
        a, b = spins[0::2], spins[1::2]
        field[0::2] = -J * b
        field[1::2] = -J * a
        field[:, 2] += 2 * K * spins[:, 2]
        field[:, 0] += H
        return float(dimer_energy(a, b).sum()) if energy else None

    def describe(self):
        return {"name": "dimers"}


def dimer_energy(a, b):
    return (J * np.sum(a * b, axis=-1) - K * (a[..., 2] ** 2 + b[..., 2] ** 2)
            - H * (a[..., 0] + b[..., 0]))


def sphere_grid(n):
    """(points (n^2, 3), weights (n^2,)) of a product rule on the unit sphere (weights sum to
    1): Gauss-Legendre in cos(theta), trapezoid in phi."""
    u, wu = np.polynomial.legendre.leggauss(n)
    phi = 2 * np.pi * np.arange(n) / n
    s = np.sqrt(1 - u ** 2)
    pts = np.stack([np.outer(s, np.cos(phi)), np.outer(s, np.sin(phi)),
                    np.outer(u, np.ones(n))], axis=-1).reshape(-1, 3)
    return pts, np.repeat(wu / 2, n) / n


@pytest.fixture(scope="module")
def exact():
    """Boltzmann averages of one dimer by quadrature (24 x 24 points per sphere: the
    integrands are entire, |E| / kT <= 5, so the rule is exact to ~1e-12), and the exact
    cumulative distribution of its energy at the deciles."""
    pts, w = sphere_grid(24)
    a, b = pts[:, None, :], pts[None, :, :]
    e = dimer_energy(a, b)
    p = np.outer(w, w) * np.exp(-(e - e.min()) / KT)
    p /= p.sum()
    obs = {"energy": e, "bond": np.sum(a * b, axis=-1),
           "z2": 0.5 * (a[..., 2] ** 2 + b[..., 2] ** 2)}
    out = {name: (float(np.sum(p * v)), float(np.sum(p * v * v) - np.sum(p * v) ** 2))
           for name, v in obs.items()}
    order = np.argsort(e, axis=None)
    cdf = np.cumsum(p.ravel()[order])
    levels = [e.ravel()[order][np.searchsorted(cdf, q)] for q in np.arange(0.1, 1.0, 0.1)]
    out["deciles"] = (np.array(levels), np.arange(0.1, 1.0, 0.1))
    return out


class Snapshots(Observer):
    """Copies of the spins every ``every`` steps from step ``first`` on."""

    def __init__(self, first, every):
        self.first, self.every, self.spins = first, every, []

    def wants(self, step, moment):
        return step >= self.first and (step - self.first) % self.every == 0

    def on_sample(self, sample):
        self.spins.append(sample.spins)


def langevin_dimers(scheme, alpha, dt, n_dimers=1000, n_snapshots=5, seed=3):
    """(N, 2, 3) dimer configurations: snapshots spaced by SPACING(alpha) after equilibration
    from random spins."""
    provider = Dimers(n_dimers)
    rng = np.random.default_rng(seed)
    start = rng.standard_normal((2 * n_dimers, 3))
    start /= np.linalg.norm(start, axis=1, keepdims=True)
    every = round(spacing(alpha) / dt)
    snaps = Snapshots(first=round(EQUILIBRATE / dt), every=every)
    drive(RunState(provider.backend.asarray(start), 0, 0.0),
          GenericStepper(scheme, provider, dt, alpha, seed), dt=dt, schedule=lambda t: KT,
          total_steps=snaps.first + every * (n_snapshots - 1) + 1, observers=[snaps])
    return np.concatenate(snaps.spins).reshape(-1, 2, 3)


#: time from random spins to equilibrium (a few relaxation times at the slowest alpha)
EQUILIBRATE = 20.0


def spacing(alpha):
    """Time between snapshots: several times the slowest relaxation, energy exchange at rate
    ~alpha |H| (|H| ~ 1.5) for weak damping and rotational diffusion (1 + alpha^2) /
    (2 alpha kT) for strong damping; the measured autocorrelation of the dimer energy falls
    below 0.05 within these times at dt = 0.01."""
    return max(4.0 / (alpha * 1.5), 2.0 * (1 + alpha ** 2) / (2 * alpha * KT), 4.0)


@pytest.mark.parametrize("alpha", [0.1, 0.5, 2.0])
@pytest.mark.parametrize("scheme", ["sib", "heun"])
def test_dimers_sample_the_boltzmann_distribution(exact, scheme, alpha):
    """<E>, <S_a . S_b>, <S_z^2> and the energy deciles of Langevin dimers against quadrature.
    dt = 0.01: the time-step bias of such averages is first order, ~4e-3 of the spread at this
    dt (BENCHMARKS.md, "SIB thermal bias"), below a quarter of the tolerance here."""
    spins = langevin_dimers(scheme, alpha, dt=0.01)
    a, b = spins[:, 0], spins[:, 1]
    n = len(spins)
    samples = {"energy": dimer_energy(a, b), "bond": np.sum(a * b, axis=-1),
               "z2": 0.5 * (a[:, 2] ** 2 + b[:, 2] ** 2)}
    for name, values in samples.items():
        mean, variance = exact[name]
        assert abs(values.mean() - mean) < N_SIGMA * math.sqrt(variance / n), (
            name, values.mean(), mean, math.sqrt(variance / n))
    levels, probabilities = exact["deciles"]
    for level, p in zip(levels, probabilities):
        observed = np.mean(samples["energy"] <= level)
        assert abs(observed - p) < N_SIGMA * math.sqrt(p * (1 - p) / n), (level, observed, p)


# ---------------------------------------------------------------------- electrons

def tiny_sd_model():
    """2 x 2 square lattice, t1 = 1, J = 2, half filling, kT_e = 0.3: a smooth energy surface
    (no level crossings at kT_e = 0.3 on 8 levels)."""
    return KondoModel(Lattice.square(2), hopping=(1.0,), J=2.0, filling=0.5, kT=0.3)


def electron_providers():
    from llgsim.fields import KPM, ExactDiagonalization

    model = tiny_sd_model()
    return {"ed": ExactDiagonalization(model),
            # full probing (one site per color): deterministic, exact up to the truncation
            "kpm": KPM(model, order=200, colors=2, precision="double")}


def exact_samples(provider, kT, n, rng):
    """n independent spin configurations from exp(-E/kT) by rejection from uniform spins:
    acceptance exp(-(E - E_floor) / kT) with E_floor 0.3 below the lowest of 400 uniform draws
    (the energies of this model span 1.5; the check below fails loudly if a draw goes under)."""
    def uniform(m):
        v = rng.standard_normal((m, provider.n_sites, 3))
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    energies = [provider.energy_and_field(s)[0] for s in uniform(400)]
    floor = min(energies) - 0.3
    out = []
    while len(out) < n:
        for s in uniform(200):
            e = provider.energy_and_field(s)[0]
            assert e > floor
            if rng.random() < math.exp(-(e - floor) / kT):
                out.append(s)
    return np.array(out[:n])


@pytest.mark.parametrize("name", ["ed", pytest.param("kpm", marks=pytest.mark.slow)])
def test_electron_driven_langevin_matches_exact_sampling(name):
    """A 2 x 2 s-d magnet at spin temperature kT = 0.5 driven by ED (or KPM), SIB, alpha = 0.5,
    dt = 0.02: the time averages of the energy and of the nearest-neighbour correlation against
    exact samples of the same energy function. Standard error of the Langevin average from the
    exact variance over t / (2 tau) independent intervals, tau = 2 (the energy's measured
    autocorrelation time is ~1); of the exact average from its n samples."""
    provider = electron_providers()[name]
    kT, alpha, dt, t_total = 0.5, 0.5, 0.02, 200.0
    rng = np.random.default_rng(7)
    reference = exact_samples(provider, kT, 800, rng)
    pairs = np.array([[0, 1], [0, 2], [1, 3], [2, 3]])

    def observables(configs):
        e = np.array([provider.energy_and_field(s)[0] for s in configs]) / 4
        nn = np.mean(np.sum(configs[:, pairs[:, 0]] * configs[:, pairs[:, 1]], axis=-1), axis=1)
        return {"energy": e, "nn": nn}

    exact_obs = observables(reference)
    snaps = Snapshots(first=round(10.0 / dt), every=10)
    drive(RunState(reference[0].copy(), 0, 0.0),
          GenericStepper("sib", provider, dt, alpha, 5), dt=dt, schedule=lambda t: kT,
          total_steps=round(t_total / dt), observers=[snaps])
    langevin = observables(np.array(snaps.spins))
    n_independent = (t_total - 10.0) / (2 * 2.0)
    for key in ("energy", "nn"):
        variance = exact_obs[key].var()
        se = math.sqrt(variance / n_independent + variance / len(reference))
        assert abs(langevin[key].mean() - exact_obs[key].mean()) < N_SIGMA * se, (
            key, langevin[key].mean(), exact_obs[key].mean(), se)
