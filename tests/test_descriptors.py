"""Descriptor: exact invariances, group theory of its tables, expressiveness, refusals.

References are independent of the descriptor code: exact symmetry operations on the spins
(global rotations, time reversal, point-group permutations of the sites from
Lattice.point_group_permutations), and bond products / chiralities recomputed in numpy.
"""

import numpy as np
import pytest
import torch

from llgsim import InputError, Lattice
from llgsim.ml.descriptor import Descriptor
from llgsim.ml.descriptor_tables import DescriptorSettings, build_tables
from llgsim.ml.symmetry import irreducible_representations, symmetry_adapted_basis
from llgsim.states import ferromagnetic, random_spins, spiral_120, tetrahedral
from llgsim.testing import random_rotation

# Tolerance tiers.
# TOL_EXACT: invariances that hold algebraically; the two sides differ only by the round-off of
#   sums of O(100) products of O(1) numbers in float64 (observed ~1e-14).
TOL_EXACT = 1e-12
# TOL_F32: float32 evaluation against float64, features of O(1-10) (eps_32 ~ 6e-8 times sums).
TOL_F32 = 1e-4
# DISTINCT: two configurations count as distinguished when the descriptor of the centre differs
#   by far more than round-off.
DISTINCT = 1e-3

KINDS = ["square", "triangular"]
L = 8
CENTRE = 2 + L * 3  # a site away from index 0, so wrapping is exercised


def descriptor_of(d, spins):
    return d(torch.from_numpy(np.ascontiguousarray(spins))).numpy()


# the defaults, de-square's settings, and sd-triangular's (4 shells, 3 pair shells) with every
# nearest-neighbour bond product added (a superset of its invariants)
SETTINGS = [("square", None), ("triangular", None),
            ("square", DescriptorSettings(5, 2, n_bond_shells=1)),
            ("triangular", DescriptorSettings(4, 3, n_bond_shells=1))]


@pytest.fixture(scope="module", params=SETTINGS, ids=lambda p: f"{p[0]}-{p[1]}")
def setup(request):
    kind, settings = request.param
    lattice = Lattice.from_kind(kind, L)
    return lattice, Descriptor(lattice, settings)


# ---------------------------------------------------------------------------- group theory
def _product_table(group):
    """mult[g, h] = index of the integer matrix g @ h in the group."""
    keys = [tuple(m.ravel()) for m in group]
    return np.array([[keys.index(tuple((a @ b).ravel())) for b in group] for a in group])


