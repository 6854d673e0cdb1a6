"""Scalar spin chirality of the triangular plaquettes and its maps.

    chi_abc = S_a . (S_b x S_c)

for every counter-clockwise triangle (a, b, c) of Lattice.triangles() (docs/conventions.md): the
up triangle ((x,y), (x+1,y), (x,y+1)) and the down triangle ((x+1,y), (x+1,y+1), (x,y+1)) of each
cell. In the tetrahedral state every triangle has chi = +-4/(3 sqrt 3) = +-0.76980; the sign is
the Z2 label of a chiral domain [FAN24, arXiv:2403.11705].
"""

from __future__ import annotations

import numpy as np


def chirality(spins, triangles) -> np.ndarray:
    """chi of each triangle (a, b, c), (T,) float64; ``spins`` (N, 3) unit vectors (float32 or
    float64), ``triangles`` (T, 3) int from Lattice.triangles() (counter-clockwise)."""
    s = np.asarray(spins, dtype=np.float64)
    a, b, c = (s[triangles[:, k]] for k in range(3))
    return np.einsum("ij,ij->i", a, np.cross(b, c))


def chirality_map(spins, lattice) -> np.ndarray:
    """(2, Ly, Lx) float64: [0, y, x] the up and [1, y, x] the down triangle of cell (x, y)
    (Lattice.triangles() lists all up triangles, then all down ones, each in site order)."""
    return chirality(spins, lattice.triangles()).reshape(2, *lattice.shape)


def cell_chirality(spins, lattice) -> np.ndarray:
    """(N,) float64 chirality of each cell, (chi_up + chi_down) / 2: the chirality as a field on
    the Bravais sites (site x + Lx y carries cell (x, y)), for structure factors and domains."""
    return chirality_map(spins, lattice).mean(axis=0).reshape(-1)
