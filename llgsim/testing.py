"""Invariance and gradient checks for field providers, shipped so every provider's tests (and
users' own providers) use the same helpers (the e3nn ``assert_equivariant`` pattern).

All functions take a provider with ``energy_and_field(spins) -> (E, H)`` and spins (N, 3).
"""

from __future__ import annotations

import numpy as np


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A Haar-random proper rotation (3, 3), det = +1 (QR of a Gaussian matrix)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def assert_rotation_equivariant(provider, spins, rotation, atol_energy, atol_field):
    """E(R S) = E(S) and H(R S) = R H(S) for one global rotation R of every spin."""
    e0, h0 = provider.energy_and_field(spins)
    e1, h1 = provider.energy_and_field(np.ascontiguousarray(spins @ rotation.T))
    np.testing.assert_allclose(e1, e0, rtol=0, atol=atol_energy)
    np.testing.assert_allclose(h1, h0 @ rotation.T, rtol=0, atol=atol_field)


def assert_time_reversal(provider, spins, atol_energy, atol_field):
    """E(-S) = E(S) and H(-S) = -H(S)."""
    e0, h0 = provider.energy_and_field(spins)
    e1, h1 = provider.energy_and_field(np.ascontiguousarray(-spins))
    np.testing.assert_allclose(e1, e0, rtol=0, atol=atol_energy)
    np.testing.assert_allclose(h1, -h0, rtol=0, atol=atol_field)


def finite_difference_field(provider, spins, sites, step=1e-5) -> np.ndarray:
    """Central differences -dE/dS_i^a (len(sites), 3) of the energy as a function of the free
    Cartesian components (spins are not renormalized: the field is the full gradient, parallel
    part included, docs/conventions.md). Error O(step^2) plus round-off ~ eps |E| / step. The
    displaced spins are off unit length by ~step, inside the providers' length tolerance
    (llgsim.model.check_spins) for step <= 1e-5."""
    out = np.empty((len(sites), 3))
    for k, i in enumerate(sites):
        for a in range(3):
            plus, minus = spins.copy(), spins.copy()
            plus[i, a] += step
            minus[i, a] -= step
            out[k, a] = -(provider.energy_and_field(plus)[0]
                          - provider.energy_and_field(minus)[0]) / (2 * step)
    return out


def torque(spins, field) -> np.ndarray:
    """S_i x H_i, (N, 3): zero at every site in a stationary state."""
    return np.cross(spins, field)
