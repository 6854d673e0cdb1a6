"""Tests of the KPM provider (llgsim.fields.kpm) against independent references: scipy.sparse
mat-vecs, a dense eigendecomposition of the same kernel-damped Chebyshev expansion, finite
differences of the energy estimate, and exact diagonalization (llgsim.fields.ExactDiagonalization).

The kernels run single-threaded here (module fixture): results do not depend on the thread count
(test_thread_count_does_not_change_results checks that), and on oversubscribed CI runners the
per-step barriers of a parallel launch stall whenever a thread is descheduled."""

from pathlib import Path

import numba
import numpy as np
import pytest
from numpy.polynomial import chebyshev as C

from llgsim.errors import InputError
from llgsim.external import read_zc21_snapshot
from llgsim.fields import KPM, ExactDiagonalization
from llgsim.fields import kpm as K
from llgsim.kernels import kpm as kernels
from llgsim.lattice import Lattice
from llgsim.model import KondoModel
from llgsim.states import random_spins
from llgsim.testing import assert_rotation_equivariant, finite_difference_field

ZC21 = Path(__file__).resolve().parents[1] / "data" / "zc21_de30"

# Tolerance tiers
TOL_EXACT = 1e-11      # same arithmetic in float64 (kernel vs scipy.sparse): round-off only
TOL_EXPANSION = 1e-9   # full probing vs dense eigendecomposition of the same damped expansion:
                       # float64 round-off accumulated over M ~ 10^3 recursion steps
TOL_F32 = 2e-4         # float32 blocks vs float64 (field, energy per site): eps_32 sqrt(M) x O(1)
TOL_FD = 1e-6          # central differences (step 1e-5) vs the analytic gradient: O(step^2 |E'''|)
                       # plus round-off eps |E| / step ~ 1e-9
TOL_ZC21 = 3e-3        # KPM (M = 1000, 10x10 colors) vs the ZC21 quench snapshot's field labels,
                       # RMS per component: measured 8e-4 (density 2.4e-4), the Jackson truncation
                       # at M = 1000; docs/physics.md, check 6b expects ~1e-3 from a good KPM
Z_STAT = 5.0           # unbiasedness: |mean - exact| <= Z_STAT standard errors for every component
                       # (Gaussian tail 6e-7 per component; the seeds are fixed, so deterministic)


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


# ---------------------------------------------------------------------- references
def _onsite_observables(model, v, occ):
    rho = (v * occ) @ v.conj().T
    r00, r11 = np.diagonal(rho)[0::2], np.diagonal(rho)[1::2]
    r01, r10 = np.diagonal(rho, 1)[0::2], np.diagonal(rho, -1)[0::2]
    field = model.J * np.stack([(r01 + r10).real, (1j * (r01 - r10)).real, (r00 - r11).real], 1)
    return field, (r00 + r11).real


def dense_expansion(provider, spins):
    """The KPM answer with exact traces (R R^dagger = 1): moments Tr T_m(X), mu on the same damped
    density of states, energy sum_m gamma_m mu_m, rho = G_M'(X) / a by eigendecomposition."""
    model, order = provider.model, provider.order
    lo, hi = provider.spectral_bounds(spins)
    a, b = (hi - lo) / 2, (hi + lo) / 2
    x, v = np.linalg.eigh((model.dense_hamiltonian(spins) - b * np.eye(2 * model.n_sites)) / a)
    moments = np.cos(np.outer(np.arange(order), np.arccos(np.clip(x, -1, 1)))).sum(axis=1)
    kT = K.effective_smearing(model.kT, a, order)
    eps = b + a * K.chebyshev_nodes(K.quadrature_size(order, a, kT))
    damping = K.jackson_kernel(order)
    mu = model.mu
    if model.filling is not None:
        weights = K.damped_density_weights(moments, damping, len(eps))
        mu = K.solve_chemical_potential(eps, weights, model.n_electrons, kT)
    gamma = damping * K.chebyshev_coefficients(K.grand_potential_density(eps, mu, kT), order)
    energy = gamma @ moments + (0 if model.filling is None else mu * model.n_electrons)
    occ = C.chebval(x, C.chebder(gamma)) / a
    return (energy, *_onsite_observables(model, v, occ), mu)


