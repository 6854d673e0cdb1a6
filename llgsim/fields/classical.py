"""Classical spin terms as a field provider: Heisenberg exchange per neighbour shell, Zeeman
field and single-ion easy-axis anisotropy.

    E = sum_n J_H,n sum_<ij>_n S_i . S_j - h . sum_i S_i - K sum_i (S_i . e)^2,
    H_i = -dE/dS_i = -sum_n J_H,n sum_{j in shell n of i} S_j + h + 2 K (S_i . e) e

(docs/conventions.md, "Hamiltonian": each bond once, J_H,n > 0 antiferromagnetic, K > 0 easy axis).
Energies and fields in units of t_1. On a periodic lattice smaller than twice a shell's reach two
offsets may name the same site; the bond is then counted once per offset (lattice.neighbour_table).
Per-site math, its numpy reference and the numba and numba-cuda launchers in
``llgsim.kernels.classical``.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import as_backend
from ..errors import InputError
from ..kernels import classical as _kernel
from ..lattice import Lattice
from .base import FieldProvider


class ClassicalSpins(FieldProvider):
    """Heisenberg exchange on neighbour shells, Zeeman field and easy-axis anisotropy.

    Parameters
    ----------
    lattice : Lattice
    heisenberg : sequence of float
        (J_H1, J_H2, ...): exchange of neighbour shells 1, 2, ... (lattice.neighbour_shells);
        empty for none. Energy units; J > 0 antiferromagnetic.
    field : 3 floats
        Zeeman field h (energy units), E_Z = -h . sum_i S_i.
    anisotropy : (K, axis)
        E_K = -K sum_i (S_i . e)^2 with e = axis / |axis|; K > 0 easy axis, K < 0 easy plane.
    backend : Backend, or its name ("cpu": numba, parallel over sites; "reference": numpy;
        "cuda": numba-cuda, one thread per site; "auto") with dtype float64.
    """

    def __init__(self, lattice: Lattice, heisenberg=(), field=(0.0, 0.0, 0.0),
                 anisotropy=(0.0, (0.0, 0.0, 1.0)), backend: str = "cpu"):
        if not isinstance(lattice, Lattice):
            raise InputError("lattice", type(lattice).__name__, "an llgsim.Lattice")
        heisenberg = _finite_floats("heisenberg", heisenberg, None,
                                    "a tuple of finite floats (J_H1, J_H2, ...)")
        field = _finite_floats("field", field, 3, "three finite floats (hx, hy, hz)")
        try:
            K, axis = anisotropy
        except (TypeError, ValueError):
            raise InputError("anisotropy", anisotropy, "a pair (K, (ex, ey, ez))") from None
        K = _finite_floats("anisotropy.K", [K], 1, "a finite float")[0]
        axis = np.array(_finite_floats("anisotropy.axis", axis, 3, "a non-zero 3-vector"))
        if not np.linalg.norm(axis) > 0:
            raise InputError("anisotropy.axis", axis.tolist(), "a non-zero 3-vector")
        self.backend = as_backend(backend)
        self._kernel = self.backend.kernel(_kernel, "energy_and_field")
        self.lattice = lattice
        self.n_sites = lattice.n_sites
        self.heisenberg = heisenberg
        self.field = field
        self.K = K
        self.axis = axis / np.linalg.norm(axis)
        if heisenberg:
            shells = lattice.neighbour_shells(len(heisenberg))
            offsets = np.concatenate([s.offsets for s in shells])
            couplings = np.concatenate([np.full(len(s.offsets), J)
                                        for s, J in zip(shells, heisenberg)])
        else:
            offsets, couplings = np.zeros((0, 2), dtype=np.int64), np.zeros(0)
        #: (N, z) int64 neighbour table over every offset of every Heisenberg shell
        self.neighbours = np.ascontiguousarray(lattice.neighbour_table(offsets))
        #: (z,) float64 exchange J_H,n of each column of ``neighbours``
        self.couplings = couplings
        self._zeeman = np.array(field)
        # the kernel's tables on the backend's device, moved once (the same arrays on the host)
        self._tables = tuple(self.backend.to_device(t) for t in (
            self.neighbours, self.couplings, self._zeeman, self.axis))

    def evaluate(self, spins, field, energy):
        """H = -dE/dS into ``field``; E (float) when ``energy`` (module docstring)."""
        neighbours, couplings, zeeman, axis = self._tables
        e = self._kernel(spins, neighbours, couplings, zeeman, self.K, axis, field)
        return float(e) if energy else None

    def memory_bytes(self) -> int:
        """The neighbour table (N, z) int64."""
        return self.neighbours.nbytes

    def describe(self) -> dict:
        return {"name": "classical", "lattice": self.lattice.describe(),
                "heisenberg": list(self.heisenberg), "field": list(self.field),
                "anisotropy": [self.K, self.axis.tolist()]}


def _finite_floats(name, value, length, allowed) -> tuple:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(name, value, allowed) from None
    if arr.ndim != 1 or (length is not None and arr.size != length) or not all(
            math.isfinite(v) for v in arr):
        raise InputError(name, value, allowed)
    return tuple(float(v) for v in arr)
