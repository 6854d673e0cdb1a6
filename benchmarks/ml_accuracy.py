"""Accuracy and dynamics fidelity of the shipped ML models, recomputed from stored files.

    python benchmarks/ml_accuracy.py --root ../data   # the directory that holds out/ml, out/reference

Reads only stored files (no ED, no dynamics): ED-labelled held-out datasets, trajectory files of
ML- and ED-driven runs. It prints

1. accuracy tables (llgsim.learn.evaluation): full-field RMSE, perpendicular-field RMSE, RMS of the
   perpendicular ED field and their ratio, energy RMSE per site, per model and held-out dataset,
   and writes the parity plots to docs/figures/; the same figures for de-square on the two
   external ZC21 snapshots in tests/data/zc21_de30;
2. dynamics fidelity on double exchange: nearest-neighbour <S_i . S_j>_nn(t) of the ML-driven
   and the ED-driven run from the same random start (T = 0, alpha = 0.5): 30 x 30 (dt = 0.01)
   and 20 x 20 (dt = 0.05) early, 30 x 30 and 20 x 20 (dt = 0.1) to t = 200, at every common
   frame, and the largest deviation; plot docs/figures/de_square_dynamics.png; the share of
   hole-rich sites (ED density < 0.9) along the 30 x 30 late pair;
3. triangular ordering: mean |chirality| per triangle vs time of an ED-driven 12 x 12 quench,
   its ML twin (same start) and an ML-driven 48 x 48 quench (same dt, alpha, T), and the
   chirality map of the last 48 x 48 frame; plot docs/figures/sd_triangular_chirality.png
   (tetrahedral value 4 / (3 sqrt 3) = 0.7698).

Missing files are reported and skipped. All figures are per-site vector norms (see
llgsim.learn.evaluation). Machine and date are printed with the tables.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from pathlib import Path

import numpy as np

from llgsim import Lattice
from llgsim.analysis.observables import chirality, nearest_neighbour_correlation
from llgsim.external import read_zc21_snapshot
from llgsim.run.runfile import Trajectory
from llgsim.learn.dataset import read_dataset
from llgsim.learn.evaluation import evaluate_model, field_metrics, format_evaluation, predict
from llgsim.ml.pretrained import path_of

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"
TETRAHEDRAL_CHIRALITY = 4 / (3 * np.sqrt(3))

#: (model, held-out dataset under root, parity plot name)
ACCURACY = [
    ("de-square", "out/ml/heldout/de-square-reference-frames.h5", "de_square_parity_reference.png"),
    ("de-square", "out/ml/heldout/de-square-quench.h5", "de_square_parity_quench.png"),
    ("de-square", "out/ml/heldout/de-square-random-perturbed.h5", "de_square_parity_random_perturbed.png"),
    ("de-square", "out/ml/heldout/de-square-60x60.h5", "de_square_parity_60x60.png"),
    ("de-square", "out/ml/heldout/de-square-20x20.h5", "de_square_parity_20x20_ed_quench.png"),
    ("de-square", "out/ml/heldout/de-square-late.h5", "de_square_parity_late.png"),
    ("sd-triangular", "out/ml/heldout/sd-triangular-quench.h5", "sd_triangular_parity_quench.png"),
    ("sd-triangular", "out/ml/heldout/sd-triangular-late.h5", "sd_triangular_parity_late.png"),
]
#: external 30 x 30 DE snapshots of the ZC21 authors (tests/data/zc21_de30/README.md): a late
#: ED-labelled quench configuration and a random one with KPM labels (~5e-3 from ED)
EXTERNAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "zc21_de30"
#: (name, ML-driven run, ED-driven run or (ED dataset, quench seed), figure panel: 0 early,
#: 1 late) from the same random start
DYNAMICS = [("30x30, dt = 0.01", "out/ml/fidelity/de30-ml.h5", "out/reference/ref_de30_ed.h5", 0),
            ("20x20, dt = 0.05", "out/ml/fidelity/de20-ml.h5",
             ("out/ml/heldout/de-square-20x20.h5", 21), 0),
            ("30x30, dt = 0.1", "out/ml/fidelity/de30-ml-late.h5",
             "out/reference/ref_de30_ed_late.h5", 1),
            ("20x20, dt = 0.1", "out/ml/fidelity/de20-ml-late.h5",
             "out/reference/ref_de20_ed_late.h5", 1)]
#: ED labels (site densities) of the frames of the late pair: runs/de_square/data_de_square_late_compare.toml
LATE_DENSITIES = "out/ml/fidelity/de-square-late-compare.h5"
#: a site is hole-rich below this ED density (docs/physics.md, section 1.1: holes gather in
#: clusters)
HOLE_RICH = 0.9
#: triangular quenches from the same kind of start (T = 0, alpha = 0.5, dt = 0.1): the ED-driven
#: 12 x 12 run, its ML twin (same seed) and the large ML run
CHIRAL_ED = "out/ml/fidelity/tri12-ed.h5"
CHIRAL_ML = ["out/ml/fidelity/tri12-ml.h5", "out/ml/fidelity/tri48-ml.h5"]


def trajectory_curve(path, observable) -> tuple[np.ndarray, np.ndarray]:
    """(time (T,), value (T,)) of a function of (spins, lattice) over a trajectory's frames."""
    with Trajectory(path) as traj:
        lattice = run_lattice(traj)
        pairs = [(t, observable(s, lattice)) for _, t, s in traj.frames()]
    return np.array([t for t, _ in pairs]), np.array([v for _, v in pairs])


