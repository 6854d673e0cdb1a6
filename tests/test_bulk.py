"""Bands of homogeneous ordered states (llgsim.bulk) against exact diagonalization of the same
texture on the periodic lattice the q-grid describes, and the coexistence chemical potential
against its definition."""

import numpy as np
import pytest

from llgsim import bulk, states
from llgsim.lattice import Lattice
from llgsim.model import KondoModel

# Two exact computations of the same spectrum in float64 (|h| <= 15): round-off only.
TOL_ROUNDOFF = 1e-10

CASES = [("square", "ferromagnetic", (1, 1), (1.0,)), ("square", "neel", (2, 2), (1.0, 0.3)),
         ("triangular", "tetrahedral", (2, 2), (1.0,)), ("triangular", "120", (3, 3), (1.0, -0.2))]


@pytest.mark.parametrize("kind,state,cell,hopping", CASES)
def test_bands_are_the_spectrum_of_the_periodic_lattice(kind, state, cell, hopping):
    """nq = 3 cells per direction: the bands are the ED spectrum of the 3 mx x 3 my lattice."""
    nq = 3
    cell_spins = states.ordered_state(state, Lattice.from_kind(kind, *cell))
    eps = bulk.bands(kind, cell_spins, cell, J=2.5, hopping=hopping, nq=nq)
    big = Lattice.from_kind(kind, nq * cell[0], nq * cell[1])
    model = KondoModel(big, hopping=hopping, J=2.5, mu=0.0)
    exact = np.linalg.eigvalsh(model.dense_hamiltonian(states.ordered_state(state, big)))
    np.testing.assert_allclose(np.sort(eps.ravel()), exact, atol=TOL_ROUNDOFF)


def test_grand_potential_and_density_are_consistent():
    """n = -dOmega/dmu (central difference, h = 1e-4: error ~h^2 |n''| ~ 1e-8 at kT = 0.1)."""
    eps = bulk.bands("square", states.neel(Lattice.square(2, 2)), (2, 2), J=3.0, nq=32)
    mu, kT, h = -1.7, 0.1, 1e-4
    slope = (bulk.grand_potential(eps, mu + h, kT) - bulk.grand_potential(eps, mu - h, kT)) / (2 * h)
    assert -slope == pytest.approx(bulk.density(eps, mu, kT), abs=1e-7)


def test_double_exchange_coexistence():
    """J = 6 square lattice: at the Maxwell mu the ferromagnet and the Neel state have equal
    grand potentials, the Neel state is half filled (mu inside its gap of 2J) and the
    ferromagnet holds ~0.74 electrons per site (nq = 128: the 256 x 256 lattice, whose n differs
    from the thermodynamic limit by ~1e-4)."""
    fm = bulk.bands("square", states.ferromagnetic(Lattice.square(1, 1)), (1, 1), J=6.0, nq=128)
    neel = bulk.bands("square", states.neel(Lattice.square(2, 2)), (2, 2), J=6.0, nq=64)
    mu = bulk.coexistence(fm, neel, 0.05, -5.9, -2.1)
    assert bulk.grand_potential(fm, mu, 0.05) == pytest.approx(
        bulk.grand_potential(neel, mu, 0.05), abs=1e-9)
    assert bulk.density(neel, mu, 0.05) == pytest.approx(1.0, abs=1e-9)
    assert bulk.density(fm, mu, 0.05) == pytest.approx(0.741, abs=2e-3)


def test_energy_at_filling_and_gap():
    """Tetrahedral state, J = 2, f = 1/4: gapped; the energy is the sum of the lowest quarter of
    the levels, so at mu in the gap Omega + mu n equals it exactly (kT = 0)."""
    eps = bulk.bands("triangular", states.tetrahedral(Lattice.triangular(2, 2)), (2, 2), J=2.0,
                     nq=24)
    mu, gap = bulk.gap_midpoint(eps, 0.25)
    assert gap > 1.0  # 1.16 in the thermodynamic limit
    assert bulk.density(eps, mu, 0.0) == pytest.approx(0.5, abs=TOL_ROUNDOFF)
    assert bulk.grand_potential(eps, mu, 0.0) + 0.5 * mu == pytest.approx(
        bulk.energy_at_filling(eps, 0.25), abs=TOL_ROUNDOFF)