def sparse_chebyshev_step(provider, spins, x, out, factor):
    """Reference of kernels.chebyshev_step with scipy.sparse: factor X x - out, complex (2N, S)."""
    lo, hi = provider.spectral_bounds(spins)
    a, b = (hi - lo) / 2, (hi + lo) / 2
    h = provider.model.hamiltonian(spins)
    return factor * (h @ x - b * x) / a - out


def to_split(z, dtype):
    return np.ascontiguousarray(np.stack([z.real, z.imag], axis=1).astype(dtype))


def rms(a):
    return float(np.sqrt(np.mean(np.square(a))))


def square_de(L, kT=0.05, **kw):
    return KondoModel(Lattice.square(L), J=6.0, filling=kw.pop("filling", 0.485), kT=kT, **kw)


def triangular_sd(L, kT=0.05):
    return KondoModel(Lattice.triangular(L), J=2.0, filling=0.25, kT=kT)


# ---------------------------------------------------------------------- building blocks
def test_jackson_kernel():
    g = K.jackson_kernel(64)
    assert g[0] == pytest.approx(1.0, abs=1e-14)
    assert np.all(np.diff(g) < 0) and g[-1] > 0
    # the damped delta function sum_m (2 - delta_m0) g_m T_m(x) T_m(y) is non-negative
    x = np.linspace(-1, 1, 401)
    weights = np.r_[1.0, 2 * g[1:]] * np.cos(0.3 * np.arange(64))  # y = cos(0.3)
    assert C.chebval(x, weights).min() > -1e-12


def test_chebyshev_coefficients_are_the_quadrature_sum():
    K_nodes, order = 64, 12
    theta = np.pi * (np.arange(K_nodes) + 0.5) / K_nodes
    values = np.exp(np.cos(theta)) / (2 + np.cos(theta))
    direct = (2 / K_nodes) * np.cos(np.outer(np.arange(order), theta)) @ values
    direct[0] /= 2
    np.testing.assert_allclose(K.chebyshev_coefficients(values, order), direct, atol=TOL_EXACT)
    # a polynomial of degree < 2K is integrated exactly: T_5 -> unit vector
    np.testing.assert_allclose(K.chebyshev_coefficients(np.cos(5 * theta), 8), np.eye(8)[5],
                               atol=TOL_EXACT)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("precision, tol", [("double", TOL_EXACT), ("single", TOL_F32)])
@pytest.mark.parametrize("kind", ["square", "triangular"])
def test_kernel_step_matches_scipy_sparse(kind, precision, tol, backend):
    lat = Lattice.from_kind(kind, 6)
    model = KondoModel(lat, hopping=(1.0, -0.3), J=3.0, mu=0.0)
    provider = KPM(model, order=8, colors=3, precision=precision)
    spins = random_spins(lat, 3)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2 * lat.n_sites, 5)) + 1j * rng.standard_normal((2 * lat.n_sites, 5))
    out = rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)
    lo, hi = provider.spectral_bounds(spins)
    dtype = np.float64 if precision == "double" else np.float32
    onsite, hops = K.scaled_blocks(model, spins, (hi + lo) / 2, (hi - lo) / 2, dtype)
    got = to_split(out, dtype)
    step = getattr(kernels, f"chebyshev_step_{backend}")
    step(to_split(x, dtype), got, dtype(2), onsite, model.neighbours.astype(np.int32), hops)
    want = sparse_chebyshev_step(provider, spins, x, out, 2.0)
    np.testing.assert_allclose(got[:, 0] + 1j * got[:, 1], want, atol=tol * np.abs(want).max())


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_probes_tile_colors_and_have_unit_modulus(backend):
    lat = Lattice.square(6)
    color = K.probe_colors(lat, 3)
    assert np.bincount(color).tolist() == [4] * 9
    phases = K.random_phases(np.random.default_rng(0), lat.n_sites, np.float64)
    block = np.empty((2 * lat.n_sites, 2, 18))
    getattr(kernels, f"fill_probes_{backend}")(block, phases, color)
    r = block[:, 0] + 1j * block[:, 1]
    np.testing.assert_allclose(np.abs(r).sum(axis=1), 1.0, atol=TOL_EXACT)
    # colored R R^dagger: identity on the diagonal, zero between different colors
    rr = r @ r.conj().T
    np.testing.assert_allclose(np.diag(rr), 1.0, atol=TOL_EXACT)
    same = (color[:, None] == color[None, :]).repeat(2, 0).repeat(2, 1)
    assert np.abs(rr[~same]).max() < TOL_EXACT


