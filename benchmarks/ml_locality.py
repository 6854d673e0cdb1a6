"""Locality floor of any local force field, measured with ED on quench snapshots.

    python benchmarks/ml_locality.py DATASET --seeds A B [C ...] [--ranges 3 5 7 9] [--trials 16]
    python benchmarks/ml_locality.py DATASET --files A.h5 B.h5 ...
    python benchmarks/ml_locality.py DATASET --files A.h5 B.h5 --mu -5.18 ...   # fixed mu
    python benchmarks/ml_locality.py DATASET --seeds A B --kT 0.1 ...           # warm electrons
    python benchmarks/ml_locality.py DATASET --seeds A B C D --model de-square  # model beside

A local force field of range R gives the field at site i from the spins within distance R of i
and nothing else. (A Behler-Parrinello model with descriptor cutoff r_c has R = 2 r_c: H_i
collects -d eps_j / dS_i from every j within r_c of i, and eps_j sees r_c around j.) Take
ED-labelled snapshots at the same time t of two different trajectories A and B (quench seeds,
or the frames of trajectory files, of a dataset written by ``llgsim generate``), build the
hybrid T = A within R + 1 of a random centre c and B outside, and label T by ED. Every site
within one lattice constant of c sees A's spins up to distance R in both A and T, so every model
of range <= R predicts the same field for it in both, while ED gives

    dH_perp = |H_perp(T) - H_perp(A)|,   dH_par = |H(T) . S - H(A) . S|.

With model errors e_A, e_T, dH = |e_T - e_A|, so RMSE >= rms(dH) / sqrt 2 when the two errors
are uncorrelated: the floor under every local model of range R on such configurations (it is
the RMS conditional spread of the ED field given the spins within R, for outer regions drawn
from the other trajectories). With more than two trajectories, the trials cycle through their
ordered pairs (inside, outside).

The table gives, per time and range:
* the perpendicular floor over the RMS of H_perp (the ratio the issue-7 bar of 0.10 is set
  on), with a bootstrap 68 % interval over the trials;
* the full-field floor sqrt((dH_perp^2 + dH_par^2) / 2) (bar 0.01);
* the tail share, the part of sum(dH_perp^2) carried by the largest 10 % of the site samples
  (about 0.3 for Gaussian changes): discontinuous jumps where a one-electron level crosses the
  Fermi level (a hole changes place) push it towards 1;
* the 50th, 90th and 99th percentiles of the per-sample floor |dH_perp| / sqrt 2 over RMS
  H_perp: the typical site beside the rare jumps that carry the RMS.
A pooled row over all times closes the table. At T = 0 and fixed filling the few electrons
near the Fermi level (the doped holes in double exchange) of the finite lattice make both parts
of the field depend on far spins (docs/training_results.md, "Locality").

Options: ``--mu`` relabels A and the hybrids by ED at that fixed chemical potential instead of
the dataset's filling (the same test without the global electron-number constraint of a small
lattice); ``--kT`` relabels them at that electron temperature (Fermi smearing turns the level
crossings into smooth changes); ``--model`` (a shipped model's name or a model file) adds a
column with that model's perpendicular ratio on the same snapshots (all sites of every
trajectory at that time, labelled as the floor is).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json

import numpy as np

from llgsim import Lattice
from llgsim.fields.ed import ExactDiagonalization
from llgsim.learn.dataset import read_dataset
from llgsim.learn.evaluation import field_metrics, predict
from llgsim.ml.pretrained import path_of
from llgsim.model import KondoModel

from machine import cpu_model, load_average  # benchmarks/machine.py

#: a site samples the centre's neighbourhood if it lies within this distance of the centre
NEAR = 1.01
#: the tail share is the part of sum(dH_perp^2) carried by this fraction of largest samples
TAIL = 0.1
#: percentiles of the per-sample floor |dH_perp| / sqrt 2 over RMS H_perp: the typical site and
#: the tail that carries the RMS
QUANTILES = (50, 90, 99)
#: bootstrap resamples of the trials for the 68 % interval
BOOTSTRAP = 2000


def split_field(spins: np.ndarray, field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(perpendicular part (N, 3), parallel component (N,)) of a field on unit spins."""
    par = np.sum(spins * field, axis=1)
    return field - par[:, None] * spins, par


