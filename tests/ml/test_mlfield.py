"""MLField: autograd field vs finite differences, locality, symmetries, precision.

References: central finite differences of the provider's own energy (llgsim.testing), exact
symmetry operations on the spins, and the interaction range computed from the descriptor's
offsets (offset differences), independent of the autograd path.
"""

import numpy as np
import pytest

from llgsim import InputError, Lattice
from llgsim.fields import MLField
from llgsim.states import ferromagnetic, neel, random_spins, spiral_120, tetrahedral
from llgsim.testing import (assert_rotation_equivariant, assert_time_reversal,
                            finite_difference_field, random_rotation)

# Tolerance tiers.
# TOL_EXACT: exact invariances, float64 round-off of sums over O(100) features (observed 1e-14).
TOL_EXACT = 1e-12
# TOL_FD: central differences with step 1e-5: truncation ~ step^2 |d^3E| ~ 1e-10 plus round-off
#   ~ 1e-16 |E| / step ~ 1e-10 for |E| ~ 10 (observed 4e-11 .. 1e-10).
TOL_FD = 1e-8
# TOL_F32: float32 against float64 evaluation; energies summed over N = 100-200 sites.
TOL_F32_FIELD, TOL_F32_ENERGY = 1e-5, 1e-4

L = 14  # large enough that the field's range (twice the cutoff) does not wrap


#: the physics below must hold for the torch reference and for the kernels of the "cpu" backend
#: (tests/ml/test_ml_backends.py checks "cuda" against both under the simulator)
BACKENDS = ["reference", "cpu"]