@pytest.mark.parametrize("ensemble", ["filling", "mu"])
def test_reference_backend_matches_the_cpu_kernels(ensemble):
    """The numpy block kernels (complex arrays, fancy indexing) against the numba ones: the whole
    solve (moments, mu, adjoint pass) in double precision. The two sum in different orders, so
    they agree to round-off of an M-term recursion (measured ~1e-13), not bitwise."""
    lat = Lattice.square(6)
    kw = {"filling": 0.485} if ensemble == "filling" else {"mu": -3.9}
    model = KondoModel(lat, J=6.0, kT=0.05, **kw)
    spins = random_spins(lat, 8)
    sols = [KPM(model, order=120, colors=3, precision="double", backend=b).solve(spins)
            for b in ("reference", "cpu")]
    assert sols[0].energy == pytest.approx(sols[1].energy, rel=TOL_EXACT)
    np.testing.assert_allclose(sols[0].field, sols[1].field, atol=TOL_EXACT * 6.0)
    np.testing.assert_allclose(sols[0].density, sols[1].density, atol=TOL_EXACT)


# ---------------------------------------------------------------------- full probing = expansion
@pytest.mark.parametrize("make, kT", [(square_de, 0.1), (square_de, 0.0), (triangular_sd, 0.1)])
@pytest.mark.parametrize("ensemble", ["filling", "mu"])
def test_full_probing_is_the_dense_damped_expansion(make, kT, ensemble):
    model = make(6, kT=kT)
    if ensemble == "mu":
        model = KondoModel(model.lattice, J=model.J, mu=-0.8 * model.J, kT=kT)
    spins = random_spins(model.lattice, 5)
    provider = KPM(model, order=300, colors=6, seed=2, precision="double")
    sol = provider.solve(spins)
    energy, field, density, mu = dense_expansion(provider, spins)
    assert sol.energy == pytest.approx(energy, abs=TOL_EXPANSION * abs(energy))
    assert sol.mu == pytest.approx(mu, abs=TOL_EXPANSION)
    np.testing.assert_allclose(sol.field, field, atol=TOL_EXPANSION * model.J)
    np.testing.assert_allclose(sol.density, density, atol=TOL_EXPANSION)


class _FrozenProbes:
    """The provider with the same probe phases for every configuration (its phase generator
    keyed by the seed alone, not by the spins)."""

    def __init__(self, provider):
        self.provider = provider
        provider._probe_generator = lambda spins: np.random.default_rng(provider.seed)

    def energy_and_field(self, spins):
        return self.provider.energy_and_field(spins)


@pytest.mark.parametrize("ensemble", ["filling", "mu"])
def test_field_is_the_exact_gradient_of_the_estimate(ensemble):
    """Gradient-based probing: with the probes held fixed, H = -dE_est/dS to finite-difference
    accuracy, also with few colors (where it differs from the exact field)."""
    model = square_de(6, kT=0.2)
    if ensemble == "mu":
        model = KondoModel(model.lattice, J=6.0, mu=-4.0, kT=0.2)
    provider = _FrozenProbes(KPM(model, order=120, colors=2, seed=7, precision="double"))
    spins = random_spins(model.lattice, 8)
    _, field = provider.energy_and_field(spins)
    sites = [0, 7, 20]
    np.testing.assert_allclose(finite_difference_field(provider, spins, sites), field[sites],
                               atol=TOL_FD)


