"""Descriptor: exact invariances, group theory of its tables, expressiveness, refusals.

References are independent of the descriptor code: exact symmetry operations on the spins
(global rotations, time reversal, point-group permutations of the sites from
Lattice.point_group_permutations), and bond products / chiralities recomputed in numpy.
"""

import dataclasses
import itertools

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


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One torch thread (as tests/conftest.py does for tests/ml): the per-site tensors here are
    small, and on the shared 2-core machine a second spinning worker thread only slows them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


# ---------------------------------------------------------------------------- feature counts
# The counts are derived here from first principles, independently of descriptor_tables and
# symmetry: the sites seen, pairs and elementary triangles from Cartesian distances; the point
# group as Cartesian rotations and mirrors; its characters from the functions the irreps are
# defined on (docs/descriptor.md, step 4: A1 on 1, A2 on det, B1 / B2 on Re / Im z^(n/2), E_m on
# (Re z^m, Im z^m)); and the multiplicity of irrep r in an orbit's (signed) permutation
# representation D from characters, n_r = (1/|G|) sum_g chi_D(g) chi_r(g), with chi_D(g) the
# number of pairs g fixes, or for triangles det(g) times the number it fixes as a set (a
# mirror reverses the orientation, chi -> -chi; a rotation fixing a triangle permutes its
# vertices cyclically, chi unchanged).
_VECTORS = {"square": np.array([[1.0, 0.0], [0.0, 1.0]]),
            "triangular": np.array([[1.0, 0.0], [0.5, np.sqrt(3.0) / 2]])}
_ORDER = {"square": 4, "triangular": 6}  # D4, D6


def _cartesian_group(kind):
    """Rotations by 2 pi k / n and mirrors (rotation times y -> -y), Cartesian 2 x 2."""
    n = _ORDER[kind]
    out = []
    for k in range(n):
        c, s = np.cos(2 * np.pi * k / n), np.sin(2 * np.pi * k / n)
        rot = np.array([[c, -s], [s, c]])
        out += [rot, rot @ np.diag([1.0, -1.0])]
    return out


