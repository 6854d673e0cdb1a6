"""Spin configurations against their defining geometry: bond angles, scalar chiralities
(docs/physics.md, section 1.2: chi = +-4 / (3 sqrt 3) on every triangle of the tetrahedral state) and the
refusals of lattices they do not fit."""

import numpy as np
import pytest

from llgsim import states
from llgsim.errors import InputError
from llgsim.lattice import Lattice

# Tolerance tiers
# Closed-form unit vectors (1/sqrt 3, cos 120 degrees) in float64: a few ulps.
TOL_EXACT = 1e-12
# Sample mean of 10^4 random unit vectors: standard error 1/sqrt(3 x 10^4) ~ 0.006; 5 sigma.
TOL_STAT = 0.03

CHI_TETRA = 4 / (3 * np.sqrt(3))


def nn_pairs(lat):
    table = lat.neighbour_table(lat.neighbour_shells(1)[0].offsets)
    return np.repeat(np.arange(lat.n_sites), table.shape[1]), table.ravel()


def chirality(spins, triangles):
    a, b, c = (spins[triangles[:, k]] for k in range(3))
    return np.einsum("ij,ij->i", a, np.cross(b, c))


def assert_unit_vectors(spins, n):
    assert spins.shape == (n, 3) and spins.dtype == np.float64 and spins.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(spins, axis=1), 1.0, atol=TOL_EXACT)


@pytest.mark.parametrize("kind", ["square", "triangular"])
def test_random_spins_are_reproducible_uniform_unit_vectors(kind):
    lat = Lattice.from_kind(kind, 100)
    spins = states.random_spins(lat, 42)
    assert_unit_vectors(spins, lat.n_sites)
    np.testing.assert_array_equal(spins, states.random_spins(lat, np.random.default_rng(42)))
    assert not np.array_equal(spins, states.random_spins(lat, 43))
    np.testing.assert_allclose(spins.mean(axis=0), 0.0, atol=TOL_STAT)
    np.testing.assert_allclose((spins**2).mean(axis=0), 1 / 3, atol=TOL_STAT)


def test_ferromagnet_normalizes_its_direction():
    lat = Lattice.triangular(3, 4)
    spins = states.ferromagnetic(lat, (0.0, 3.0, 4.0))
    assert_unit_vectors(spins, 12)
    np.testing.assert_allclose(spins, np.tile([0.0, 0.6, 0.8], (12, 1)), atol=TOL_EXACT)


def test_neel_bonds_are_antiparallel():
    lat = Lattice.square(6, 4)
    spins = states.neel(lat)
    assert_unit_vectors(spins, lat.n_sites)
    i, j = nn_pairs(lat)
    np.testing.assert_allclose(np.einsum("ij,ij->i", spins[i], spins[j]), -1.0, atol=TOL_EXACT)


def test_120_degree_state():
    lat = Lattice.triangular(6, 9)
    spins = states.spiral_120(lat)
    assert_unit_vectors(spins, lat.n_sites)
    i, j = nn_pairs(lat)
    np.testing.assert_allclose(np.einsum("ij,ij->i", spins[i], spins[j]), -0.5, atol=TOL_EXACT)
    tri = lat.triangles()
    np.testing.assert_allclose(spins[tri].sum(axis=1), 0.0, atol=TOL_EXACT)
    np.testing.assert_allclose(spins[:, 2], 0.0, atol=TOL_EXACT)


@pytest.mark.parametrize("chirality_sign", [1, -1])
def test_tetrahedral_state(chirality_sign):
    lat = Lattice.triangular(6, 4)
    spins = states.tetrahedral(lat, chirality_sign)
    assert_unit_vectors(spins, lat.n_sites)
    i, j = nn_pairs(lat)
    # corners of a regular tetrahedron: every bond joins two different corners
    np.testing.assert_allclose(np.einsum("ij,ij->i", spins[i], spins[j]), -1 / 3, atol=TOL_EXACT)
    np.testing.assert_allclose(chirality(spins, lat.triangles()), chirality_sign * CHI_TETRA,
                               atol=TOL_EXACT)
    cell = spins[[lat.index(0, 0), lat.index(1, 0), lat.index(0, 1), lat.index(1, 1)]]
    np.testing.assert_allclose(cell.sum(axis=0), 0.0, atol=TOL_EXACT)
    np.testing.assert_allclose(cell[0], np.ones(3) / np.sqrt(3) * [1, 1, chirality_sign],
                               atol=TOL_EXACT)


@pytest.mark.parametrize("name, kind", [("ferromagnetic", "square"), ("neel", "square"),
                                        ("120", "triangular"), ("tetrahedral", "triangular")])
def test_ordered_state_by_name(name, kind):
    """The state a config names, against its definition written out here (site (x, y) at
    index x + Lx y; docs/conventions.md)."""
    lat = Lattice.from_kind(kind, 6)
    x, y = np.meshgrid(np.arange(6), np.arange(6), indexing="xy")
    x, y = x.ravel(), y.ravel()
    if name == "ferromagnetic":
        expected = np.tile([0.0, 0.0, 1.0], (36, 1))
    elif name == "neel":
        expected = np.outer((-1.0) ** (x + y), [0.0, 0.0, 1.0])
    elif name == "120":
        phi = 2 * np.pi / 3 * ((x - y) % 3)
        expected = np.stack([np.cos(phi), np.sin(phi), 0 * phi], axis=1)
    else:
        corners = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3)
        expected = corners[(x % 2) + 2 * (y % 2)]
    np.testing.assert_allclose(states.ordered_state(name, lat), expected, rtol=0, atol=TOL_EXACT)


# ---------------------------------------------------------------- refusals
@pytest.mark.parametrize("call, name", [
    (lambda: states.tetrahedral(Lattice.triangular(5, 4)), "lattice.Lx"),
    (lambda: states.tetrahedral(Lattice.triangular(4, 3)), "lattice.Ly"),
    (lambda: states.tetrahedral(Lattice.square(4)), "state"),
    (lambda: states.tetrahedral(Lattice.triangular(4), chirality=2), "chirality"),
    (lambda: states.neel(Lattice.square(5, 4)), "lattice.Lx"),
    (lambda: states.neel(Lattice.triangular(4)), "state"),
    (lambda: states.spiral_120(Lattice.triangular(6, 4)), "lattice.Ly"),
    (lambda: states.spiral_120(Lattice.square(6)), "state"),
    (lambda: states.ferromagnetic(Lattice.square(2), (0, 0, 0)), "direction"),
    (lambda: states.ordered_state("skyrmion", Lattice.square(2)), "state"),
])
def test_bad_input_gets_a_one_line_error_naming_the_parameter(call, name):
    with pytest.raises(InputError) as err:
        call()
    msg = str(err.value)
    assert msg.startswith(f"{name} = ") and "expected" in msg and "\n" not in msg
