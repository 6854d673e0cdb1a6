"""Structure factors on the reciprocal lattice of a periodic Bravais lattice, and their circular
averages.

For an order-parameter field phi_i (N, c) (llgsim.analysis.order) at positions r_i,

    S(q) = (1/N) sum_c | sum_i phi_i^c exp(-i q . r_i) |^2

on the N wave vectors q = (m / Lx) b1 + (n / Ly) b2 allowed by the periodic box, with the
reciprocal vectors a_i . b_j = 2 pi delta_ij (square: b1 = (2 pi, 0), b2 = (0, 2 pi);
triangular: b1 = 2 pi (1, -1/sqrt 3), b2 = 2 pi (0, 2/sqrt 3)). With r_i = x a1 + y a2 the sum is
the 2D discrete Fourier transform of the image phi[y, x], computed by numpy's FFT. Each q is
folded into the first Brillouin zone (its shortest image modulo b1, b2), so |q| is the wave
number the circular average bins. sum_q S(q) = sum_i |phi_i|^2 (Parseval): a random state has
a flat S(q) = <|phi|^2>, a ferromagnet one peak N at Gamma, the Neel state one at M = (pi, pi),
the tetrahedral state three peaks N/3 at the three M points b_j / 2 and (b1 + b2) / 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def reciprocal_vectors(lattice) -> np.ndarray:
    """(2, 2) float64 rows b1, b2 with a_i . b_j = 2 pi delta_ij (inverse lattice constants)."""
    return 2 * np.pi * np.linalg.inv(lattice.vectors).T


def wave_vectors(lattice) -> np.ndarray:
    """(Ly, Lx, 2) float64: the wave vector of FFT bin [n, m], (m / Lx) b1 + (n / Ly) b2, folded
    into the first Brillouin zone (of the images q + u b1 + v b2 the shortest; on the oblique
    triangular cell the nine images around the wrapped one are compared)."""
    b = reciprocal_vectors(lattice)
    m = np.fft.fftfreq(lattice.Lx)[None, :, None]
    n = np.fft.fftfreq(lattice.Ly)[:, None, None]
    q = m * b[0] + n * b[1]
    images = np.array([[u, v] for u in (-1, 0, 1) for v in (-1, 0, 1)], dtype=float) @ b
    candidates = q[..., None, :] + images  # (Ly, Lx, 9, 2)
    best = np.argmin(np.sum(candidates ** 2, axis=-1), axis=-1)
    return np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]


def structure_factor(field, lattice) -> np.ndarray:
    """S(q) (Ly, Lx) float64 of an (N, c) or (N,) field (module docstring), in FFT order: bin
    [n, m] belongs to wave_vectors(lattice)[n, m]."""
    phi = np.asarray(field, dtype=np.float64).reshape(*lattice.shape, -1)
    amplitude = np.fft.fft2(phi, axes=(0, 1))
    return np.sum(amplitude.real ** 2 + amplitude.imag ** 2, axis=-1) / lattice.n_sites


@dataclass(frozen=True, eq=False)
class Shells:
    """Shells of |q| of the FFT grid, of width dk = the smallest non-zero |q| (2 pi / L on the
    square lattice): bin [n, m] lies in shell round(|q| / dk), renumbered over the non-empty
    shells, so shell 0 holds Gamma alone.

    index  : (Ly, Lx) int64 shell of each FFT bin.
    k      : (B,) float64 mean |q| of each shell (inverse lattice constants); k[0] = 0.
    counts : (B,) int64 wave vectors in each shell.
    """

    index: np.ndarray
    k: np.ndarray
    counts: np.ndarray


def shells(lattice) -> Shells:
    """The |q| shells of ``lattice`` (class Shells); build once, average many frames."""
    q = np.linalg.norm(wave_vectors(lattice), axis=-1)
    dk = np.min(q[q > 0]) if q.size > 1 else 1.0
    _, index = np.unique(np.rint(q / dk).astype(np.int64), return_inverse=True)
    index = index.reshape(q.shape)
    counts = np.bincount(index.ravel())
    return Shells(index, np.bincount(index.ravel(), weights=q.ravel()) / counts, counts)


def circular_average(values, shells: Shells) -> np.ndarray:
    """(B,) float64 mean of a (Ly, Lx) array in FFT order (e.g. S(q)) over each shell."""
    total = np.bincount(shells.index.ravel(), minlength=shells.k.size,
                        weights=np.asarray(values, dtype=np.float64).ravel())
    return total / shells.counts