def _characters(kind, group):
    """{irrep name: characters (G,)}. Rotation by theta: A1, A2 1, B1 = B2 cos(n theta / 2),
    E_m 2 cos(m theta); mirror on the axis at angle phi (matrix angle 2 phi): A1 1, A2 -1,
    B1 cos(n phi), B2 -cos(n phi) (the action on Re / Im z^(n/2)), E_m 0."""
    n = _ORDER[kind]
    e_names = {"square": {"E": 1}, "triangular": {"E1": 1, "E2": 2}}[kind]
    table = {name: [] for name in ("A1", "A2", "B1", "B2", *e_names)}
    for g in group:
        proper = np.linalg.det(g) > 0
        angle = np.arctan2(g[1, 0], g[0, 0])  # rotation angle, or twice the mirror axis angle
        b = np.cos(n // 2 * angle)
        table["A1"].append(1.0)
        table["A2"].append(1.0 if proper else -1.0)
        table["B1"].append(b)
        table["B2"].append(b if proper else -b)
        for name, m in e_names.items():
            table[name].append(2 * np.cos(m * angle) if proper else 0.0)
    return {name: np.array(v) for name, v in table.items()}


def _derived_counts(kind, settings):
    """What the descriptor of ``settings`` must contain (module comment above): numbers of
    pairs, triangles, bond / chirality orbits, A1 features, blocks (1- and 2-dimensional, and
    per (irrep, parity)), phases and features. Distances of integer cells are compared to 1e-9
    (they differ by >= 0.1 or agree to ~1e-15); multiplicities must be integers to 1e-9
    (sums of 8 or 12 cosines, round-off ~1e-15)."""
    v = _VECTORS[kind]
    group = _cartesian_group(kind)
    chars = _characters(kind, group)
    inv = np.linalg.inv(v)

    def pos(cell):
        return np.asarray(cell, float) @ v

    def dist(a, b):
        return float(np.linalg.norm(pos(a) - pos(b)))

    def move(g, element):  # image of a set of cells
        return frozenset(tuple(int(c) for c in np.round(g @ pos(cell) @ inv)) for cell in element)

    cells = [(x, y) for x in range(-8, 9) for y in range(-8, 9)]
    centre = (0, 0)
    radii = sorted({round(dist(c, centre), 9) for c in cells if c != centre})
    # every distance class used here is one point-group orbit (no shell splitting up to sqrt 8)
    for r in radii[:max(settings.n_shells, settings.n_bond_shells)]:
        ring = {c for c in cells if abs(dist(c, centre) - r) < 1e-9}
        assert {next(iter(move(g, [min(ring)]))) for g in group} == ring

    def reach(k):
        return radii[k - 1] + 1e-9 if k > 0 else -1.0

    seen = [c for c in cells if dist(c, centre) <= reach(settings.n_shells)]
    outer = [c for c in seen if c != centre]
    inner = [c for c in outer if dist(c, centre) <= reach(settings.n_pair_shells)]
    pairs = {frozenset((centre, c)) for c in outer}
    pairs |= {frozenset(p) for p in itertools.combinations(inner, 2)}
    pairs |= {frozenset(p) for p in itertools.combinations(outer, 2)
              if any(abs(dist(*p) - r) < 1e-9 for r in radii[:settings.n_bond_shells])}
    legs = [1.0, 1.0, 1.0] if kind == "triangular" else [1.0, 1.0, np.sqrt(2.0)]
    triangles = {frozenset(t) for t in itertools.combinations(seen, 3)
                 if np.allclose(sorted(dist(a, b) for a, b in itertools.combinations(t, 2)),
                                legs)}
    out = {"pairs": len(pairs), "triangles": len(triangles)}
    blocks = {}  # (irrep, parity) -> number of blocks
    for parity, elements in (("bond", pairs), ("chi", triangles)):
        remaining, n_orbits = set(elements), 0
        while remaining:
            orbit = {move(g, next(iter(remaining))) for g in group}
            assert orbit <= remaining
            remaining -= orbit
            n_orbits += 1
            sign = [1.0 if parity == "bond" else np.linalg.det(g) for g in group]
            chi_d = np.array([s * sum(move(g, e) == e for e in orbit)
                              for g, s in zip(group, sign)])
            for name, chi_r in chars.items():
                mult = chi_d @ chi_r / len(group)
                assert abs(mult - round(mult)) < 1e-9
                if round(mult):
                    blocks[name, parity] = blocks.get((name, parity), 0) + round(mult)
        out[f"{parity}_orbits"] = n_orbits
    out["a1"] = blocks.pop(("A1", "bond"))  # every transitive permutation rep holds A1 once
    assert out["a1"] == out["bond_orbits"]
    out["blocks_by_irrep"] = blocks
    out["blocks"] = sum(blocks.values())
    out["blocks_2d"] = sum(c for (name, _), c in blocks.items() if name.startswith("E"))
    out["phases"] = sum(c for c in blocks.values() if c > 1)  # references of > 1 block
    out["features"] = out["a1"] + out["blocks"] + out["phases"]
    return out


def _table_counts(t):
    """The same numbers read off built tables (labels for the irrep of each block)."""
    by_irrep = {}
    for label in t.labels[len(t.a1_index):len(t.a1_index) + len(t.block_index)]:
        body = label.removeprefix("|").removesuffix("|^2")  # "|bond[...]x8:E|^2"
        key = (body.rsplit(":", 1)[1], "chi" if body.startswith("chi") else "bond")
        by_irrep[key] = by_irrep.get(key, 0) + 1
    orbits = {label.removeprefix("phase ").removeprefix("|").split(":")[0] for label in t.labels}
    return {"pairs": len(t.pairs), "triangles": len(t.triangles),
            "bond_orbits": sum(o.startswith("bond") for o in orbits),
            "chi_orbits": sum(o.startswith("chi") for o in orbits),
            "a1": len(t.a1_index), "blocks_by_irrep": by_irrep, "blocks": len(t.block_index),
            "blocks_2d": int(np.count_nonzero(t.block_weight[:, 1])),
            "phases": len(t.phase_blocks),
            "features": len(t.a1_index) + len(t.block_index) + len(t.phase_blocks)}


def test_characters_are_those_of_the_irreps():
    """The characters derived above are orthonormal and equal the traces of the irreps
    llgsim.ml.symmetry builds (same names, same order of group elements up to the matching
    done here through the Cartesian matrices)."""
    from llgsim.ml.symmetry import cartesian_point_group

    for kind in KINDS:
        group = _cartesian_group(kind)
        chars = _characters(kind, group)
        table = np.array(list(chars.values()))
        # exact up to the round-off of cosines of multiples of pi / 3 (observed ~1e-16)
        np.testing.assert_allclose(table @ table.T / len(group), np.eye(len(table)), atol=1e-13)
        _, cart = cartesian_point_group(kind)
        order = [int(np.argmin([np.abs(c - g).max() for c in cart])) for g in group]
        for name, gamma in irreducible_representations(kind):  # rounded to 1e-14 there
            np.testing.assert_allclose(np.trace(gamma, axis1=1, axis2=2)[order], chars[name],
                                       atol=1e-12)


# docs/descriptor.md, "Default settings and sizes": (bond products, chiralities, bond orbits,
# chirality orbits, A1 components, powers, phases); the triangular n_bond_shells = 1 row is not
# in the docs (derived: 144, 42, 18, 5, 18, 106, 106 -> 230 features).
DOCUMENTED_SIZES = [
    ("square", None, (52, 64, 11, 10, 11, 77, 77)),                              # 165
    ("triangular", None, (96, 42, 13, 5, 13, 79, 79)),                           # 171
    ("square", DescriptorSettings(5, 2, n_bond_shells=1), (80, 64, 15, 10, 15, 94, 94)),  # 203
    ("triangular", DescriptorSettings(4, 3), (183, 42, 23, 5, 23, 127, 127)),    # 277
    ("triangular", DescriptorSettings(4, 2, n_bond_shells=1), (144, 42, 18, 5, 18, 106, 106)),
    ("square", DescriptorSettings(3, 1), None), ("triangular", DescriptorSettings(2, 1), None),
    ("square", DescriptorSettings(5, 0, n_bond_shells=2), None)]


@pytest.mark.parametrize("kind, settings, documented", DOCUMENTED_SIZES,
                         ids=[f"{k}-{s}" for k, s, _ in DOCUMENTED_SIZES])
def test_feature_counts_from_first_principles(kind, settings, documented):
    """Pairs, triangles, orbits, blocks per irrep and parity, phases and F as derived from the
    geometry and the characters (module comment above) equal what the tables hold, and the
    numbers docs/descriptor.md states."""
    settings = settings or DescriptorSettings.default(kind)
    derived = _derived_counts(kind, settings)
    d = Descriptor(Lattice.from_kind(kind, L), settings)
    assert _table_counts(d.tables) == {k: derived[k] for k in _table_counts(d.tables)}
    assert d.n_features == derived["features"] == len(d.tables.labels)
    if documented is not None:
        assert tuple(derived[k] for k in ("pairs", "triangles", "bond_orbits", "chi_orbits",
                                          "a1", "blocks", "phases")) == documented


# ---------------------------------------------------------------------------- information
# The features must be linearly independent functions of the spins: a block pointed at another
# block of the same irrep (its information silently lost, its power and phase duplicated)
# keeps every invariance and the feature count. The features are analytic in the spins, so if
# no linear combination of them (and the constant) vanishes identically, the matrix of their
# values over generic configurations (independent random spins: every irrep of every orbit is
# non-zero) has full column rank once it has more rows than columns. Criterion: the smallest
# singular value of the standardised matrix Z / sqrt(rows) (columns of zero mean, unit
# variance; 1 for uncorrelated features, 0 for a dependent set) is at least RANK_FLOOR.
# Measured (L = 12, 8 configurations, 1152 rows, seed 12): square default 0.280, square
# n_bond_shells = 1 0.273, triangular default 0.307, triangular n_bond_shells = 1 0.289,
# sd-triangular 0.281; 0.27-0.30 with other seeds and 0.29-0.33 with 4096 rows, so the
# estimate is stable. A copied feature gives 0.6e-16 to 3.3e-16 (round-off), a zeroed one 0.
# RANK_FLOOR sits 5x below the measured values and 14 orders of magnitude above round-off.
RANK_FLOOR = 0.05
RANK_L, RANK_CONFIGS = 12, 8
RANK_SETTINGS = [("square", None), ("triangular", None),
                 ("square", DescriptorSettings(5, 2, n_bond_shells=1)),
                 ("triangular", DescriptorSettings(4, 2, n_bond_shells=1)),
                 ("triangular", DescriptorSettings(4, 3))]  # sd-triangular


def _feature_matrix(d, seed=12):
    """Descriptor rows of every site of RANK_CONFIGS random configurations (rows, F)."""
    rng = np.random.default_rng(seed)
    return np.concatenate([descriptor_of(d, random_spins(d.lattice, rng))
                           for _ in range(RANK_CONFIGS)])


def _smallest_singular_value(features):
    """Smallest singular value of the standardised feature matrix over sqrt(rows); 0 when a
    feature is constant (it carries no information)."""
    std = features.std(0)
    if np.any(std <= 1e-12 * (1 + np.abs(features).max(0))):  # constant up to round-off
        return 0.0
    z = (features - features.mean(0)) / std / np.sqrt(len(features))
    # torch's LAPACK keeps to the one thread set above (numpy's OpenBLAS spins two threads and
    # took 100x longer on the loaded shared machine)
    return float(torch.linalg.svdvals(torch.from_numpy(z))[-1])


@pytest.mark.parametrize("kind, settings", RANK_SETTINGS,
                         ids=[f"{k}-{s}" for k, s in RANK_SETTINGS])
def test_features_are_linearly_independent(kind, settings):
    d = Descriptor(Lattice.from_kind(kind, RANK_L), settings)
    features = _feature_matrix(d)
    assert features.shape[0] >= 4 * features.shape[1]
    assert _smallest_singular_value(features) > RANK_FLOOR


def _same_irrep_pair(t):
    """Two blocks of the same irrep and parity: they share their reference components."""
    for b in range(len(t.block_index)):
        for b2 in range(b + 1, len(t.block_index)):
            if np.array_equal(t.block_ref[b], t.block_ref[b2]):
                return b, b2
    raise AssertionError("no two blocks of one irrep")


def _mutations(t):
    """Tables with one piece of information lost, each kept invariant and well-formed."""
    b, b2 = _same_irrep_pair(t)
    block_index = t.block_index.copy()
    block_index[b2] = block_index[b]  # block b2 points at block b: both power and phase copied
    a1_index = t.a1_index.copy()
    a1_index[1] = a1_index[0]  # an A1 feature points at another
    phase_blocks = t.phase_blocks.copy()
    phase_blocks[1] = phase_blocks[0]  # a phase feature repeats another
    comp_coef = t.comp_coef.copy()
    comp_coef[t.a1_index[2]] = 0.0  # an A1 component lost: the feature is identically 0
    return {"block -> block of the same irrep": dataclasses.replace(t, block_index=block_index),
            "A1 -> other A1": dataclasses.replace(t, a1_index=a1_index),
            "phase repeated": dataclasses.replace(t, phase_blocks=phase_blocks),
            "A1 component zeroed": dataclasses.replace(t, comp_coef=comp_coef)}


def _drop_block(t, b):
    """Tables without block b (its power, its phase and their labels removed consistently)."""
    keep = np.arange(len(t.block_index)) != b
    phases = t.phase_blocks[t.phase_blocks != b]
    phases = phases - (phases > b)
    n_a1, n_b = len(t.a1_index), len(t.block_index)
    powers = t.labels[n_a1:n_a1 + n_b]
    labels = (t.labels[:n_a1] + tuple(x for k, x in enumerate(powers) if k != b)
              + tuple(x for k, x in zip(t.phase_blocks, t.labels[n_a1 + n_b:]) if k != b))
    return dataclasses.replace(t, block_index=t.block_index[keep],
                               block_weight=t.block_weight[keep], block_ref=t.block_ref[keep],
                               phase_blocks=phases, labels=labels)


def _with_tables(lattice, tables):
    d = Descriptor(lattice)
    d.tables = tables  # before the first call: the torch copies are made from these
    return d


@pytest.mark.parametrize("kind", KINDS)
def test_information_checks_catch_lost_features(kind):
    """Teeth of the two checks above. Each mutation of the tables loses information while the
    descriptor stays exactly invariant (checked here under every point-group operation): the
    rank criterion fails on the mutated tables, measured ~1e-16 for a copied feature and 0 for
    a zeroed one, where the intact tables give ~0.3. A dropped block keeps full rank but
    changes the counts, which the first-principles count catches."""
    lattice = Lattice.from_kind(kind, RANK_L)
    intact = Descriptor(lattice)
    assert _smallest_singular_value(_feature_matrix(intact)) > RANK_FLOOR
    spins = random_spins(lattice, 13)
    perms = lattice.point_group_permutations(CENTRE)
    for name, tables in _mutations(intact.tables).items():
        d = _with_tables(lattice, tables)
        # measured <= 3.3e-16 (copies) and 0 (zeroed): round-off, far below RANK_FLOOR
        assert _smallest_singular_value(_feature_matrix(d)) < 1e-8, name
        centre = slice(CENTRE, CENTRE + 1)
        g0 = d(torch.from_numpy(spins), centre).numpy()
        for perm in perms:  # still invariant: the symmetry tests cannot see the loss
            moved = np.empty_like(spins)
            moved[perm] = spins
            np.testing.assert_allclose(d(torch.from_numpy(moved), centre).numpy(), g0, rtol=0,
                                       atol=TOL_EXACT)
    dropped = _drop_block(intact.tables, _same_irrep_pair(intact.tables)[1])
    assert _smallest_singular_value(_feature_matrix(_with_tables(lattice, dropped))) > RANK_FLOOR
    derived = _derived_counts(kind, DescriptorSettings.default(kind))
    counts = _table_counts(dropped)
    assert counts != {k: derived[k] for k in counts}
    assert counts["features"] == derived["features"] - 2  # one power and one phase fewer


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
