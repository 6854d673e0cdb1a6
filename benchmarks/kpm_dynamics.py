"""LLG relaxation driven by KPM vs exact diagonalization: nearest-neighbour spin correlation
<S_i . S_j>_nn(t) and energy per site, square double exchange 30x30 (t = 1, J = 6, f = 0.485,
kT_e = 0), the same random start, T = 0, alpha = 0.5, dt = 0.01, SIB integrator
(llgsim.dynamics.make_stepper, one stepper per provider on the "cpu" backend). Both trajectories
advance step by step in one loop and every step is written to the CSV at once, so a run cut
short (--steps, --max-minutes) keeps what it computed.

    python benchmarks/kpm_dynamics.py --steps 500                # ~25+ min of ED on an idle machine
    python benchmarks/kpm_dynamics.py --steps 100 --max-minutes 30
    python benchmarks/kpm_dynamics.py --runs ED.h5 KPM.h5        # compare two finished run files

The --runs form compares the frames and energy series of two ``llgsim run`` files from the same
start (e.g. runs/de_square/reference_de30_ed.toml and its twin with [provider] kind = "kpm",
runs/de_square/reference_de30_kpm.toml), which can be run, interrupted and resumed separately.
Writes docs/kpm_vs_ed.csv and docs/kpm_vs_ed.png (paths via --out).
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import time

import numpy as np

from llgsim.analysis.observables import nearest_neighbour_correlation
from llgsim.dynamics import make_stepper
from llgsim.fields import KPM, ExactDiagonalization
from llgsim.lattice import Lattice
from llgsim.model import KondoModel
from llgsim.states import random_spins
from machine import cpu_model  # benchmarks/machine.py

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop (and still plot) once this much wall time has passed")
    parser.add_argument("--L", type=int, default=30)
    parser.add_argument("--order", type=int, default=1000)
    parser.add_argument("--colors", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1, help="random start and KPM probes")
    parser.add_argument("--out", type=pathlib.Path, default=DOCS / "kpm_vs_ed")
    parser.add_argument("--runs", nargs=2, type=pathlib.Path, metavar=("ED_RUN", "KPM_RUN"),
                        help="compare two finished run files instead of integrating here")
    args = parser.parse_args()
    if args.runs:
        compare_runs(*args.runs, args.out)
        return

    model = KondoModel(Lattice.square(args.L), J=6.0, filling=0.485, kT=0.0)
    providers = {"ed": ExactDiagonalization(model, backend="cpu"),
                 "kpm": KPM(model, order=args.order, colors=args.colors, seed=args.seed,
                            backend="cpu")}
    dt, alpha = 0.01, 0.5
    # T = 0: no noise is drawn; the seed only keys it
    steppers = {name: make_stepper("sib", p, dt, alpha, args.seed) for name, p in providers.items()}
    start = random_spins(model.lattice, args.seed)
    spins = {name: p.backend.asarray(start.copy()) for name, p in providers.items()}
    header = (f"# {args.L}x{args.L} DE J=6 f=0.485 kT_e=0; T=0 alpha={alpha} dt={dt} SIB; "
              f"KPM M={args.order} c={args.colors} seed={args.seed}; {cpu_model()}, "
              f"{os.cpu_count()} cores; {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(header, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    csv = args.out.with_suffix(".csv")
    began = time.perf_counter()
    seconds = {name: 0.0 for name in providers}
    with open(csv, "w") as out:
        out.write(header + "\nstep,time,nn_ed,nn_kpm,energy_ed,energy_kpm\n")
        for step in range(args.steps + 1):
            energies, advanced = {}, {}
            for name, stepper in steppers.items():
                t0 = time.perf_counter()
                if step < args.steps:  # new spins (a stepper buffer) and E at the current ones
                    advanced[name], energies[name] = stepper.advance(spins[name], step, 0.0, True)
                else:  # the last row: energy of the configuration reached
                    energies[name] = stepper.energy(spins[name])
                seconds[name] += time.perf_counter() - t0
            nn = {name: nearest_neighbour_correlation(providers[name].backend.to_host(s),
                                                      model.lattice)
                  for name, s in spins.items()}
            row = (f"{step},{step * dt:.4f},{nn['ed']:.6f},{nn['kpm']:.6f},"
                   f"{energies['ed'] / model.n_sites:.6f},{energies['kpm'] / model.n_sites:.6f}")
            out.write(row + "\n")
            out.flush()
            spins.update(advanced)
            if step % 10 == 0:
                print(row, f"  ED {seconds['ed']:.0f} s, KPM {seconds['kpm']:.0f} s", flush=True)
            if args.max_minutes and time.perf_counter() - began > 60 * args.max_minutes:
                print(f"# stopped after {step} steps (--max-minutes {args.max_minutes})")
                break
    plot(csv, args.out.with_suffix(".png"), header)


def compare_runs(ed_run: pathlib.Path, kpm_run: pathlib.Path, out: pathlib.Path) -> None:
    """Write the CSV and plot of :func:`main` from the frames and energy series of two run files
    (rows at the steps both files hold; energies from the 'energy' observable, per site)."""
    from llgsim.run.runfile import Trajectory

    curves = {}
    for name, path in (("ed", ed_run), ("kpm", kpm_run)):
        with Trajectory(path) as traj:
            lat = traj.provenance["lattice"]
            lattice = Lattice.from_kind(lat["kind"], lat["Lx"], lat["Ly"])
            nn = {step: (time_, nearest_neighbour_correlation(s, lattice))
                  for step, time_, s in traj.frames()}
            steps, _, energy = traj.observable("energy")
            curves[name] = (nn, dict(zip(steps.tolist(), energy.tolist())), traj.provenance)
    common = sorted(set(curves["ed"][0]) & set(curves["kpm"][0])
                    & set(curves["ed"][1]) & set(curves["kpm"][1]))
    kpm = curves["kpm"][2]["provider"]
    header = (f"# run files {ed_run.name} (ED) vs {kpm_run.name} (KPM M={kpm['order']} "
              f"c={kpm['colors']}); {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    csv = out.with_suffix(".csv")
    with open(csv, "w") as f:
        f.write(header + "\nstep,time,nn_ed,nn_kpm,energy_ed,energy_kpm\n")
        for step in common:
            t, nn_ed = curves["ed"][0][step]
            f.write(f"{step},{t:.4f},{nn_ed:.6f},{curves['kpm'][0][step][1]:.6f},"
                    f"{curves['ed'][1][step]:.6f},{curves['kpm'][1][step]:.6f}\n")
    data = np.atleast_2d(np.genfromtxt(csv, delimiter=",", skip_header=2))
    print(header)
    print(f"# {len(common)} common frames up to step {common[-1]}: max |d nn| = "
          f"{np.abs(data[:, 2] - data[:, 3]).max():.2e}, max |d E/N| = "
          f"{np.abs(data[:, 4] - data[:, 5]).max():.2e}")
    plot(csv, out.with_suffix(".png"), header)


def plot(csv: pathlib.Path, png: pathlib.Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = np.genfromtxt(csv, delimiter=",", skip_header=2)
    data = np.atleast_2d(data)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    for ax, (col_ed, col_kpm, label) in zip(axes, ((2, 3, r"$\langle S_i\cdot S_j\rangle_{nn}$"),
                                                   (4, 5, "energy per site"))):
        ax.plot(data[:, 1], data[:, col_ed], "k-", label="ED")
        ax.plot(data[:, 1], data[:, col_kpm], "r--", label="KPM")
        ax.set_xlabel(r"time ($\hbar/t$)")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle(title.lstrip("# ").split(";")[0] + f", {len(data) - 1} steps", fontsize=9)
    fig.savefig(png, dpi=120)
    print(f"# wrote {csv} and {png}")


if __name__ == "__main__":
    main()
