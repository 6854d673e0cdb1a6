"""The s-d one-body Hamiltonian h(S) against independent references: explicit Pauli blocks,
the k-space band of each hopping shell, the sparse and dense builders against each other, and
the refusals of bad input."""

import numpy as np
import pytest
import scipy.linalg

from llgsim import states
from llgsim.errors import InputError
from llgsim.lattice import Lattice
from llgsim.model import KondoModel, check_spins

# Tolerance tiers
# Two exact constructions of the same matrix / spectrum in float64 (|h| <= 15).
TOL_ROUNDOFF = 1e-12

PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])


def hopping_band(kind, Lx, Ly, t):
    """eps_k = sum_n -t_n sum_{delta in shell n} exp(i k.delta) for shells 1-3, written out:
    square (1,0) (1,1) (2,0) types; triangular (1,0) (1,1) (2,0) types (docs/conventions.md)."""
    k1, k2 = np.meshgrid(2 * np.pi * np.arange(Lx) / Lx, 2 * np.pi * np.arange(Ly) / Ly)
    if kind == "square":
        shells = [np.cos(k1) + np.cos(k2), np.cos(k1 + k2) + np.cos(k1 - k2),
                  np.cos(2 * k1) + np.cos(2 * k2)]
    else:
        shells = [np.cos(k1) + np.cos(k2) + np.cos(k2 - k1),
                  np.cos(k1 + k2) + np.cos(2 * k2 - k1) + np.cos(2 * k1 - k2),
                  np.cos(2 * k1) + np.cos(2 * k2) + np.cos(2 * (k2 - k1))]
    return sum(-2 * tn * s for tn, s in zip(t, shells)).ravel()


@pytest.mark.parametrize("kind", ["square", "triangular"])
@pytest.mark.parametrize("Lx, Ly", [(6, 5), (2, 3), (1, 4)])
def test_sparse_and_dense_builders_agree_and_are_hermitian(kind, Lx, Ly):
    """Small lattices too, where several bonds join the same pair (or a site to itself)."""
    lat = Lattice.from_kind(kind, Lx, Ly)
    model = KondoModel(lat, hopping=(1.0, 0.4, -0.2), J=3.0, filling=0.5)
    spins = states.random_spins(lat, 2)
    dense = model.dense_hamiltonian(spins)
    sparse = model.hamiltonian(spins)
    assert dense.shape == sparse.shape == (2 * lat.n_sites, 2 * lat.n_sites)
    assert dense.dtype == sparse.dtype == np.complex128
    np.testing.assert_allclose(sparse.toarray(), dense, atol=TOL_ROUNDOFF)
    np.testing.assert_allclose(dense, dense.conj().T, atol=TOL_ROUNDOFF)


def test_onsite_blocks_are_minus_J_S_dot_sigma_and_hopping_is_spin_diagonal():
    lat = Lattice.square(5)
    model = KondoModel(lat, hopping=(1.0, 0.3), J=2.5, mu=0.0)
    spins = states.random_spins(lat, 4)
    h = model.dense_hamiltonian(spins).reshape(25, 2, 25, 2)
    for i in range(lat.n_sites):
        np.testing.assert_allclose(h[i, :, i, :], -2.5 * np.einsum("a,ast->st", spins[i], PAULI),
                                   atol=TOL_ROUNDOFF)
    x, y = 2, 3
    i = lat.index(x, y)
    bonds = [((1, 0), 1.0), ((0, -1), 1.0), ((1, 1), 0.3), ((-1, 1), 0.3), ((2, 0), 0.0)]
    for (dx, dy), t in bonds:
        np.testing.assert_allclose(h[i, :, lat.index(x + dx, y + dy), :], -t * np.eye(2),
                                   atol=TOL_ROUNDOFF)


