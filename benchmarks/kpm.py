"""KPM provider benchmarks (llgsim.fields.KPM, gradient-based colored probing).

    python benchmarks/kpm.py                 # all parts
    python benchmarks/kpm.py --parts a d     # some parts
    python benchmarks/kpm.py --threads 1     # numba threads (default: numba's default)

(a) accuracy vs exact diagonalization: field RMSE (full and perpendicular to S_i), energy error
    per site and seconds per call vs order M and color grid c, square double exchange (t = 1,
    J = 6, f = 0.485, kT = 0, random spins) on 12x12, 24x24 and 30x30, and the external ZC21
    snapshot quench_c20000 of tests/data/zc21_de30 (docs/physics.md, section 6, check 6b);
(b) seconds per field evaluation for N = 10^3 ... 10^6 at fixed M and c, with the fitted exponent;
(c) crossover size where KPM beats ED at equal field error (ED measured here; the peer's
    one-thread ED figures beside);
(d) effective memory bandwidth of the Chebyshev block mat-vec out of cache, against a STREAM-like
    parallel copy measured in the same run (llgsim.kernels.roofline.stream_copy_cpu);
(e) with --dataset PATH (a 30 x 30 DE dataset of ``llgsim generate``, ED labels): KPM labels of
    its snapshots against the stored ED ones, in the figures of the ML accuracy bar (full-field
    RMSE, perpendicular RMSE over the RMS perpendicular ED field): how close a teacher KPM
    comes to ED on quench configurations.

Providers run on the "cpu" backend (numba block kernels, llgsim.kernels.kpm). Timings: the
fastest of the timed calls, wall and CPU seconds (CPU sums this process's threads; on a shared
machine the gap shows time spent waiting for a core).

Peer figures measured on the same machine kind (2-vCPU Intel Xeon, 2026-11-25), quoted beside
the tables (BENCHMARKS.md puts them beside llgsim's):
* the C++ FastKPM engine (kbarros/Kondo, single-precision complex, 1 thread, gradient-based
  probing with 10x10 colors, Jackson kernel): 8.6 s per field evaluation at 30x30, M = 1000;
* exact diagonalization (scipy.linalg.eigh driver="evr", build h + eigh + fields) on one
  thread: 2.2 s at 30x30 and 57 s at 50x50.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import time

import numba
import numpy as np

from llgsim.backend import get_backend
from llgsim.fields import KPM, ExactDiagonalization
from llgsim.fields import kpm as K
from llgsim.external import read_zc21_snapshot
from llgsim.kernels.roofline import stream_copy_cpu
from llgsim.lattice import Lattice
from llgsim.learn.dataset import read_dataset
from llgsim.learn.evaluation import field_metrics
from llgsim.model import KondoModel
from llgsim.states import random_spins
from machine import cpu_model, load_average  # benchmarks/machine.py

#: external ZC21 snapshots shipped with the tests (tests/data/zc21_de30/README.md)
SNAPSHOT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data" / "zc21_de30"
#: peer figure measured on the same machine kind (2-vCPU Intel Xeon, 2026-11-25): FastKPM C++,
#: single precision, 1 thread, 30x30, M = 1000, 10x10 colors (200 probe columns)
PEER_SECONDS = 8.6
#: peer figures measured on the same machine kind (2-vCPU Intel Xeon, 2026-11-25): ED
#: (scipy eigh, driver "evr") on one thread, seconds per field evaluation at 30x30 and 50x50
PEER_ED_1THREAD = {900: 2.2, 2500: 57.0}
BACKEND = "cpu"


def de_model(L: int) -> KondoModel:
    return KondoModel(Lattice.square(L), J=6.0, filling=0.485, kT=0.0)


def timed(fn, repeats: int):
    """(result, wall s, CPU s) of the fastest of ``repeats`` calls."""
    best = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        t = (time.perf_counter() - wall, time.process_time() - cpu)
        if best is None or t[0] < best[0]:
            best = t
    return out, best[0], best[1]


def field_errors(field, reference, spins):
    """(RMS |dH|, RMS |dH perpendicular to S|) per site."""
    d = field - reference
    perp = d - np.sum(d * spins, axis=1, keepdims=True) * spins
    return (float(np.sqrt(np.mean(np.sum(d ** 2, axis=1)))),
            float(np.sqrt(np.mean(np.sum(perp ** 2, axis=1)))))


# ---------------------------------------------------------------------- (a)
def accuracy_table(L: int, settings, spins=None, label="random spins") -> None:
    model = de_model(L)
    spins = random_spins(model.lattice, 1) if spins is None else spins
    ed, ed_wall, _ = timed(lambda: ExactDiagonalization(model).solve(spins), 1)
    print(f"\n(a) {L}x{L} DE, {label}; ED {ed_wall:.2f} s; RMS |H_perp| (ED) = "
          f"{field_errors(ed.field, 0 * ed.field, spins)[1]:.4f}")
    print("| M | c | probe columns | field RMSE | perp RMSE | |dE|/N | s per call (wall) | CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for order, colors in settings:
        provider = KPM(model, order=order, colors=colors, seed=1, backend=BACKEND)
        provider.solve(spins)  # warm-up (compilation, caches)
        sol, wall, cpu = timed(lambda: provider.solve(spins), 2)
        full, perp = field_errors(sol.field, ed.field, spins)
        print(f"| {order} | {colors} | {provider.n_columns} | {full:.2e} | {perp:.2e} | "
              f"{abs(sol.energy - ed.energy) / model.n_sites:.1e} | {wall:.3g} | {cpu:.3g} |",
              flush=True)


def part_a() -> None:
    accuracy_table(12, [(250, 6), (500, 6), (1000, 6), (2000, 6), (1000, 2), (1000, 4),
                        (1000, 12)])
    accuracy_table(24, [(500, 6), (1000, 6), (2000, 6), (1000, 12)])
    accuracy_table(30, [(250, 10), (500, 10), (1000, 10), (2000, 10), (1000, 2), (1000, 5),
                        (1000, 15)])
    if SNAPSHOT.exists():
        spins, label = read_zc21_snapshot(SNAPSHOT / "quench_c20000.dat")[:2]
        accuracy_table(30, [(500, 10), (1000, 10), (2000, 10)], spins,
                       "ZC21 snapshot quench_c20000 (errors vs our ED)")
        sol = KPM(de_model(30), order=2000, colors=10, seed=1, backend=BACKEND).solve(spins)
        print(f"# quench_c20000, M = 2000, c = 10 vs the authors' stored labels: field RMSE "
              f"{field_errors(sol.field, label, spins)[0]:.2e}")


# ---------------------------------------------------------------------- (b)
def part_b(order: int = 100, colors: int = 2) -> None:
    print(f"\n(b) seconds per field evaluation vs N, square DE, random spins, M = {order}, "
          f"c = {colors} ({2 * colors ** 2} probe columns), single precision")
    print("| L | N | s per call (wall) | CPU s | ns per site per order |")
    print("|---|---|---|---|---|")
    sizes, walls = [], []
    for L in (32, 100, 316, 1000):
        model = de_model(L)
        provider = KPM(model, order=order, colors=colors, seed=1, backend=BACKEND)
        spins = random_spins(model.lattice, 1)
        if L < 1000:
            provider.solve(spins)
        _, wall, cpu = timed(lambda: provider.solve(spins), 3 if L < 316 else 1)
        sizes.append(model.n_sites)
        walls.append(wall)
        print(f"| {L} | {model.n_sites} | {wall:.3g} | {cpu:.3g} | "
              f"{wall / (model.n_sites * order) * 1e9:.0f} |", flush=True)
    p = np.polyfit(np.log(sizes), np.log(walls), 1)[0]
    print(f"# fitted wall-time cost ~ N^{p:.2f} over N = {sizes[0]} ... {sizes[-1]}")


# ---------------------------------------------------------------------- (c)
def part_c() -> None:
    """KPM cost ~ N (part b), ED cost ~ N^p; the crossover solves t_KPM(900) N / 900 = t_ED(N),
    from wall times measured here and from CPU times against the peer's one-thread ED
    (PEER_ED_1THREAD: 2.2 s at 30x30, 57 s at 50x50, ~N^3.19), which a loaded machine distorts
    less."""
    print("\n(c) crossover KPM vs ED at equal field error (square DE, random spins, kT = 0)")
    ed_n, ed_t = [], []
    for L in (16, 24, 30):
        model = de_model(L)
        spins = random_spins(model.lattice, 1)
        provider = ExactDiagonalization(model)
        _, wall, _ = timed(lambda: provider.solve(spins), 2)
        ed_n.append(L * L)
        ed_t.append(wall)
    p_ed, c_ed = np.polyfit(np.log(ed_n), np.log(ed_t), 1)
    (n_small, t_small), (n_large, t_large) = sorted(PEER_ED_1THREAD.items())
    p_peer = np.log(t_large / t_small) / np.log(n_large / n_small)
    print(f"# ED here: {', '.join(f'{n}: {t:.3g} s' for n, t in zip(ed_n, ed_t))}; "
          f"fit ~ N^{p_ed:.2f}")
    model = de_model(30)
    spins = random_spins(model.lattice, 1)
    ed = ExactDiagonalization(model).solve(spins)
    print("| M | c | field RMSE at 30x30 | KPM wall s | KPM CPU s | crossover N (wall, ED here) | "
          "crossover N (CPU, peer 1-thread ED) |")
    print("|---|---|---|---|---|---|---|")
    for order, colors in ((250, 5), (500, 6), (1000, 5), (1000, 10), (2000, 10)):
        provider = KPM(model, order=order, colors=colors, seed=1, backend=BACKEND)
        provider.solve(spins)
        sol, wall, cpu = timed(lambda: provider.solve(spins), 2)
        n_here = (wall / 900 / np.exp(c_ed)) ** (1 / (p_ed - 1))
        n_peer = n_small * (cpu / t_small) ** (1 / (p_peer - 1))
        print(f"| {order} | {colors} | {field_errors(sol.field, ed.field, spins)[0]:.2e} | "
              f"{wall:.3g} | {cpu:.3g} | {n_here:.0f} (L ~ {np.sqrt(n_here):.0f}) | "
              f"{n_peer:.0f} (L ~ {np.sqrt(n_peer):.0f}) |", flush=True)


# ---------------------------------------------------------------------- (d)
def part_d() -> None:
    for L, colors in ((300, 4), (100, 10)):
        bandwidth(L, colors)


def bandwidth(L: int, colors: int) -> None:
    model = de_model(L)
    spins = random_spins(model.lattice, 1)
    onsite, hops = K.scaled_blocks(model, spins, 0.0, 10.1, np.float32)
    neighbours = model.neighbours.astype(np.int32)
    S = 2 * colors ** 2
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2 * model.n_sites, 2, S)).astype(np.float32)
    out = rng.standard_normal(x.shape).astype(np.float32)
    two = np.float32(2)
    chebyshev_step = K.block_kernels(get_backend(BACKEND))["chebyshev_step"]
    chebyshev_step(x, out, two, onsite, neighbours, hops)
    reps = 20
    _, wall, _ = timed(lambda: [chebyshev_step(x, out, two, onsite, neighbours, hops)
                                for _ in range(reps)], 3)
    # x read once (neighbour rows reused from cache), out read and written; tables are small
    moved = 3 * x.nbytes + onsite.nbytes + neighbours.nbytes
    matvec_bw = moved * reps / wall / 1e9
    src = rng.standard_normal(8 * x.size // 2).astype(np.float32)  # 4x the block, out of cache
    dst = np.empty_like(src)
    stream_copy_cpu(src, dst)
    _, copy_wall, _ = timed(lambda: [stream_copy_cpu(src, dst) for _ in range(5)], 3)
    copy_bw = 2 * src.nbytes * 5 / copy_wall / 1e9
    print(f"\n(d) Chebyshev block mat-vec out of cache: {L}x{L}, {S} columns float32, block "
          f"{x.nbytes / 1e6:.0f} MB: {wall / reps * 1e3:.2f} ms per step, "
          f"{matvec_bw:.1f} GB/s effective (3 block transfers per step)")
    print(f"#   STREAM-like parallel copy of {src.nbytes / 1e6:.0f} MB: {copy_bw:.1f} GB/s; "
          f"mat-vec reaches {100 * matvec_bw / copy_bw:.0f} % of it")


# ---------------------------------------------------------------------- (e)
def part_e(dataset) -> None:
    data = read_dataset(dataset)
    model = de_model(30)
    if data.model != model.describe():
        raise SystemExit(f"{dataset}: not 30x30 square DE, J = 6, f = 0.485, kT = 0 ED labels")
    print(f"\n(e) KPM vs the ED labels of {dataset}: {len(data)} snapshots, t = "
          f"{data.records['time'].min():g} ... {data.records['time'].max():g}")
    print("| M | c | full-field RMSE | perp RMSE | perp RMSE / RMS perp | s per call (wall) |")
    print("|---|---|---|---|---|---|")
    for order, colors in ((1000, 10), (2000, 10)):
        provider = KPM(model, order=order, colors=colors, seed=1, backend=BACKEND)
        wall = time.perf_counter()
        field = np.stack([provider.solve(s).field for s in data.spins])
        wall = (time.perf_counter() - wall) / len(data)
        m = field_metrics(data.spins, data.field, field)
        print(f"| {order} | {colors} | {m['rmse_field']:.2e} | {m['rmse_perp']:.2e} | "
              f"{m['ratio_perp']:.3f} | {wall:.3g} |", flush=True)


def machine() -> str:
    return (f"{cpu_model()}, {os.cpu_count()} cores, numba threads {numba.get_num_threads()}, "
            f"load average {load_average()} at start; numba {numba.__version__}, "
            f"numpy {np.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list("abcd"), choices=list("abcde"))
    parser.add_argument("--dataset", help="part (e): a 30 x 30 DE dataset with ED labels")
    parser.add_argument("--threads", type=int, default=None, help="numba threads")
    args = parser.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    print(f"# KPM benchmarks, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"# {machine()}")
    print(f"# peer figure measured on the same machine kind (2-vCPU Intel Xeon, 2026-11-25): "
          f"FastKPM C++ single precision, 1 thread, 30x30, M = 1000, c = 10 (200 columns): "
          f"{PEER_SECONDS} s per evaluation")
    if "e" in args.parts and not args.dataset:
        parser.error("part e needs --dataset")
    for part in args.parts:
        {"a": part_a, "b": part_b, "c": part_c, "d": part_d,
         "e": lambda: part_e(args.dataset)}[part]()


if __name__ == "__main__":
    main()
