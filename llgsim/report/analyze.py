"""``llgsim analyze``: coarsening analysis of one or several run files (seeds), frame by frame.

For every frame (read one at a time, so memory stays bounded by one frame plus the per-frame
results, whatever the file size) of every run:

* the order-parameter field phi (llgsim.analysis.order) and its structure factor S(k)
  (circular average, llgsim.analysis.structure);
* the Ising field sigma_i = sign(phi_i . e) of its domains, its S_sigma(k) and the three lengths
  of llgsim.analysis.lengths (first moment of S_sigma(k), half-width of C_sigma(r), wall
  density): the sign field drops the profile of the walls (a width set by the anisotropy, not by
  the coarsening), which otherwise biases the lengths of S(k) and C(r) at early times;
* the domains of both signs (periodic labelling), their number, mean size and size histogram;
* the nearest-neighbour correlation <S_i . S_j>_nn and, on the triangular lattice, the mean
  chirality and mean |chi|;
* with site densities n_i (``charge`` order parameter or ``densities=True``): the mean of
  c_i = (1/z) sum_nn S_i . S_j over the sites below the frame's mean density (hole-rich) and
  over the others, and the fraction of hole-rich sites (llgsim.analysis.correlations).

Seeds are combined by their mean and standard error at each frame time; the growth exponent
comes from llgsim.analysis.fits.growth_exponent over the scaling window. Run files store no site
densities; they are computed frame by frame by the run's electron solver (ED or KPM; KPM of the
trained electron model for ML runs: llgsim.report.densities), and a classical run is refused.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis.chirality import chirality
from ..analysis.clusters import domain_sizes
from ..analysis.correlations import (bond_correlations, correlation_by_density,
                                     nearest_neighbours)
from ..analysis.fits import growth_exponent
from ..analysis.lengths import distance_shells, lengths
from ..analysis.order import ORDER_PARAMETERS, ising_field, order_field
from ..analysis.structure import circular_average, shells, structure_factor
from ..errors import InputError
from .densities import density_solver
from .runs import open_run

#: the L(t) methods of llgsim.analysis.lengths, and the default chosen by the Allen-Cahn
#: control (docs/analysis.md, "Choice of the length")
METHODS = ("wall", "half_width", "first_moment")
DEFAULT_METHOD = "wall"
#: scaling window: t_max is the last frame with L_wall <= box / WINDOW_BOX (a domain then spans
#: about half the box), t_min = t_max / WINDOW_DECADE (one decade of time)
WINDOW_BOX = 8.0
WINDOW_DECADE = 10.0
#: domain-size histogram: logarithmic bins, BINS_PER_DECADE per factor 10 in size
BINS_PER_DECADE = 5
#: order parameter "auto": chirality on the triangular lattice when the last frame's mean |chi|
#: exceeds this (a chiral state; the tetrahedral value is 0.77), staggered on the square
#: lattice when its nearest-neighbour correlation is negative, else spin
AUTO_CHIRALITY = 0.1
#: per-frame results that need site densities (NaN without them)
DENSITY_COLUMNS = ("nn_low_density", "nn_high_density", "low_density_fraction")


@dataclass
class RunSeries:
    """Per-frame results of one run file (T frames, B shells of |q|).

    times (T,) float64 (hbar / t_1); steps (T,) int64; k (B,) float64 shell wave numbers;
    s_k, s_sign_k (T, B) float64 circular averages of S(q) of phi and of sigma; lengths
    method -> (T,) float64 (lattice constants); n_domains (T,) int64; mean_domain (T,) float64
    sites; domain_hist (T, D) float64 domain-size distribution on ``edges`` (D + 1,);
    nn_correlation (T,); chirality, abs_chirality (T,) (NaN off the triangular lattice);
    nn_low_density, nn_high_density, low_density_fraction (T,) (NaN without densities);
    densities: where the densities came from (llgsim.report.densities), or None.
    """

    path: str
    lattice: object
    order_parameter: str
    times: np.ndarray
    steps: np.ndarray
    k: np.ndarray
    s_k: np.ndarray
    s_sign_k: np.ndarray
    lengths: dict
    n_domains: np.ndarray
    mean_domain: np.ndarray
    edges: np.ndarray
    domain_hist: np.ndarray
    nn_correlation: np.ndarray
    chirality: np.ndarray
    abs_chirality: np.ndarray
    nn_low_density: np.ndarray
    nn_high_density: np.ndarray
    low_density_fraction: np.ndarray
    densities: str | None


def choose_order_parameter(name: str, lattice, spins) -> str:
    """The order parameter ``name``, or for "auto" the one ``spins`` (the last frame) shows
    (AUTO_CHIRALITY; "auto" never picks "charge", whose densities cost an electron solve per
    frame)."""
    allowed = ["auto", *ORDER_PARAMETERS]
    if name not in allowed:
        raise InputError("--order-parameter", name, f"one of {allowed}")
    if name != "auto":
        if name == "staggered" and (lattice.kind != "square" or lattice.Lx % 2 or lattice.Ly % 2):
            raise InputError("--order-parameter", name, "spin or chirality on this "
                             f"{lattice.kind} {lattice.Lx}x{lattice.Ly} lattice (staggered "
                             "needs a square lattice with even Lx and Ly)")
        if name == "chirality" and lattice.kind != "triangular":
            raise InputError("--order-parameter", name, "spin or staggered on the square "
                             "lattice (chirality needs triangular plaquettes)")
        return name
    if lattice.kind == "triangular":
        chi = chirality(spins, lattice.triangles())
        return "chirality" if np.abs(chi).mean() > AUTO_CHIRALITY else "spin"
    staggered_ok = lattice.Lx % 2 == 0 and lattice.Ly % 2 == 0
    negative = bond_correlations(spins, nearest_neighbours(lattice)).mean() < 0
    return "staggered" if staggered_ok and negative else "spin"


def analyze_run(path, order_parameter: str = "auto", key: str = "RUN", stride: int = 1,
                densities: bool = False) -> RunSeries:
    """Stream every ``stride``-th frame of one run file through the per-frame analysis (module
    docstring); site densities are computed for the ``charge`` order parameter or when
    ``densities``."""
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise InputError("--stride", stride, "a positive integer")
    traj, lat = open_run(path, key)
    with traj:
        name = choose_order_parameter(order_parameter, lat, traj.frame(-1)[2])
        solver = None
        if name == "charge" or densities:
            solver = (density_solver(traj, lat, "--order-parameter", name) if name == "charge"
                      else density_solver(traj, lat, "--densities", True))
        q_shells, r_shells = shells(lat), distance_shells(lat)
        neighbours = nearest_neighbours(lat)
        triangles = lat.triangles() if lat.kind == "triangular" else None
        edges = np.unique(np.rint(np.logspace(
            0, np.log10(lat.n_sites + 1), int(BINS_PER_DECADE * np.log10(lat.n_sites + 1)) + 2)))
        rows = {key: [] for key in ("times", "steps", "s_k", "s_sign_k", "n_domains",
                                    "mean_domain", "domain_hist", "nn", "chi", "abs_chi",
                                    "nn_low", "nn_high", "low_fraction")}
        found = {m: [] for m in METHODS}
        for step, time, spins in traj.frames(stride=stride):
            density = None if solver is None else solver(spins)
            phi = order_field(name, spins, lat, density)
            sigma = np.where(ising_field(phi) > 0, 1.0, -1.0)
            s_sign = structure_factor(sigma, lat)
            for method, value in lengths(s_sign, sigma, lat, q_shells, r_shells,
                                         neighbours).items():
                found[method].append(value)
            sizes = domain_sizes(sigma, neighbours)
            hist, _ = np.histogram(sizes, bins=edges)
            chi = chirality(spins, triangles) if triangles is not None else np.full(1, np.nan)
            split = ({"low": np.nan, "high": np.nan, "n_low": np.nan} if density is None else
                     correlation_by_density(spins, neighbours, density, density.mean()))
            for key, value in (("times", time), ("steps", step),
                               ("s_k", circular_average(structure_factor(phi, lat), q_shells)),
                               ("s_sign_k", circular_average(s_sign, q_shells)),
                               ("n_domains", sizes.size), ("mean_domain", sizes.mean()),
                               ("domain_hist", hist / np.diff(edges) / lat.n_sites),
                               ("nn", bond_correlations(spins, neighbours).mean()),
                               ("chi", chi.mean()), ("abs_chi", np.abs(chi).mean()),
                               ("nn_low", split["low"]), ("nn_high", split["high"]),
                               ("low_fraction", split["n_low"] / lat.n_sites)):
                rows[key].append(value)
    arr = {key: np.array(value) for key, value in rows.items()}
    return RunSeries(str(path), lat, name, arr["times"], arr["steps"], q_shells.k, arr["s_k"],
                     arr["s_sign_k"], {m: np.array(v) for m, v in found.items()},
                     arr["n_domains"], arr["mean_domain"], edges, arr["domain_hist"], arr["nn"],
                     arr["chi"], arr["abs_chi"], arr["nn_low"], arr["nn_high"],
                     arr["low_fraction"], None if solver is None else solver.origin)


def scaling_window(times, wall_length, box: int) -> tuple[float, float]:
    """(t_min, t_max) of the scaling regime (WINDOW_BOX, WINDOW_DECADE) from the mean wall
    length L_w(t) (T,) and the smaller box side ``box``."""
    inside = (times > 0) & np.isfinite(wall_length) & (wall_length <= box / WINDOW_BOX)
    if not inside.any():
        raise InputError("RUN", "frames", f"frames with t > 0 and L_wall <= box / {WINDOW_BOX:g}"
                         " (give --t-min and --t-max)")
    t_max = float(np.max(times[inside]))
    return t_max / WINDOW_DECADE, t_max


def combine(series: list[RunSeries]) -> dict:
    """Seed mean and standard error (NaN for one seed) of every per-frame quantity of runs on
    the same lattice and frame times; a run that differs is refused by name."""
    first = series[0]
    for s in series[1:]:
        if s.lattice.describe() != first.lattice.describe() or s.order_parameter != \
                first.order_parameter or not np.array_equal(s.times, first.times):
            raise InputError("RUN", s.path, f"a run with the lattice, order parameter and frame "
                             f"times of {first.path} to average over seeds")
    out = {}

    def add(name, stack):
        stack = np.asarray(stack, dtype=np.float64)
        out[name] = stack.mean(axis=0)
        out[name + "_error"] = (stack.std(axis=0, ddof=1) / np.sqrt(len(stack))
                                if len(stack) > 1 else np.full(stack.shape[1:], np.nan))

    for method in METHODS:
        add(f"L_{method}", [s.lengths[method] for s in series])
    for name in ("s_k", "s_sign_k", "n_domains", "mean_domain", "domain_hist",
                 "nn_correlation", "chirality", "abs_chirality", *DENSITY_COLUMNS):
        add(name, [getattr(s, name) for s in series])
    return out


def run_paths(paths) -> list[Path]:
    """The run files named by ``paths``: run files as given, and a sweep's ``manifest.csv``
    (llgsim.sweep.manifest) replaced by the run files of its finished points."""
    from ..sweep.manifest import done_run_paths

    out = []
    for p in map(Path, paths):
        if p.name == "manifest.csv":
            done = done_run_paths(p)
            if not done:
                raise InputError("RUN", str(p), "a sweep manifest with at least one point done")
            out += done
        else:
            out.append(p)
    return out


def analyze(paths, order_parameter: str = "auto", method: str = DEFAULT_METHOD,
            t_min: float | None = None, t_max: float | None = None, stride: int = 1,
            densities: bool = False) -> tuple[list, dict, dict]:
    """(series per run, combined means, summary) of every ``stride``-th frame of the run files
    ``paths`` (:func:`analyze_run`; a sweep's manifest.csv stands for its finished runs); the summary is what ``llgsim analyze --json`` prints:
    order_parameter, method, times, length (seed mean of the chosen method), length_error,
    growth_exponent {value, error, t_min, t_max, statistical, systematic, per_seed}, the
    exponents of the other methods on the same window, and densities (where the site
    densities came from, or None)."""
    if method not in METHODS:
        raise InputError("--method", method, f"one of {list(METHODS)}")
    paths = run_paths(paths)
    series = [analyze_run(p, order_parameter, stride=stride, densities=densities)
              for p in paths]
    mean = combine(series)
    first = series[0]
    times = first.times
    lo, hi = t_min, t_max
    if lo is None or hi is None:
        auto = scaling_window(times, mean["L_wall"], min(first.lattice.Lx, first.lattice.Ly))
        lo, hi = (auto[0] if lo is None else lo), (auto[1] if hi is None else hi)
    exponents = {}
    for m in METHODS:
        fit = growth_exponent(times, [s.lengths[m] for s in series], lo, hi)
        fit.pop("fit")
        exponents[m] = fit
    summary = {"runs": [str(p) for p in paths], "lattice": first.lattice.describe(),
               "order_parameter": first.order_parameter, "method": method,
               "times": times.tolist(), "length": mean[f"L_{method}"].tolist(),
               "length_error": _nan_none(mean[f"L_{method}_error"]),
               "growth_exponent": exponents[method],
               "growth_exponent_by_method": exponents, "densities": first.densities}
    return series, mean, summary


def _nan_none(values) -> list:
    return [None if not np.isfinite(v) else float(v) for v in values]


def write_tables(series: list[RunSeries], mean: dict, out: Path) -> list[Path]:
    """CSV tables in ``out``: lengths.csv (per frame: time, seed means and errors of every
    length, domains, correlations, the density split), structure_factor.csv (time, k, S,
    S_sign, errors) and domain_sizes.csv (time, bin edges, n(s)); returns their paths."""
    times = series[0].times
    written = []
    cols = ["step", "time"] + [c for m in METHODS for c in (f"L_{m}", f"L_{m}_error")] + [
        c for n in ("n_domains", "mean_domain", "nn_correlation", "chirality", "abs_chirality",
                    *DENSITY_COLUMNS) for c in (n, n + "_error")]
    path = out / "lengths.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for i, t in enumerate(times):
            w.writerow([int(series[0].steps[i]), t] + [_fmt(mean[c][i]) for c in cols[2:]])
    written.append(path)
    path = out / "structure_factor.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "k", "S", "S_error", "S_sign", "S_sign_error"])
        for i, t in enumerate(times):
            for b, k in enumerate(series[0].k):
                w.writerow([t, k] + [_fmt(mean[c][i, b]) for c in
                                     ("s_k", "s_k_error", "s_sign_k", "s_sign_k_error")])
    written.append(path)
    path = out / "domain_sizes.csv"
    edges = series[0].edges
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "size_min", "size_max", "n_per_site", "n_per_site_error"])
        for i, t in enumerate(times):
            for b in range(edges.size - 1):
                w.writerow([t, edges[b], edges[b + 1], _fmt(mean["domain_hist"][i, b]),
                            _fmt(mean["domain_hist_error"][i, b])])
    written.append(path)
    return written


def _fmt(value) -> str:
    return "" if not np.isfinite(value) else repr(float(value))


def write_figures(series: list[RunSeries], mean: dict, summary: dict, out: Path) -> list[Path]:
    """PNG figures in ``out``: length.png (L(t) log-log with the fit), collapse.png (S_sigma /
    L^2 against k L, Porod line), domains.png (domain-size distributions at four times)."""
    from ..analysis.fits import fit_power_law
    from ..analysis.plots import collapse_plot, figure, length_plot, size_distribution_plot
    from ..analysis.scaling import collapse

    times, method = series[0].times, summary["method"]
    g = summary["growth_exponent"]
    L, err = mean[f"L_{method}"], mean[f"L_{method}_error"]
    fit = fit_power_law(times, L, g["t_min"], g["t_max"])
    fit = type(fit)(g["value"], g["error"], fit.amplitude, fit.t_min, fit.t_max, fit.points)
    written = []
    fig, (ax,) = figure()
    length_plot(ax, times, L, None if np.all(np.isnan(err)) else err, fit,
                label=f"L ({method}), {len(series)} run(s)")
    written.append(out / "length.png")
    fig.savefig(written[-1], dpi=120)
    window = np.nonzero((times >= g["t_min"]) & (times <= g["t_max"]))[0]
    pick = np.unique(window[np.linspace(0, window.size - 1, min(6, window.size)).astype(int)])
    x, y = collapse(series[0].k, mean["s_sign_k"][pick], L[pick])
    fig, (ax,) = figure()
    collapse_plot(ax, x[:, 1:], y[:, 1:], times[pick])
    written.append(out / "collapse.png")
    fig.savefig(written[-1], dpi=120)
    fig, (ax,) = figure()
    size_distribution_plot(ax, series[0].edges, mean["domain_hist"][pick],
                           [f"t = {t:.3g}" for t in times[pick]])
    written.append(out / "domains.png")
    fig.savefig(written[-1], dpi=120)
    return written


def report(paths, out=None, order_parameter: str = "auto", method: str = DEFAULT_METHOD,
           t_min=None, t_max=None, stride: int = 1, densities: bool = False) -> dict:
    """Analyse ``paths`` (:func:`analyze`) and write tables, figures and summary.json into
    ``out`` (default: ``<first run>.analysis/`` beside the first run file); returns the
    summary with "files"."""
    series, mean, summary = analyze(paths, order_parameter, method, t_min, t_max, stride,
                                    densities)
    first = Path(paths[0])
    out = Path(out) if out is not None else first.with_name(first.stem + ".analysis")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError("--out", str(out), f"a writable folder ({exc.strerror})") from None
    files = write_tables(series, mean, out) + write_figures(series, mean, summary, out)
    summary["files"] = [str(p) for p in files] + [str(out / "summary.json")]
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
