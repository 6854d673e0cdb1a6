"""Homogeneous ordered states of the s-d model in the thermodynamic limit (k-space).

A spin texture periodic with a magnetic cell of mx x my lattice sites (ferromagnet: 1 x 1; Neel,
tetrahedral, 120-degree: 2 x 2 or 3 x 3) has one-body bands eps_b(q) from the Bloch matrix
(docs/physics.md, "Grand-canonical labels")

    h_{(a s),(a' s')}(q) = -sum_n t_n sum_{delta in shell n, a + delta = a' + R} e^{i q.R} delta_{s s'}
                           - J delta_{a a'} (S_a . sigma)_{s s'},

a, a' the sites of the cell, R the cell vector that brings a + delta back into it, q on the
nq x nq grid q.(mx a_1) = 2 pi j / nq, q.(my a_2) = 2 pi l / nq. That grid makes the bands
exactly those of the (nq mx) x (nq my) periodic lattice, so a large nq is the thermodynamic
limit and a small one is checked against exact diagonalization. Per site (energy units t_1):

    Omega(mu) / N = (1 / N) sum_{q, b} g(eps_b(q)),   g(e) = -kT ln(1 + e^{-(e - mu) / kT})
                                                      (kT = 0: min(e - mu, 0)),
    n(mu)         = (1 / N) sum_{q, b} 1 / (1 + e^{(eps_b(q) - mu) / kT})   electrons per site,

and the filling is f = n / 2. Two phases A and B coexist at the chemical potential where their
grand potentials per site are equal (the Maxwell construction): a grand-canonical model at any
other mu drives the lattice towards the phase of lower Omega.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit

from .lattice import Lattice

_PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])


def bands(kind: str, cell_spins: np.ndarray, cell: tuple[int, int], J: float,
          hopping=(1.0,), nq: int = 128) -> np.ndarray:
    """One-body energies of the texture ``cell_spins`` repeated over the infinite lattice.

    kind: "square" or "triangular". cell_spins: (mx my, 3) unit vectors of the cell's sites in
    the site order of ``Lattice.from_kind(kind, mx, my)`` (e.g. ``llgsim.states.neel`` on that
    lattice). cell: (mx, my). hopping: (t_1, t_2, ...). Returns float64 (nq^2, 2 mx my), the
    eigenvalues of h(q) on the nq x nq grid of the module docstring.
    """
    mx, my = cell
    spins = np.asarray(cell_spins, dtype=float).reshape(mx * my, 3)
    coords = Lattice.from_kind(kind, mx, my).coordinates()  # (m, 2) cell site (x, y)
    shells = Lattice.from_kind(kind, 16).neighbour_shells(len(hopping))
    m = mx * my
    j, l = np.meshgrid(np.arange(nq), np.arange(nq), indexing="ij")
    q = np.stack([2 * np.pi * j.ravel() / (nq * mx), 2 * np.pi * l.ravel() / (nq * my)], 1)
    h = np.zeros((len(q), 2 * m, 2 * m), dtype=complex)
    index = {tuple(c): k for k, c in enumerate(coords.tolist())}
    for t, shell in zip(hopping, shells):
        for a, (x, y) in enumerate(coords.tolist()):
            for dx, dy in shell.offsets.tolist():
                tx, ty = x + dx, y + dy
                b = index[(tx % mx, ty % my)]
                phase = np.exp(1j * (q[:, 0] * (tx - tx % mx) + q[:, 1] * (ty - ty % my)))
                for s in range(2):
                    h[:, 2 * b + s, 2 * a + s] -= t * phase
    onsite = -J * np.einsum("ic,cst->ist", spins, _PAULI)
    for a in range(m):
        h[:, 2 * a:2 * a + 2, 2 * a:2 * a + 2] += onsite[a]
    return np.linalg.eigvalsh(h)


def grand_potential(eps: np.ndarray, mu: float, kT: float) -> float:
    """Omega / N per site (energy units) of the bands ``eps`` (nq^2, 2m) at (mu, kT)."""
    n_sites = eps.size / 2
    if kT > 0:
        return float(-kT * np.logaddexp(0.0, (mu - eps) / kT).sum() / n_sites)
    return float(np.minimum(eps - mu, 0.0).sum() / n_sites)


def density(eps: np.ndarray, mu: float, kT: float) -> float:
    """Electrons per site n(mu) (0..2) of the bands ``eps``; at kT = 0 levels at mu count 1/2."""
    n_sites = eps.size / 2
    if kT > 0:
        return float(expit((mu - eps) / kT).sum() / n_sites)
    return float(((eps < mu).sum() + 0.5 * (eps == mu).sum()) / n_sites)


def energy_at_filling(eps: np.ndarray, filling: float) -> float:
    """Ground-state energy per site at T = 0 and filling f: the lowest 2 N f levels, summed."""
    flat = np.sort(eps.ravel())
    n_occ = filling * flat.size
    whole = int(np.floor(n_occ))
    partial = flat[whole] * (n_occ - whole) if whole < flat.size else 0.0
    return float((flat[:whole].sum() + partial) / (flat.size / 2))


def gap_midpoint(eps: np.ndarray, filling: float) -> tuple[float, float]:
    """(mu in the middle of the gap above the lowest 2 N f levels, the gap width)."""
    flat = np.sort(eps.ravel())
    k = int(round(filling * flat.size))
    return float(0.5 * (flat[k - 1] + flat[k])), float(flat[k] - flat[k - 1])


def coexistence(eps_a: np.ndarray, eps_b: np.ndarray, kT: float, lo: float, hi: float) -> float:
    """The chemical potential in [lo, hi] where phases A and B have equal Omega / N (the
    Maxwell construction); Omega_A - Omega_B must change sign on the bracket."""
    return float(brentq(lambda mu: grand_potential(eps_a, mu, kT) - grand_potential(eps_b, mu, kT),
                        lo, hi, xtol=1e-12))