@pytest.mark.parametrize("kind", KINDS)
def test_irreps_are_orthogonal_representations(kind):
    group = Lattice.from_kind(kind, 1).point_group
    mult = _product_table(group)
    irreps = irreducible_representations(kind)
    assert sum(g.shape[1] ** 2 for _, g in irreps) == len(group)  # sum d_r^2 = |G|
    for _, gamma in irreps:
        for g in range(len(group)):
            np.testing.assert_allclose(gamma[g] @ gamma[g].T, np.eye(gamma.shape[1]), atol=1e-13)
            for h in range(len(group)):
                np.testing.assert_allclose(gamma[g] @ gamma[h], gamma[mult[g, h]], atol=1e-13)
    chars = np.array([np.trace(gamma, axis1=1, axis2=2) for _, gamma in irreps])
    np.testing.assert_allclose(chars @ chars.T / len(group), np.eye(len(irreps)), atol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
def test_symmetry_adapted_basis_of_the_regular_representation(kind):
    """Regular representation D(g) e_h = e_{gh}: every irrep r appears d_r times, and the
    components f = B q of any vector transform as f -> Gamma_r(g) f when q -> D(g) q, with the
    same matrices Gamma_r(g) for every copy (what makes the phases invariant)."""
    group = Lattice.from_kind(kind, 1).point_group
    mult = _product_table(group)
    n = len(group)
    regular = np.zeros((n, n, n))
    for g in range(n):
        regular[g, mult[g], np.arange(n)] = 1.0
    irreps = irreducible_representations(kind)
    blocks = symmetry_adapted_basis(regular, irreps)
    for r, (_, gamma) in enumerate(irreps):
        assert sum(1 for b, _ in blocks if b == r) == gamma.shape[1]
    q = np.random.default_rng(0).standard_normal(n)
    for g in range(n):
        for r, basis in blocks:
            np.testing.assert_allclose(basis @ regular[g] @ q, irreps[r][1][g] @ (basis @ q),
                                       atol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
def test_tables_are_consistent(kind):
    t = build_tables(kind, DescriptorSettings.default(kind))
    n_inv = len(t.pairs) + len(t.triangles)
    assert np.all(t.offsets[0] == 0) and len({tuple(o) for o in t.offsets}) == len(t.offsets)
    assert t.comp_index.max() < n_inv and len(t.comp_index) == n_inv  # orthogonal change of basis
    assert np.all(t.pairs[:, 0] != t.pairs[:, 1])
    lat = Lattice.from_kind(kind, 1)
    tri = t.offsets[t.triangles] @ lat.vectors  # (T, 3, 2) Cartesian
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    assert np.all(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] > 0)  # counter-clockwise
    assert len(t.labels) == len(t.a1_index) + len(t.block_index) + len(t.phase_blocks)


@pytest.mark.parametrize("kind, settings, n_features", [
    ("square", None, 165), ("triangular", None, 171),
    ("square", DescriptorSettings(5, 2, n_bond_shells=1), 203),  # de-square
    ("triangular", DescriptorSettings(4, 3), 277)])               # sd-triangular
def test_feature_count(kind, settings, n_features):
    """The counts docs/descriptor.md states."""
    assert Descriptor(Lattice.from_kind(kind, L), settings).n_features == n_features


@pytest.mark.parametrize("kind, settings, n_bonds", [
    ("square", DescriptorSettings(5, 0, n_bond_shells=1), 40),       # 5 x 5 box: 2 x 5 x 4
    ("square", DescriptorSettings(5, 0, n_bond_shells=2), 40 + 32),  # and 2 x 4 x 4 diagonals
    ("triangular", DescriptorSettings(4, 0, n_bond_shells=1), None)])
def test_bond_shells_add_every_short_bond(kind, settings, n_bonds):
    """With n_pair_shells = 0 the pairs are the centre bonds and, from n_bond_shells, every
    two seen sites at a separation of the first n_bond_shells shells: recounted here from
    Cartesian distances of the offsets (triangular: all unit distances, counted here)."""
    lattice = Lattice.from_kind(kind, L)
    t = Descriptor(lattice, settings).tables
    pos = t.offsets @ lattice.vectors
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    shell_radii = sorted({round(float(r), 6) for r in dist[0, 1:]})[:settings.n_bond_shells]
    short = {(a, b) for a in range(len(pos)) for b in range(a + 1, len(pos))
             if round(float(dist[a, b]), 6) in shell_radii}
    if n_bonds is not None:
        assert len(short) == n_bonds
    centre = {(0, b) for b in range(1, len(pos))}
    assert {tuple(sorted(p)) for p in t.pairs.tolist()} == centre | short
    assert len(t.pairs) == len(centre | short)


# ---------------------------------------------------------------------------- invariance
def test_global_rotation(setup):
    lattice, d = setup
    rng = np.random.default_rng(1)
    spins = random_spins(lattice, rng)
    g0 = descriptor_of(d, spins)
    for _ in range(3):
        rot = random_rotation(rng)
        np.testing.assert_allclose(descriptor_of(d, spins @ rot.T), g0, rtol=0, atol=TOL_EXACT)


def test_time_reversal_and_improper_rotation(setup):
    """S -> -S, and so every improper rotation -R (a global chirality flip), leave G unchanged."""
    lattice, d = setup
    rng = np.random.default_rng(2)
    spins = random_spins(lattice, rng)
    g0 = descriptor_of(d, spins)
    np.testing.assert_allclose(descriptor_of(d, -spins), g0, rtol=0, atol=TOL_EXACT)
    mirror = random_rotation(rng) @ np.diag([1.0, 1.0, -1.0])
    np.testing.assert_allclose(descriptor_of(d, spins @ mirror.T), g0, rtol=0, atol=TOL_EXACT)


def test_every_point_group_operation(setup):
    """For each g about CENTRE: S'_{perm[g, i]} = S_i. The centre's descriptor is unchanged and
    the whole descriptor array is permuted: G'[perm[g, i]] = G[i]."""
    lattice, d = setup
    spins = random_spins(lattice, 3)
    g0 = descriptor_of(d, spins)
    perms = lattice.point_group_permutations(CENTRE)
    assert len(perms) == (8 if lattice.kind == "square" else 12)
    for perm in perms:
        moved = np.empty_like(spins)
        moved[perm] = spins
        g1 = descriptor_of(d, moved)
        np.testing.assert_allclose(g1[CENTRE], g0[CENTRE], rtol=0, atol=TOL_EXACT)
        np.testing.assert_allclose(g1[perm], g0, rtol=0, atol=TOL_EXACT)


def test_point_group_check_is_sensitive(setup):
    """Control: the raw invariants around the centre (bond products, chiralities in table order)
    do change under the point group, so the invariance above is the irrep construction's doing."""
    lattice, d = setup
    spins = random_spins(lattice, 4)
    t = d.tables
    moved = np.empty_like(spins)
    moved[lattice.point_group_permutations(CENTRE)[-1]] = spins  # a mirror
    raw = [_raw_invariants(d, s, CENTRE) for s in (spins, moved)]
    assert np.abs(raw[0] - raw[1]).max() > DISTINCT
    assert len(t.labels) == d.n_features


def test_float32_matches_float64(setup):
    lattice, d = setup
    spins = random_spins(lattice, 5)
    g32 = d(torch.from_numpy(spins.astype(np.float32)))
    assert g32.dtype == torch.float32
    np.testing.assert_allclose(g32.numpy(), descriptor_of(d, spins), rtol=0, atol=TOL_F32)


def test_uniform_state_is_regular(setup):
    """Ferromagnet: every non-A1 component vanishes; the regularised phases keep G and its
    gradient finite."""
    lattice, d = setup
    s = torch.from_numpy(ferromagnetic(lattice, (0.3, -0.2, 0.9))).requires_grad_(True)
    g = d(s)
    (grad,) = torch.autograd.grad(g.sum(), s)
    assert torch.isfinite(g).all() and torch.isfinite(grad).all()
    g = g.detach().numpy()
    np.testing.assert_allclose(g, g[:1].repeat(len(g), 0), rtol=0, atol=TOL_EXACT)
    non_a1 = [k for k, label in enumerate(d.tables.labels) if not label.startswith("bond")]
    np.testing.assert_allclose(g[:, non_a1], 0.0, rtol=0, atol=TOL_EXACT)


def test_a1_of_nearest_neighbour_bonds_is_their_sum(setup):
    """The A1 component of the nearest-neighbour centre-bond orbit is the normalised sum
    +-(1/sqrt z) sum_j S_i . S_j, so a linear readout gives the Heisenberg energy exactly."""
    lattice, d = setup
    spins = random_spins(lattice, 8)
    nn = lattice.neighbour_table(lattice.neighbour_shells(1)[0].offsets)  # (N, z)
    bond_sum = np.einsum("ia,ija->i", spins, spins[nn])
    first = descriptor_of(d, spins)[:, 0]
    assert d.tables.labels[0].endswith(f"x{nn.shape[1]}:A1")
    sign = np.sign(first @ bond_sum)
    np.testing.assert_allclose(first, sign * bond_sum / np.sqrt(nn.shape[1]), rtol=0,
                               atol=TOL_EXACT)


# ---------------------------------------------------------------------------- physics
def test_tetrahedral_state():
    """Every site of the tetrahedral state has the same neighbourhood up to a global rotation,
    the two chiral domains differ by a global mirror (same G), and the coplanar 120-degree
    state is distinguished from both."""
    lattice = Lattice.triangular(12)
    d = Descriptor(lattice)
    plus = descriptor_of(d, tetrahedral(lattice, +1))
    np.testing.assert_allclose(plus, plus[:1].repeat(len(plus), 0), rtol=0, atol=TOL_EXACT)
    np.testing.assert_allclose(descriptor_of(d, tetrahedral(lattice, -1)), plus, rtol=0,
                               atol=TOL_EXACT)
    assert np.abs(descriptor_of(d, spiral_120(lattice))[0] - plus[0]).max() > DISTINCT


def _raw_invariants(d, spins, site):
    """Bond products and chiralities of the tables around ``site``, recomputed in numpy."""
    s = spins[d.neighbours[site]]
    t = d.tables
    bonds = np.einsum("pa,pa->p", s[t.pairs[:, 0]], s[t.pairs[:, 1]])
    a, b, c = (s[t.triangles[:, k]] for k in range(3))
    return np.concatenate([bonds, np.einsum("ta,ta->t", a, np.cross(b, c))])


def _outer_sites(d, site):
    """Sites seen from ``site`` that enter no neighbour-neighbour bond product (beyond the pair
    shells): they enter only the centre bond S_site . S_j and chiralities."""
    t = d.tables
    inner = set(t.pairs[np.all(t.pairs != 0, axis=1)].ravel()) | {0}
    return d.neighbours[site][[k for k in range(len(t.offsets)) if k not in inner]]


def _rotate_about(vectors, axis, angles):
    """Rodrigues rotation of each vector (n, 3) about the unit ``axis`` by its angle (n,)."""
    c, s = np.cos(angles)[:, None], np.sin(angles)[:, None]
    return (vectors * c + np.cross(axis, vectors) * s
            + axis * (vectors @ axis)[:, None] * (1 - c))


@pytest.mark.parametrize("kind", KINDS)
def test_distinguishes_relative_chirality(kind):
    """Mirror only the outer spins through a plane that contains the centre spin: every bond
    product the descriptor uses is unchanged, while some triangles' chiralities reverse sign and
    others keep theirs (the relative chirality of triangles changes). The descriptor tells the
    two apart; mirroring all spins (a global O(3) operation) it must not."""
    lattice = Lattice.from_kind(kind, 12)
    d = Descriptor(lattice)
    site = 5 + 12 * 6
    spins = random_spins(lattice, 6)
    centre = spins[site]
    normal = np.cross(centre, [0.0, 0.0, 1.0])
    normal /= np.linalg.norm(normal)
    mirror = np.eye(3) - 2 * np.outer(normal, normal)  # fixes the centre spin
    outer = _outer_sites(d, site)
    partly = spins.copy()
    partly[outer] = spins[outer] @ mirror.T
    raw0, raw1 = _raw_invariants(d, spins, site), _raw_invariants(d, partly, site)
    n_bonds = len(d.tables.pairs)
    np.testing.assert_allclose(raw1[:n_bonds], raw0[:n_bonds], rtol=0, atol=TOL_EXACT)
    chi0, chi1 = raw0[n_bonds:], raw1[n_bonds:]
    flipped = (chi1 * chi0 < 0) & (np.abs(chi0) > 1e-3) & (np.abs(chi1) > 1e-3)
    kept = np.isclose(chi1, chi0, atol=TOL_EXACT) & (np.abs(chi0) > 1e-3)
    assert flipped.any() and kept.any()
    g0, g1 = descriptor_of(d, spins)[site], descriptor_of(d, partly)[site]
    assert np.abs(g1 - g0).max() > DISTINCT
    np.testing.assert_allclose(descriptor_of(d, spins @ mirror.T)[site], g0, rtol=0,
                               atol=TOL_EXACT)


@pytest.mark.parametrize("kind", KINDS)
def test_distinguishes_non_coplanar_from_coplanar(kind):
    """A coplanar configuration (all chiralities zero) and the non-coplanar one made by turning
    the outer spins about the centre spin (same bond products) have different descriptors."""
    lattice = Lattice.from_kind(kind, 12)
    d = Descriptor(lattice)
    site = 7 + 12 * 4
    rng = np.random.default_rng(7)
    phi = rng.uniform(0, 2 * np.pi, lattice.n_sites)
    planar = np.stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)], axis=1)
    outer = _outer_sites(d, site)
    tilted = planar.copy()
    tilted[outer] = _rotate_about(planar[outer], planar[site], rng.uniform(0.5, 2.5, len(outer)))
    raw0, raw1 = _raw_invariants(d, planar, site), _raw_invariants(d, tilted, site)
    n_bonds = len(d.tables.pairs)
    np.testing.assert_allclose(raw1[:n_bonds], raw0[:n_bonds], rtol=0, atol=TOL_EXACT)
    assert np.abs(raw0[n_bonds:]).max() < TOL_EXACT and np.abs(raw1[n_bonds:]).max() > 0.1
    assert np.abs(descriptor_of(d, tilted)[site] - descriptor_of(d, planar)[site]).max() > DISTINCT


