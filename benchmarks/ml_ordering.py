"""Chiral ordering on the triangle: ED- and ML-driven quenches from the same random starts.

    python benchmarks/ml_ordering.py [--model sd-triangular] [--L 16] [--seeds 5 6 7 8]
                                     [--steps 2000] [--dt 0.1] [--workers 2] [--plot FILE.png]

For every seed, a quench from random spins (T = 0, alpha = 0.5, SIB) driven once by ED with the
s-d parameters stored in the model file (for the shipped "sd-triangular": t1 = 1, J = 2,
mu = -2.4198, kT_e = 0.05; docs/physics.md, section 1.3) and once by the model, both on the
"cpu" backend, through the run layer's driving loop (llgsim.run.driver.drive with the provider's
stepper). Recorded every RECORD_EVERY steps: the mean |chirality| per triangle (tetrahedral
value 4 / (3 sqrt 3) = 0.7698) and the wall density rho_w = pi n_w / (z N) of the n_w
nearest-neighbour bonds whose cell chiralities differ in sign, the inverse of the chiral domain
length L_w = z N / (pi n_w) (llgsim.analysis.lengths) that stays finite when one domain fills
the lattice (rho_w = 0, L_w infinite). Per run the first table gives the values at the end and
the share of the majority chirality sign among the triangles with |chi| > 0.5 (1 = one
domain); the second compares the seed means of ED and ML at REPORT_TIMES with the seed spread
(standard deviation over the seeds): "agree" when the means differ by less than the larger of
the two spreads; L_w there is 1 / (mean rho_w). One trajectory is a single sample of
a stochastic coarsening process, so ED and ML are compared over the seeds. The runs are spread
over ``--workers`` processes (one BLAS thread each). ``--plot`` draws both seed-averaged curves
with their spread.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread per worker, set before numpy loads
import numpy as np  # noqa: E402

from machine import cpu_model, load_average  # noqa: E402  (benchmarks/machine.py)

TETRAHEDRAL = 4 / (3 * np.sqrt(3))
RECORD_EVERY = 10  # steps between recorded frames
REPORT_TIMES = (5, 10, 20, 50, 100, 150, 200, 300)


def model_parameters(model: str) -> dict:
    """The s-d parameters stored in the model file (a path or a shipped name)."""
    from llgsim.ml.modelfile import read_metadata
    from llgsim.ml.pretrained import resolve_model

    return read_metadata(resolve_model(model))["model_parameters"]


def provider(name: str, model: str, lattice):
    """"ED" (with the model file's s-d parameters) or "ML" (the model), on "cpu"."""
    from llgsim.fields.ed import ExactDiagonalization
    from llgsim.fields.ml import MLField
    from llgsim.ml.pretrained import resolve_model
    from llgsim.report.densities import kondo_model

    if name == "ED":
        return ExactDiagonalization(kondo_model(model_parameters(model), lattice), backend="cpu")
    return MLField(resolve_model(model), lattice, backend="cpu")


def quench(job):
    """(seed, solver, times (K,), mean |chi| (K,), rho_w (K,), majority share at the end) of a
    T = 0, alpha = 0.5 SIB quench from random spins ``seed`` (no noise at T = 0; the seed keys
    it all the same)."""
    model, L, name, seed, steps, dt = job
    from llgsim import Lattice
    from llgsim.analysis.chirality import chirality
    from llgsim.analysis.correlations import nearest_neighbours
    from llgsim.analysis.lengths import broken_bonds
    from llgsim.analysis.order import ising_field, order_field
    from llgsim.dynamics import make_stepper
    from llgsim.run.driver import Observer, RunState, drive
    from llgsim.states import random_spins

    lattice = Lattice.triangular(L)
    solver = provider(name, model, lattice)
    triangles, neighbours = lattice.triangles(), nearest_neighbours(lattice)
    rows = []

    class Recorder(Observer):
        def wants(self, step, moment):
            return step % RECORD_EVERY == 0

        def on_sample(self, sample):
            s = solver.backend.to_host(sample.spins)
            sign = np.where(ising_field(order_field("chirality", s, lattice)) > 0, 1.0, -1.0)
            rows.append((sample.time, np.abs(chirality(s, triangles)).mean(),
                         np.pi * broken_bonds(sign, neighbours)
                         / (neighbours.shape[1] * lattice.n_sites)))

    stepper = make_stepper("sib", solver, dt, 0.5, seed)
    final = drive(RunState(solver.backend.asarray(random_spins(lattice, seed)), 0, 0.0),
                  stepper, dt=dt, schedule=lambda t: 0.0, total_steps=steps,
                  observers=[Recorder()])
    chi = chirality(solver.backend.to_host(final.spins), triangles)
    strong = chi[np.abs(chi) > 0.5]
    share = float(max((strong > 0).mean(), (strong < 0).mean())) if len(strong) else 0.0
    t, abs_chi, rho = np.array(rows).T
    return seed, name, t, abs_chi, rho, share


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="sd-triangular")
    ap.add_argument("--L", type=int, default=16)
    ap.add_argument("--seeds", type=int, nargs="+", default=[5, 6, 7, 8])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--plot", help="PNG of the seed-averaged |chi|(t) and rho_w(t), ED and ML")
    args = ap.parse_args()
    p = model_parameters(args.model)
    print(f"# chiral ordering, {args.model}, triangular {args.L}x{args.L}, {p}, T = 0, "
          f"alpha = 0.5, dt = {args.dt}, {args.steps} steps; {cpu_model()}, load "
          f"{load_average()}, {datetime.date.today()}")
    jobs = [(args.model, args.L, name, seed, args.steps, args.dt)
            for seed in args.seeds for name in ("ED", "ML")]
    with ProcessPoolExecutor(args.workers,
                             mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(quench, jobs))
    print("| seed | solver | mean abs chi at end | L_w at end | majority sign share |")
    print("|---|---|---|---|---|")
    curves = {"ED": [], "ML": []}
    for seed, name, t, abs_chi, rho, share in results:
        curves[name].append((abs_chi, rho))
        length = f"{1 / rho[-1]:.2f}" if rho[-1] > 0 else "inf (one domain)"
        print(f"| {seed} | {name} | {abs_chi[-1]:.4f} | {length} | {share:.2f} |")
    times = results[0][2]
    print("\n| t | mean abs chi ED | ML | agree | rho_w ED | ML | agree | L_w ED | ML |")
    print("|---|---|---|---|---|---|---|---|---|")
    stats = {name: np.array(c) for name, c in curves.items()}  # (seeds, 2, K)
    for target in REPORT_TIMES:
        k = int(np.argmin(np.abs(times - target)))
        if abs(times[k] - target) > 1e-9:
            continue
        cells = []
        for q in (0, 1):
            m = {n: stats[n][:, q, k].mean() for n in stats}
            sd = {n: stats[n][:, q, k].std(ddof=1) for n in stats}
            agree = abs(m["ED"] - m["ML"]) <= max(sd.values())
            cells += [f"{m['ED']:.3f} +- {sd['ED']:.3f}", f"{m['ML']:.3f} +- {sd['ML']:.3f}",
                      "yes" if agree else "no"]
        cells += [f"{1 / stats[n][:, 1, k].mean():.2f}" for n in ("ED", "ML")]
        print(f"| {target:g} | " + " | ".join(cells) + " |")
    if args.plot:
        plot(times, stats, args.plot, f"{args.model}, triangular {args.L}x{args.L}, "
             f"{len(args.seeds)} seeds")


def plot(times, stats, path, title) -> None:
    """Seed mean +- standard deviation of |chi| and rho_w against t, ED and ML."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for q, (ax, label) in enumerate(zip(axes, ("mean |chirality|", "wall density rho_w"))):
        for name, colour in (("ED", "k"), ("ML", "tab:red")):
            m, sd = stats[name][:, q].mean(axis=0), stats[name][:, q].std(axis=0, ddof=1)
            ax.plot(times, m, color=colour, label=name)
            ax.fill_between(times, m - sd, m + sd, color=colour, alpha=0.2)
        ax.set_xlabel("t (hbar / t1)")
        ax.set_ylabel(label)
    axes[0].axhline(TETRAHEDRAL, ls=":", color="grey")
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
