"""Tests of the classical provider (Heisenberg shells, Zeeman, easy axis) against hand-worked
energies and fields, finite differences, symmetry and its own numpy reference."""

import numpy as np
import pytest

from llgsim import InputError, Lattice
from llgsim.fields import ClassicalSpins, SumOfProviders
from llgsim.states import random_spins, spiral_120
from llgsim.testing import (assert_rotation_equivariant, assert_time_reversal,
                            finite_difference_field, random_rotation, torque)

# Tolerance tiers.
# TOL_EXACT: same sums in another order (numba kernel vs numpy reference, hand values vs code);
#   terms ~ 1, N <= 30 sites: a few eps per site.
TOL_EXACT = 1e-13
# TOL_FD: E is quadratic in each S_i, so central differences are exact up to round-off
#   eps |E| / step ~ 2e-16 * 30 / 1e-5 ~ 1e-9.
TOL_FD = 1e-8

backends = pytest.mark.parametrize("backend", ["reference", "cpu"])

FULL = dict(heisenberg=(1.0, -0.5, 0.3), field=(0.2, -0.1, 0.4), anisotropy=(0.7, (1.0, 2.0, -1.0)))


@backends
def test_field_is_minus_the_energy_gradient(backend):
    lattice = Lattice.triangular(5, 6)
    provider = ClassicalSpins(lattice, **FULL, backend=backend)
    spins = random_spins(lattice, 1)
    sites = [0, 7, 29]
    _, field = provider.energy_and_field(spins)
    np.testing.assert_allclose(finite_difference_field(provider, spins, sites), field[sites],
                               rtol=0, atol=TOL_FD)


@backends
def test_hand_worked_stripe_on_a_3x3_square_lattice(backend):
    # Column x = 0 up, columns 1 and 2 down. 18 nearest-neighbour bonds: 9 vertical (+1 each),
    # 9 horizontal, per row (0,1) -1, (1,2) +1, (2,0) -1, so sum S.S = 9 - 3 = 6. 18 diagonal
    # bonds, 6 across each column boundary: -6 + 6 - 6 = -6. sum S_z = 3 - 6 = -3.
    # E = 6 J1 - 6 J2 - hz (-3) - 9 K = 6 - 3 + 0.6 - 0.9 = 2.7.
    # Field at (0,0): the 4 nearest neighbours cancel, the 4 diagonal ones are down:
    # H = -J2 (-4 z) + h + 2K z = (2 + 0.2 + 0.2) z. At (1,0): nearest -2 z in total, diagonal 0:
    # H = -J1 (-2 z) + h - 2K z = (2 + 0.2 - 0.2) z.
    lattice = Lattice.square(3)
    provider = ClassicalSpins(lattice, heisenberg=(1.0, 0.5), field=(0.0, 0.0, 0.2),
                              anisotropy=(0.1, (0.0, 0.0, 3.0)), backend=backend)
    x = lattice.coordinates()[:, 0]
    spins = np.zeros((9, 3))
    spins[:, 2] = np.where(x == 0, 1.0, -1.0)
    energy, field = provider.energy_and_field(spins)
    assert energy == pytest.approx(2.7, abs=TOL_EXACT)
    np.testing.assert_allclose(field[lattice.index(0, 0)], [0.0, 0.0, 2.4], rtol=0, atol=TOL_EXACT)
    np.testing.assert_allclose(field[lattice.index(1, 0)], [0.0, 0.0, 2.0], rtol=0, atol=TOL_EXACT)


@backends
def test_hand_worked_120_degree_state(backend):
    # Triangular 120-degree state: every one of the 3N nearest-neighbour bonds has S.S = -1/2,
    # E = -3N/2 J1; the six neighbours of a site are three of each other sublattice, so
    # H_i = -J1 * 3 (S_B + S_C) = 3 J1 S_i: parallel to S_i, torque free.
    lattice = Lattice.triangular(6)
    provider = ClassicalSpins(lattice, heisenberg=(0.8,), backend=backend)
    spins = spiral_120(lattice)
    energy, field = provider.energy_and_field(spins)
    assert energy == pytest.approx(-1.5 * lattice.n_sites * 0.8, abs=TOL_EXACT * lattice.n_sites)
    np.testing.assert_allclose(field, 3 * 0.8 * spins, rtol=0, atol=TOL_EXACT)
    np.testing.assert_allclose(torque(spins, field), 0.0, rtol=0, atol=TOL_EXACT)


