"""Lattice geometry against independent references: number theory for the shell counts,
brute-force minimum-image distances for neighbour tables and point-group permutations, and
Cartesian rotations for the point group."""

import numpy as np
import pytest

from llgsim.errors import InputError
from llgsim.lattice import Lattice

# Tolerance tiers
# Cartesian lengths built from sqrt(3)/2 in float64: exact up to a few ulps.
TOL_GEOMETRY = 1e-9

KINDS = ["square", "triangular"]


def norm2(kind, dx, dy):
    """Exact integer squared length of the offset dx a1 + dy a2 (docs/conventions.md vectors)."""
    return dx * dx + dy * dy if kind == "square" else dx * dx + dx * dy + dy * dy


def representation_count(kind, n):
    """Number of integer offsets with squared length n: r_2(n) = 4 (d_1(n) - d_3(n)) (square),
    6 (d_1(n) - d_2(n)) with divisors counted mod 3 (triangular, Loeschian numbers)."""
    divisors = np.array([d for d in range(1, n + 1) if n % d == 0])
    if kind == "square":
        return 4 * (np.sum(divisors % 4 == 1) - np.sum(divisors % 4 == 3))
    return 6 * (np.sum(divisors % 3 == 1) - np.sum(divisors % 3 == 2))


def cartesian_point_group(kind):
    """(G, 2, 2) Cartesian rotations by multiples of 90 or 60 degrees, times the mirror y -> -y."""
    step = np.pi / 2 if kind == "square" else np.pi / 3
    out = []
    for mirror in (np.eye(2), np.diag([1.0, -1.0])):
        for k in range(round(2 * np.pi / step)):
            c, s = np.cos(k * step), np.sin(k * step)
            out.append(np.array([[c, -s], [s, c]]) @ mirror)
    return np.array(out)


def minimum_image_norm2(lat, i, j):
    """Exact squared length of the shortest periodic image of the offset from site i to j."""
    (xi, yi), (xj, yj) = lat.coordinates()[i], lat.coordinates()[j]
    return min(norm2(lat.kind, xj - xi + m * lat.Lx, yj - yi + n * lat.Ly)
               for m in (-1, 0, 1) for n in (-1, 0, 1))


# ---------------------------------------------------------------- shells
@pytest.mark.parametrize("kind", KINDS)
def test_shell_distances_and_counts_follow_the_representation_numbers(kind):
    lat = Lattice.from_kind(kind, 8)
    shells = lat.neighbour_shells(40)
    n2 = [norm2(kind, *s.offsets[0]) for s in shells]
    assert n2 == sorted(n2)
    for s, n in zip(shells, n2):
        assert s.distance == pytest.approx(np.sqrt(n), abs=TOL_GEOMETRY)
        assert all(norm2(kind, dx, dy) == n for dx, dy in s.offsets)
    # every squared length up to the last one appears, with all its offsets
    for n in range(1, max(n2)):
        total = sum(len(s.offsets) for s, m in zip(shells, n2) if m == n)
        assert total == representation_count(kind, n)


@pytest.mark.parametrize("kind, first", [("square", [4, 4, 4, 8, 4, 4, 8, 8, 4, 8]),
                                         ("triangular", [6, 6, 6, 12, 6, 6, 12, 6, 12, 12])])
def test_first_shell_sizes(kind, first):
    assert [len(s.offsets) for s in Lattice.from_kind(kind, 8).neighbour_shells(10)] == first


@pytest.mark.parametrize("kind, n2, orbits", [("square", 25, [{(5, 0)}, {(3, 4)}]),
                                              ("triangular", 49, [{(7, 0)}, {(5, 3)}])])
