"""The s-d (Kondo-lattice / double-exchange) model with classical spins.

    H = - sum_n t_n sum_{<ij>_n, s} (c+_is c_js + h.c.) - J sum_i S_i . (c+_i sigma c_i)

(docs/conventions.md, "Hamiltonian"; docs/physics.md, section 1; e.g. P. Zhang and G.-W. Chern,
PRL 127, 146401 (2021)). For fixed classical spins S (N, 3) this is a 2N x 2N one-body matrix
h(S) with orbital index 2 i + s (s = 0 up, 1 down): on-site blocks -J S_i . sigma and hopping
blocks -t_n * identity_2 on every bond of shell n. Energies are in units of t_1.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from .errors import InputError
from .lattice import Lattice


def check_spins(spins, n_sites: int, name: str = "spins", atol: float = 1e-4) -> np.ndarray:
    """Return ``spins`` as a C-contiguous float (N, 3) array of unit vectors, or raise.

    ``atol`` bounds | |S_i| - 1 |: spins are unit vectors by convention. 1e-4 admits float32
    round-off accumulated over long runs and the ~1e-5 displacements of finite-difference checks,
    and still refuses the real mistake (unnormalized vectors, deviations of order 1).
    """
    arr = np.asarray(spins)
    if arr.shape != (n_sites, 3):
        raise InputError(f"{name}.shape", arr.shape, f"({n_sites}, 3) for {n_sites} sites")
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"{name}.dtype", str(arr.dtype), "float64 or float32")
    # one pass: |S|^2 is NaN for a non-finite spin, so the single comparison also catches NaN/Inf
    # (|S|^2 - 1 within 2 atol is |S| - 1 within atol to first order)
    sq = np.einsum("ij,ij->i", arr, arr)
    if not np.abs(sq - 1.0).max() <= 2.0 * atol:
        if not np.all(np.isfinite(arr)):
            bad = int(np.argwhere(~np.isfinite(arr))[0, 0])
            raise InputError(f"{name}[{bad}]", arr[bad].tolist(), "finite components")
        bad = int(np.argmax(np.abs(sq - 1.0)))
        raise InputError(f"{name}[{bad}] length", float(np.sqrt(sq[bad])),
                         f"unit vectors (|S| = 1 within {atol})")
    return np.ascontiguousarray(arr)


class KondoModel:
    """s-d model on a lattice: hopping per neighbour shell, Hund coupling J, filling or mu, kT.

    Parameters
    ----------
    lattice : Lattice
    hopping : sequence of float
        (t_1, t_2, ...): hopping amplitude of neighbour shells 1, 2, ... (matrix element -t_n).
    J : float
        Hund / Kondo coupling; the on-site block is -J S_i . sigma.
    filling : float in (0, 1), optional
        f = N_e / (2N) at fixed electron number; the energy is the free energy F = Omega + mu N_e.
    mu : float, optional
        Fixed chemical potential; the energy is the grand potential Omega. Give exactly one of
        ``filling`` and ``mu``.
    kT : float >= 0
        Electron temperature (Fermi smearing), energy units.
    """

    def __init__(self, lattice: Lattice, hopping=(1.0,), J: float = 6.0, filling: float | None = None,
                 mu: float | None = None, kT: float = 0.0):
        if not isinstance(lattice, Lattice):
            raise InputError("lattice", type(lattice).__name__, "an llgsim.Lattice")
        hopping = tuple(float(t) for t in np.atleast_1d(np.asarray(hopping, dtype=float)))
        if len(hopping) == 0 or not all(math.isfinite(t) for t in hopping):
            raise InputError("hopping", hopping, "a non-empty tuple of finite floats (t_1, t_2, ...)")
        if not math.isfinite(float(J)):
            raise InputError("J", J, "a finite float")
        if (filling is None) == (mu is None):
            raise InputError("filling/mu", f"filling={filling}, mu={mu}",
                             "exactly one of filling (fixed electron number) and mu (fixed chemical potential)")
        if filling is not None and not (0.0 < float(filling) < 1.0):
            raise InputError("filling", filling, "a float in the open interval (0, 1) (N_e / 2N)")
        if mu is not None and not math.isfinite(float(mu)):
            raise InputError("mu", mu, "a finite float")
        if not (math.isfinite(float(kT)) and float(kT) >= 0.0):
            raise InputError("kT", kT, "a finite float >= 0")
        self.lattice = lattice
        self.hopping = hopping
        self.J = float(J)
        self.filling = None if filling is None else float(filling)
        self.mu = None if mu is None else float(mu)
        self.kT = float(kT)
        shells = lattice.neighbour_shells(len(hopping))
        offsets = np.concatenate([s.offsets for s in shells])
        #: (N, z) int64 neighbour table over all offsets of all hopping shells (both directions)
        self.neighbours = lattice.neighbour_table(offsets)
        #: (z,) float64 hopping matrix element -t_n of each column of ``neighbours``
        self.hopping_elements = np.concatenate(
            [np.full(len(s.offsets), -t) for s, t in zip(shells, hopping)])

    @property
    def n_sites(self) -> int:
        return self.lattice.n_sites

    @property
    def n_electrons(self) -> float | None:
        """N_e = 2 N f at fixed filling, else None. N_e may be fractional; a value within
        1e-9 of an integer is returned as that integer (float round-off of f, e.g.
        2 * 900 * 0.485), so a closed shell is recognised as closed."""
        if self.filling is None:
            return None
        n_e = 2.0 * self.n_sites * self.filling
        return float(round(n_e)) if abs(n_e - round(n_e)) < 1e-9 else n_e

    def spectral_bound(self) -> float:
        """A rigorous bound B with spec h(S) in [-B, B] for every spin configuration:
        B = sum_n z_n |t_n| + |J| (Gershgorin on the rows of h)."""
        return float(np.abs(self.hopping_elements).sum() + abs(self.J))

    def hopping_matrix(self) -> sp.csr_matrix:
        """(N, N) real sparse matrix of the hopping part, entry [i, j] = sum of -t over bonds i->j."""
        n, z = self.neighbours.shape
        rows = np.repeat(np.arange(n), z)
        return sp.csr_matrix((np.tile(self.hopping_elements, n), (rows, self.neighbours.ravel())),
                             shape=(n, n))

    def hamiltonian(self, spins) -> sp.csr_matrix:
        """h(S): (2N, 2N) complex128 CSR one-body Hamiltonian, orbital index 2 i + s."""
        s = check_spins(spins, self.n_sites)
        n = self.n_sites
        hop = sp.kron(self.hopping_matrix(), sp.identity(2), format="csr")
        blocks = self._onsite_blocks(s).reshape(n, 4)
        base = 2 * np.arange(n)[:, None]
        rows = (base + np.array([0, 0, 1, 1])).ravel()
        cols = (base + np.array([0, 1, 0, 1])).ravel()
        onsite = sp.csr_matrix((blocks.ravel(), (rows, cols)), shape=(2 * n, 2 * n))
        return (hop + onsite).tocsr()

    def dense_hamiltonian(self, spins) -> np.ndarray:
        """h(S) as a dense (2N, 2N) complex128 array, orbital index 2 i + s.

        Filled directly (no sparse intermediate; same matrix as :meth:`hamiltonian`): the
        hopping -t_n is added on (i, s; j, s) for every bond, the 2x2 block -J S_i . sigma on
        the diagonal. Bonds that reach the same pair of sites on a small periodic lattice add up.
        """
        s = check_spins(spins, self.n_sites)
        n, z = self.neighbours.shape
        h = np.zeros((n, 2, n, 2), dtype=np.complex128)
        rows = np.repeat(np.arange(n), z)
        cols = self.neighbours.ravel()
        values = np.tile(self.hopping_elements, n)
        for spin in (0, 1):
            np.add.at(h, (rows, spin, cols, spin), values)
        site = np.arange(n)
        h[site, :, site, :] += self._onsite_blocks(s)
        return h.reshape(2 * n, 2 * n)

    def _onsite_blocks(self, spins: np.ndarray) -> np.ndarray:
        """(N, 2, 2) complex128 on-site blocks -J S_i . sigma."""
        sx, sy, sz = spins[:, 0], spins[:, 1], spins[:, 2]
        return -self.J * np.stack([sz, sx - 1j * sy, sx + 1j * sy, -sz], axis=1).reshape(-1, 2, 2)

    def describe(self) -> dict:
        """Parameters that rebuild this model (for file provenance)."""
        out = {"lattice": self.lattice.describe(), "hopping": list(self.hopping), "J": self.J,
               "kT": self.kT}
        out.update({"filling": self.filling} if self.filling is not None else {"mu": self.mu})
        return out
