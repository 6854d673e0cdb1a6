"""Throughput of one stochastic LLG step (llgsim.dynamics.GenericStepper) in spin-steps per second.

Two workloads on L x L square lattices, each on the "reference" backend (numpy arrays, numpy
kernels and noise) and the "cpu" backend (numba kernels and noise, parallel over sites):
  integrator  a provider that writes a zero field without looking at the spins, so the time is
              the integrator's own (noise, predictor and corrector kernels, two zero fills);
  classical   ClassicalSpins with nearest-neighbour Heisenberg exchange J1 = 1 on the same
              backend (two provider evaluations per step included).
One step is GenericStepper.advance with the SIB scheme at kT > 0, so drawing the step's
counter-based normals (Philox-4x32-10, keyed by (seed, step)) is timed with it; the energy is
not requested, as in the steps of a run between samples. Each entry is the best of repeated
steps (>= 3 steps and >= --min-time seconds), after one warm-up step that also compiles the
kernels (cached on disk).

    python benchmarks/llg_step.py [--sizes 10000,100000,1000000] [--min-time 1.0] [--dtype float64]

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
from llgsim.backend import get_backend
from llgsim.dynamics import GenericStepper
from llgsim.fields import ClassicalSpins, FieldProvider
from llgsim.states import random_spins
from machine import cpu_model  # benchmarks/machine.py

DT, ALPHA, KT, SEED = 0.01, 0.1, 0.01, 0


class ZeroField(FieldProvider):
    """E = 0, H = 0 for every configuration (no validation; one zero fill of the buffer)."""

    def __init__(self, n_sites: int, backend):
        self.n_sites = n_sites
        self.backend = backend

    def evaluate(self, spins, field, energy):
        field.fill(0.0)
        return 0.0 if energy else None

    def describe(self) -> dict:
        return {"name": "zero"}


def seconds_per_step(spins, provider, min_time) -> float:
    """Best wall time of one SIB step over >= 3 steps and >= min_time seconds (after a
    warm-up step), each step drawing its own noise."""
    stepper = GenericStepper("sib", provider, DT, ALPHA, SEED)
    state, step = provider.backend.asarray(spins).copy(), 0
    state, _ = stepper.advance(state, step, KT, False)
    best, total, count = np.inf, 0.0, 0
    while count < 3 or total < min_time:
        step += 1
        start = time.perf_counter()
        state, _ = stepper.advance(state, step, KT, False)
        elapsed = time.perf_counter() - start
        best, total, count = min(best, elapsed), total + elapsed, count + 1
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated site counts, rounded to square lattices")
    parser.add_argument("--min-time", type=float, default=1.0,
                        help="minimum seconds of timed steps per entry")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                        help="working dtype of spins, fields and noise")
    args = parser.parse_args()

    print(f"date     {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine  {cpu_model()}, {os.cpu_count()} cores, numba {numba.__version__} "
          f"({numba.get_num_threads()} threads), numpy {np.__version__}")
    print(f"load     {' '.join(f'{x:.1f}' for x in os.getloadavg())} (1, 5, 15 min)")
    print(f"step     SIB, dt = {DT}, alpha = {ALPHA}, kT = {KT} (noise drawn in the step), "
          f"{args.dtype}")
    print()
    header = f"{'N':>9} {'workload':>10} {'reference':>12} {'cpu (numba)':>12} {'speed-up':>9}"
    print(header + "\n" + "-" * len(header) + "   spin-steps / s")
    backends = {name: get_backend(name, args.dtype) for name in ("reference", "cpu")}
    for n in (int(s) for s in args.sizes.split(",")):
        L = int(round(np.sqrt(n)))
        lattice = Lattice.square(L)
        spins = random_spins(lattice, 0)
        for workload in ("integrator", "classical"):
            rate = {}
            for name, backend in backends.items():
                provider = (ZeroField(lattice.n_sites, backend) if workload == "integrator" else
                            ClassicalSpins(lattice, heisenberg=(1.0,), backend=backend))
                t = seconds_per_step(spins, provider, args.min_time)
                rate[name] = lattice.n_sites / t
            print(f"{lattice.n_sites:>9} {workload:>10} {rate['reference']:>12.3g} "
                  f"{rate['cpu']:>12.3g} {rate['cpu'] / rate['reference']:>8.1f}x", flush=True)


if __name__ == "__main__":
    main()
