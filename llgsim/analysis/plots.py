"""Figures of spin configurations and of the analysis results (matplotlib, Agg canvas).

Every function draws into a new ``matplotlib.figure.Figure`` with its own Agg canvas (no
pyplot, no global state) and returns it; ``figure.savefig(path)`` writes a PNG. Maps are drawn
in Cartesian coordinates: the image phi[y, x] is sheared by the lattice vectors, so the
triangular lattice appears with its 60-degree axes.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Affine2D

MAX_ARROWS = 48  # arrows per row of a spin texture: larger lattices are subsampled


def figure(ncols: int = 1, size: float = 4.0) -> tuple[Figure, list]:
    """A Figure with ``ncols`` axes side by side, on an Agg canvas."""
    fig = Figure(figsize=(size * ncols, size), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, ncols, c + 1) for c in range(ncols)]


def site_map(ax, lattice, values, *, cmap="RdBu_r", vmin=None, vmax=None, label=""):
    """Colour map of a per-site array (N,) (or (Ly, Lx)) over the lattice; returns the image."""
    image = np.asarray(values, dtype=np.float64).reshape(lattice.shape)
    a1, a2 = lattice.vectors
    shear = Affine2D(np.array([[a1[0], a2[0], 0.0], [a1[1], a2[1], 0.0], [0.0, 0.0, 1.0]]))
    im = ax.imshow(image, origin="lower", cmap=cmap, vmin=vmin, vmax=vmax,
                   extent=(-0.5, lattice.Lx - 0.5, -0.5, lattice.Ly - 0.5),
                   interpolation="nearest", transform=shear + ax.transData)
    corners = np.array([[-0.5, -0.5], [lattice.Lx - 0.5, -0.5], [lattice.Lx - 0.5,
                        lattice.Ly - 0.5], [-0.5, lattice.Ly - 0.5]]) @ lattice.vectors
    ax.set_xlim(corners[:, 0].min(), corners[:, 0].max())
    ax.set_ylim(corners[:, 1].min(), corners[:, 1].max())
    ax.set_aspect("equal")
    ax.figure.colorbar(im, ax=ax, shrink=0.8, label=label)
    return im


def spin_texture(ax, lattice, spins, title: str = "") -> None:
    """In-plane components (S_x, S_y) as arrows over S_z in colour (at most MAX_ARROWS arrows
    per row: every k-th site of every k-th row on larger lattices)."""
    s = np.asarray(spins, dtype=np.float64)
    site_map(ax, lattice, s[:, 2], vmin=-1, vmax=1, label="$S_z$")
    k = max(1, int(np.ceil(max(lattice.Lx, lattice.Ly) / MAX_ARROWS)))
    x, y = lattice.coordinates().T
    pick = (x % k == 0) & (y % k == 0)
    pos = lattice.positions()[pick]
    ax.quiver(pos[:, 0], pos[:, 1], s[pick, 0], s[pick, 1], angles="xy", scale_units="xy",
              scale=1.0 / (0.8 * k), pivot="middle", width=0.004, color="k")
    ax.set_title(title)


def length_plot(ax, t, L, error=None, fit=None, label: str = "L(t)") -> None:
    """L(t) on log-log axes with error bars and the fitted power law A t^n over its window
    (``fit`` a llgsim.analysis.fits.PowerLawFit, its exponent and error in the legend)."""
    t, L = np.asarray(t), np.asarray(L)
    keep = t > 0
    ax.errorbar(t[keep], L[keep], yerr=None if error is None else np.asarray(error)[keep],
                fmt="o", ms=3, label=label)
    if fit is not None:
        tt = np.geomspace(fit.t_min, fit.t_max, 50)
        ax.plot(tt, fit.amplitude * tt ** fit.exponent, "r-", zorder=3,
                label=f"$n = {fit.exponent:.3f} \\pm {fit.error:.3f}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("t ($\\hbar/t_1$)")
    ax.set_ylabel("L (lattice constants)")
    ax.legend()


def collapse_plot(ax, x, y, times, porod: bool = True) -> None:
    """Scaling collapse: S / L^2 against k L, one curve per time (colour from early to late),
    with a k^-3 guide line (Porod) when ``porod``; ``x``, ``y`` (T, B) without k = 0,
    ``times`` (T,) float."""
    import matplotlib

    colours = matplotlib.colormaps["viridis"](np.linspace(0, 1, len(times)))
    for xr, yr, t, c in zip(x, y, times, colours):
        keep = (xr > 0) & (yr > 0)
        ax.loglog(xr[keep], yr[keep], "-", color=c, lw=1, label=f"t = {t:.3g}")
    if porod:  # through the last curve at k L = 10
        last = (x[-1] > 0) & (y[-1] > 0)
        xs = np.geomspace(10.0, 10.0 * 10 ** 1.5, 10)
        anchor = np.interp(np.log(10.0), np.log(x[-1][last]), np.log(y[-1][last]))
        ax.loglog(xs, np.exp(anchor) * (xs / 10.0) ** -3.0, "k--", label="$k^{-3}$ (Porod)")
    ax.set_xlabel("k L")
    ax.set_ylabel("S(k) / L$^2$")
    ax.legend(fontsize=7)


def size_distribution_plot(ax, edges, distributions, labels) -> None:
    """Cluster-size distributions n(s) (clusters per site-size unit) on log-log axes; one curve
    per row of ``distributions`` (B,) against the bin centres sqrt(edges[b] edges[b+1])."""
    centres = np.sqrt(edges[:-1] * edges[1:])
    for dist, label in zip(distributions, labels):
        keep = np.asarray(dist) > 0
        ax.loglog(centres[keep], np.asarray(dist)[keep], "o-", ms=3, label=label)
    ax.set_xlabel("cluster size s (sites)")
    ax.set_ylabel("n(s)")
    ax.legend(fontsize=7)