def floor_cells(d_perp: np.ndarray, d_par: np.ndarray, rms: np.ndarray, rng) -> dict:
    """Floors from the squared changes (trials, near sites) and the RMS of H_perp of each
    sample's time (same shape): the perpendicular ratio with its bootstrap 68 % interval over
    trials, the full-field floor and the tail share."""
    scale = np.sqrt(np.mean(rms ** 2))
    per_trial = d_perp.mean(axis=1)
    boot = per_trial[rng.integers(len(per_trial), size=(BOOTSTRAP, len(per_trial)))].mean(axis=1)
    low, high = np.sqrt(np.percentile(boot, [16, 84]) / 2) / scale
    return {"ratio_perp": float(np.sqrt(d_perp.mean() / 2) / scale),
            "ratio_perp_68": [float(low), float(high)],
            "floor_full": float(np.sqrt((d_perp.mean() + d_par.mean()) / 2)),
            "tail_share": tail_share(d_perp),
            "quantiles_perp": [float(q) for q in
                               np.percentile(np.sqrt(d_perp / 2), QUANTILES) / scale]}


def tail_share(d_sq: np.ndarray) -> float:
    """Share of sum(d_sq) carried by its TAIL largest samples: ~0.3 for Gaussian changes,
    near 1 when a few jumps carry the floor."""
    ordered = np.sort(d_sq.ravel())[::-1]
    return float(ordered[:max(1, int(round(TAIL * len(ordered))))].sum() / ordered.sum())


