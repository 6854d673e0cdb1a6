"""Locality floor of any local force field, measured with ED on quench snapshots.

    python benchmarks/ml_locality.py DATASET --seeds A B [--radii 2.3 3.1 ...] [--trials 6]
    python benchmarks/ml_locality.py DATASET --files A.h5 B.h5 ...
    python benchmarks/ml_locality.py DATASET --files A.h5 B.h5 --mu -5.18 ...   # fixed mu

A local model sees the spins within some range R of a site and nothing else. Take two
ED-labelled snapshots at the same time t from different trajectories (quench seeds A and B, or
the frames of trajectory files A and B, of a dataset written by ``llgsim generate``), build the
hybrid T = A within distance R of a random centre c and B outside, and label T by ED. At the sites within one lattice constant of c, A and
T look the same to a model of range R, so it predicts the same field for both, while ED gives

    dH_perp = |H_perp(T) - H_perp(A)|,   dH_par = |H(T) . S - H(A) . S|

over sites and trials; with errors e_A, e_T of the model, dH = |e_T - e_A|, so
RMSE >= rms(dH) / sqrt 2 when the two errors are uncorrelated: the floor under every
local model of range R on such configurations. The table prints rms(dH) / sqrt 2 beside the
RMS of H_perp. At T = 0 and fixed filling the finite system's electrons near the Fermi level
(the doped holes in double exchange) are spread over the whole lattice, which makes both parts
of the field depend on far spins (docs/training.md, "Locality"). With ``--mu`` both A and the
hybrid are relabelled by ED at that fixed chemical potential instead of the dataset's filling:
the same test without the global electron-number constraint of a small lattice.
"""

from __future__ import annotations

import argparse
import datetime
import json

import h5py
import numpy as np

from llgsim import Lattice
from llgsim.fields.ed import ExactDiagonalization
from llgsim.model import KondoModel

from machine import cpu_model, load_average  # benchmarks/machine.py


def split_field(spins: np.ndarray, field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(perpendicular part (N, 3), parallel component (N,)) of a field on unit spins."""
    par = np.sum(spins * field, axis=1)
    return field - par[:, None] * spins, par


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--seeds", type=int, nargs=2, help="two [[quench]] seeds")
    which.add_argument("--files", nargs=2, help="two [[frames]] trajectory paths, as stored")
    ap.add_argument("--radii", type=float, nargs="+", default=[2.3, 3.1, 4.1, 5.1, 6.1])
    ap.add_argument("--times", type=int, default=4, help="common times, spread evenly")
    ap.add_argument("--trials", type=int, default=6, help="random centres per time and radius")
    ap.add_argument("--mu", type=float, help="label at this fixed chemical potential instead")
    args = ap.parse_args()
    with h5py.File(args.dataset, "r") as h:
        lat_d, mod = json.loads(h.attrs["lattice"]), json.loads(h.attrs["model"])
        spins, field = h["spins"][:], h["field"][:]
        seed, time = h["source/seed"][:], h["source/time"][:]
        kind = h["source/kind"][:].astype(str)
        source_file = h["source/file"][:].astype(str)
    lattice = Lattice.from_kind(lat_d["kind"], lat_d["Lx"], lat_d["Ly"])
    electrons = {"filling": mod["filling"]} if args.mu is None else {"mu": args.mu}
    ed = ExactDiagonalization(KondoModel(lattice, tuple(mod["hopping"]), J=mod["J"],
                                         kT=mod["kT"], **electrons))
    a, b = args.seeds or args.files

    def trajectory(label):
        """(S,) mask of the snapshots of one trajectory: a quench seed or a frames file."""
        if args.seeds:
            return (kind == "quench") & (seed == label)
        return (kind == "frame") & (source_file == label)

    common = sorted(set(time[trajectory(a)]) & set(time[trajectory(b)]))
    if not common:
        raise SystemExit(f"no common times of trajectories {a} and {b} in {args.dataset}")
    picks = [common[k] for k in np.unique(np.linspace(0, len(common) - 1, args.times).astype(int))]
    rng = np.random.default_rng(0)
    pos = lattice.positions()
    print(f"# locality floor: {args.dataset}, {lattice.kind} {lattice.Lx}x{lattice.Ly}, "
          f"J = {mod['J']}, {electrons}, {a} (inside) / {b} (outside), "
          f"{args.trials} centres per entry")
    print(f"# {cpu_model()}, load {load_average()}, {datetime.date.today()}")
    print("| t | RMS H_perp | " + " | ".join(f"R = {r}: perp / par" for r in args.radii) + " |")
    print("|---" * (2 + len(args.radii)) + "|")
    for t in picks:
        ia = np.flatnonzero(trajectory(a) & (time == t))[0]
        ib = np.flatnonzero(trajectory(b) & (time == t))[0]
        label_a = field[ia] if args.mu is None else ed.energy_and_field(spins[ia])[1]
        perp_a, par_a = split_field(spins[ia], label_a)
        cells = []
        for radius in args.radii:
            d_perp, d_par = [], []
            for _ in range(args.trials):
                centre = pos[int(rng.integers(lattice.n_sites))]
                dist = np.linalg.norm(lattice.minimum_image(pos - centre), axis=1)
                hybrid = np.where((dist <= radius)[:, None], spins[ia], spins[ib])
                perp_t, par_t = split_field(hybrid, ed.energy_and_field(hybrid)[1])
                near = dist <= 1.01
                d_perp.extend(np.sum((perp_t[near] - perp_a[near]) ** 2, axis=1))
                d_par.extend((par_t[near] - par_a[near]) ** 2)
            cells.append(f"{np.sqrt(np.mean(d_perp) / 2):.4f} / {np.sqrt(np.mean(d_par) / 2):.4f}")
        rms = np.sqrt(np.mean(np.sum(perp_a ** 2, axis=1)))
        print(f"| {t:g} | {rms:.4f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
