"""Figures and numbers of docs/analysis.md: the constructed cases (tetrahedral Bragg peaks and
chirality, Gaussian-field domains with their Porod tail) and the Allen-Cahn control (a
classical easy-axis ferromagnet quenched at T = 0 from random spins, 4 seeds of 192 x 192,
dt = 0.2, alpha = 1, K = 0.1, a frame every 2 steps to t = 100), whose growth exponent chooses
the L(t) method.

    python benchmarks/analysis_control.py                    # runs the control (~3 min) too
    python benchmarks/analysis_control.py --runs s1.h5 ...   # analyse existing control runs

Writes docs/figures/analysis_*.png and prints the exponents of the three methods.
"""

from __future__ import annotations

import argparse
import datetime
import pathlib
import sys
import tempfile

import numpy as np

from llgsim import Lattice
from llgsim.analysis.chirality import cell_chirality
from llgsim.analysis.correlations import nearest_neighbours
from llgsim.analysis.fits import fit_power_law
from llgsim.analysis.lengths import broken_bonds, wall_length
from llgsim.analysis.plots import collapse_plot, figure, length_plot, site_map, spin_texture
from llgsim.analysis.scaling import collapse, porod_exponent
from llgsim.analysis.structure import (circular_average, shells, structure_factor,
                                       wave_vectors)
from llgsim.report.analyze import METHODS, analyze
from llgsim.run.runfile import Trajectory
from llgsim.states import tetrahedral
from machine import cpu_model  # benchmarks/machine.py

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"
sys.path.insert(0, str(ROOT / "tests" / "report"))
sys.path.insert(0, str(ROOT / "tests" / "analysis"))
from control import run_control  # noqa: E402  (tests/report/control.py)
from patterns import gaussian_domains  # noqa: E402  (tests/analysis/patterns.py)


def constructed_cases() -> None:
    lat = Lattice.triangular(24)
    spins = tetrahedral(lat)
    spins[lat.coordinates()[:, 0] >= 12] = tetrahedral(lat, -1)[lat.coordinates()[:, 0] >= 12]
    fig, (ax1, ax2) = figure(2)
    s_q = structure_factor(tetrahedral(lat), lat)
    q = wave_vectors(lat)
    sc = ax1.scatter(q[..., 0].ravel(), q[..., 1].ravel(), c=s_q.ravel() / lat.n_sites, s=12,
                     cmap="viridis")
    fig.colorbar(sc, ax=ax1, shrink=0.8, label="S(q) / N")
    ax1.set_aspect("equal")
    ax1.set_title("tetrahedral: S(q) over the zone")
    site_map(ax2, lat, cell_chirality(spins, lat), vmin=-0.77, vmax=0.77, label="$\\chi$")
    ax2.set_title("two chiral domains: cell chirality")
    fig.savefig(FIGURES / "analysis_tetrahedral.png", dpi=110)

    sq = Lattice.square(256)
    sh, nb = shells(sq), nearest_neighbours(sq)
    fig, (ax1, ax2) = figure(2)
    sigma = gaussian_domains(sq, 8.0, 3)
    site_map(ax1, sq, sigma, vmin=-1, vmax=1, label="$\\sigma$")
    ax1.set_title("Gaussian-field domains, $\\xi$ = 8")
    for xi in (4.0, 8.0, 16.0):
        sigma = gaussian_domains(sq, xi, 3)
        L = wall_length(broken_bonds(sigma, nb), sq.n_sites, 4)
        s_k = circular_average(structure_factor(sigma, sq), sh)
        p = porod_exponent(sh.k, s_k, 3 / L, 1.0)
        ax2.loglog(sh.k[1:] * L, s_k[1:] / L ** 2, "-",
                   label=f"$\\xi$ = {xi:g}: L_w = {L:.1f}, tail $k^{{{p.exponent:.2f}}}$")
        print(f"Gaussian domains xi = {xi:g}: L_wall = {L:.2f}, Porod exponent "
              f"{p.exponent:.2f} +- {p.error:.2f}")
    x = np.geomspace(10, 200, 5)
    ax2.loglog(x, 0.6 * (x / 10) ** -3.0, "k--", label="$k^{-3}$")
    ax2.set_xlabel("k L")
    ax2.set_ylabel("S(k) / L$^2$")
    ax2.legend(fontsize=7)
    fig.savefig(FIGURES / "analysis_porod.png", dpi=110)


def control(runs) -> None:
    series, mean, summary = analyze(runs, "spin")
    times = series[0].times
    fig, (ax,) = figure(1, size=5.0)
    g_all = summary["growth_exponent_by_method"]
    for m in METHODS:
        g = g_all[m]
        fit = fit_power_law(times, mean[f"L_{m}"], g["t_min"], g["t_max"])
        fit = type(fit)(g["value"], g["error"], fit.amplitude, fit.t_min, fit.t_max, fit.points)
        length_plot(ax, times, mean[f"L_{m}"], mean[f"L_{m}_error"], fit, label=m)
        print(f"control {m:>12}: n = {g['value']:.3f} +- {g['error']:.3f} (statistical "
              f"{g['statistical']:.3f}, systematic {g['systematic']:.3f}) on t in "
              f"[{g['t_min']:g}, {g['t_max']:g}]; per seed "
              + ", ".join(f"{n:.3f}" for n in g["per_seed"]))
    ax.set_title("Allen-Cahn control, 4 seeds of 192 x 192")
    fig.savefig(FIGURES / "analysis_control_lengths.png", dpi=110)
    with Trajectory(runs[0]) as traj:
        _, t, spins = traj.frame(len(times) // 4)
    lat = series[0].lattice
    fig, (ax,) = figure(1, size=6.0)
    spin_texture(ax, lat, spins, f"control, seed 1, t = {t:g}")
    fig.savefig(FIGURES / "analysis_control_texture.png", dpi=110)
    g = summary["growth_exponent"]
    window = np.nonzero((times >= g["t_min"]) & (times <= g["t_max"]))[0]
    pick = window[np.linspace(0, window.size - 1, 6).astype(int)]
    x, y = collapse(series[0].k, mean["s_sign_k"][pick], mean["L_wall"][pick])
    fig, (ax,) = figure(1, size=5.0)
    collapse_plot(ax, x[:, 1:], y[:, 1:], times[pick])
    ax.set_title("control: S(k, t) / L$^2$ against k L (L from walls)")
    fig.savefig(FIGURES / "analysis_control_collapse.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", help="existing control run files")
    args = parser.parse_args()
    print(f"# {datetime.date.today()}, {cpu_model()}")
    constructed_cases()
    runs = args.runs
    if not runs:
        folder = pathlib.Path(tempfile.mkdtemp())
        runs = [run_control(folder / f"s{s}.h5", L=192, steps=500, seed=s, frame_interval=2)
                for s in (1, 2, 3, 4)]
    control(runs)


if __name__ == "__main__":
    main()
