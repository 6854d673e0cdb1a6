"""Constructed domain patterns of known size for the analysis tests."""

import numpy as np

from llgsim.analysis.structure import wave_vectors


def disc(lattice, radius, centre=(0.0, 0.0)) -> np.ndarray:
    """(N,) +1 inside the disc |r - centre| < radius (shortest periodic image), -1 outside."""
    d = lattice.minimum_image(lattice.positions() - np.asarray(centre))
    return np.where(np.linalg.norm(d, axis=1) < radius, 1.0, -1.0)


def gaussian_domains(lattice, xi, seed) -> np.ndarray:
    """(N,) sign of a Gaussian random field with correlation length ``xi`` (lattice constants):
    white noise filtered by exp(-(q xi)^2 / 4). Patterns at different xi are the same
    statistics magnified (up to the lattice scale and the box), so every length is
    proportional to xi."""
    rng = np.random.default_rng(seed)
    q = np.linalg.norm(wave_vectors(lattice), axis=-1)
    noise = rng.standard_normal(lattice.shape)
    field = np.fft.ifft2(np.fft.fft2(noise) * np.exp(-(q * xi) ** 2 / 4)).real
    return np.where(field.ravel() > 0, 1.0, -1.0)