def test_kernel_matches_reference():
    lattice = Lattice.square(6, 5)
    spins = random_spins(lattice, 2)
    e_ref, h_ref = ClassicalSpins(lattice, **FULL, backend="reference").energy_and_field(spins)
    e_cpu, h_cpu = ClassicalSpins(lattice, **FULL, backend="cpu").energy_and_field(spins)
    assert e_cpu == pytest.approx(e_ref, abs=TOL_EXACT * lattice.n_sites)
    np.testing.assert_allclose(h_cpu, h_ref, rtol=0, atol=TOL_EXACT)


@backends
def test_isotropic_part_is_rotation_equivariant_and_even_terms_time_reversal(backend):
    lattice = Lattice.triangular(4, 6)
    spins = random_spins(lattice, 3)
    rotation = random_rotation(np.random.default_rng(4))
    heisenberg = ClassicalSpins(lattice, heisenberg=(1.0, -0.5, 0.3), backend=backend)
    assert_rotation_equivariant(heisenberg, spins, rotation, TOL_EXACT * lattice.n_sites,
                                TOL_EXACT)
    even = ClassicalSpins(lattice, heisenberg=(1.0, -0.5), anisotropy=(0.4, (0.0, 1.0, 1.0)),
                          backend=backend)
    assert_time_reversal(even, spins, TOL_EXACT * lattice.n_sites, TOL_EXACT)


def test_terms_add_like_providers():
    lattice = Lattice.square(4)
    spins = random_spins(lattice, 5)
    parts = [ClassicalSpins(lattice, heisenberg=FULL["heisenberg"]),
             ClassicalSpins(lattice, field=FULL["field"]),
             ClassicalSpins(lattice, anisotropy=FULL["anisotropy"])]
    e_sum, h_sum = SumOfProviders(parts).energy_and_field(spins)
    e_all, h_all = ClassicalSpins(lattice, **FULL).energy_and_field(spins)
    assert e_sum == pytest.approx(e_all, abs=TOL_EXACT * lattice.n_sites)
    np.testing.assert_allclose(h_sum, h_all, rtol=0, atol=TOL_EXACT)


def test_describe_rebuilds_the_provider():
    lattice = Lattice.triangular(4, 3)
    provider = ClassicalSpins(lattice, **FULL)
    d = provider.describe()
    assert d["name"] == "classical"
    rebuilt = ClassicalSpins(Lattice.from_kind(**d["lattice"]), heisenberg=d["heisenberg"],
                             field=d["field"], anisotropy=d["anisotropy"])
    spins = random_spins(lattice, 6)
    assert rebuilt.energy_and_field(spins)[0] == provider.energy_and_field(spins)[0]


@pytest.mark.parametrize("change", [
    dict(lattice="square"), dict(heisenberg=(1.0, float("nan"))), dict(heisenberg=[[1.0]]),
    dict(heisenberg=("a",)), dict(field=(0.0, 1.0)), dict(field=(0.0, 0.0, float("inf"))),
    dict(anisotropy=0.5), dict(anisotropy=(0.5, (0.0, 0.0, 0.0))),
    dict(anisotropy=(float("nan"), (0.0, 0.0, 1.0))), dict(anisotropy=(0.5, (1.0, 0.0))),
    dict(backend="tpu"),
])
def test_bad_input_is_refused(change):
    args = dict(lattice=Lattice.square(3), **FULL)
    args.update(change)
    with pytest.raises(InputError):
        ClassicalSpins(**args)


def test_bad_spins_are_refused():
    provider = ClassicalSpins(Lattice.square(3), **FULL)
    with pytest.raises(InputError):
        provider.energy_and_field(np.zeros((8, 3)))
    with pytest.raises(InputError):
        provider.energy_and_field(2 * random_spins(Lattice.square(3), 0))