def test_full_probing_is_rotation_equivariant():
    model = triangular_sd(6, kT=0.1)
    provider = KPM(model, order=200, colors=6, precision="double")
    spins = random_spins(model.lattice, 9)
    rot = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))[0]
    rot *= np.sign(np.linalg.det(rot))
    assert_rotation_equivariant(provider, spins, rot, 1e-8, 1e-8)


# ---------------------------------------------------------------------- convergence to ED
@pytest.mark.parametrize("make", [square_de, triangular_sd])
def test_converges_to_ed_in_order_and_colors(make):
    model = make(12, kT=0.05)
    spins = random_spins(model.lattice, 11)
    ed = ExactDiagonalization(model).solve(spins)

    def errors(order, colors):
        sol = KPM(model, order=order, colors=colors, seed=3).solve(spins)
        return (abs(sol.energy - ed.energy) / model.n_sites, rms(sol.field - ed.field),
                rms(sol.density - ed.density))

    by_order = [errors(m, 12) for m in (100, 200, 400, 800)]
    by_colors = [errors(800, c) for c in (2, 4, 6, 12)]
    for table in (by_order, by_colors):
        field_errors = [row[1] for row in table]
        assert all(b < a for a, b in zip(field_errors, field_errors[1:])), table
    energy_errors = [row[0] for row in by_order]
    assert all(b < a for a, b in zip(energy_errors, energy_errors[1:])), by_order
    # M = 800 with full probing: the Jackson-kernel truncation error (measured 3e-3 / 3e-4 field
    # RMS on square DE / triangular, falling ~M^-1.5 to M^-2), well below the M = 100 error
    energy_err, field_err, density_err = by_order[-1]
    assert field_err < 0.1 * by_order[0][1] and field_err < 5e-3
    assert energy_err < 1e-4 and density_err < 2e-3


def test_zero_temperature_converges_to_ed():
    model = square_de(12, kT=0.0, filling=140 / 288)  # integer N_e = 140
    spins = random_spins(model.lattice, 12)
    ed = ExactDiagonalization(model).solve(spins)
    errs = []
    for order in (250, 500, 1000, 2000):
        sol = KPM(model, order=order, colors=12, seed=1).solve(spins)
        errs.append((abs(sol.energy - ed.energy) / model.n_sites, rms(sol.field - ed.field)))
    assert all(b[1] < a[1] for a, b in zip(errs, errs[1:])), errs
    assert errs[-1][0] < 1e-3 and errs[-1][1] < 0.05, errs


def test_single_precision_agrees_with_double():
    model = square_de(12)
    spins = random_spins(model.lattice, 13)
    single = KPM(model, order=500, colors=4, seed=5, precision="single").solve(spins)
    double = KPM(model, order=500, colors=4, seed=5, precision="double").solve(spins)
    assert abs(single.energy - double.energy) / model.n_sites < TOL_F32
    assert np.abs(single.field - double.field).max() < TOL_F32 * model.J
    assert np.abs(single.density - double.density).max() < TOL_F32


@pytest.mark.slow
def test_converges_to_ed_on_24x24():
    model = square_de(24, kT=0.05)
    spins = random_spins(model.lattice, 16)
    ed = ExactDiagonalization(model).solve(spins)
    errs = [rms(KPM(model, order=m, colors=c, seed=6).solve(spins).field - ed.field)
            for m, c in ((250, 6), (500, 8), (1000, 12), (2000, 24))]
    assert all(b < a for a, b in zip(errs, errs[1:])) and errs[-1] < 2e-3, errs


def test_thread_count_does_not_change_results():
    model = square_de(12)
    spins = random_spins(model.lattice, 17)
    one = KPM(model, order=200, colors=4, seed=8, precision="double").solve(spins)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    try:
        many = KPM(model, order=200, colors=4, seed=8, precision="double").solve(spins)
    finally:
        numba.set_num_threads(1)
    assert many.energy == pytest.approx(one.energy, rel=TOL_EXACT)
    np.testing.assert_allclose(many.field, one.field, atol=TOL_EXACT * model.J)


