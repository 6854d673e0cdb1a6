"""Structure factors and chirality maps on constructed states with known answers."""

import numpy as np
import pytest

from llgsim import Lattice
from llgsim.analysis.chirality import cell_chirality, chirality_map
from llgsim.analysis.order import ising_field, order_field
from llgsim.analysis.structure import (circular_average, reciprocal_vectors, shells,
                                       structure_factor, wave_vectors)
from llgsim.states import ferromagnetic, neel, random_spins, tetrahedral

TOL_EXACT = 1e-9  # FFT of N <= 4096 unit vectors in float64: round-off ~1e-12 N
TETRA_CHI = 4 / (3 * np.sqrt(3))


def test_reciprocal_vectors_are_dual_to_the_lattice_vectors():
    for kind in ("square", "triangular"):
        lat = Lattice.from_kind(kind, 4)
        np.testing.assert_allclose(lat.vectors @ reciprocal_vectors(lat).T,
                                   2 * np.pi * np.eye(2), atol=TOL_EXACT)


def test_ferromagnet_has_one_peak_at_gamma():
    lat = Lattice.triangular(12, 8)
    s = structure_factor(ferromagnetic(lat, (1, 2, 3)), lat)
    assert s[0, 0] == pytest.approx(lat.n_sites, abs=TOL_EXACT)
    s[0, 0] = 0
    np.testing.assert_allclose(s, 0, atol=TOL_EXACT)


def test_neel_peak_is_at_pi_pi():
    lat = Lattice.square(8, 6)
    s = structure_factor(neel(lat), lat)
    peak = np.unravel_index(np.argmax(s), s.shape)
    np.testing.assert_allclose(np.abs(wave_vectors(lat)[peak]), [np.pi, np.pi], atol=TOL_EXACT)
    assert s[peak] == pytest.approx(lat.n_sites, abs=TOL_EXACT)
    # the staggered field turns the Neel peak into a Gamma peak
    assert structure_factor(order_field("staggered", neel(lat), lat), lat)[0, 0] == \
        pytest.approx(lat.n_sites, abs=TOL_EXACT)


def test_tetrahedral_state_bragg_peaks_at_the_three_m_points_and_uniform_chirality():
    lat = Lattice.triangular(8)
    spins = tetrahedral(lat)
    s = structure_factor(spins, lat)
    q = wave_vectors(lat)
    peaks = np.argwhere(s > TOL_EXACT)
    assert len(peaks) == 3
    b1, b2 = reciprocal_vectors(lat)
    m_points = [b1 / 2, b2 / 2, (b1 + b2) / 2]
    for n, m in peaks:
        assert s[n, m] == pytest.approx(lat.n_sites / 3, abs=TOL_EXACT)
        # each peak is an M point (modulo a reciprocal vector): |q| = 2 pi / sqrt 3
        assert np.linalg.norm(q[n, m]) == pytest.approx(2 * np.pi / np.sqrt(3), abs=TOL_EXACT)
        assert min(np.linalg.norm(q[n, m] - mp - u * b1 - v * b2) for mp in m_points
                   for u in (-1, 0, 1) for v in (-1, 0, 1)) < TOL_EXACT
    np.testing.assert_allclose(chirality_map(spins, lat), TETRA_CHI, atol=TOL_EXACT)
    np.testing.assert_allclose(cell_chirality(tetrahedral(lat, -1), lat), -TETRA_CHI,
                               atol=TOL_EXACT)


@pytest.mark.parametrize("kind", ["square", "triangular"])
def test_random_state_has_a_flat_structure_factor(kind):
    """Independent spins: S(q) = <|S|^2> = 1 at every q. Each of the N q is a sum of N
    independent terms, so S(q) ~ Exponential-like with relative scatter 1 per q; the average
    over a shell of n_q vectors scatters by ~1/sqrt(n_q), and 5 of those is the tolerance."""
    lat = Lattice.from_kind(kind, 64)
    spins = random_spins(lat, 3)
    s = structure_factor(spins, lat)
    assert s.mean() == pytest.approx(1.0, abs=TOL_EXACT)  # Parseval: sum_q S = sum_i |S_i|^2
    sh = shells(lat)
    s_k = circular_average(s, sh)
    big = sh.counts >= 50
    assert np.all(np.abs(s_k[big] - 1) < 5 / np.sqrt(sh.counts[big]))


def test_shells_cover_the_grid_once_and_start_at_gamma():
    for kind in ("square", "triangular"):
        lat = Lattice.from_kind(kind, 10, 6)
        sh = shells(lat)
        assert sh.counts.sum() == lat.n_sites and sh.counts[0] == 1 and sh.k[0] == 0
        assert np.all(np.diff(sh.k) > 0)


def test_ising_field_projects_on_the_easy_direction():
    spins = np.zeros((16, 3))
    spins[:, 0] = np.where(np.arange(16) < 8, 1.0, -1.0)  # +-x domains
    sigma = ising_field(spins)
    np.testing.assert_allclose(np.abs(sigma), 1.0, atol=TOL_EXACT)
    assert np.all(np.sign(sigma[:8]) == -np.sign(sigma[8:]))