# ---------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("kind, too_small, large_enough", [("square", 4, 5), ("triangular", 5, 6)])
def test_lattice_smaller_than_cutoff_is_refused(kind, too_small, large_enough):
    with pytest.raises(InputError, match="distinct"):
        Descriptor(Lattice.from_kind(kind, too_small))
    d = Descriptor(Lattice.from_kind(kind, large_enough))
    assert len(np.unique(d.neighbours[0])) == len(d.tables.offsets)


@pytest.mark.parametrize("args", [(0, 0), (2, 3), (3, 1, 0.0), (3, 1, float("nan")), (2.5, 1),
                                  (3, 1, 0.1, -1), (3, 1, 0.1, 1.5)])
def test_bad_settings_are_refused(args):
    with pytest.raises(InputError, match="descriptor"):
        DescriptorSettings(*args)
    with pytest.raises(InputError, match="DescriptorSettings"):
        Descriptor(Lattice.square(10), {"n_shells": 3})


def test_settings_round_trip():
    s = DescriptorSettings(4, 1, eps=0.05, n_bond_shells=2)
    assert DescriptorSettings.from_dict(s.to_dict()) == s
    old = {"n_shells": 4, "n_pair_shells": 1, "eps": 0.05}  # model files before n_bond_shells
    assert DescriptorSettings.from_dict(old) == DescriptorSettings(4, 1, eps=0.05)
    with pytest.raises(InputError):
        DescriptorSettings.from_dict({"n_shells": 3})
