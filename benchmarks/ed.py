"""Seconds per exact-diagonalization field evaluation (build h + eigh + fields) on L x L
square double-exchange lattices (t = 1, J = 6, f = 0.485, kT = 0, random spins), with the
fitted exponent p of cost ~ N^p over N >= 900, the machine and the date.

    python benchmarks/ed.py               # L = 10, 16, 20, 24, 30, 40, 50 (50 x 50: ~0.5-1 min)
    python benchmarks/ed.py --skip-large  # L <= 30

The field provider is llgsim.fields.ExactDiagonalization on the "cpu" backend (docs/physics.md,
section 3.1); on every backend the diagonalization runs on the host. The script prints, after its
own table, the peer figures measured on the same machine kind (2-vCPU Intel Xeon, 2026-11-25) with
the same method (build h + scipy.linalg.eigh(driver="evr") + fields, 2 threads): PEER_SECONDS
below, fitted cost ~ N^3.1 for N >= 900 (one thread: 2.2 s at 30x30, 57 s at 50x50).
BENCHMARKS.md puts both side by side.
"""

from __future__ import annotations

import argparse
import datetime
import os
import time

import numpy as np
import scipy

from llgsim.fields.ed import ExactDiagonalization
from llgsim.lattice import Lattice
from llgsim.model import KondoModel
from llgsim.states import random_spins
from machine import cpu_model, load_average  # benchmarks/machine.py

SIZES = (10, 16, 20, 24, 30, 40, 50)
LARGE = 40          # sizes from here on are skipped by --skip-large
FIT_FROM_N = 900    # the exponent is fitted on N >= 900, where eigh dominates
#: peer figures measured on the same machine kind (2-vCPU Intel Xeon, 2026-11-25): seconds per
#: field evaluation (build h + eigh(driver="evr") + fields, 2 threads) by lattice side L
PEER_SECONDS = {10: 0.0083, 16: 0.069, 20: 0.17, 24: 0.45, 30: 1.35, 40: 8.9, 50: 32.0}


def seconds_per_evaluation(L: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of a few timed evaluations after one warm-up (one
    timed run from 40 x 40 on). CPU time sums this process's threads: on a machine shared with
    other jobs it shows how much of the wall time was spent waiting for a core."""
    provider = ExactDiagonalization(KondoModel(Lattice.square(L), J=6.0, filling=0.485),
                                    backend="cpu")
    spins = random_spins(provider.model.lattice, L)
    repeats = 5 if L < 30 else 2 if L < LARGE else 1
    if L < LARGE:
        provider.energy_and_field(spins)
    times = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        provider.energy_and_field(spins)
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(times)


def machine() -> str:
    return (f"{cpu_model()}, {os.cpu_count()} cores, load average {load_average()} at start; "
            f"numpy {np.__version__}, scipy {scipy.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-large", action="store_true", help=f"skip L >= {LARGE}")
    args = parser.parse_args()
    sizes = [L for L in SIZES if not (args.skip_large and L >= LARGE)]
    print(f"# ED field evaluation, scipy.linalg.eigh(driver='evr'), "
          f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"# {machine()}")
    print("| lattice | N | s per field evaluation (wall) | CPU s |")
    print("|---|---|---|---|")
    n_sites, seconds = [], []
    for L in sizes:
        wall, cpu = seconds_per_evaluation(L)
        n_sites.append(L * L)
        seconds.append(wall)
        print(f"| {L}x{L} | {L * L} | {wall:.3g} | {cpu:.3g} |", flush=True)
    big = np.array(n_sites) >= FIT_FROM_N
    if big.sum() >= 2:
        p = np.polyfit(np.log(np.array(n_sites)[big]), np.log(np.array(seconds)[big]), 1)[0]
        print(f"# fitted wall-time cost ~ N^{p:.2f} over N >= {FIT_FROM_N}")
    else:
        print(f"# fewer than two sizes with N >= {FIT_FROM_N}: no exponent fitted")
    print("# peer figures measured on the same machine kind (2-vCPU Intel Xeon, 2026-11-25), "
          "same method, 2 threads, s per evaluation: "
          + ", ".join(f"{L}x{L} {PEER_SECONDS[L]:g}" for L in sizes if L in PEER_SECONDS)
          + "; ~N^3.1 for N >= 900")
    print(f"# load average {load_average()} at end")


if __name__ == "__main__":
    main()