def test_equal_distance_inequivalent_offsets_are_separate_shells(kind, n2, orbits):
    """Square |(5,0)| = |(3,4)| = 5 (orbits of 4 and 8); triangular |7 a1| = |5 a1 + 3 a2| = 7
    (orbits of 6 and 12)."""
    shells = [s for s in Lattice.from_kind(kind, 8).neighbour_shells(30)
              if norm2(kind, *s.offsets[0]) == n2]
    assert len(shells) == 2
    sets = [set(map(tuple, s.offsets.tolist())) for s in shells]
    for seed in orbits:
        (offset,) = seed
        assert sum(offset in s for s in sets) == 1
    assert sorted(len(s) for s in sets) == ([4, 8] if kind == "square" else [6, 12])


@pytest.mark.parametrize("kind", KINDS)
def test_each_shell_is_one_orbit_of_the_cartesian_point_group(kind):
    lat = Lattice.from_kind(kind, 8)
    group = cartesian_point_group(kind)
    inverse_vectors = np.linalg.inv(lat.vectors)
    for shell in lat.neighbour_shells(20):
        cart = shell.offsets @ lat.vectors
        members = set(map(tuple, shell.offsets.tolist()))
        seed = cart[0]
        orbit = {tuple(np.rint((g @ seed) @ inverse_vectors).astype(int)) for g in group}
        assert orbit == members
        angles = np.mod(np.arctan2(cart[:, 1], cart[:, 0]), 2 * np.pi)
        assert np.all(np.diff(angles) > 0)


# ---------------------------------------------------------------- neighbour tables
@pytest.mark.parametrize("kind", KINDS)
def test_neighbour_table_matches_minimum_image_distances(kind):
    lat = Lattice.from_kind(kind, 7, 8)
    for shell in lat.neighbour_shells(4):  # all at distinct distances
        n = norm2(kind, *shell.offsets[0])
        table = lat.neighbour_table(shell.offsets)
        assert table.shape == (lat.n_sites, len(shell.offsets))
        for i in range(0, lat.n_sites, 5):
            expected = {j for j in range(lat.n_sites) if minimum_image_norm2(lat, i, j) == n}
            assert set(table[i]) == expected and len(set(table[i])) == len(shell.offsets)


@pytest.mark.parametrize("kind", KINDS)
def test_minimum_image_matches_brute_force_lengths_and_is_a_period_away(kind):
    lat = Lattice.from_kind(kind, 9, 7)
    pos = lat.positions()
    box = lat.box
    for i in (0, 31, 62):
        d = lat.minimum_image(pos - pos[i])
        expected = [minimum_image_norm2(lat, i, j) for j in range(lat.n_sites)]
        np.testing.assert_allclose(np.sum(d ** 2, axis=1), expected, atol=TOL_GEOMETRY)
        periods = (d - (pos - pos[i])) @ np.linalg.inv(box)  # image shift in box periods
        np.testing.assert_allclose(periods, np.round(periods), atol=TOL_GEOMETRY)


@pytest.mark.parametrize("kind", KINDS)
def test_neighbour_relation_is_symmetric(kind):
    lat = Lattice.from_kind(kind, 5, 6)
    table = lat.neighbour_table(lat.neighbour_shells(2)[1].offsets)
    for i in range(lat.n_sites):
        for j in table[i]:
            assert i in table[j]


def test_small_periodic_lattice_keeps_every_bond():
    """On a 2 x 2 square lattice +x and -x reach the same site; both bonds stay."""
    lat = Lattice.square(2)
    table = lat.neighbour_table(lat.neighbour_shells(1)[0].offsets)
    assert sorted(table[0].tolist()) == [1, 1, 2, 2]


def test_sites_coordinates_and_image_layout():
    lat = Lattice.triangular(5, 3)
    xy = lat.coordinates()
    np.testing.assert_array_equal(lat.index(xy[:, 0], xy[:, 1]), np.arange(15))
    assert lat.index(-1, 3) == lat.index(4, 0) == 4
    image = np.arange(15).reshape(lat.shape)
    assert image[2, 1] == lat.index(1, 2)
    np.testing.assert_allclose(lat.positions()[lat.index(1, 2)], [1 + 1.0, np.sqrt(3)],
                               atol=TOL_GEOMETRY)


