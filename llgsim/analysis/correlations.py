"""Nearest-neighbour spin correlations, also split by the local electron density.

    c_i = (1/z) sum_{j nn i} S_i . S_j      (z nearest neighbours, shell 1)

is 1 in a ferromagnet, -1 in the Neel state, -1/2 in the 120-degree state. In double exchange
the holes gather in ferromagnetic puddles inside an antiferromagnetic background [ZC21,
arXiv:2105.08221]; the mean of c_i over sites of low density (hole-rich, n_i < threshold) and
of high density tells the two apart.
"""

from __future__ import annotations

import numpy as np


def nearest_neighbours(lattice) -> np.ndarray:
    """(N, z) int64 table of the nearest neighbours (shell 1) of every site."""
    return lattice.neighbour_table(lattice.neighbour_shells(1)[0].offsets)


def bond_correlations(spins, neighbours) -> np.ndarray:
    """(N,) float64 c_i (module docstring); ``spins`` (N, 3), ``neighbours`` (N, z) int
    (:func:`nearest_neighbours`)."""
    s = np.asarray(spins, dtype=np.float64)
    return np.einsum("ic,ijc->i", s, s[neighbours]) / neighbours.shape[1]


def correlation_by_density(spins, neighbours, density, threshold: float) -> dict:
    """Mean c_i over the sites with n_i < threshold ("low", hole-rich) and the others ("high"),
    and the number of sites of each ("n_low", "n_high"); a mean over no site is NaN.
    ``density`` (N,) float, electrons per site."""
    c = bond_correlations(spins, neighbours)
    low = np.asarray(density) < threshold
    mean = lambda m: float(c[m].mean()) if m.any() else float("nan")  # noqa: E731
    return {"low": mean(low), "high": mean(~low), "n_low": int(low.sum()),
            "n_high": int((~low).sum())}
