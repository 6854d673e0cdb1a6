"""Double exchange at fixed filling: ED-, canonical ML- and grand-canonical ML-driven quenches
from the same random starts.

    python benchmarks/ml_canonical.py [--model out/ml/de-square-canonical.safetensors]
        [--filling 0.485] [--L 20] [--seeds 1401 1402] [--steps 2000] [--dt 0.1]
        [--solvers ED ML ML-gc] [--cache out/bench/canonical] [--plot FILE.png]
    python benchmarks/ml_canonical.py --speed 20 50 100   # cost of the canonical solve

For every seed a quench from random spins (T = 0, alpha = 0.5, SIB, the reference llgsim run
loop: llgsim.run.driver.drive with llgsim.dynamics.make_stepper) on the square lattice, driven by

* "ED": exact diagonalization at fixed filling (t1, J and kT_e of the shipped "de-square", those
  of the canonical model's labels too; mu solved for every field evaluation), the reference;
* "ML": the model with a chemical-potential input at the same filling (llgsim.fields.ml,
  canonical: mu* solved for every evaluation, backend "cpu");
* "ML-gc": the shipped grand-canonical "de-square" at its fixed mu (the coexistence value).

Recorded every RECORD_EVERY steps: the spins and mu (ED: the Fermi level at the filling; ML:
mu*; ML-gc: fixed); for "ED" also the exact fields, the fixed-filling labels on which the
canonical ML field is scored (perpendicular-field ratio, llgsim.learn.evaluation). From the
spins alone, so that every solver is measured the same way (observables()): the
nearest-neighbour spin correlation <S_i . S_j>_nn; the ferromagnetic-site fraction (sites whose
mean bond correlation c_i is positive: the hole-rich puddles of the phase-separated state); and
the puddle length, the first-moment length L_k of the structure factor of c_i
(llgsim.analysis.lengths), the spin-side measure of the charge pattern's length (in double
exchange the holes sit in the ferromagnetic puddles).

``--speed L ...`` instead times one SIB step (T = 0, best of >= 3 steps and >= 1 s, after a
warm-up step) from random spins on each L x L lattice, side by side: the canonical model on
"reference" (L <= 50) and "cpu", and the grand-canonical "de-square" on "cpu"; with the trial
mu per canonical solve on "cpu" (mean over the timed steps, two solves per step).

Runs are cached in ``--cache`` (one .npz per solver, model content, lattice, seed, steps and
dt; a cached run without spins is made again), so the hour-long ED runs can be made in the
background and compared later. The table gives the seed means (and spread, when there is more
than one seed) at REPORT_TIMES.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread, set before numpy loads
import numpy as np  # noqa: E402

from machine import cpu_model, load_average  # noqa: E402  (benchmarks/machine.py)

RECORD_EVERY = 10  # steps between recorded frames
REPORT_TIMES = (0, 2, 5, 10, 20, 50, 100, 150, 200, 300)
SOLVERS = ("ED", "ML", "ML-gc")


def provider(name: str, model: str, filling: float, lattice):
    """The field provider of solver ``name`` (module docstring)."""
    from llgsim.fields.ed import ExactDiagonalization
    from llgsim.fields.ml import MLField
    from llgsim.learn.generate import Labeller
    from llgsim.ml.modelfile import read_metadata
    from llgsim.ml.pretrained import resolve_model
    from llgsim.model import KondoModel

    if name == "ML":
        return MLField(resolve_model(model), lattice, backend="cpu", filling=filling)
    if name == "ML-gc":
        return MLField.pretrained("de-square", lattice, backend="cpu")
    p = read_metadata(resolve_model("de-square"))["model_parameters"]
    return Labeller(ExactDiagonalization(KondoModel(lattice, hopping=tuple(p["hopping"]),
                                                   J=p["J"], filling=filling, kT=p["kT"])))


def cache_path(cache: Path, name, model, filling, L, seed, steps, dt) -> Path:
    from llgsim.ml.modelfile import read_metadata
    from llgsim.ml.pretrained import resolve_model

    # ML: the model's content hash (a name or path may point at a retrained file), the backend
    ml = f"{read_metadata(resolve_model(model))['content_hash']}|cpu" if name == "ML" else ""
    key = f"{name}|{ml}|{filling}|{L}|{seed}|{steps}|{dt}"
    return cache / f"{name}-L{L}-seed{seed}-{hashlib.sha256(key.encode()).hexdigest()[:10]}.npz"


def quench(name, model, filling, L, seed, steps, dt) -> dict:
    """Arrays t, mu (K,) and spins (K, N, 3) of one quench; for ED also field (K, N, 3)."""
    from llgsim import Lattice
    from llgsim.dynamics import make_stepper
    from llgsim.run.driver import Observer, RunState, drive
    from llgsim.states import random_spins

    lattice = Lattice.square(L)
    solver = provider(name, model, filling, lattice)
    rows, frames, fields = [], [], []

    class Recorder(Observer):
        needs_energy = True

        def wants(self, step, moment):
            return step % RECORD_EVERY == 0

        def on_sample(self, sample):
            frames.append(np.asarray(solver.backend.to_host(sample.spins), dtype=np.float64))
            if name == "ED":
                mu = solver.solution.mu
                fields.append(solver.solution.field)
            elif name == "ML":  # the provider keeps the mu* of its last evaluation, not this one
                mu = solver.chemical_potential(sample.spins)
            else:
                mu = solver.metadata["model_parameters"]["mu"]
            rows.append((sample.time, mu))

    stepper = make_stepper("sib", solver, dt, 0.5, seed)
    drive(RunState(solver.backend.asarray(random_spins(lattice, seed)), 0, 0.0), stepper, dt=dt,
          schedule=lambda t: 0.0, total_steps=steps, observers=[Recorder()])
    out = dict(zip(("t", "mu"), np.array(rows).T), spins=np.array(frames))
    if fields:
        out["field"] = np.array(fields)
    return out


def observables(spins, L) -> dict:
    """Arrays nn, ferro, puddle (K,) of frames ``spins`` (K, N, 3) on the L x L square lattice
    (module docstring): <S.S>_nn, the fraction of sites with c_i > 0 and the first-moment
    length of S(k) of c_i (lattice constants)."""
    from llgsim import Lattice
    from llgsim.analysis.correlations import bond_correlations, nearest_neighbours
    from llgsim.analysis.lengths import first_moment_length
    from llgsim.analysis.structure import circular_average, shells, structure_factor

    lattice = Lattice.square(L)
    neighbours, rings = nearest_neighbours(lattice), shells(lattice)
    out = {"nn": [], "ferro": [], "puddle": []}
    for s in spins:
        c = bond_correlations(s, neighbours)
        s_k = circular_average(structure_factor(c - c.mean(), lattice), rings)
        out["nn"].append(c.mean())
        out["ferro"].append((c > 0).mean())
        out["puddle"].append(first_moment_length(rings.k, s_k))
    return {k: np.array(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="out/ml/de-square-canonical.safetensors")
    ap.add_argument("--filling", type=float, default=0.485)
    ap.add_argument("--L", type=int, default=20)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1401, 1402])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--solvers", nargs="*", choices=SOLVERS, default=list(SOLVERS))
    ap.add_argument("--cache", default="out/bench/canonical")
    ap.add_argument("--plot", help="PNG of <S.S>_nn, the ferromagnetic fraction, the puddle "
                    "length and mu against t")
    ap.add_argument("--labels", help="a dataset of ED labels at fixed filling (e.g. the "
                    "quench of runs/de_square/data_de_square_canonical_mu.toml) to score the "
                    "canonical ML field on as well")
    ap.add_argument("--speed", type=int, nargs="+", metavar="L",
                    help="time SIB steps on these lattice sizes instead (module docstring)")
    args = ap.parse_args()
    if args.speed:
        speed(args.model, args.filling, args.speed)
        return
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"# double exchange at f = {args.filling}, square {args.L}x{args.L}, ML model "
          f"{args.model}, T = 0, alpha = 0.5, dt = {args.dt}, {args.steps} steps; "
          f"{cpu_model()}, load {load_average()}, {datetime.date.today()}")
    runs = {}
    for name in args.solvers:
        for seed in args.seeds:
            path = cache_path(cache, name, args.model, args.filling, args.L, seed, args.steps,
                              args.dt)
            run = dict(np.load(path)) if path.exists() else {}
            if "spins" not in run:
                t0 = datetime.datetime.now()
                run = quench(name, args.model, args.filling, args.L, seed, args.steps, args.dt)
                np.savez(path, **run)
                print(f"# {name} seed {seed}: {(datetime.datetime.now() - t0).seconds} s")
            runs[name, seed] = run | observables(run["spins"], args.L)
    names = [n for n in SOLVERS if n in args.solvers]
    if names:
        table(runs, names, args)
    if "ED" in names and "ML" in names:
        frames = [(r["t"], r["spins"], r["field"], r["mu"])
                  for (n, _), r in runs.items() if n == "ED"]
        print(f"\nCanonical ML against the ED frames of these runs (every {2 * RECORD_EVERY}th "
              "step):")
        score(frames, args.model, args.filling, args.L, stride=2)
    if args.labels:
        from llgsim.learn.dataset import read_dataset

        snaps = read_dataset(args.labels)
        assert snaps.model.get("filling") == args.filling, snaps.model
        print(f"\nCanonical ML against {args.labels} ({len(snaps)} ED snapshots at fixed "
              "filling):")
        score([(snaps.records["time"], snaps.spins, snaps.field, snaps.mu)], args.model,
              args.filling, snaps.lattice["Lx"], stride=1)
    if args.plot:
        plot(runs, names, args)


def table(runs, names, args) -> None:
    """Seed means (and spread) of <S.S>_nn, the ferromagnetic fraction, the puddle length and mu
    at REPORT_TIMES."""
    print("\n| t | " + " | ".join(f"nn {n} | ferro {n} | puddle {n} | mu {n}" for n in names)
          + " |")
    print("|---|" + "---|" * 4 * len(names))
    times = runs[names[0], args.seeds[0]]["t"]
    for target in REPORT_TIMES:
        k = int(np.argmin(np.abs(times - target)))
        if abs(times[k] - target) > 1e-9:
            continue
        cells = []
        for n in names:
            for q in ("nn", "ferro", "puddle", "mu"):
                v = np.array([runs[n, s][q][k] for s in args.seeds])
                spread = f" +- {v.std(ddof=1):.3f}" if len(v) > 1 else ""
                cells.append(f"{v.mean():.3f}{spread}")
        print(f"| {target:g} | " + " | ".join(cells) + " |")


def score(frames, model, filling, L, stride) -> None:
    """Perpendicular-field ratio and full-field RMSE of the canonical ML field, and its mu*
    against ED's, on ED frames at fixed filling, in windows of t. frames: (t (K,), spins
    (K, N, 3), field (K, N, 3), mu (K,)) per trajectory; every ``stride``-th frame is used."""
    from llgsim import Lattice
    from llgsim.fields.ml import MLField
    from llgsim.learn.evaluation import field_metrics
    from llgsim.ml.pretrained import resolve_model

    ml = MLField(resolve_model(model), Lattice.square(L), backend="cpu", filling=filling)
    print("| t window (frames) | perpendicular ratio | full-field RMSE | mean mu* - mu_ED "
          "(max abs) |")
    print("|---|---|---|---|")
    for lo, hi in ((0, 10), (10, 50), (50, 200), (200, 1e9)):
        spins, ref, pred, dmu = [], [], [], []
        for t, s, field, mu in frames:
            for k in np.flatnonzero((t >= lo) & (t < hi))[::stride]:
                spins.append(s[k])
                ref.append(field[k])
                pred.append(ml.energy_and_field(s[k])[1])
                dmu.append(ml.mu - mu[k])
        if spins:
            m = field_metrics(np.array(spins), np.array(ref), np.array(pred))
            print(f"| {lo:g}-{hi:g} ({len(spins)}) | {m['ratio_perp']:.3f} | "
                  f"{m['rmse_field']:.4f} | {np.mean(dmu):+.4f} ({np.max(np.abs(dmu)):.4f}) |")


def speed(model, filling, sizes) -> None:
    """The --speed table (module docstring)."""
    import time

    import numba

    import llgsim.ml.chemical_potential as chemical_potential
    from llgsim import Lattice
    from llgsim.dynamics import make_stepper
    from llgsim.fields.ml import MLField
    from llgsim.ml.pretrained import resolve_model
    from llgsim.states import random_spins

    trials = []
    solve = chemical_potential.solve_mu

    def counted(total_density, *args):
        trials.append(0)

        def density(mu):
            trials[-1] += 1
            return total_density(mu)
        return solve(density, *args)

    chemical_potential.solve_mu = counted
    print(f"# seconds per SIB step, float64, {numba.get_num_threads()} numba threads, "
          f"{cpu_model()}, load {load_average()}, {datetime.date.today()}")
    print("| L | canonical reference | canonical cpu | grand-canonical cpu | canonical / "
          "grand-canonical (cpu) | trial mu per solve |")
    print("|---|---|---|---|---|---|")
    for L in sizes:
        lattice = Lattice.square(L)
        times = {}
        for key, backend in (("reference", "reference"), ("cpu", "cpu"), ("gc", "cpu")):
            if backend == "reference" and L > 50:
                continue
            ml = (MLField.pretrained("de-square", lattice, backend=backend) if key == "gc" else
                  MLField(resolve_model(model), lattice, backend=backend, filling=filling))
            stepper = make_stepper("sib", ml, 0.1, 0.5, 1)
            spins, _ = stepper.advance(ml.backend.asarray(random_spins(lattice, 1)), 0, 0.0,
                                       False)
            trials.clear()
            steps, start = 0, time.perf_counter()
            while steps < 3 or time.perf_counter() - start < 1.0:
                spins, _ = stepper.advance(spins, steps + 1, 0.0, False)
                steps += 1
            times[key] = (time.perf_counter() - start) / steps
            if key == "cpu":
                per_solve = np.mean(trials)
        ref = f"{times['reference']:.3f}" if "reference" in times else "-"
        print(f"| {L} | {ref} | {times['cpu']:.3f} | {times['gc']:.3f} | "
              f"{times['cpu'] / times['gc']:.1f} | {per_solve:.1f} |")


def plot(runs, names, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"ED": "k", "ML": "tab:red", "ML-gc": "tab:blue"}
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    for ax, q, label in zip(axes, ("nn", "ferro", "puddle", "mu"),
                            ("<S.S>_nn", "ferromagnetic-site fraction",
                             "puddle length L_k (lattice constants)", "mu")):
        for n in names:
            for j, seed in enumerate(args.seeds):
                r = runs[n, seed]
                ax.plot(r["t"], r[q], color=colours[n], lw=1, label=n if j == 0 else None)
        ax.set_xlabel("t (hbar / t1)")
        ax.set_ylabel(label)
    axes[0].legend()
    fig.suptitle(f"double exchange f = {args.filling}, square {args.L}x{args.L}, "
                 f"seeds {args.seeds}")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