def run_lattice(traj) -> Lattice:
    lat = traj.provenance["lattice"]
    return Lattice.from_kind(lat["kind"], lat["Lx"], lat["Ly"])


def size_of(path) -> str:
    with Trajectory(path) as traj:
        lattice = run_lattice(traj)
    return f"{lattice.Lx}x{lattice.Ly}"


def mean_abs_chirality(spins, lattice) -> float:
    return float(np.abs(chirality(spins, lattice.triangles())).mean())


def accuracy_tables(root: Path) -> list[dict]:
    rows = []
    for name, dataset, plot in ACCURACY:
        path = root / dataset
        if not path.exists():
            print(f"skipped (missing): {path}")
            continue
        result = evaluate_model(path_of(name), path, FIGURES / plot)
        print(format_evaluation(result).replace(str(path_of(name)), name))
        rows.append({"model": name, "dataset": dataset, **{k: v for k, v in result.items()
                                                            if k not in ("model", "dataset")}})
    return rows


def external_snapshots() -> list[dict]:
    """de-square on the ZC21 snapshots (never trained on): rows of llgsim.learn.evaluation figures."""
    rows = []
    for name in ("quench_c20000", "random_c2"):
        spins, field, _ = read_zc21_snapshot(EXTERNAL / f"{name}.dat")
        spins, field = spins[None], field[None]
        _, pred = predict(path_of("de-square"), spins, Lattice.square(30))
        result = {"snapshot": name, **field_metrics(spins, field, pred)}
        print(f"de-square on ZC21 {name}: rmse H {result['rmse_field']:.3g}  rmse H_perp "
              f"{result['rmse_perp']:.3g}  rms H_perp {result['rms_perp']:.3g}  ratio "
              f"{result['ratio_perp']:.3f}  gain {result['gain_perp']:.2f}")
        rows.append(result)
    return rows


def ed_curve(root: Path, ed) -> tuple[np.ndarray, np.ndarray]:
    """(time, <S.S>_nn) of an ED-driven run file, or of the quench snapshots of one seed in an
    ED dataset (ed = (dataset, seed))."""
    if isinstance(ed, str):
        return trajectory_curve(root / ed, nearest_neighbour_correlation)
    snaps = read_dataset(root / ed[0])
    pick = (snaps.records["kind"] == "quench") & (snaps.records["seed"] == ed[1])
    lat = snaps.lattice
    lattice = Lattice.from_kind(lat["kind"], lat["Lx"], lat["Ly"])
    return (snaps.records["time"][pick],
            np.array([nearest_neighbour_correlation(s, lattice) for s in snaps.spins[pick]]))


def dynamics_fidelity(root: Path) -> list[dict]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, colours = [], {}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, ml, ed, panel in DYNAMICS:
        ax = axes[panel]
        ed_path = root / (ed if isinstance(ed, str) else ed[0])
        if not ((root / ml).exists() and ed_path.exists()):
            print(f"skipped (missing): {root / ml} or {ed_path}")
            continue
        t_ml, c_ml = trajectory_curve(root / ml, nearest_neighbour_correlation)
        t_ed, c_ed = ed_curve(root, ed)
        common, i_ml, i_ed = np.intersect1d(np.round(t_ml, 9), np.round(t_ed, 9),
                                            return_indices=True)
        if len(common) < 2:
            print(f"{name}: no ED frames beyond the start yet")
            continue
        dev = np.abs(c_ml[i_ml] - c_ed[i_ed])
        rows.append({"run": name, "frames_compared": int(len(common)),
                     "t_max_compared": float(common.max()), "max_abs_deviation": float(dev.max()),
                     "ml_t_final": float(t_ml[-1]), "ml_final": float(c_ml[-1]),
                     "ed_at_t_max": float(c_ed[i_ed][-1]), "ml_at_t_max": float(c_ml[i_ml][-1])})
        print(f"<S.S>_nn ML vs ED, {name}: {len(common)} common frames up to t = "
              f"{common.max():g}, max |deviation| = {dev.max():.4f}, at t = {common.max():g}: "
              f"ML {c_ml[i_ml][-1]:.4f}, ED {c_ed[i_ed][-1]:.4f}")
        if ml not in colours:  # one ML curve per run, ED points for every comparison
            colours[ml] = ax.plot(t_ml, c_ml, label=f"ML {name.split(',')[0]}")[0].get_color()
        ax.plot(t_ed, c_ed, "o", ms=3, color=colours[ml], label=f"ED {name}")
    if not rows:  # nothing to draw: keep the figure a previous run wrote
        plt.close(fig)
        return rows
    for ax, title in zip(axes, ("early", "late (arrested regime)")):
        ax.set(xlabel="time (hbar / t$_1$)", ylabel=r"$\langle S_i\cdot S_j\rangle_{nn}$",
               title=title)
        ax.legend(fontsize=8)
    fig.suptitle("DE quench from random spins, T = 0, alpha = 0.5: ML (lines) vs ED (points)")
    fig.tight_layout()
    fig.savefig(FIGURES / "de_square_dynamics.png", dpi=110)
    plt.close(fig)
    return rows