def _provider(model_path, size=L, dtype="float64", backend="cpu"):
    kind, path = model_path
    return MLField(path, Lattice.from_kind(kind, size), dtype=dtype, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_field_equals_finite_differences(model_path, backend):
    ml = _provider(model_path, size=10, backend=backend)
    spins = random_spins(ml.lattice, 1)
    _, field = ml.energy_and_field(spins)
    sites = [0, 13, 57]
    np.testing.assert_allclose(field[sites], finite_difference_field(ml, spins, sites), rtol=0,
                               atol=TOL_FD)


@pytest.mark.parametrize("backend", BACKENDS)
def test_parallel_field_is_the_head_output(model_path, backend):
    """H_i . S_i is the second network output h_i of the torch model, exactly (network module
    docstring); with the finite-difference test above this fixes the perpendicular part as the
    gradient of E."""
    import torch

    from llgsim.ml.network import BehlerParrinello

    ml = _provider(model_path, size=10, backend=backend)
    spins = random_spins(ml.lattice, 5)
    _, field = ml.energy_and_field(spins)
    model, _ = BehlerParrinello.load(model_path[1], ml.lattice)
    with torch.no_grad():
        head = model.site_outputs(torch.from_numpy(spins))[:, 1].numpy()
    np.testing.assert_allclose(np.sum(field * spins, axis=1), head, rtol=0, atol=TOL_EXACT)


def test_chunked_evaluation_equals_one_pass(model_path, monkeypatch):
    """Evaluating the sites in chunks (large lattices) gives the one-pass energy and field (the
    torch reference; the kernels' tiles: tests/ml/test_ml_backends.py)."""
    from llgsim.ml import network

    ml = _provider(model_path, size=10, backend="reference")
    spins = random_spins(ml.lattice, 8)
    e0, h0 = ml.energy_and_field(spins)
    monkeypatch.setattr(network, "CHUNK_SITES", 37)
    e1, h1 = ml.energy_and_field(spins)
    assert abs(e1 - e0) < TOL_EXACT
    np.testing.assert_allclose(h1, h0, rtol=0, atol=TOL_EXACT)


@pytest.mark.parametrize("backend", BACKENDS)
def test_energy_is_sum_of_site_energies(model_path, backend):
    ml = _provider(model_path, size=10, backend=backend)
    spins = random_spins(ml.lattice, 2)
    energy, _ = ml.energy_and_field(spins)
    assert abs(energy - ml.site_energies(spins).sum()) < TOL_EXACT


@pytest.mark.parametrize("backend", BACKENDS)
def test_field_is_local(model_path, backend):
    """Moving S_k changes H_i exactly when k - i is a difference of two descriptor offsets
    (some site j sees both i and k); beyond that range H_i is bitwise unchanged."""
    ml = _provider(model_path, backend=backend)
    lattice = ml.lattice
    offsets = ml.descriptor.tables.offsets
    differences = {tuple(a - b) for a in offsets for b in offsets}
    site = 3 + L * 5
    in_range = set(lattice.neighbour_table(np.array(sorted(differences)))[site])
    rng = np.random.default_rng(3)
    spins = random_spins(lattice, rng)
    _, h0 = ml.energy_and_field(spins)
    for k in range(lattice.n_sites):
        if k == site:
            continue
        moved = spins.copy()
        moved[k] = random_rotation(rng) @ spins[k]
        _, h1 = ml.energy_and_field(moved)
        if k in in_range:
            assert np.abs(h1[site] - h0[site]).max() > 1e-10, k
        else:
            np.testing.assert_array_equal(h1[site], h0[site])


@pytest.mark.parametrize("backend", BACKENDS)
def test_spin_rotation_and_time_reversal(model_path, backend):
    ml = _provider(model_path, size=10, backend=backend)
    rng = np.random.default_rng(4)
    spins = random_spins(ml.lattice, rng)
    assert_rotation_equivariant(ml, spins, random_rotation(rng), TOL_EXACT, TOL_EXACT)
    assert_time_reversal(ml, spins, TOL_EXACT, TOL_EXACT)


@pytest.mark.parametrize("backend", BACKENDS)
def test_point_group_equivariance(model_path, backend):
    """The spins are not tied to the lattice: under a site permutation g the energy is unchanged
    and the field moves with the sites, H'_{perm[g, i]} = H_i."""
    ml = _provider(model_path, size=10, backend=backend)
    spins = random_spins(ml.lattice, 5)
    e0, h0 = ml.energy_and_field(spins)
    for perm in ml.lattice.point_group_permutations(17):
        moved = np.empty_like(spins)
        moved[perm] = spins
        e1, h1 = ml.energy_and_field(moved)
        assert abs(e1 - e0) < TOL_EXACT
        np.testing.assert_allclose(h1[perm], h0, rtol=0, atol=TOL_EXACT)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_matches_float64(model_path, backend):
    spins = random_spins(Lattice.from_kind(model_path[0], 10), 6)
    e64, h64 = _provider(model_path, 10, backend=backend).energy_and_field(spins)
    e32, h32 = _provider(model_path, 10, "float32", backend).energy_and_field(spins)
    assert h32.dtype == np.float32 and h32.flags.c_contiguous
    assert abs(e32 - e64) < TOL_F32_ENERGY
    np.testing.assert_allclose(h32, h64, rtol=0, atol=TOL_F32_FIELD)


def test_runs_on_other_sizes_and_describes_itself(model_path):
    """A model trained on one size runs on any lattice of its kind large enough for the cutoff."""
    ml = _provider(model_path, size=(12))
    rect = MLField(model_path[1], Lattice.from_kind(model_path[0], 9, 13))
    e, h = rect.energy_and_field(random_spins(rect.lattice, 7))
    assert h.shape == (9 * 13, 3) and np.isfinite(e)
    info = ml.describe()
    assert info["name"] == "ml" and info["model"] == str(model_path[1])
    assert len(info["content_hash"]) == 64


def _tile(small, spins, fx, fy):
    """(big lattice, tiled spins, source): the configuration repeated fx x fy times on the
    (fx Lx) x (fy Ly) lattice; source[I] = the site of ``small`` that site I copies (site
    index i = x + Lx y, docs/conventions.md)."""
    big = Lattice.from_kind(small.kind, fx * small.Lx, fy * small.Ly)
    index = np.arange(big.n_sites)
    x, y = index % big.Lx, index // big.Lx
    source = x % small.Lx + small.Lx * (y % small.Ly)
    return big, spins[source], source


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(6, 6, 2, 2), (6, 7, 2, 3)], ids=["6x6-to-12x12",
                                                                     "6x7-to-12x21"])
def test_tiled_configuration_gives_the_same_site_energies_and_fields(model_path, shape, backend):
    """Transfer across sizes: a configuration on Lx x Ly and the same configuration tiled
    periodically onto a larger lattice are the same periodic state, so every tiled site has
    the site energy and the field of its original (each copy's eps_j sees the same spins, and
    dE/dS_I collects the same terms), and E scales with the number of copies. 6 x 6 is the
    smallest triangular lattice the default cutoff allows, so the field's range (twice the
    cutoff) wraps on the small lattice: the wrapping must be exact too. The rectangular case
    tiles x and y differently, which catches an exchange of Lx and Ly. Measured: site energies
    and fields bitwise equal, energies within 2e-15; TOL_EXACT (1e-12) is round-off."""
    lx, ly, fx, fy = shape
    small = Lattice.from_kind(model_path[0], lx, ly)
    spins = random_spins(small, 11)
    big, tiled, source = _tile(small, spins, fx, fy)
    ml_small = MLField(model_path[1], small, backend=backend)
    ml_big = MLField(model_path[1], big, backend=backend)
    e_small, h_small = ml_small.energy_and_field(spins)
    e_big, h_big = ml_big.energy_and_field(tiled)
    np.testing.assert_allclose(ml_big.site_energies(tiled), ml_small.site_energies(spins)[source],
                               rtol=0, atol=TOL_EXACT)
    np.testing.assert_allclose(h_big, h_small[source], rtol=0, atol=TOL_EXACT)
    assert abs(e_big - fx * fy * e_small) < TOL_EXACT
    assert np.abs(h_small).max() > 1e-4  # a field to compare (measured ~0.2)


