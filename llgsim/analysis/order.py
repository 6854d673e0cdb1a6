"""Order-parameter fields on the lattice sites, the input of structure factors, lengths and
domain labels.

Each field is an (N, c) float64 array in site order (i = x + Lx y, docs/conventions.md):

* ``spin``      phi_i = S_i, c = 3 (ferromagnetic order; Bragg peak at Gamma);
* ``staggered`` phi_i = (-1)^(x+y) S_i, c = 3, square lattice with even Lx and Ly (Neel order:
  its peak at (pi, pi) moves to Gamma);
* ``chirality`` phi_i = (chi_up + chi_down) / 2 of cell i, c = 1 (chiral domains);
* ``charge``    phi_i = n_i - <n>, c = 1, from site densities n_i (electrons per site).

:func:`ising_field` reduces a field to the scalar whose sign labels the two domain kinds.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .chirality import cell_chirality

ORDER_PARAMETERS = ("spin", "staggered", "chirality", "charge")


def staggered_sign(lattice) -> np.ndarray:
    """(N,) float64 (-1)^(x + y): +1 on one Neel sublattice, -1 on the other. Square lattice
    with even Lx and Ly (otherwise the pattern is not periodic)."""
    if lattice.kind != "square" or lattice.Lx % 2 or lattice.Ly % 2:
        raise InputError("order_parameter", "staggered",
                         "a square lattice with even Lx and Ly for the Neel sign pattern")
    x, y = lattice.coordinates().T
    return np.where((x + y) % 2 == 0, 1.0, -1.0)


def order_field(name: str, spins, lattice, density=None) -> np.ndarray:
    """(N, c) float64 field of order parameter ``name`` (module docstring); ``density`` (N,)
    is needed for ``charge`` only."""
    if name not in ORDER_PARAMETERS:
        raise InputError("order_parameter", name, f"one of {list(ORDER_PARAMETERS)}")
    if name == "charge":
        if density is None:
            raise InputError("order_parameter", "charge", "site densities n_i (none given)")
        n = np.asarray(density, dtype=np.float64).reshape(-1)
        return (n - n.mean())[:, None]
    s = np.asarray(spins, dtype=np.float64)
    if name == "spin":
        return s
    if name == "staggered":
        return staggered_sign(lattice)[:, None] * s
    if lattice.kind != "triangular":
        raise InputError("order_parameter", "chirality", "a triangular lattice (plaquettes)")
    return cell_chirality(s, lattice)[:, None]


def ising_field(field) -> np.ndarray:
    """(N,) float64 projection of an (N, c) field on its principal axis e (the eigenvector of
    sum_i phi_i phi_i^T with the largest eigenvalue): phi_i . e, whose sign tells the two
    domain kinds of an Ising-like order apart (for c = 1 the field itself). The sign of e is
    arbitrary."""
    phi = np.asarray(field, dtype=np.float64)
    if phi.shape[1] == 1:
        return phi[:, 0].copy()
    _, vectors = np.linalg.eigh(phi.T @ phi)
    return phi @ vectors[:, -1]