def hole_rich_share(root: Path) -> dict | None:
    """Share of sites with ED density < HOLE_RICH at each labelled frame of the late pair:
    {run file: [[time, share], ...]}."""
    path = root / LATE_DENSITIES
    if not path.exists():
        print(f"skipped (missing): {path}")
        return None
    snaps = read_dataset(path)
    out = {}
    for file in sorted(set(snaps.records["file"])):
        pick = snaps.records["file"] == file
        shares = np.mean(snaps.density[pick] < HOLE_RICH, axis=1)
        out[file] = [[float(t), float(v)] for t, v in zip(snaps.records["time"][pick], shares)]
        print(f"hole-rich share (ED density < {HOLE_RICH}), {file}: " + ", ".join(
            f"t = {t:g}: {v:.3f}" for t, v in out[file][::5]))
    return out


def chiral_ordering(root: Path) -> dict | None:
    """Mean |chirality| per triangle vs time of the ED run and the ML runs; plot the curves and
    the chirality map of the last frame of the largest ML run."""
    paths = [root / p for p in (CHIRAL_ED, *CHIRAL_ML)]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"skipped (missing): {', '.join(missing)}")
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = {}
    fig, (ax, ax_map) = plt.subplots(1, 2, figsize=(10, 4.2))
    for k, path in enumerate(paths):
        t, chi = trajectory_curve(path, mean_abs_chirality)
        label = f"{'ED' if k == 0 else 'ML (sd-triangular)'}, {size_of(path)}"
        out[label] = {"t_final": float(t[-1]), "final": float(chi[-1]),
                      "t_first_0.75": float(t[np.argmax(chi > 0.75)]) if (chi > 0.75).any()
                      else None}
        print(f"mean |chirality| {label}: {chi[-1]:.4f} at t = {t[-1]:g}; first above 0.75 at "
              f"t = {out[label]['t_first_0.75']} (tetrahedral {TETRAHEDRAL_CHIRALITY:.4f})")
        ax.plot(t, chi, "o" if k == 0 else "-", ms=3, label=label)
    ax.axhline(TETRAHEDRAL_CHIRALITY, color="0.5", ls="--", lw=0.8, label="tetrahedral")
    ax.set(xlabel="time (hbar / t$_1$)", ylabel="mean |chirality| per triangle",
           title="triangular s-d, J = 2, f = 1/4: quench from random spins")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    with Trajectory(paths[-1]) as traj:
        lattice = run_lattice(traj)
        _, t_last, spins = traj.frame(traj.n_frames - 1)
    up = chirality(spins, lattice.triangles())[:lattice.n_sites]  # up triangle of every cell
    xy = lattice.positions()
    sc = ax_map.scatter(xy[:, 0], xy[:, 1], c=up, cmap="RdBu", vmin=-TETRAHEDRAL_CHIRALITY,
                        vmax=TETRAHEDRAL_CHIRALITY, s=6, marker="h")
    ax_map.set_aspect("equal")
    ax_map.set_axis_off()
    ax_map.set_title(f"chirality of up triangles, ML {lattice.Lx}x{lattice.Ly}, t = {t_last:g}",
                     fontsize=9)
    fig.colorbar(sc, ax=ax_map, shrink=0.8)
    fig.tight_layout()
    fig.savefig(FIGURES / "sd_triangular_chirality.png", dpi=110)
    plt.close(fig)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("."),
                        help="directory holding out/ml and out/reference (default: .)")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    FIGURES.mkdir(parents=True, exist_ok=True)
    print(f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} "
          f"CPUs, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    results = {"accuracy": accuracy_tables(args.root), "external": external_snapshots(),
               "dynamics": dynamics_fidelity(args.root), "hole_rich": hole_rich_share(args.root),
               "chirality": chiral_ordering(args.root)}
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