@pytest.mark.parametrize("kind", ["square", "triangular"])
def test_hopping_spectrum_is_the_k_space_band(kind):
    """With J = 0 each spin sees the band of the hopping shells on the finite k-grid."""
    t = (1.0, -0.35, 0.15)
    lat = Lattice.from_kind(kind, 6, 7)
    model = KondoModel(lat, hopping=t, J=0.0, filling=0.5)
    eps = scipy.linalg.eigvalsh(model.hopping_matrix().toarray())
    np.testing.assert_allclose(eps, np.sort(hopping_band(kind, 6, 7, t)), atol=TOL_ROUNDOFF)


def test_spectral_bound_contains_the_spectrum():
    lat = Lattice.triangular(6)
    model = KondoModel(lat, hopping=(1.0, 0.5), J=4.0, filling=0.25)
    eps = scipy.linalg.eigvalsh(model.dense_hamiltonian(states.random_spins(lat, 9)))
    assert model.spectral_bound() == pytest.approx(6 + 3 + 4)
    assert np.abs(eps).max() <= model.spectral_bound()


def test_electron_number():
    assert KondoModel(Lattice.square(30), filling=0.485).n_electrons == 873.0
    assert KondoModel(Lattice.square(3), filling=0.25).n_electrons == pytest.approx(4.5)
    assert KondoModel(Lattice.square(3), mu=0.1).n_electrons is None


def test_describe_rebuilds_the_model():
    lat = Lattice.triangular(4)
    model = KondoModel(lat, hopping=(1.0, 0.2), J=2.0, filling=0.25, kT=0.01)
    d = model.describe()
    again = KondoModel(Lattice.from_kind(**d["lattice"]),
                       **{k: v for k, v in d.items() if k != "lattice"})
    spins = states.random_spins(lat, 0)
    np.testing.assert_array_equal(again.dense_hamiltonian(spins), model.dense_hamiltonian(spins))


# ---------------------------------------------------------------- refusals
LAT = Lattice.square(4)


@pytest.mark.parametrize("kw, name", [
    ({"filling": 0.0}, "filling"), ({"filling": 1.0}, "filling"), ({"filling": 1.5}, "filling"),
    ({"filling": -0.1}, "filling"), ({"filling": float("nan")}, "filling"),
    ({"filling": 0.5, "mu": 0.0}, "filling/mu"), ({}, "filling/mu"),
    ({"mu": float("inf")}, "mu"), ({"mu": 0.0, "kT": -0.1}, "kT"),
    ({"mu": 0.0, "J": float("nan")}, "J"), ({"mu": 0.0, "hopping": ()}, "hopping"),
    ({"mu": 0.0, "lattice": "square"}, "lattice"),
])
def test_bad_parameters_get_a_one_line_error_naming_them(kw, name):
    args = {"lattice": LAT, **kw}
    with pytest.raises(InputError) as err:
        KondoModel(**args)
    msg = str(err.value)
    assert msg.startswith(f"{name} = ") and "expected" in msg and "\n" not in msg


@pytest.mark.parametrize("spins, name", [
    (np.zeros((15, 3)), "spins.shape"), (np.ones((16, 2)), "spins.shape"),
    (np.full((16, 3), 1 / np.sqrt(3)) * 1.01, "spins[0] length"),
    (np.tile([0.0, 0.0, np.nan], (16, 1)), "spins[0]"),
    (np.tile([0, 0, 1], (16, 1)), "spins.dtype"),
])
def test_bad_spins_get_a_one_line_error_naming_them(spins, name):
    model = KondoModel(LAT, filling=0.5)
    for build in (model.hamiltonian, model.dense_hamiltonian):
        with pytest.raises(InputError) as err:
            build(spins)
        msg = str(err.value)
        assert msg.startswith(f"{name} = ") and "\n" not in msg


def test_spin_length_tolerance_admits_finite_difference_displacements():
    spins = states.random_spins(LAT, 1)
    spins[3, 0] += 1e-5
    assert check_spins(spins, 16).shape == (16, 3)
