"""Exact diagonalization (ED) of the s-d model: the reference electron solver.

For classical spins S the electrons are free fermions in the one-body Hamiltonian h(S)
(llgsim.model.KondoModel, 2N x 2N). Diagonalizing h(S) = V diag(eps) V^+ gives everything
(docs/physics.md, section 3.1; e.g. P. Zhang and G.-W. Chern, PRL 127, 146401 (2021),
arXiv:2105.08221):

    Omega = -kT sum_n ln(1 + exp(-(eps_n - mu) / kT))      (T = 0: sum_n occ_n (eps_n - mu))
    F     = Omega + mu N_e                                  (fixed filling, mu solved)
    H_i   = -dE/dS_i = J Tr(sigma rho_ii),   n_i = Tr rho_ii,   rho = V diag(occ) V^+

(Hellmann-Feynman; the same field follows from Omega at fixed mu and from F at fixed N_e). Only
the 2x2 on-site blocks of rho are formed. Cost O((2N)^3) time and O((2N)^2) memory.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
from scipy.optimize import brentq
from scipy.special import expit

from ..backend import as_backend
from ..errors import InputError
from ..model import KondoModel, check_spins
from .base import ElectronSolution, FieldProvider

#: Eigenvalues closer than DEGENERACY_RTOL x (spectral width) to the Fermi level count as one
#: degenerate level at kT = 0. LAPACK places eigenvalues to ~1e-15 x ||h|| x (a small factor of
#: n), far below this, and a physical splitting below 1e-9 of the bandwidth changes the energy
#: by less than that.
DEGENERACY_RTOL = 1e-9

#: States with occupation below this contribute at most OCCUPATION_CUTOFF per state to any n_i
#: and are left out of the on-site blocks (the energy keeps every eigenvalue).
OCCUPATION_CUTOFF = 1e-15

#: Dense ED holds about three complex (2N)^2 arrays at once: h, the eigenvectors, and LAPACK's
#: workspace together with the occupied columns used for the fields.
_DENSE_COPIES = 3
_COMPLEX_BYTES = 16


def dense_memory_bytes(n_sites: int) -> int:
    """Memory one dense ED evaluation needs: 3 (2N)^2 x 16 bytes (50 x 50: 1.2 GB, 80 x 80:
    7.9 GB)."""
    return _DENSE_COPIES * (2 * n_sites) ** 2 * _COMPLEX_BYTES


class ExactDiagonalization(FieldProvider):
    """Energy, exchange field and electron density of the s-d model by dense diagonalization.

    Parameters
    ----------
    model : KondoModel
        Lattice, hoppings, J, fixed filling or fixed mu, and the electron temperature kT.
    backend : Backend or its name ("cpu", "reference", "auto"; dtype float64)
        Where the spins and fields of :meth:`evaluate` live. ED itself has one implementation,
        LAPACK's dense Hermitian eigensolver (scipy), the reference for every other solver; on
        every backend it runs on the host.

    Occupations (kT > 0) are Fermi functions occ_n = 1 / (1 + exp((eps_n - mu) / kT)); at fixed
    filling mu solves sum_n occ_n = N_e (Brent's method on an exact bracket).

    Occupations at kT = 0 (the ground state, made unique and symmetric):

    * fixed filling N_e = 2 N f (may be fractional): the states below the Fermi level are full;
      the Fermi level is the eigenvalue of state ceil(N_e) - 1 (counting from 0) together with
      every eigenvalue within DEGENERACY_RTOL x (eps_max - eps_min) of it; the electrons left
      over are shared equally by all states of that level. The energy is then the sum of the
      lowest N_e eigenvalues (the last one weighted by the fractional part), continuous in S and
      f, and a state whose symmetry makes the Fermi level degenerate keeps that symmetry (equal
      densities, zero torque). ``mu`` is the Fermi level, or the HOMO-LUMO midpoint when N_e is
      an integer that fills the level completely.
    * fixed mu: states below mu - tol are full, states within tol of mu are half filled
      (tol as above); they do not change Omega = sum_n occ_n (eps_n - mu).

    At a degenerate Fermi level the field is the average over the degenerate ground states
    (E is not differentiable there at kT = 0); use kT > 0 for a smooth energy surface.
    """

    def __init__(self, model: KondoModel, backend="cpu"):
        if not isinstance(model, KondoModel):
            raise InputError("model", type(model).__name__, "an llgsim.model.KondoModel")
        self.model = model
        self.n_sites = model.n_sites
        self.backend = as_backend(backend)

    def solve(self, spins) -> ElectronSolution:
        """Diagonalize h(S) for spins (N, 3) and return energy, field (N, 3), density (N,), mu.

        Energy: total Omega (fixed mu) or F (fixed filling), energy units. Field: float64
        J Tr(sigma rho_ii). Density: electrons per site, in [0, 2].
        """
        m = self.model
        return self._solution(*self._spectrum(spins), mu=m.mu, n_electrons=m.n_electrons)

    def solve_scan(self, spins, mus) -> list[ElectronSolution]:
        """The grand-canonical solutions at each chemical potential of ``mus`` from one
        diagonalization (a model at fixed mu; its own mu is not used): Omega, field, density
        and mu as in :meth:`solve`. Each extra mu costs O(N x occupied), not O(N^3)."""
        if self.model.n_electrons is not None:
            raise InputError("model", "fixed filling", "a model at fixed mu for a mu scan")
        eps, vectors = self._spectrum(spins)
        return [self._solution(eps, vectors, mu=float(mu), n_electrons=None) for mu in mus]

    def _spectrum(self, spins) -> tuple[np.ndarray, np.ndarray]:
        """(eigenvalues (2N,), eigenvectors (2N, 2N) as columns) of h(S)."""
        return scipy.linalg.eigh(self.model.dense_hamiltonian(spins), driver="evr",
                                 overwrite_a=True, check_finite=False)

    def _solution(self, eps, vectors, mu, n_electrons) -> ElectronSolution:
        """Energy, field, density and mu of the spectrum at fixed ``mu`` or ``n_electrons``."""
        m = self.model
        occ, mu = occupations(eps, m.kT, mu=mu, n_electrons=n_electrons)
        energy = electron_energy(eps, occ, mu, m.kT, n_electrons)
        spin, density = onsite_spin_and_density(vectors, occ)
        return ElectronSolution(energy, m.J * spin, density, mu)

    def evaluate(self, spins, field, energy):
        """H_i = -dE/dS_i into ``field``; the total energy when ``energy``. The spins are
        checked (a non-finite matrix would stall LAPACK); that costs O(N) beside O(N^3)."""
        sol = self.solve(check_spins(self.backend.to_host(spins), self.n_sites))
        field[...] = self.backend.asarray(sol.field)
        return sol.energy if energy else None

    def site_density(self, spins) -> np.ndarray:
        """(N,) float64 electrons per site n_i = Tr rho_ii, in [0, 2]."""
        return self.solve(spins).density

    def memory_bytes(self) -> int:
        """h, its eigenvectors and LAPACK's workspace: :func:`dense_memory_bytes`."""
        return dense_memory_bytes(self.n_sites)

    def describe(self) -> dict:
        return {"name": "ed", **self.model.describe()}


def occupations(eps: np.ndarray, kT: float, mu: float | None = None,
                n_electrons: float | None = None) -> tuple[np.ndarray, float]:
    """Occupations (2N,) in [0, 1] of the ascending eigenvalues ``eps`` and the chemical
    potential, at fixed ``mu`` or fixed ``n_electrons`` (exactly one given); rules in
    :class:`ExactDiagonalization`."""
    if kT > 0:
        if mu is None:
            mu = fermi_level(eps, n_electrons, kT)
        return expit((mu - eps) / kT), float(mu)
    tol = DEGENERACY_RTOL * (eps[-1] - eps[0])
    if mu is not None:
        occ = np.where(eps < mu - tol, 1.0, np.where(eps <= mu + tol, 0.5, 0.0))
        return occ, float(mu)
    level = eps[math.ceil(n_electrons) - 1]
    lo = int(np.searchsorted(eps, level - tol, side="left"))
    hi = int(np.searchsorted(eps, level + tol, side="right"))
    occ = np.zeros_like(eps)
    occ[:lo] = 1.0
    occ[lo:hi] = (n_electrons - lo) / (hi - lo)
    full = n_electrons == hi
    return occ, float(0.5 * (eps[hi - 1] + eps[hi]) if full else eps[lo:hi].mean())


def fermi_level(eps: np.ndarray, n_electrons: float, kT: float) -> float:
    """mu with sum_n 1 / (1 + exp((eps_n - mu) / kT)) = N_e, for 0 < N_e < len(eps), kT > 0.

    The bracket is exact: at mu = eps_min - kT (ln(n / N_e) + 1) every occupation is below
    N_e / (e n), at eps_max + kT (ln(n / (n - N_e)) + 1) every hole is below (n - N_e) / (e n).
    """
    n = len(eps)
    lo = eps[0] - kT * (math.log(n / n_electrons) + 1.0)
    hi = eps[-1] + kT * (math.log(n / (n - n_electrons)) + 1.0)
    return brentq(lambda mu: expit((mu - eps) / kT).sum() - n_electrons, lo, hi,
                  xtol=1e-14, rtol=4 * np.finfo(float).eps)


def electron_energy(eps: np.ndarray, occ: np.ndarray, mu: float, kT: float,
                    n_electrons: float | None) -> float:
    """Omega (n_electrons None) or F = Omega + mu N_e, total, energy units.

    kT > 0: Omega = -kT sum_n ln(1 + exp(-(eps_n - mu) / kT)) (logaddexp, overflow-free);
    kT = 0: Omega = sum_n occ_n (eps_n - mu).
    """
    if kT > 0:
        omega = -kT * np.logaddexp(0.0, (mu - eps) / kT).sum()
    else:
        omega = float(np.dot(occ, eps - mu))
    return float(omega + (0.0 if n_electrons is None else mu * n_electrons))


def onsite_spin_and_density(vectors: np.ndarray, occ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """On-site spin <c+_i sigma c_i> = Tr(sigma rho_ii), (N, 3), and density Tr rho_ii, (N,).

    vectors : (2N, 2N) complex eigenvectors as columns (LAPACK's Fortran order), orbital index
    2 i + s; occ : (2N,) occupations. With w[n, i, s] = sqrt(occ_n) V[2 i + s, n] over the
    states with occ_n > OCCUPATION_CUTOFF, the on-site block is
        B_i[s, t] = <c+_is c_it> = sum_n conj(w[n, i, s]) w[n, i, t]
    and <sigma_x> = 2 Re B_i[0, 1], <sigma_y> = 2 Im B_i[0, 1], <sigma_z> = B_i[0, 0] - B_i[1, 1],
    n_i = B_i[0, 0] + B_i[1, 1]. O(N x occupied) work; rho (O(N^2 x occupied)) is never formed.
    """
    keep = occ > OCCUPATION_CUTOFF
    # rows of V^T are eigenvectors: C-contiguous, so (state, site, spin) is a free reshape
    w = (vectors.T[keep] * np.sqrt(occ[keep])[:, None]).reshape(int(keep.sum()), -1, 2)
    block = np.einsum("nis,nit->ist", w.conj(), w, optimize=True)
    up, down, cross = block[:, 0, 0].real, block[:, 1, 1].real, block[:, 0, 1]
    spin = np.stack([2.0 * cross.real, 2.0 * cross.imag, up - down], axis=1)
    return spin, up + down
