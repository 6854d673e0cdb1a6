"""MLField: autograd field vs finite differences, locality, symmetries, precision.

References: central finite differences of the provider's own energy (llgsim.testing), exact
symmetry operations on the spins, and the interaction range computed from the descriptor's
offsets (offset differences), independent of the autograd path.
"""

import numpy as np
import pytest

from llgsim import InputError, Lattice
from llgsim.fields import MLField
from llgsim.states import random_spins
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


def _provider(model_path, size=L, dtype="float64"):
    kind, path = model_path
    return MLField(path, Lattice.from_kind(kind, size), dtype=dtype)


def test_autograd_field_equals_finite_differences(model_path):
    ml = _provider(model_path, size=10)
    spins = random_spins(ml.lattice, 1)
    _, field = ml.energy_and_field(spins)
    sites = [0, 13, 57]
    np.testing.assert_allclose(field[sites], finite_difference_field(ml, spins, sites), rtol=0,
                               atol=TOL_FD)


def test_parallel_field_is_the_head_output(model_path):
    """H_i . S_i is the second network output h_i, exactly (network module docstring); with the
    finite-difference test above this fixes the perpendicular part as the gradient of E."""
    import torch

    ml = _provider(model_path, size=10)
    spins = random_spins(ml.lattice, 5)
    _, field = ml.energy_and_field(spins)
    with torch.no_grad():
        head = ml.model.site_outputs(torch.from_numpy(spins))[:, 1].numpy()
    np.testing.assert_allclose(np.sum(field * spins, axis=1), head, rtol=0, atol=TOL_EXACT)


def test_chunked_evaluation_equals_one_pass(model_path, monkeypatch):
    """Evaluating the sites in chunks (large lattices) gives the one-pass energy and field."""
    from llgsim.ml import network

    ml = _provider(model_path, size=10)
    spins = random_spins(ml.lattice, 8)
    e0, h0 = ml.energy_and_field(spins)
    monkeypatch.setattr(network, "CHUNK_SITES", 37)
    e1, h1 = ml.energy_and_field(spins)
    assert abs(e1 - e0) < TOL_EXACT
    np.testing.assert_allclose(h1, h0, rtol=0, atol=TOL_EXACT)


def test_energy_is_sum_of_site_energies(model_path):
    ml = _provider(model_path, size=10)
    spins = random_spins(ml.lattice, 2)
    energy, _ = ml.energy_and_field(spins)
    assert abs(energy - ml.site_energies(spins).sum()) < TOL_EXACT


def test_field_is_local(model_path):
    """Moving S_k changes H_i exactly when k - i is a difference of two descriptor offsets
    (some site j sees both i and k); beyond that range H_i is bitwise unchanged."""
    ml = _provider(model_path)
    lattice = ml.lattice
    offsets = ml.model.descriptor.tables.offsets
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


def test_spin_rotation_and_time_reversal(model_path):
    ml = _provider(model_path, size=10)
    rng = np.random.default_rng(4)
    spins = random_spins(ml.lattice, rng)
    assert_rotation_equivariant(ml, spins, random_rotation(rng), TOL_EXACT, TOL_EXACT)
    assert_time_reversal(ml, spins, TOL_EXACT, TOL_EXACT)


def test_point_group_equivariance(model_path):
    """The spins are not tied to the lattice: under a site permutation g the energy is unchanged
    and the field moves with the sites, H'_{perm[g, i]} = H_i."""
    ml = _provider(model_path, size=10)
    spins = random_spins(ml.lattice, 5)
    e0, h0 = ml.energy_and_field(spins)
    for perm in ml.lattice.point_group_permutations(17):
        moved = np.empty_like(spins)
        moved[perm] = spins
        e1, h1 = ml.energy_and_field(moved)
        assert abs(e1 - e0) < TOL_EXACT
        np.testing.assert_allclose(h1[perm], h0, rtol=0, atol=TOL_EXACT)


def test_float32_matches_float64(model_path):
    spins = random_spins(Lattice.from_kind(model_path[0], 10), 6)
    e64, h64 = _provider(model_path, 10).energy_and_field(spins)
    e32, h32 = _provider(model_path, 10, "float32").energy_and_field(spins)
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


def test_bad_input_is_refused(model_path):
    kind, path = model_path
    lattice = Lattice.from_kind(kind, 10)
    with pytest.raises(InputError, match="dtype"):
        MLField(path, lattice, dtype="float16")
    with pytest.raises(InputError, match="spins"):
        MLField(path, lattice).energy_and_field(np.ones((lattice.n_sites, 3)))
    with pytest.raises(InputError, match="distinct"):
        MLField(path, Lattice.from_kind(kind, 4))