def format_cells(cells) -> str:
    """Table entries of floor_cells results: ratio [68 % interval], full floor, tail share."""
    return " | ".join(f"{c['ratio_perp']:.3f} [{c['ratio_perp_68'][0]:.3f}, "
                      f"{c['ratio_perp_68'][1]:.3f}], {c['floor_full']:.4f}, "
                      f"{c['tail_share']:.2f}, q "
                      + "/".join(f"{q:.3f}" for q in c["quantiles_perp"]) for c in cells)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--seeds", type=int, nargs="+", help="two or more [[quench]] seeds")
    which.add_argument("--files", nargs="+",
                       help="two or more [[frames]] trajectory paths, as stored")
    ap.add_argument("--ranges", type=float, nargs="+", default=[3.0, 5.0, 7.0, 9.0],
                    help="field ranges R of the models the floor is for")
    ap.add_argument("--times", type=int, default=4, help="common times, spread evenly")
    ap.add_argument("--trials", type=int, default=12, help="random centres per time and range")
    ap.add_argument("--mu", type=float, help="label at this fixed chemical potential instead")
    ap.add_argument("--kT", type=float, help="label at this electron temperature instead")
    ap.add_argument("--model", help="a shipped model's name or a model file: its ratio beside")
    ap.add_argument("--json", help="also write the table to this JSON file")
    args = ap.parse_args()
    labels = args.seeds or args.files
    if len(set(labels)) < 2:
        ap.error("give at least two different trajectories")
    data = read_dataset(args.dataset)
    lat_d, mod, spins, field = data.lattice, data.model, data.spins, data.field
    seed, time, kind, source_file = (data.records[k] for k in ("seed", "time", "kind", "file"))
    lattice = Lattice.from_kind(lat_d["kind"], lat_d["Lx"], lat_d["Ly"])
    if args.mu is not None:
        electrons = {"mu": args.mu}
    elif mod.get("filling") is not None:
        electrons = {"filling": mod["filling"]}
    else:  # a grand-canonical dataset
        electrons = {"mu": mod["mu"]}
    kT = mod["kT"] if args.kT is None else args.kT
    relabel = args.mu is not None or args.kT is not None
    ed = ExactDiagonalization(KondoModel(lattice, tuple(mod["hopping"]), J=mod["J"], kT=kT,
                                         **electrons))

    def trajectory(label):
        """(S,) mask of the snapshots of one trajectory: a quench seed or a frames file."""
        if args.seeds:
            return (kind == "quench") & (seed == label)
        return (kind == "frame") & (source_file == label)

    common = sorted(set.intersection(*(set(time[trajectory(a)]) for a in labels)))
    if not common:
        raise SystemExit(f"no time common to trajectories {labels} in {args.dataset}")
    picks = [common[k] for k in np.unique(np.linspace(0, len(common) - 1, args.times).astype(int))]
    pairs = list(itertools.permutations(labels, 2))
    rng = np.random.default_rng(0)
    pos = lattice.positions()
    print(f"# locality floor: {args.dataset}, {lattice.kind} {lattice.Lx}x{lattice.Ly}, "
          f"J = {mod['J']}, kT_e = {kT}, {electrons}, trajectories {labels}, "
          f"{args.trials} centres per entry")
    print(f"# {cpu_model()}, load {load_average()}, {datetime.date.today()}")
    print("# entries: perpendicular floor / RMS H_perp [68 % interval], full-field floor, "
          "tail share, q: percentiles " + "/".join(map(str, QUANTILES)) + " of the per-site "
          "perpendicular floor / RMS H_perp")
    model = None if args.model is None else (
        args.model if args.model.endswith(".safetensors") else path_of(args.model))
    model_column = "" if model is None else f" {args.model} ratio |"
    print("| t | RMS H_perp |" + model_column + "".join(f" R = {r:g} |" for r in args.ranges))
    print("|---" * (2 + len(args.ranges) + (model is not None)) + "|")
    rows, pooled = [], {r: ([], [], []) for r in args.ranges}
    for t in picks:
        snap = {a: np.flatnonzero(trajectory(a) & (time == t))[0] for a in labels}
        label = {a: ed.energy_and_field(spins[k])[1] if relabel else field[k]
                 for a, k in snap.items()}
        parts = {a: split_field(spins[snap[a]], label[a]) for a in labels}
        rms = float(np.sqrt(np.mean([np.sum(parts[a][0] ** 2, axis=1) for a in labels])))
        row = {"t": float(t), "rms_perp": rms, "ranges": {}}
        if model is not None:
            at_t = np.stack([spins[snap[a]] for a in labels])
            m = field_metrics(at_t, np.stack([label[a] for a in labels]),
                              predict(model, at_t, lattice)[1])
            row["model_ratio"], row["model_rmse_perp"] = m["ratio_perp"], m["rmse_perp"]
        for radius in args.ranges:
            d_perp, d_par = [], []
            for trial in range(args.trials):
                a, b = pairs[trial % len(pairs)]
                centre = pos[int(rng.integers(lattice.n_sites))]
                dist = np.linalg.norm(lattice.minimum_image(pos - centre), axis=1)
                hybrid = np.where((dist <= radius + NEAR)[:, None], spins[snap[a]], spins[snap[b]])
                perp_t, par_t = split_field(hybrid, ed.energy_and_field(hybrid)[1])
                perp_a, par_a = parts[a]
                near = dist <= NEAR
                d_perp.append(np.sum((perp_t[near] - perp_a[near]) ** 2, axis=1))
                d_par.append((par_t[near] - par_a[near]) ** 2)
            d_perp, d_par = np.array(d_perp), np.array(d_par)
            rms_like = np.full(d_perp.shape, rms)
            row["ranges"][f"{radius:g}"] = floor_cells(d_perp, d_par, rms_like, rng)
            for store, value in zip(pooled[radius], (d_perp, d_par, rms_like)):
                store.append(value)
        rows.append(row)
        cell = "" if model is None else f" {row['model_ratio']:.3f} |"
        print(f"| {t:g} | {rms:.4f} |{cell} {format_cells(row['ranges'].values())} |", flush=True)
    total = {f"{r:g}": floor_cells(*(np.concatenate(v) for v in stores), rng)
             for r, stores in pooled.items()}
    # every time has the same number of sites: pool mean squares over times
    pooled_model = None if model is None else float(np.sqrt(
        np.mean([r["model_rmse_perp"] ** 2 for r in rows])
        / np.mean([r["rms_perp"] ** 2 for r in rows])))
    cell = "" if model is None else f" {pooled_model:.3f} |"
    print(f"| all | |{cell} {format_cells(total.values())} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "pooled": total, "pooled_model_ratio": pooled_model}, f,
                      indent=1)


if __name__ == "__main__":
    main()
