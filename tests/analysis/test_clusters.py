"""Periodic cluster labelling, domain sizes, and the density split of correlations."""

import numpy as np
import pytest

from llgsim import Lattice
from llgsim.analysis.clusters import (cluster_sizes, domain_sizes, label_clusters,
                                      size_distribution)
from llgsim.analysis.correlations import (bond_correlations, correlation_by_density,
                                          nearest_neighbours)
from llgsim.states import ferromagnetic, neel

TOL_EXACT = 1e-12  # means of +-1 bond products in float64


def mask_of(lattice, cells):
    m = np.zeros(lattice.n_sites, dtype=bool)
    for x, y in cells:
        m[lattice.index(x, y)] = True
    return m


def test_a_cluster_across_both_periodic_edges_is_one_cluster():
    """The four corner sites of a 6 x 5 square lattice touch each other through the periodic
    boundaries in x and in y: one cluster of 4, and a separate one of 1 in the middle."""
    lat = Lattice.square(6, 5)
    mask = mask_of(lat, [(0, 0), (5, 0), (0, 4), (5, 4), (3, 2)])
    labels = label_clusters(mask, nearest_neighbours(lat))
    assert labels[lat.index(0, 0)] == labels[lat.index(5, 4)] == 0  # largest first
    assert labels[lat.index(3, 2)] == 1
    assert np.all(labels[~mask] == -1)
    np.testing.assert_array_equal(cluster_sizes(labels), [4, 1])


def test_triangular_connectivity_follows_its_six_neighbours():
    """(0,0)-(1,-1) are nearest neighbours on the triangular lattice ((1,-1) is in shell 1),
    (0,0)-(1,1) are not; on the square lattice neither diagonal connects."""
    for kind, expected in (("triangular", [2, 1, 1]), ("square", [1, 1, 1, 1])):
        lat = Lattice.from_kind(kind, 6)
        mask = mask_of(lat, [(2, 2), (3, 1), (4, 3), (0, 5)])
        np.testing.assert_array_equal(cluster_sizes(label_clusters(
            mask, nearest_neighbours(lat))), expected)


def test_straight_walls_make_two_domains_and_stripes_wrap():
    lat = Lattice.triangular(8, 10)
    y = lat.coordinates()[:, 1]
    sigma = np.where(y < 5, 1.0, -1.0)
    np.testing.assert_array_equal(domain_sizes(sigma, nearest_neighbours(lat)), [40, 40])
    # three stripes of alternating sign in y: rows 0-2 +, 3-6 -, 7-9 + join across y = 0
    sigma = np.where((y < 3) | (y > 6), 1.0, -1.0)
    np.testing.assert_array_equal(domain_sizes(sigma, nearest_neighbours(lat)), [48, 32])


def test_size_distribution_counts_per_unit_size():
    edges = np.array([1.0, 2.0, 4.0, 8.0])
    np.testing.assert_allclose(size_distribution([1, 1, 3, 5, 7], edges), [2.0, 0.5, 0.5])


def test_correlations_split_by_density_separate_ferro_puddle_and_neel_background():
    """A ferromagnetic 4 x 4 square in a Neel background: c_i = 1 on its 2 x 2 core (all
    neighbours inside), -1 on background sites away from it; low density on the core."""
    lat = Lattice.square(12)
    spins = neel(lat)
    x, y = lat.coordinates().T
    inside = (x >= 4) & (x < 8) & (y >= 4) & (y < 8)
    spins[inside] = ferromagnetic(lat)[inside]
    nb = nearest_neighbours(lat)
    c = bond_correlations(spins, nb)
    core = (x >= 5) & (x < 7) & (y >= 5) & (y < 7)
    far = (x < 3) | (x > 8) | (y < 3) | (y > 8)
    np.testing.assert_allclose(c[core], 1.0, atol=TOL_EXACT)
    np.testing.assert_allclose(c[far], -1.0, atol=TOL_EXACT)
    split = correlation_by_density(spins, nb, np.where(core, 0.7, 1.0), threshold=0.8)
    assert split["n_low"] == core.sum() and split["n_high"] == lat.n_sites - core.sum()
    assert split["low"] == pytest.approx(1.0, abs=TOL_EXACT)
    assert split["high"] < -0.5  # the background, with the puddle's rim (c_i between -1, 1)
