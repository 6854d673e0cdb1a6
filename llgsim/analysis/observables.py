"""Scalar observables of one spin configuration (docs/physics.md, section 5).

Every function takes spins (N, 3) (float32 or float64, unit vectors, site order of
docs/conventions.md) and returns float64. :func:`observables_for` picks the set a lattice supports;
the run driver records them as H5MD time series.
"""

from __future__ import annotations

import numpy as np

from .chirality import chirality
from .correlations import bond_correlations, nearest_neighbours
from .order import staggered_sign


def magnetization(spins) -> np.ndarray:
    """m = (1/N) sum_i S_i, (3,) float64."""
    return np.asarray(spins, dtype=np.float64).mean(axis=0)


def staggered_magnetization(spins, lattice) -> float:
    """|(1/N) sum_i (-1)^(x_i + y_i) S_i| on the square lattice: 1 in the Neel state, 0 in
    the ferromagnet. Needs even Lx and Ly for the sign pattern to be periodic."""
    sign = staggered_sign(lattice)
    return float(np.linalg.norm(sign @ np.asarray(spins, dtype=np.float64)) / lattice.n_sites)


def nearest_neighbour_correlation(spins, lattice) -> float:
    """<S_i . S_j> averaged over the nearest-neighbour bonds (shell 1): 1 in the ferromagnet,
    -1 in the Neel state, -1/2 in the 120-degree state; float64."""
    return float(bond_correlations(spins, nearest_neighbours(lattice)).mean())


def observables_for(lattice):
    """(shapes, compute) for ``lattice``: shapes maps observable name -> value shape; compute
    (spins, energy) -> dict name -> value, with ``energy`` the provider's total energy.

    Always: energy (per site), magnetization (3,). Square lattice with even Lx, Ly:
    staggered_magnetization. Triangular: chirality (mean chi over the 2N triangles) and
    abs_chirality (mean |chi|).
    """
    n = lattice.n_sites
    shapes = {"energy": (), "magnetization": (3,)}
    parts = []  # functions spins -> dict of lattice-specific observables
    if lattice.kind == "square" and lattice.Lx % 2 == 0 and lattice.Ly % 2 == 0:
        shapes["staggered_magnetization"] = ()
        parts.append(lambda s: {"staggered_magnetization": staggered_magnetization(s, lattice)})
    if lattice.kind == "triangular":
        triangles = lattice.triangles()
        shapes["chirality"] = shapes["abs_chirality"] = ()

        def chiral(s):
            chi = chirality(s, triangles)  # once for both observables
            return {"chirality": float(chi.mean()), "abs_chirality": float(np.abs(chi).mean())}

        parts.append(chiral)

    def compute(spins, energy: float) -> dict:
        values = {"energy": float(energy) / n, "magnetization": magnetization(spins)}
        for part in parts:
            values.update(part(spins))
        return values

    return shapes, compute
