"""Exact diagonalization against independent references: k-space band sums of the ordered
states (docs/physics.md, section 6, checks 1, 2, 5 and the tetrahedral energy table), finite
differences of its own energy (check 3), symmetry (check 4) and the external ZC21 snapshots
(check 6b)."""

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from scipy.optimize import brentq
from scipy.special import expit

from llgsim import states
from llgsim.errors import InputError
from llgsim.external import read_zc21_snapshot
from llgsim.fields.ed import ExactDiagonalization, dense_memory_bytes
from llgsim.lattice import Lattice
from llgsim.model import KondoModel
from llgsim.testing import (assert_rotation_equivariant, assert_time_reversal,
                            finite_difference_field, random_rotation, torque)

# Tolerance tiers
# Same quantity by two exact routes in float64 (dense eigh vs k-space eigenvalues, rotated vs
# unrotated spins): round-off of a (2N)^2 eigenproblem with |eps| <= 12 is ~1e-13 per level.
TOL_ROUNDOFF = 1e-10
# Central differences with step 1e-5 (llgsim.testing): truncation ~step^2 |E'''| ~ 1e-10 plus
# round-off eps |E| / step ~ 3e-10 for |E| ~ 25 (measured errors ~1e-9).
TOL_FD = 1e-8
# Five-decimal anchors of docs/physics.md: half a unit in the last digit.
TOL_ANCHOR = 5e-6
# External ZC21 data (tests/data/zc21_de30/README.md): the quench snapshot's labels agree with
# ED to a field RMS ~2e-5 per component and density ~3e-5; the random snapshot's labels come
# from KPM, ~5e-3. Bounds are 1.5 x the stated figures.
TOL_QUENCH_FIELD, TOL_QUENCH_DENSITY, TOL_RANDOM_FIELD = 3e-5, 4.5e-5, 7.5e-3

DATA = Path(__file__).resolve().parents[1] / "data" / "zc21_de30"
PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])


# ---------------------------------------------------------------- independent k-space references
def band(kind, Lx, Ly):
    """Nearest-neighbour band eps_k (t = 1) on the grid k1 = 2 pi m1 / Lx, k2 = 2 pi m2 / Ly,
    with k . (dx a1 + dy a2) = k1 dx + k2 dy (docs/physics.md, check 1)."""
    k1, k2 = np.meshgrid(2 * np.pi * np.arange(Lx) / Lx, 2 * np.pi * np.arange(Ly) / Ly)
    if kind == "square":
        return (-2 * (np.cos(k1) + np.cos(k2))).ravel()
    return (-2 * (np.cos(k1) + np.cos(k2) + np.cos(k2 - k1))).ravel()


def ground_state_weights(levels, n_electrons):
    """T = 0 occupations of ``levels`` (any order) with N_e electrons: the lowest levels full,
    the remaining electrons shared equally by the exactly degenerate top level."""
    top = np.sort(levels)[int(np.ceil(n_electrons)) - 1]
    below, at_top = levels < top - 1e-9, np.abs(levels - top) <= 1e-9
    return below + at_top * (n_electrons - below.sum()) / at_top.sum()


def thermal(levels, kT, mu=None, n_electrons=None):
    """(Omega at mu, or F at N_e; mu; occupations) of free fermions in ``levels``, kT > 0."""
    if mu is None:
        mu = brentq(lambda m: expit((m - levels) / kT).sum() - n_electrons,
                    levels.min() - 50, levels.max() + 50, xtol=1e-15)
    energy = -kT * np.sum(np.log1p(np.exp((mu - levels) / kT)))
    if n_electrons is not None:
        energy += mu * n_electrons
    return energy, mu, expit((mu - levels) / kT)


