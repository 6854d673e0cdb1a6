"""Observables against values computed by hand on ordered states and against explicit loops."""

import numpy as np
import pytest

from llgsim import Lattice
from llgsim.analysis import (chirality, magnetization, nearest_neighbour_correlation,
                             observables_for, staggered_magnetization)
from llgsim.states import ferromagnetic, neel, random_spins, spiral_120, tetrahedral

TOL_EXACT = 1e-12  # sums of O(N) products of unit vectors in float64
TETRA_CHI = 4 / (3 * np.sqrt(3))  # c0 . (c1 x c2) for corners c_k of a regular tetrahedron


def test_neel_and_ferromagnet_on_the_square_lattice():
    lat = Lattice.square(4, 6)
    assert staggered_magnetization(neel(lat), lat) == pytest.approx(1.0, abs=TOL_EXACT)
    np.testing.assert_allclose(magnetization(neel(lat)), 0.0, atol=TOL_EXACT)
    fm = ferromagnetic(lat, (1.0, 0.0, 0.0))
    assert staggered_magnetization(fm, lat) == pytest.approx(0.0, abs=TOL_EXACT)
    np.testing.assert_allclose(magnetization(fm), [1.0, 0.0, 0.0], atol=TOL_EXACT)


@pytest.mark.parametrize("sign", [1, -1])
def test_tetrahedral_state_has_uniform_chirality(sign):
    lat = Lattice.triangular(4)
    chi = chirality(tetrahedral(lat, chirality=sign), lat.triangles())
    np.testing.assert_allclose(chi, sign * TETRA_CHI, atol=TOL_EXACT)
    _, compute = observables_for(lat)
    values = compute(tetrahedral(lat, chirality=sign), energy=0.0)
    assert values["chirality"] == pytest.approx(sign * TETRA_CHI, abs=TOL_EXACT)
    assert values["abs_chirality"] == pytest.approx(TETRA_CHI, abs=TOL_EXACT)
    np.testing.assert_allclose(values["magnetization"], 0.0, atol=TOL_EXACT)


def test_coplanar_120_state_has_no_chirality():
    lat = Lattice.triangular(6)
    np.testing.assert_allclose(chirality(spiral_120(lat), lat.triangles()), 0.0, atol=TOL_EXACT)


def test_chirality_matches_an_explicit_loop_over_plaquettes():
    """Independent of Lattice.triangles(): walk the cells and apply docs/conventions.md directly."""
    lat = Lattice.triangular(3, 4)
    s = random_spins(lat, 7)
    site = lambda x, y: (x % lat.Lx) + lat.Lx * (y % lat.Ly)  # noqa: E731
    expected = []
    for corners in ([(0, 0), (1, 0), (0, 1)], [(1, 0), (1, 1), (0, 1)]):  # up, then down
        for y in range(lat.Ly):
            for x in range(lat.Lx):
                a, b, c = (s[site(x + dx, y + dy)] for dx, dy in corners)
                expected.append(a @ np.cross(b, c))
    np.testing.assert_allclose(chirality(s, lat.triangles()), expected, atol=TOL_EXACT)


def test_energy_is_per_site_and_sets_depend_on_the_lattice():
    shapes, compute = observables_for(Lattice.square(4))
    assert set(shapes) == {"energy", "magnetization", "staggered_magnetization"}
    assert compute(neel(Lattice.square(4)), energy=-8.0)["energy"] == -0.5
    assert set(observables_for(Lattice.square(3))[0]) == {"energy", "magnetization"}
    assert set(observables_for(Lattice.triangular(3))[0]) == {
        "energy", "magnetization", "chirality", "abs_chirality"}


def test_nearest_neighbour_correlation_of_ordered_states():
    """Exact bond products: ferromagnet 1, Neel -1, 120 degrees cos(2 pi / 3) = -1/2,
    tetrahedral -1/3 (every bond joins two corners of a regular tetrahedron)."""
    nn = nearest_neighbour_correlation
    square, tri6, tri4 = Lattice.square(6), Lattice.triangular(6), Lattice.triangular(4)
    assert nn(ferromagnetic(square), square) == pytest.approx(1.0, abs=TOL_EXACT)
    assert nn(neel(square), square) == pytest.approx(-1.0, abs=TOL_EXACT)
    assert nn(spiral_120(tri6), tri6) == pytest.approx(-0.5, abs=TOL_EXACT)
    assert nn(tetrahedral(tri4), tri4) == pytest.approx(-1.0 / 3.0, abs=TOL_EXACT)
