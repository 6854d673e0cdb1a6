"""Growth exponents: fits of L(t) = A t^n on logarithmic axes, with error bars from the scatter
of the points, from seeds and from the choice of the time window.

    log L = log A + n log t,

by least squares on the points with t_min <= t <= t_max. Points of L(t) from one run are
correlated in time, so the error of one fit (from its residuals) understates the uncertainty;
independent seeds give the honest statistical error, std(n_seed) / sqrt(n_seeds), and the
difference between the exponents of the early and the late half of the window (in log t)
measures how far the window is from the scaling regime (a systematic error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class PowerLawFit:
    """L = amplitude * t^exponent on [t_min, t_max] (the first and last time fitted).

    exponent, error : n and its one-sigma error (dimensionless).
    amplitude       : A (lattice constants / time^n).
    points          : number of (t, L) points fitted.
    """

    exponent: float
    error: float
    amplitude: float
    t_min: float
    t_max: float
    points: int

    def as_dict(self) -> dict:
        return {"value": self.exponent, "error": self.error, "amplitude": self.amplitude,
                "t_min": self.t_min, "t_max": self.t_max, "points": self.points}


def _window(t, L, t_min, t_max):
    t, L = np.asarray(t, dtype=np.float64), np.asarray(L, dtype=np.float64)
    use = (t >= t_min) & (t <= t_max) & (t > 0) & np.isfinite(L) & (L > 0)
    if np.count_nonzero(use) < 3:
        raise InputError("time window", f"[{t_min:g}, {t_max:g}]",
                         "at least 3 frames with t > 0 and a finite length L(t) inside it")
    return use


def fit_power_law(t, L, t_min: float = 0.0, t_max: float = np.inf, sigma=None) -> PowerLawFit:
    """Least-squares fit of log L = log A + n log t over t_min <= t <= t_max (module
    docstring). ``sigma`` (T,) optional one-sigma errors of L: then weights 1 / (sigma / L)^2
    (sigma of log L = sigma / L) and the error from the covariance, scaled up by
    sqrt(chi^2 / dof) when that exceeds 1; without (or with a zero sigma), equal weights and
    the error from the residual scatter."""
    use = _window(t, L, t_min, t_max)
    t, L = np.asarray(t, float)[use], np.asarray(L, float)[use]
    x, y = np.log(t), np.log(L)
    weighted = sigma is not None and np.all(np.asarray(sigma, float)[use] > 0)
    w = (L / np.asarray(sigma, float)[use]) ** 2 if weighted else np.ones_like(x)
    design = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(design.T @ (w[:, None] * design))
    intercept, slope = cov @ design.T @ (w * y)
    chi2 = np.sum(w * (y - intercept - slope * x) ** 2) / (x.size - 2)
    # unweighted: the residual variance is the point variance; weighted: inflate if chi2 > 1
    scale = chi2 if not weighted else max(1.0, chi2)
    return PowerLawFit(float(slope), float(np.sqrt(cov[1, 1] * scale)), float(np.exp(intercept)),
                       float(t.min()), float(t.max()), int(x.size))


def window_halves(t, L, t_min: float, t_max: float) -> tuple[PowerLawFit, PowerLawFit]:
    """Fits on the early and the late half of [t_min, t_max], split at sqrt(t_min t_max)."""
    mid = float(np.sqrt(max(t_min, np.min(np.asarray(t)[np.asarray(t) > 0])) * t_max))
    return fit_power_law(t, L, t_min, mid), fit_power_law(t, L, mid, t_max)


def local_exponents(t, L, points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t_mid, n, error) (W,) float64 of fits over sliding windows of ``points`` consecutive
    frames with t > 0: the effective exponent n_eff(t) = d log L / d log t."""
    t, L = np.asarray(t, float), np.asarray(L, float)
    keep = (t > 0) & np.isfinite(L) & (L > 0)
    t, L = t[keep], L[keep]
    out = []
    for start in range(0, t.size - points + 1):
        fit = fit_power_law(t[start:start + points], L[start:start + points])
        out.append((np.sqrt(fit.t_min * fit.t_max), fit.exponent, fit.error))
    return tuple(np.array(col) for col in zip(*out)) if out else (np.zeros(0),) * 3


def growth_exponent(t, L_seeds, t_min: float, t_max: float) -> dict:
    """The growth exponent of L(t) from one or several seeds on the same times.

    ``L_seeds`` (S, T) float64 lengths of S runs at the times ``t`` (T,). Returns
    {"value", "error", "t_min", "t_max", "statistical", "systematic", "per_seed" (S,),
    "fit"} where value is the fit of the seed mean L(t) (weighted by its standard error for
    S > 1), statistical = std(n_seed) / sqrt(S) for S > 1 (else the error of the one fit),
    systematic = half the difference of the exponents on the two halves of the window, and
    error = sqrt(statistical^2 + systematic^2).
    """
    L_seeds = np.atleast_2d(np.asarray(L_seeds, dtype=np.float64))
    seeds = L_seeds.shape[0]
    mean = L_seeds.mean(axis=0)
    sem = L_seeds.std(axis=0, ddof=1) / np.sqrt(seeds) if seeds > 1 else None
    fit = fit_power_law(t, mean, t_min, t_max, sigma=sem)
    per_seed = np.array([fit_power_law(t, L, t_min, t_max).exponent for L in L_seeds])
    statistical = (float(per_seed.std(ddof=1) / np.sqrt(seeds)) if seeds > 1 else fit.error)
    early, late = window_halves(t, mean, t_min, t_max)
    systematic = abs(late.exponent - early.exponent) / 2
    return {"value": fit.exponent, "error": float(np.hypot(statistical, systematic)),
            "t_min": fit.t_min, "t_max": fit.t_max, "statistical": statistical,
            "systematic": systematic, "per_seed": per_seed.tolist(), "fit": fit}