def test_zc21_quench_snapshot():
    """External data (docs/physics.md, check 6b): 30x30 DE labels of the ZC21 authors (ED-quality)."""
    spins, field, density = read_zc21_snapshot(ZC21 / "quench_c20000.dat")
    model = KondoModel(Lattice.square(30), J=6.0, filling=873 / 1800, kT=0.0)
    sol = KPM(model, order=1000, colors=10, seed=1).solve(spins)
    assert rms(sol.field - field) < TOL_ZC21
    assert rms(sol.density - density) < TOL_ZC21


# ---------------------------------------------------------------------- statistics
def test_colored_estimate_is_unbiased():
    """At fixed mu the estimator is linear in R R^dagger, so its mean over phases is the full-probing
    value: check every field component and the energy over 40 fixed seeds."""
    model = KondoModel(Lattice.square(8), J=6.0, mu=-4.5, kT=0.1)
    spins = random_spins(model.lattice, 14)
    exact = KPM(model, order=150, colors=8, precision="double").solve(spins)
    draws = [KPM(model, order=150, colors=2, seed=seed, precision="double").solve(spins)
             for seed in range(21, 61)]
    fields = np.array([d.field for d in draws])
    energies = np.array([d.energy for d in draws])
    se = fields.std(axis=0, ddof=1) / np.sqrt(len(draws))
    assert np.all(np.abs(fields.mean(axis=0) - exact.field) <= Z_STAT * se)
    assert abs(energies.mean() - exact.energy) <= Z_STAT * energies.std(ddof=1) / np.sqrt(40)
    # and the draws are genuinely random: different seeds, different phases
    assert se.min() > 0


def test_probe_phases_are_keyed_by_the_configuration():
    """Same spins, same result (bitwise: restarts need it); other spins, independent phases."""
    model = square_de(6, kT=0.1)
    provider = KPM(model, order=80, colors=2, seed=3, precision="double")
    spins = random_spins(model.lattice, 2)
    np.testing.assert_array_equal(provider.solve(spins).field, provider.solve(spins).field)
    g1 = provider._probe_generator(spins)
    g2 = provider._probe_generator(random_spins(model.lattice, 3))
    assert not np.array_equal(g1.uniform(size=8), g2.uniform(size=8))


# ---------------------------------------------------------------------- bounds and refusals
def test_lanczos_bounds_contain_the_spectrum():
    model = square_de(8)
    spins = random_spins(model.lattice, 15)
    w = np.linalg.eigvalsh(model.dense_hamiltonian(spins))
    lo, hi = KPM(model, order=10, colors=2, bounds="lanczos").spectral_bounds(spins)
    assert lo < w[0] and w[-1] < hi and hi - lo < 1.1 * (w[-1] - w[0])
    assert KPM(model, order=10, colors=2, bounds=(lo, hi)).spectral_bounds(spins) == (lo, hi)


@pytest.mark.parametrize("kwargs, name", [
    (dict(order=1, colors=2), "order"),
    (dict(order=2.5, colors=2), "order"),
    (dict(order=10, colors=5), "colors"),
    (dict(order=10, colors=0), "colors"),
    (dict(order=10, colors=2, kernel="lorentz"), "kernel"),
    (dict(order=10, colors=2, precision="half"), "precision"),
    (dict(order=10, colors=2, bounds=(3.0, -3.0)), "bounds"),
    (dict(order=10, colors=2, bounds="tight"), "bounds"),
])
def test_bad_input_is_a_one_line_input_error(kwargs, name):
    with pytest.raises(InputError) as err:
        KPM(square_de(6), **kwargs)
    assert err.value.name == name and "\n" not in str(err.value)


def test_bounds_that_miss_the_spectrum_are_refused():
    model = square_de(6)
    provider = KPM(model, order=10, colors=2, bounds=(-3.0, 3.0))
    with pytest.raises(InputError) as err:
        provider.solve(random_spins(model.lattice, 1))
    assert err.value.name == "bounds" and "\n" not in str(err.value)


def test_describe():
    model = square_de(6)
    d = KPM(model, order=100, colors=3, seed=4).describe()
    assert d == {"name": "kpm", "order": 100, "colors": 3, "kernel": "jackson", "seed": 4,
                 "bounds": None, "precision": "single", "model": model.describe()}
