"""Cost of one training step against the descriptor's range: time and memory per snapshot.

    python benchmarks/training_step.py [--threads 1] [--repeats 5]

A training step (llgsim.learn.training) evaluates the field of the network on one snapshot,
differentiable in the weights (llgsim.learn.features.energy_and_field_for_training: descriptor
forward, its backward with dE/dG as cotangent, and that backward's backward when the loss is
differentiated), for a 64-64 network in float32. Each row is one descriptor on one lattice: its
features F and sites M, the seconds per step and per site-step, the growth of the peak resident
memory over the step (a fresh process per row), and for comparison the memory that a precomputed
tangent-plane Jacobian dG/dS (2 F M float32 per site) of the same snapshot would hold.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import resource
import time

from machine import cpu_model, load_average  # benchmarks/machine.py

#: (lattice kind, L, n_shells, n_pair_shells, n_bond_shells, what it is)
ROWS = [("square", 20, 5, 2, 1, "de-square descriptor (R = 5.66)"),
        ("square", 30, 5, 2, 1, "de-square descriptor (R = 5.66)"),
        ("triangular", 16, 4, 3, 0, "sd-triangular descriptor (R = 5.29)"),
        ("triangular", 24, 9, 3, 1, "triangle at R = 8.72 (9 shells)"),
        ("square", 30, 12, 2, 1, "square at R = 8.94 (12 shells)")]


def measure(row, threads: int, repeats: int, queue) -> None:
    """Put (F, M, seconds per step, peak RSS growth in MB) of one row on ``queue``."""
    import torch

    from llgsim import Lattice
    from llgsim.learn.features import energy_and_field_for_training
    from llgsim.ml.descriptor import Descriptor, DescriptorSettings
    from llgsim.ml.network import BehlerParrinello
    from llgsim.states import random_spins

    torch.set_num_threads(threads)
    kind, L, shells, pair_shells, bond_shells, _ = row
    lat = Lattice.from_kind(kind, L, L)
    descriptor = Descriptor(lat, DescriptorSettings(n_shells=shells, n_pair_shells=pair_shells,
                                                    n_bond_shells=bond_shells))
    model = BehlerParrinello(descriptor, (64, 64), seed=0).float()
    spins = torch.from_numpy(random_spins(lat, 1)).float()
    target = torch.zeros_like(spins)

    def step():
        model.zero_grad()
        _, field = energy_and_field_for_training(model, spins, create_graph=True)
        ((field - target) ** 2).mean().backward()

    step()  # warm-up: tables, allocator
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    for _ in range(repeats):
        step()
    seconds = (time.perf_counter() - t0) / repeats
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    queue.put((descriptor.n_features, descriptor.neighbours.shape[1], seconds, grown))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    ctx = multiprocessing.get_context("spawn")
    print(f"# training step: {datetime.date.today()}, {cpu_model()}, load {load_average()}, "
          f"{args.threads} torch thread(s), 64-64 SiLU network, float32")
    print("| descriptor | lattice | F | M | s / step | us / site-step | peak RSS growth (MB) "
          "| a precomputed Jacobian would hold (MB) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in ROWS:
        queue = ctx.Queue()
        proc = ctx.Process(target=measure, args=(row, args.threads, args.repeats, queue))
        proc.start()
        f, m, seconds, grown = queue.get()
        proc.join()
        kind, L = row[0], row[1]
        n = L * L
        print(f"| {row[5]} | {kind} {L}x{L} | {f} | {m} | {seconds:.3f} | "
              f"{1e6 * seconds / n:.0f} | {grown:.0f} | {2 * f * m * 4 * n / 1e6:.0f} |")


if __name__ == "__main__":
    main()
