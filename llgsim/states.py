"""Spin configurations: random and the ordered states of docs/conventions.md.

Every function returns a C-contiguous float64 (N, 3) array of unit vectors in site order
(i = x + Lx * y).
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .lattice import Lattice


def random_spins(lattice: Lattice, seed) -> np.ndarray:
    """Independent spins uniform on the sphere (normalized Gaussian vectors), from ``seed``
    (int or numpy Generator)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    v = rng.standard_normal((lattice.n_sites, 3))
    return np.ascontiguousarray(v / np.linalg.norm(v, axis=1, keepdims=True))


def ferromagnetic(lattice: Lattice, direction=(0.0, 0.0, 1.0)) -> np.ndarray:
    """All spins along ``direction`` (normalized)."""
    d = np.asarray(direction, dtype=float)
    if d.shape != (3,) or not np.linalg.norm(d) > 0:
        raise InputError("direction", list(np.ravel(d)), "a non-zero 3-vector")
    return np.ascontiguousarray(np.tile(d / np.linalg.norm(d), (lattice.n_sites, 1)))


def neel(lattice: Lattice) -> np.ndarray:
    """Square-lattice Neel state S_i = (-1)^(x+y) z; needs even Lx and Ly to be periodic."""
    if lattice.kind != "square":
        raise InputError("state", "neel", "a square lattice (the triangular lattice is frustrated)")
    _require_multiple(lattice, 2, "neel")
    x, y = lattice.coordinates().T
    s = np.zeros((lattice.n_sites, 3))
    s[:, 2] = np.where((x + y) % 2 == 0, 1.0, -1.0)
    return s


def spiral_120(lattice: Lattice) -> np.ndarray:
    """Triangular-lattice 120-degree state in the xy plane, sublattice (x - y) mod 3;
    needs Lx and Ly divisible by 3."""
    if lattice.kind != "triangular":
        raise InputError("state", "120", "a triangular lattice")
    _require_multiple(lattice, 3, "120")
    x, y = lattice.coordinates().T
    phi = 2 * np.pi / 3 * ((x - y) % 3)
    return np.ascontiguousarray(np.stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)], axis=1))


def tetrahedral(lattice: Lattice, chirality: int = +1) -> np.ndarray:
    """Triangular-lattice tetrahedral (triple-Q) state, docs/conventions.md: with b1, b2, b3 = x, y, z
    over sqrt 3, sublattice (x mod 2, y mod 2) = (0,0): b1+b2+b3; (1,0): b1-b2-b3;
    (0,1): -b1+b2-b3; (1,1): -b1-b2+b3. ``chirality = -1`` mirrors z (the other Z2 domain).
    Needs even Lx and Ly."""
    if lattice.kind != "triangular":
        raise InputError("state", "tetrahedral", "a triangular lattice")
    if chirality not in (1, -1):
        raise InputError("chirality", chirality, "+1 or -1")
    _require_multiple(lattice, 2, "tetrahedral")
    corners = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float) / np.sqrt(3)
    corners[:, 2] *= chirality
    x, y = lattice.coordinates().T
    return np.ascontiguousarray(corners[(x % 2) + 2 * (y % 2)])


ORDERED_STATES = {"ferromagnetic": ferromagnetic, "neel": neel, "120": spiral_120,
                  "tetrahedral": tetrahedral}


def ordered_state(name: str, lattice: Lattice) -> np.ndarray:
    """The ordered state called ``name`` (one of ORDERED_STATES) on ``lattice``."""
    if name not in ORDERED_STATES:
        raise InputError("state", name, f"one of {sorted(ORDERED_STATES)}")
    return ORDERED_STATES[name](lattice)


def _require_multiple(lattice: Lattice, m: int, state: str) -> None:
    for name, value in (("Lx", lattice.Lx), ("Ly", lattice.Ly)):
        if value % m:
            raise InputError(f"lattice.{name}", value,
                             f"a multiple of {m} for the periodic {state} state")