def _spirals(lattice, cone_angle):
    """Spiral with wave vector 2 pi (1, 2) / L in cell coordinates: S = (sin a cos phi,
    sin a sin phi, cos a), phi = q . r; a = pi / 2 the coplanar spiral."""
    x, y = lattice.coordinates().T
    phi = 2 * np.pi * (x + 2 * y) / lattice.Lx
    a = cone_angle
    return np.stack([np.sin(a) * np.cos(phi), np.sin(a) * np.sin(phi),
                     np.full(len(phi), np.cos(a))], axis=1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ordered_states_are_torque_free(model_path, backend):
    """docs/physics.md, section 6, check 5, for any model with the built-in symmetries (here a
    random-weight one). Why: if a lattice operation g that fixes site i, combined with a
    global spin operation R in O(3), maps the state onto itself, the equivariances of the field
    (point group: H'_{g(j)} = H_j; rotation: H(RS) = R H(S); time reversal: H(-S) = -H(S), so
    improper R act the same way) give H_i = R H_i, and R fixes S_i. When the vectors R fixes are
    only the line of S_i, H_i is parallel to S_i: no torque.
    * ferromagnet, Neel (collinear): g = identity, R = any rotation about the spin axis.
    * 120-degree state: a lattice rotation by 60 degrees about site i swaps the two other
      sublattices; the spin rotation by pi about S_i swaps their directions back.
    * tetrahedral state: a lattice rotation by 120 degrees about site i cycles the three other
      sublattices of the 2 x 2 cell; the spin rotation by 120 degrees about S_i cycles the
      three other corners of the tetrahedron back (both chiral domains).
    Every site of these states is of this kind, also after a global rotation. Measured
    |S_i x H_i| <= 4.2e-16 with |H_i| ~ 0.06-0.19 (TOL_EXACT, 1e-12, is round-off).

    Controls, which show the argument (not merely "all sites equivalent") is what matters: in a
    conical spiral every site is equivalent (translation + rotation about z), but the operation
    fixing site i, inversion r -> -r with the spin mirror y -> -y, fixes a plane, so a torque
    normal to it is allowed: measured 0.039 (square) and 0.017 (triangular) at every site. The
    coplanar spiral adds the mirror through the spin plane; the product is the rotation by pi
    about S_i, so it is torque-free (measured <= 2.2e-15)."""
    kind, path = model_path
    lattice = Lattice.from_kind(kind, 12)  # divisible by 2 and 3
    ml = MLField(path, lattice, backend=backend)
    rotation = random_rotation(np.random.default_rng(9))
    states = {"ferromagnet": ferromagnetic(lattice, (0.3, -0.5, 0.8))}
    if kind == "square":
        states["neel"] = neel(lattice)
    else:
        states |= {"120": spiral_120(lattice), "tetrahedral+": tetrahedral(lattice, 1),
                   "tetrahedral-": tetrahedral(lattice, -1)}
    states |= {f"{name} rotated": s @ rotation.T for name, s in states.items()}
    states["coplanar spiral"] = _spirals(lattice, np.pi / 2) @ rotation.T
    for name, spins in states.items():
        _, field = ml.energy_and_field(spins)
        # a field to be parallel, 8 orders above TOL_EXACT (measured >= 0.06 for this
        # model; another random model gave 0.003 on the tetrahedral state)
        assert np.abs(field).max() > 1e-4, name
        np.testing.assert_allclose(np.cross(spins, field), 0.0, rtol=0, atol=TOL_EXACT,
                                   err_msg=name)
    # the same torque at every site, measured 0.039 (square), 0.017 (triangular): 10^13 x
    # round-off
    cone = _spirals(lattice, 0.7)
    _, field = ml.energy_and_field(cone)
    assert np.linalg.norm(np.cross(cone, field), axis=1).min() > 1e-3


def test_bad_input_is_refused(model_path):
    kind, path = model_path
    lattice = Lattice.from_kind(kind, 10)
    with pytest.raises(InputError, match="dtype"):
        MLField(path, lattice, dtype="float16")
    with pytest.raises(InputError, match="spins"):
        MLField(path, lattice).energy_and_field(np.ones((lattice.n_sites, 3)))
    with pytest.raises(InputError, match="distinct"):
        MLField(path, Lattice.from_kind(kind, 4))
