"""How many Chebyshev moments grand-canonical KPM labels need at electron temperature kT_e.

    python benchmarks/kpm_order.py [--kT 0.05 0.1] [--scales 2 4 8] [--colors 10]

The Jackson kernel broadens every level by about pi a / M (a: half-width of the spectrum), so
KPM reproduces the Fermi function of width kT_e once M is several times a / kT_e; the error
left falls as the square of the broadening, (a / (M kT_e))^2. Two 30 x 30 double-exchange
states (J = 6): "droplet", the configuration of benchmarks/label_convergence.py (a ferromagnetic
droplet in a noisy Neel background, mu in the Neel gap: few levels near mu), and "random" spins
(a metal at mu: the hard case), labelled at the fixed mu of the grand-canonical labels
(llgsim.bulk.coexistence) by ED and by KPM with M = scale * a / kT_e moments (a = the Gershgorin
bound, 10 here) and c x c colors. The table gives the RMS error of H_perp over the RMS of H_perp
(all sites), the full-field RMS error, and the seconds per KPM call;
llgsim.fields.kpm.MOMENTS_PER_SMEARING is the scale chosen from it.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import math
import time

import numpy as np

from llgsim.fields.ed import ExactDiagonalization
from llgsim.fields.kpm import KPM
from llgsim.model import KondoModel
from llgsim.states import random_spins

from label_convergence import embedded, label_mus  # benchmarks/label_convergence.py
from machine import cpu_model, load_average  # benchmarks/machine.py


def perp(spins, field):
    return field - np.sum(spins * field, 1)[:, None] * spins


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kT", type=float, nargs="+", default=[0.05, 0.1])
    ap.add_argument("--scales", type=float, nargs="+", default=[2, 4, 8])
    ap.add_argument("--colors", type=int, nargs="+", default=[10])
    args = ap.parse_args()
    lat, droplet, _ = embedded("de", 30)
    print(f"# KPM moments for grand-canonical labels: {datetime.date.today()}, {cpu_model()}, "
          f"load {load_average()}; 30x30 double exchange, J = 6")
    print("| state | kT_e | mu | M | M kT_e / a | colors | perp error / rms H_perp | full RMSE "
          "| s/call |")
    print("|---|---|---|---|---|---|---|---|---|")
    mus = label_mus("de", args.kT)
    for (state, spins), kT in itertools.product(
            [("droplet", droplet), ("random", random_spins(lat, 1))], args.kT):
        mu = mus[kT]
        model = KondoModel(lat, (1.0,), J=6.0, mu=mu, kT=kT)
        exact = ExactDiagonalization(model).solve(spins).field
        scale = np.sqrt(np.mean(np.sum(perp(spins, exact) ** 2, 1)))
        a = model.spectral_bound()
        for s in args.scales:
            order = int(math.ceil(s * a / kT))
            for c in args.colors:
                kpm = KPM(model, order=order, colors=c, precision="double")
                field = np.empty((lat.n_sites, 3))
                kpm.evaluate(spins, field, False)  # compile and warm up
                t0 = time.perf_counter()
                kpm.evaluate(spins, field, False)
                sec = time.perf_counter() - t0
                d = field - exact
                print(f"| {state} | {kT} | {mu:.4f} | {order} | {s:g} | {c} | "
                      f"{np.sqrt(np.mean(np.sum(perp(spins, d) ** 2, 1))) / scale:.4f} | "
                      f"{np.sqrt(np.mean(np.sum(d ** 2, 1))):.4f} | {sec:.2f} |", flush=True)


if __name__ == "__main__":
    main()
