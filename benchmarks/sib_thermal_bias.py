"""Time-step bias of the thermal average <S.h>/|h| of independent spins in a field, SIB and Heun.

N = 100 x 100 spins with no coupling between them, each in the Zeeman field h (ClassicalSpins with
only a field, "cpu" backend, float64), at bath temperature kT. Exact Boltzmann average of the
projection on the field (docs/physics.md, section 4.5): the Langevin function

    <S.h>/|h| = L(x) = coth(x) - 1/x,    x = |h| / kT.

A finite time step shifts the stationary distribution of the discrete dynamics, so the time and
ensemble average of S.h/|h| differs from L(x) by a bias that vanishes as dt -> 0 (docs/physics.md,
section 4.2, "Thermal averages carry their own finite-dt bias"). This script measures that bias
for the schemes "sib" and "heun" (llgsim.dynamics.GenericStepper, the backend's counter-based
noise), alpha in {0.5, 1.0}, kT/h in {0.5, 2.0} and the time steps of --dts. Each run starts
from an exact Boltzmann sample (so only the small dt-shift of the distribution has to relax),
runs T_EQUILIBRATE = 10 time units unrecorded, then averages S.h/|h| over all spins and every
step of --t-sample time units (llgsim.run.driver.drive with an observer).

Standard error of the average: S.h/|h| has the Boltzmann variance var = 1 - 2 L/x - L^2
(<(S.h)^2>/h^2 = 1 - 2 L / x), and the run holds about N t_sample / (2 tau) independent samples,
with tau = max(1 / (alpha h), (1 + alpha^2) / (2 alpha kT)) the slower of the damped precession
towards h and the thermal (rotational diffusion) relaxation of the Landau-Lifshitz equation
(time in hbar / t_1, h and kT in energy units). s.e. = sqrt(var 2 tau / (N t_sample)); "bias /
s.e." beyond ~3 is a bias resolved by the run. tau bounds the integrated autocorrelation time
of S.h from above, so the s.e. is conservative: the spread of the averages over 8 noise seeds
(t_sample = 10, dt = 0.04, SIB) was 0.9 of it at alpha = 0.5, kT/h = 0.5 and 0.4 of it at
alpha = 1, kT/h = 2.

    python benchmarks/sib_thermal_bias.py                          # dt = 0.04, 0.02, 0.01
    python benchmarks/sib_thermal_bias.py --dts 0.04 --t-sample 20 # quick look

Runs in about 2-3 minutes with the defaults on 2 idle cores (numba threads: numba's default).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import time

import numba
import numpy as np

from llgsim import Lattice
from llgsim.dynamics import GenericStepper
from llgsim.fields import ClassicalSpins
from llgsim.run.driver import STEP, Observer, RunState, drive
from machine import cpu_model, load_average  # benchmarks/machine.py

L_SIDE = 100               # N = L_SIDE x L_SIDE independent spins
H = 1.0                    # Zeeman field |h| along z (energy units)
T_EQUILIBRATE = 10.0       # time units run before averaging
SCHEMES = ("sib", "heun")
ALPHAS = (0.5, 1.0)
KT_OVER_H = (0.5, 2.0)
BACKEND = "cpu"


def langevin(x: float) -> float:
    """L(x) = coth(x) - 1/x, the Boltzmann average of cos(theta) for the weight exp(x cos theta)."""
    return 1.0 / math.tanh(x) - 1.0 / x


def projection_variance(x: float) -> float:
    """Boltzmann variance of cos(theta): 1 - 2 L(x)/x - L(x)^2."""
    lx = langevin(x)
    return 1.0 - 2.0 * lx / x - lx * lx


def relaxation_time(alpha: float, kT: float, h: float) -> float:
    """tau = max(1 / (alpha h), (1 + alpha^2) / (2 alpha kT)): damped precession towards the
    field and rotational diffusion of the Landau-Lifshitz equation with D = alpha kT / (1 +
    alpha^2)."""
    return max(1.0 / (alpha * h), (1.0 + alpha * alpha) / (2.0 * alpha * kT))


def boltzmann_spins(n: int, x: float, rng) -> np.ndarray:
    """(n, 3) unit vectors drawn from exp(x cos theta) about z: cos theta by the inverse CDF
    1 + ln(u + (1 - u) e^(-2x)) / x, azimuth uniform."""
    u = rng.random(n)
    cos = 1.0 + np.log(u + (1.0 - u) * math.exp(-2.0 * x)) / x
    sin = np.sqrt(np.clip(1.0 - cos * cos, 0.0, None))
    phi = rng.uniform(0.0, 2.0 * math.pi, n)
    return np.stack([sin * np.cos(phi), sin * np.sin(phi), cos], axis=1)


class FieldProjection(Observer):
    """Sum over the recorded steps of the mean over spins of S.h/|h| (h along z), for the
    steps from ``first`` on."""

    def __init__(self, first: int):
        self.first, self.total, self.count = first, 0.0, 0

    def wants(self, step, moment):
        return moment == STEP and step >= self.first

    def on_sample(self, sample):
        self.total += float(sample.spins[:, 2].mean())
        self.count += 1

    @property
    def mean(self) -> float:
        return self.total / self.count


def measure(provider, scheme, alpha, kT, dt, t_sample, seed) -> tuple[float, int, float]:
    """(<S.h>/|h> over spins and sampled steps, steps run, wall seconds) of one run."""
    backend = provider.backend
    n_eq, n_sample = round(T_EQUILIBRATE / dt), round(t_sample / dt)
    start = boltzmann_spins(provider.n_sites, H / kT, np.random.default_rng(seed))
    stepper = GenericStepper(scheme, provider, dt, alpha, seed)
    observer = FieldProjection(n_eq)
    wall = time.perf_counter()
    drive(RunState(backend.asarray(start), 0, 0.0), stepper, dt=dt,
          schedule=lambda t: kT, total_steps=n_eq + n_sample, observers=[observer])
    return observer.mean, n_eq + n_sample, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dts", type=float, nargs="+", default=[0.04, 0.02, 0.01],
                        help="time steps (hbar / t_1)")
    parser.add_argument("--t-sample", type=float, default=50.0,
                        help="time units averaged after the equilibration")
    args = parser.parse_args()

    lattice = Lattice.square(L_SIDE)
    provider = ClassicalSpins(lattice, field=(0.0, 0.0, H), backend=BACKEND)
    n = lattice.n_sites
    print(f"# SIB / Heun time-step bias of <S.h>/|h|, {n} independent spins, |h| = {H}, "
          f"backend {BACKEND} (float64); equilibrate {T_EQUILIBRATE:g}, average over "
          f"{args.t_sample:g} time units; {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"# {cpu_model()}, {os.cpu_count()} cores, numba {numba.__version__} "
          f"({numba.get_num_threads()} threads), numpy {np.__version__}, load average "
          f"{load_average()} at start")
    print("| scheme | alpha | kT/h | dt | <S.h>/h | L(h/kT) | bias | s.e. | bias / s.e. | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    seed = 0
    for scheme in SCHEMES:
        for alpha in ALPHAS:
            for ratio in KT_OVER_H:
                kT = ratio * H
                x = H / kT
                exact = langevin(x)
                tau = relaxation_time(alpha, kT, H)
                se = math.sqrt(projection_variance(x) * 2.0 * tau / (n * args.t_sample))
                for dt in args.dts:
                    seed += 1
                    mean, steps, wall = measure(provider, scheme, alpha, kT, dt, args.t_sample,
                                                seed)
                    bias = mean - exact
                    print(f"| {scheme} | {alpha:g} | {ratio:g} | {dt:g} | {mean:.5f} | "
                          f"{exact:.5f} | {bias:+.2e} | {se:.1e} | {bias / se:+.1f} | "
                          f"{wall:.1f} |", flush=True)
    print(f"# load average {load_average()} at end")


if __name__ == "__main__":
    main()
