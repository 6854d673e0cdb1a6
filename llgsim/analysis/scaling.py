"""Dynamical scaling and the Porod tail of circularly averaged structure factors.

Dynamical scaling: in the scaling regime the pattern at time t is the pattern at an earlier
time magnified by L(t), so in d = 2

    S(k, t) = L(t)^2 F(k L(t)):

S / L^2 plotted against k L falls on one curve F for all t [Bray, Adv. Phys. 43, 357 (1994),
doi:10.1080/00018739400101505]. Porod's law: domains with sharp walls scatter as
S(k) ~ k^-(d+1) = k^-3 for 1/L << k << 1/(wall width).
"""

from __future__ import annotations

import numpy as np

from .fits import fit_power_law


def collapse(k, s_k, L, d: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) (T, B) float64: x = k L(t), y = S(k, t) / L(t)^d; ``k`` (B,), ``s_k`` (T, B),
    ``L`` (T,) lattice constants."""
    L = np.asarray(L, dtype=np.float64)[:, None]
    return np.asarray(k)[None, :] * L, np.asarray(s_k, dtype=np.float64) / L ** d


def collapse_spread(x, y, x_range: tuple[float, float], points: int = 16) -> float:
    """Quality of a collapse: the standard deviation over times of log F, averaged over
    ``points`` log-spaced x in ``x_range`` (each curve interpolated in log x - log y); 0 for a
    perfect collapse. Rows with a non-positive y inside the range are skipped."""
    grid = np.geomspace(*x_range, points)
    curves = []
    for xr, yr in zip(np.asarray(x), np.asarray(y)):
        inside = (xr > 0) & (xr >= x_range[0] / 2) & (xr <= 2 * x_range[1])
        if np.any(yr[inside] <= 0) or xr[inside].size < 2 or xr[inside].max() < x_range[1]:
            continue
        curves.append(np.interp(np.log(grid), np.log(xr[inside]), np.log(yr[inside])))
    return float(np.mean(np.std(curves, axis=0))) if len(curves) > 1 else float("nan")


def porod_exponent(k, s_k, k_min: float, k_max: float):
    """Fit S(k) = B k^-p over k_min <= k <= k_max (llgsim.analysis.fits.PowerLawFit, with the
    exponent -p): p = 3 for sharp walls in two dimensions."""
    return fit_power_law(k, s_k, k_min, k_max)
