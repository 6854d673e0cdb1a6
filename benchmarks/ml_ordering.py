"""Chiral ordering on the triangle: ED- and ML-driven quenches from the same random starts.

    python benchmarks/ml_ordering.py [--L 12] [--seeds 5 6 7 8] [--steps 3000] [--dt 0.1]

For every seed, a quench from random spins (T = 0, alpha = 0.5, SIB) of the triangular s-d
model of "sd-triangular" (t1 = 1, J = 2, f = 1/4, kT_e = 0; docs/physics.md, section 1.2)
driven once by ED and once by the shipped model, both on the "cpu" backend, through the run
layer's driving loop (llgsim.run.driver.drive with the provider's stepper). Per run the table
gives the mean |chirality| per triangle at the end, the first time it exceeds 0.75
(tetrahedral value 4 / (3 sqrt 3) = 0.7698), and the share of the majority chirality sign
among the triangles with |chi| > 0.5 at the end (1 = one domain; about 0.5 = two domains, e.g.
a pair of straight walls that wrap around the torus and cannot shrink).
One trajectory is a single sample of a stochastic coarsening process, so ED and ML are compared
over the seeds. Runs in a few minutes at L = 12 on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime

import numpy as np

from llgsim import Lattice
from llgsim.analysis.observables import chirality
from llgsim.dynamics import make_stepper
from llgsim.fields.ed import ExactDiagonalization
from llgsim.fields.ml import MLField
from llgsim.model import KondoModel
from llgsim.run.driver import Observer, RunState, drive
from llgsim.states import random_spins

from machine import cpu_model, load_average  # benchmarks/machine.py

TETRAHEDRAL = 4 / (3 * np.sqrt(3))
RECORD_EVERY = 10  # steps between recorded chiralities


class ChiralityRecorder(Observer):
    """Mean |chirality| per triangle of every RECORD_EVERY-th configuration of a run."""

    def __init__(self, lattice):
        self.triangles, self.times, self.values = lattice.triangles(), [], []

    def wants(self, step, moment):
        return step % RECORD_EVERY == 0

    def on_sample(self, sample):
        self.times.append(sample.time)
        self.values.append(np.abs(chirality(sample.spins, self.triangles)).mean())


def quench(provider, spins, lattice, steps: int, dt: float, seed: int):
    """(times (K,), mean |chi| (K,), final spins (N, 3) on the host) of a T = 0, alpha = 0.5
    SIB quench on the provider's backend (no noise at T = 0; ``seed`` keys it all the same)."""
    recorder = ChiralityRecorder(lattice)
    backend = provider.backend
    stepper = make_stepper("sib", provider, dt, 0.5, seed)
    final = drive(RunState(backend.asarray(spins), 0, 0.0), stepper, dt=dt,
                  schedule=lambda t: 0.0, total_steps=steps, observers=[recorder])
    return np.array(recorder.times), np.array(recorder.values), backend.to_host(final.spins)


def majority_share(spins, lattice) -> float:
    chi = chirality(spins, lattice.triangles())
    strong = chi[np.abs(chi) > 0.5]
    return float(max((strong > 0).mean(), (strong < 0).mean())) if len(strong) else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=12)
    ap.add_argument("--seeds", type=int, nargs="+", default=[5, 6, 7, 8])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--dt", type=float, default=0.1)
    args = ap.parse_args()
    lattice = Lattice.triangular(args.L)
    providers = {"ED": ExactDiagonalization(KondoModel(lattice, (1.0,), J=2.0, filling=0.25,
                                                       kT=0.0), backend="cpu"),
                 "ML": MLField.pretrained("sd-triangular", lattice, backend="cpu")}
    print(f"# chiral ordering, triangular {args.L}x{args.L}, J = 2, f = 1/4, T = 0, alpha = 0.5, "
          f"dt = {args.dt}, {args.steps} steps; {cpu_model()}, load {load_average()}, "
          f"{datetime.date.today()}")
    print("| seed | solver | mean abs chi at end | first t with > 0.75 | majority sign share |")
    print("|---|---|---|---|---|")
    curves = {name: [] for name in providers}
    for seed in args.seeds:
        for name, provider in providers.items():
            t, chi, final = quench(provider, random_spins(lattice, seed), lattice, args.steps,
                                   args.dt, seed)
            curves[name].append(chi)
            above = t[chi > 0.75]
            first = f"{above[0]:g}" if len(above) else "never"
            print(f"| {seed} | {name} | {chi[-1]:.4f} | {first} | "
                  f"{majority_share(final, lattice):.2f} |", flush=True)
    mean = {name: np.mean(c, axis=0) for name, c in curves.items()}
    print(f"seed-averaged mean |chi| at the end: ED {mean['ED'][-1]:.4f}, ML {mean['ML'][-1]:.4f} "
          f"(tetrahedral {TETRAHEDRAL:.4f}); largest gap of the averaged curves "
          f"{np.abs(mean['ED'] - mean['ML']).max():.3f}")


if __name__ == "__main__":
    main()
