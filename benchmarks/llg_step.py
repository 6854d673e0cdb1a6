"""Throughput of one SIB step (llgsim.dynamics.sib_step) in spin-steps per second.

Two workloads on L x L square lattices, each with the numpy reference and the numba kernels:
  integrator  a provider that returns a zero field without looking at the spins, so the time is
              the integrator's own (validation, two kernel launches, allocations);
  classical   ClassicalSpins with nearest-neighbour Heisenberg exchange J1 = 1 (two provider
              evaluations per step included), backend matching the integrator's.
kT > 0, so the noise path is timed; drawing the normals (the caller's job) is not.
Each entry is the best of repeated steps (>= 3 steps and >= --min-time seconds), after one
warm-up step that also compiles the kernels (cached on disk).

    python benchmarks/llg_step.py [--sizes 10000,100000,1000000] [--min-time 1.0]

The numba thread count is numba's default (all cores); NUMBA_NUM_THREADS=1 times one thread.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time

import numba
import numpy as np

from llgsim import Lattice
from llgsim.dynamics import sib_step
from llgsim.fields import ClassicalSpins, FieldProvider
from llgsim.states import random_spins
from machine import cpu_model  # benchmarks/machine.py


class ZeroField(FieldProvider):
    """E = 0, H = 0 for every configuration (no validation, no work)."""

    def __init__(self, n_sites: int):
        self.n_sites = n_sites
        self._zeros = np.zeros((n_sites, 3))

    def energy_and_field(self, spins):
        return 0.0, self._zeros

    def describe(self) -> dict:
        return {"name": "zero"}


def seconds_per_step(spins, provider, backend, normals, min_time) -> float:
    """Best wall time of one step over >= 3 steps and >= min_time seconds (after a warm-up)."""
    sib_step(spins, provider, 0.01, 0.1, 0.01, normals, backend=backend)
    best, total, count = np.inf, 0.0, 0
    while count < 3 or total < min_time:
        start = time.perf_counter()
        sib_step(spins, provider, 0.01, 0.1, 0.01, normals, backend=backend)
        elapsed = time.perf_counter() - start
        best, total, count = min(best, elapsed), total + elapsed, count + 1
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated site counts, rounded to square lattices")
    parser.add_argument("--min-time", type=float, default=1.0,
                        help="minimum seconds of timed steps per entry")
    args = parser.parse_args()

    print(f"date     {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine  {cpu_model()}, {os.cpu_count()} cores, numba {numba.__version__} "
          f"({numba.get_num_threads()} threads), numpy {np.__version__}")
    print(f"load     {' '.join(f'{x:.1f}' for x in os.getloadavg())} (1, 5, 15 min)")
    print()
    header = f"{'N':>9} {'workload':>10} {'reference':>12} {'cpu (numba)':>12} {'speed-up':>9}"
    print(header + "\n" + "-" * len(header) + "   spin-steps / s")
    rng = np.random.default_rng(0)
    for n in (int(s) for s in args.sizes.split(",")):
        L = int(round(np.sqrt(n)))
        lattice = Lattice.square(L)
        spins = random_spins(lattice, rng)
        normals = rng.standard_normal(spins.shape)
        for workload in ("integrator", "classical"):
            rate = {}
            for backend in ("reference", "cpu"):
                provider = (ZeroField(lattice.n_sites) if workload == "integrator" else
                            ClassicalSpins(lattice, heisenberg=(1.0,), backend=backend))
                t = seconds_per_step(spins, provider, backend, normals, args.min_time)
                rate[backend] = lattice.n_sites / t
            print(f"{lattice.n_sites:>9} {workload:>10} {rate['reference']:>12.3g} "
                  f"{rate['cpu']:>12.3g} {rate['cpu'] / rate['reference']:>8.1f}x", flush=True)


if __name__ == "__main__":
    main()