# ---------------------------------------------------------------- point group
@pytest.mark.parametrize("kind, order", [("square", 8), ("triangular", 12)])
@pytest.mark.parametrize("centre", [0, 17])
def test_point_group_permutations_form_the_group(kind, order, centre):
    lat = Lattice.from_kind(kind, 6)
    perms = lat.point_group_permutations(centre)
    assert perms.shape == (order, lat.n_sites)
    as_tuples = {tuple(p) for p in perms}
    assert len(as_tuples) == order
    assert tuple(range(lat.n_sites)) in as_tuples
    for p in perms:
        assert sorted(p) == list(range(lat.n_sites))
        assert p[centre] == centre
        for q in perms:
            assert tuple(p[q]) in as_tuples


@pytest.mark.parametrize("kind", KINDS)
def test_point_group_preserves_distances_and_bonds(kind):
    lat = Lattice.from_kind(kind, 6)
    centre = 8
    perms = lat.point_group_permutations(centre)
    table = lat.neighbour_table(lat.neighbour_shells(1)[0].offsets)
    for p in perms:
        for i in range(lat.n_sites):
            assert minimum_image_norm2(lat, centre, p[i]) == minimum_image_norm2(lat, centre, i)
            assert set(p[table[i]]) == set(table[p[i]])


def test_point_group_permutations_refuse_rectangular_lattices():
    with pytest.raises(InputError, match=r"^lattice = "):
        Lattice.square(4, 6).point_group_permutations()


# ---------------------------------------------------------------- triangles
def test_triangles_are_counter_clockwise_nearest_neighbour_plaquettes():
    lat = Lattice.triangular(5, 4)
    tri = lat.triangles()
    assert tri.shape == (2 * lat.n_sites, 3)
    assert len({frozenset(t) for t in tri.tolist()}) == 2 * lat.n_sites
    nn = lat.neighbour_table(lat.neighbour_shells(1)[0].offsets)
    xy = lat.coordinates()
    for a, b, c in tri:
        assert b in nn[a] and c in nn[b] and a in nn[c]
        # unwrap b and c next to a, then the signed area must be positive
        rel = []
        for j in (b, c):
            d = xy[j] - xy[a]
            d = (d + [2, 2]) % [lat.Lx, lat.Ly] - [2, 2]
            rel.append(d @ lat.vectors)
        area = rel[0][0] * rel[1][1] - rel[0][1] * rel[1][0]
        assert area == pytest.approx(np.sqrt(3) / 2, abs=TOL_GEOMETRY)
    assert np.all(np.bincount(tri.ravel()) == 6)
    bonds = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    _, counts = np.unique(bonds, axis=0, return_counts=True)
    assert np.all(counts == 2) and len(counts) == 3 * lat.n_sites


def test_triangles_refuse_the_square_lattice():
    with pytest.raises(InputError, match=r"^lattice.kind = 'square'"):
        Lattice.square(4).triangles()


# ---------------------------------------------------------------- refusals
@pytest.mark.parametrize("call, name", [
    (lambda: Lattice.square(0), "lattice.Lx"),
    (lambda: Lattice.square(4, -2), "lattice.Ly"),
    (lambda: Lattice.triangular(2.5), "lattice.Lx"),
    (lambda: Lattice.square(True), "lattice.Lx"),
    (lambda: Lattice.from_kind("hexagonal", 4), "lattice.kind"),
    (lambda: Lattice.square(4).neighbour_shells(0), "n_shells"),
])
def test_bad_input_gets_a_one_line_error_naming_the_parameter(call, name):
    with pytest.raises(InputError) as err:
        call()
    msg = str(err.value)
    assert msg.startswith(f"{name} = ") and "expected" in msg and "\n" not in msg


def test_describe_rebuilds_the_lattice():
    lat = Lattice.triangular(6, 4)
    d = lat.describe()
    again = Lattice.from_kind(d["kind"], d["Lx"], d["Ly"])
    assert (again.kind, again.Lx, again.Ly) == (lat.kind, lat.Lx, lat.Ly)
