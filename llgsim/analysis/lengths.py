"""Characteristic lengths of a domain pattern, three ways (docs/analysis.md compares them on the
Allen-Cahn control and says which one llgsim uses by default).

* First moment of the circularly averaged structure factor S(k) (llgsim.analysis.structure):

      L_k = 2 pi sum_k S(k) / sum_k k S(k),   0 < k <= k_max,

  the shell averages S(k) weighted equally per shell (no 2 pi k measure), so a Porod tail
  S ~ k^-3 adds a convergent sum. k = 0 (Gamma: the net order N m^2) is left out.
* Half-width of the circularly averaged correlation function

      C(r) = (1/N) sum_i phi_i . phi_{i+r} = (1/N) sum_q S(q) exp(i q . r),

  L_C = the smallest r with C(r) = C(0) / 2 (linear interpolation between shells of width one
  lattice constant, distances of the shortest periodic image).
* Density of domain walls of the Ising field sigma_i = sign(phi_i) (llgsim.analysis.order):
  with n_w the nearest-neighbour bonds (z per site, each counted once) whose ends differ in
  sign, L_w = area / wall length. A wall of length l crosses on average (2 / pi) z l / (2 A_c)
  bonds of length 1 for walls of isotropic orientation (Cauchy-Crofton: <|cos theta|> = 2 / pi
  per bond direction, one bond per direction per cell of area A_c), so

      L_w = N A_c / l = z N / (pi n_w).

  A circle of radius R gives L_w = area / (2 pi R) up to its staircase on the lattice; a
  straight wall along a row of the square lattice crosses one bond per unit length instead of
  the isotropic 4 / pi, so there L_w = (4 / pi) area / l.

All lengths are in lattice constants. In the scaling regime all three are proportional to the
one length L(t) of dynamical scaling, with different prefactors.
"""

from __future__ import annotations

import numpy as np

from .structure import Shells, circular_average


def first_moment_length(k, s_k, k_max: float = np.pi) -> float:
    """L_k = 2 pi sum S(k) / sum k S(k) over the shells with 0 < k <= k_max (module docstring);
    ``k`` (B,) and ``s_k`` (B,) float64 from a circular average. NaN for a pattern with no
    weight at k > 0 (a uniform state)."""
    k, s_k = np.asarray(k), np.asarray(s_k)
    use = (k > 0) & (k <= k_max)
    moment = np.sum(k[use] * s_k[use])
    return float(2 * np.pi * np.sum(s_k[use]) / moment) if moment > 0 else float("nan")


def distance_shells(lattice) -> tuple[np.ndarray, np.ndarray]:
    """(index (Ly, Lx) int64, r (R,) float64): the shell round(|d|) of the shortest periodic
    image d of each displacement x a1 + y a2 (in the image order of a correlation map), and
    the mean |d| of each shell."""
    d = lattice.minimum_image(lattice.positions())
    dist = np.linalg.norm(d, axis=1)
    index = np.rint(dist).astype(np.int64)
    r = np.bincount(index, weights=dist) / np.bincount(index)
    return index.reshape(lattice.shape), r


def correlation_function(s_q, lattice, distances=None) -> tuple[np.ndarray, np.ndarray]:
    """(r (R,), C(r) (R,)) float64: circular average of C(r) = (1/N) sum_q S(q) e^{i q.r}
    (module docstring) from S(q) (Ly, Lx) in FFT order; ``distances`` from
    :func:`distance_shells` (computed when None)."""
    index, r = distance_shells(lattice) if distances is None else distances
    c = np.fft.ifft2(np.asarray(s_q, dtype=np.float64)).real  # numpy's ifft2 holds the 1/N
    total = np.bincount(index.ravel(), weights=c.ravel(), minlength=r.size)
    return r, total / np.bincount(index.ravel(), minlength=r.size)


def half_width_length(r, c_r) -> float:
    """L_C: the first r at which C(r) falls to C(0) / 2, by linear interpolation (NaN when it
    never does within the box)."""
    r, c = np.asarray(r), np.asarray(c_r) / c_r[0]
    below = np.nonzero(c <= 0.5)[0]
    if below.size == 0:
        return float("nan")
    j = below[0]
    return float(r[j - 1] + (c[j - 1] - 0.5) / (c[j - 1] - c[j]) * (r[j] - r[j - 1]))


def broken_bonds(ising, neighbours) -> int:
    """n_w: nearest-neighbour bonds whose two sites have opposite signs of ``ising`` (N,);
    ``neighbours`` (N, z) int from lattice.neighbour_table of shell 1 (each bond appears twice
    in it and is counted once)."""
    sign = np.asarray(ising) > 0
    return int(np.count_nonzero(sign[:, None] != sign[neighbours]) // 2)


def wall_length(n_walls: int, n_sites: int, z: int) -> float:
    """L_w = z N / (pi n_w) (module docstring); NaN without walls."""
    return z * n_sites / (np.pi * n_walls) if n_walls else float("nan")


def lengths(s_q, ising, lattice, shells: Shells, distances, neighbours,
            k_max: float = np.pi) -> dict:
    """All three lengths of one frame: {"first_moment", "half_width", "wall"} (floats), from
    S(q) (Ly, Lx), the Ising field (N,), the |q| shells, the distance shells
    (:func:`distance_shells`) and the nearest-neighbour table (N, z)."""
    s_k = circular_average(s_q, shells)
    r, c_r = correlation_function(s_q, lattice, distances)
    return {"first_moment": first_moment_length(shells.k, s_k, k_max),
            "half_width": half_width_length(r, c_r),
            "wall": wall_length(broken_bonds(ising, neighbours), lattice.n_sites,
                                neighbours.shape[1])}