def tetrahedral_levels(Lx, Ly, corner_spins, J):
    """Spectrum of a 2 x 2 magnetic cell on the triangular lattice: the 8 x 8 Bloch Hamiltonian
    on the reduced grid k1 = 2 pi m1 / Lx, m1 < Lx / 2 (same for k2). corner_spins (4, 3): the
    spin of sublattice a = (x mod 2) + 2 (y mod 2); orbital 2 a + s."""
    k1, k2 = np.meshgrid(2 * np.pi * np.arange(Lx // 2) / Lx, 2 * np.pi * np.arange(Ly // 2) / Ly)
    k1, k2 = k1.ravel(), k2.ravel()
    hk = np.zeros((len(k1), 8, 8), dtype=complex)
    for a in range(4):
        ax, ay = a % 2, a // 2
        onsite = -J * np.einsum("c,cst->st", corner_spins[a], PAULI)
        hk[:, 2 * a:2 * a + 2, 2 * a:2 * a + 2] = onsite
        for dx, dy in [(1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1)]:
            b = (ax + dx) % 2 + 2 * ((ay + dy) % 2)
            for s in range(2):
                hk[:, 2 * b + s, 2 * a + s] -= np.exp(1j * (k1 * dx + k2 * dy))
    return np.linalg.eigvalsh(hk).ravel()


def solver(lattice, **kw):
    return ExactDiagonalization(KondoModel(lattice, **kw))


# ---------------------------------------------------------------- check 1: ferromagnet
@pytest.mark.parametrize("kind, Lx, Ly", [("square", 6, 6), ("square", 8, 5),
                                          ("triangular", 6, 6), ("triangular", 7, 4)])
def test_ferromagnet_bands_are_eps_k_minus_plus_J(kind, Lx, Ly):
    lat = Lattice.from_kind(kind, Lx, Ly)
    model = KondoModel(lat, J=2.5, filling=0.5)
    spins = states.ferromagnetic(lat, (0.3, -0.5, 0.8))
    eps = scipy.linalg.eigvalsh(model.dense_hamiltonian(spins))
    eps_k = band(kind, Lx, Ly)
    np.testing.assert_allclose(eps, np.sort(np.concatenate([eps_k - 2.5, eps_k + 2.5])),
                               atol=TOL_ROUNDOFF)


@pytest.mark.parametrize("kind", ["square", "triangular"])
@pytest.mark.parametrize("n_electrons", [1, 3, 2.5, 13, 36, 37.75, 50, 71])
def test_ferromagnet_ground_state_at_any_filling(kind, n_electrons):
    """kT = 0, fixed filling, open and closed shells, integer and fractional N_e (6 x 6, the
    bands overlap at J = 1.5): energy, uniform density N_e / N and the field
    J (n_majority - n_minority) S, all from the k-space levels."""
    L, J = 6, 1.5
    lat = Lattice.from_kind(kind, L)
    direction = np.array([1.0, 2.0, -2.0]) / 3
    sol = solver(lat, J=J, filling=n_electrons / (2 * L * L)).solve(
        states.ferromagnetic(lat, direction))
    eps_k = band(kind, L, L)
    levels = np.concatenate([eps_k - J, eps_k + J])
    weights = ground_state_weights(levels, n_electrons)
    magnetization = (weights[:L * L].sum() - weights[L * L:].sum()) / L**2
    assert sol.energy == pytest.approx(weights @ levels, abs=TOL_ROUNDOFF)
    np.testing.assert_allclose(sol.density, n_electrons / L**2, atol=TOL_ROUNDOFF)
    np.testing.assert_allclose(sol.field, np.tile(J * magnetization * direction, (L * L, 1)),
                               atol=TOL_ROUNDOFF)


@pytest.mark.parametrize("kind", ["square", "triangular"])
@pytest.mark.parametrize("fixed", [{"mu": -1.3}, {"filling": 0.37}])
def test_ferromagnet_at_finite_temperature(kind, fixed):
    L, J, kT = 6, 2.0, 0.2
    lat = Lattice.from_kind(kind, L)
    sol = solver(lat, J=J, kT=kT, **fixed).solve(states.ferromagnetic(lat))
    eps_k = band(kind, L, L)
    n_e = fixed.get("filling", 0) * 2 * L * L or None
    energy, mu, occ = thermal(np.concatenate([eps_k - J, eps_k + J]), kT, fixed.get("mu"), n_e)
    assert sol.energy == pytest.approx(energy, abs=TOL_ROUNDOFF)
    assert sol.mu == pytest.approx(mu, abs=TOL_ROUNDOFF)
    magnetization = (occ[:L * L] - occ[L * L:]).sum() / L**2
    np.testing.assert_allclose(sol.field, np.tile([0.0, 0.0, J * magnetization], (L * L, 1)),
                               atol=TOL_ROUNDOFF)


def test_square_ferromagnet_half_filling_anchor():
    """docs/physics.md: E_FM = -6 per site at f = 0.5, J = 6 (exact at any L); mu mid-gap = 0."""
    lat = Lattice.square(8)
    sol = solver(lat, J=6.0, filling=0.5).solve(states.ferromagnetic(lat))
    assert sol.energy / lat.n_sites == pytest.approx(-6.0, abs=TOL_ROUNDOFF)
    assert sol.mu == pytest.approx(0.0, abs=TOL_ROUNDOFF)


def test_level_at_fixed_mu_is_half_filled():
    """kT = 0 at fixed mu exactly on the 4-fold level eps_k - J = -2 - 6 of a 4 x 4 FM: one full
    level at -10, four half-filled ones; Omega = -10 - mu."""
    lat = Lattice.square(4)
    sol = solver(lat, J=6.0, mu=-8.0).solve(states.ferromagnetic(lat))
    assert sol.energy == pytest.approx(-2.0, abs=TOL_ROUNDOFF)
    np.testing.assert_allclose(sol.density, 3.0 / 16, atol=TOL_ROUNDOFF)


# ---------------------------------------------------------------- check 2: Neel
@pytest.mark.parametrize("Lx, Ly", [(6, 6), (8, 4)])
def test_neel_bands_and_energy(Lx, Ly):
    lat = Lattice.square(Lx, Ly)
    model = KondoModel(lat, J=6.0, filling=0.5)
    spins = states.neel(lat)
    eps_k = band("square", Lx, Ly)
    upper = np.sqrt(36.0 + eps_k**2)
    eps = scipy.linalg.eigvalsh(model.dense_hamiltonian(spins))
    np.testing.assert_allclose(eps, np.sort(np.concatenate([-upper, upper])), atol=TOL_ROUNDOFF)
    sol = ExactDiagonalization(model).solve(spins)
    assert sol.energy == pytest.approx(-upper.sum(), abs=TOL_ROUNDOFF)
    np.testing.assert_allclose(sol.density, 1.0, atol=TOL_ROUNDOFF)
    assert sol.mu == pytest.approx(0.0, abs=TOL_ROUNDOFF)


def test_neel_energy_anchor():
    """E_Neel = -6.31517 per site at f = 0.5, J = 6 (gapped: converged to 1e-8 at L = 10)."""
    lat = Lattice.square(10)
    sol = solver(lat, J=6.0, filling=0.5).solve(states.neel(lat))
    assert sol.energy / lat.n_sites == pytest.approx(-6.31517, abs=TOL_ANCHOR)


# ---------------------------------------------------------------- check 3: finite differences
@pytest.mark.parametrize("kind, hopping", [("square", (1.0, -0.3)), ("triangular", (1.0,))])
@pytest.mark.parametrize("settings", [{"mu": -0.7, "kT": 0.25}, {"filling": 0.3, "kT": 0.25},
                                      {"filling": 0.3, "kT": 0.0}])
def test_field_is_minus_energy_gradient(kind, hopping, settings):
    """kT > 0 (docs/physics.md, check 3) and kT = 0 with N_e = 7.2 electrons: random spins leave the
    Fermi level non-degenerate, where F = sum of the lowest 7.2 levels is smooth."""
    lat = Lattice.from_kind(kind, 4, 3)
    provider = solver(lat, hopping=hopping, J=2.0, **settings)
    spins = states.random_spins(lat, 7)
    sites = [0, 5, 11]
    reference = finite_difference_field(provider, spins, sites)
    np.testing.assert_allclose(provider.energy_and_field(spins)[1][sites], reference, atol=TOL_FD)


@pytest.mark.parametrize("n_electrons", [40, 40.3, 57.5])
def test_zero_temperature_energy_is_the_sum_of_the_lowest_levels(n_electrons):
    """Random spins, fractional N_e: F = sum of the lowest N_e eigenvalues of h(S), the last
    one weighted by the fractional part (eigenvalues from LAPACK's eigenvalue-only routine)."""
    lat = Lattice.triangular(6)
    provider = solver(lat, hopping=(1.0, 0.2), J=3.0, filling=n_electrons / 72)
    spins = states.random_spins(lat, 21)
    eps = scipy.linalg.eigvalsh(provider.model.dense_hamiltonian(spins), driver="ev")
    full = int(n_electrons)
    expected = eps[:full].sum() + (n_electrons - full) * eps[full]
    assert provider.solve(spins).energy == pytest.approx(expected, abs=TOL_ROUNDOFF)


# ---------------------------------------------------------------- check 4: symmetry
@pytest.mark.parametrize("kind", ["square", "triangular"])
@pytest.mark.parametrize("settings", [{"filling": 0.485, "kT": 0.0}, {"mu": 0.4, "kT": 0.1},
                                      {"filling": 0.25, "kT": 0.05}])
def test_rotation_and_time_reversal(kind, settings):
    lat = Lattice.from_kind(kind, 6)
    provider = solver(lat, J=3.0, **settings)
    spins = states.random_spins(lat, 3)
    rotation = random_rotation(np.random.default_rng(11))
    assert_rotation_equivariant(provider, spins, rotation, TOL_ROUNDOFF, TOL_ROUNDOFF)
    assert_time_reversal(provider, spins, TOL_ROUNDOFF, TOL_ROUNDOFF)


# ---------------------------------------------------------------- check 5: zero torque
ORDERED = [("square", "ferromagnetic", 6), ("triangular", "ferromagnetic", 6),
           ("square", "neel", 6), ("triangular", "120", 6), ("triangular", "tetrahedral", 6),
           ("triangular", "tetrahedral", 4)]


@pytest.mark.parametrize("kind, state, L", ORDERED)
@pytest.mark.parametrize("settings", [{"filling": 0.5, "kT": 0.0}, {"filling": 0.25, "kT": 0.0},
                                      {"filling": 0.3, "kT": 0.0}, {"filling": 0.3, "kT": 0.05},
                                      {"mu": -0.5, "kT": 0.0}, {"mu": 0.7, "kT": 0.1}])
def test_ordered_states_are_torque_free(kind, state, L, settings):
    """Open shells at kT = 0 (f = 0.3 splits degenerate levels) need the equal-sharing rule."""
    lat = Lattice.from_kind(kind, L)
    spins = states.ordered_state(state, lat)
    _, field = solver(lat, J=2.0, **settings).energy_and_field(spins)
    np.testing.assert_allclose(torque(spins, field), 0.0, atol=TOL_ROUNDOFF)


# ---------------------------------------------------------------- tetrahedral energy
def test_tetrahedral_reference_reaches_the_published_table():
    """The test's own k-space reference reproduces docs/physics.md (J = 2, f = 1/4):
    E_tetra = -2.25160 per site in the thermodynamic limit (gapped: converged at 120 x 120)."""
    lat = Lattice.triangular(2)
    levels = tetrahedral_levels(120, 120, states.tetrahedral(lat), J=2.0)
    n_sites = 120 * 120
    assert ground_state_weights(levels, n_sites / 2) @ levels / n_sites == pytest.approx(
        -2.25160, abs=TOL_ANCHOR)


@pytest.mark.parametrize("L", [8, 12])
@pytest.mark.parametrize("chirality", [1, -1])
def test_tetrahedral_energy_matches_magnetic_cell_k_space(L, chirality):
    lat = Lattice.triangular(L)
    spins = states.tetrahedral(lat, chirality)
    sol = solver(lat, J=2.0, filling=0.25).solve(spins)
    corners = spins[[lat.index(0, 0), lat.index(1, 0), lat.index(0, 1), lat.index(1, 1)]]
    levels = tetrahedral_levels(L, L, corners, J=2.0)
    assert sol.energy == pytest.approx(ground_state_weights(levels, L * L / 2) @ levels,
                                       abs=TOL_ROUNDOFF)
    np.testing.assert_allclose(sol.density, 0.5, atol=TOL_ROUNDOFF)


# ---------------------------------------------------------------- conservation
@pytest.mark.parametrize("settings", [{"filling": 0.485, "kT": 0.0}, {"filling": 0.2, "kT": 0.3}])
def test_densities_add_up_to_the_electron_number(settings):
    lat = Lattice.square(5, 4)
    sol = solver(lat, J=4.0, **settings).solve(states.random_spins(lat, 1))
    assert sol.density.sum() == pytest.approx(2 * lat.n_sites * settings["filling"],
                                              abs=TOL_ROUNDOFF)
    assert np.all((sol.density >= 0) & (sol.density <= 2))


# ---------------------------------------------------------------- check 6b: external data
@pytest.fixture(scope="module")
def zc21_solver():
    return solver(Lattice.square(30), J=6.0, filling=873 / 1800)


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def test_zc21_quench_snapshot(zc21_solver):
    spins, field, density = read_zc21_snapshot(DATA / "quench_c20000.dat")
    sol = zc21_solver.solve(spins)
    assert rms(sol.field - field) < TOL_QUENCH_FIELD
    assert rms(sol.density - density) < TOL_QUENCH_DENSITY


def test_zc21_random_snapshot(zc21_solver):
    spins, field, _ = read_zc21_snapshot(DATA / "random_c2.dat")
    assert rms(zc21_solver.energy_and_field(spins)[1] - field) < TOL_RANDOM_FIELD


# ---------------------------------------------------------------- interface and refusals
def test_interface_agrees_with_solve():
    lat = Lattice.square(4)
    provider = solver(lat, J=6.0, filling=0.4, kT=0.1)
    spins = states.random_spins(lat, 5)
    sol = provider.solve(spins)
    energy, field = provider.energy_and_field(spins)
    assert energy == sol.energy
    np.testing.assert_array_equal(field, sol.field)
    np.testing.assert_array_equal(provider.site_density(spins), sol.density)
    assert provider.describe() == {"name": "ed", **provider.model.describe()}


def test_memory_estimate_is_three_dense_complex_matrices():
    """h, its eigenvectors and LAPACK's workspace: 3 (2N)^2 complex128 (the run layer refuses
    a run whose estimate exceeds the machine, tests/run/test_schema.py)."""
    provider = solver(Lattice.square(20), filling=0.5)
    assert provider.memory_bytes() == dense_memory_bytes(400) == 3 * 800 ** 2 * 16


def test_refuses_a_model_that_is_not_a_kondo_model():
    with pytest.raises(InputError) as err:
        ExactDiagonalization(model="square")
    assert str(err.value).startswith("model = ") and "\n" not in str(err.value)


def test_refuses_bad_spins():
    provider = solver(Lattice.square(4), filling=0.5)
    with pytest.raises(InputError, match=r"^spins\.shape = "):
        provider.solve(np.zeros((15, 3)))
    with pytest.raises(InputError, match=r"^spins\[0\] length = "):
        provider.solve(np.full((16, 3), 2.0))
