"""The "cuda" kernels (numba-cuda) against the "cpu" launchers (numba) and the numpy references:
Philox normals, the SIB and Heun predictor and corrector, the classical energy and field, the
four KPM block kernels, and the classical and KPM providers built on backend "cuda".

The kernels run on the backend's arrays: numpy under numba's CUDA simulator (how CI runs them,
NUMBA_ENABLE_CUDASIM=1 from tests/conftest.py), cupy on a real GPU (NUMBA_ENABLE_CUDASIM=0 with
a GPU, where the same tests run unchanged with the tiers below). The simulator runs one Python
thread per CUDA thread, so the lattices are small (<= 36 sites, <= 8 probe columns).

Deviations are measured relative to the scale of the compared quantity, max(1, max |want|).
"""

import numba
import numpy as np
import pytest

from llgsim import InputError, Lattice
from llgsim.backend import get_backend
from llgsim.dynamics import make_stepper
from llgsim.fields import KPM, ClassicalSpins
from llgsim.fields import kpm as K
from llgsim.kernels import classical, kpm, llg, philox
from llgsim.model import KondoModel
from llgsim.states import random_spins

# Tolerance tiers (relative to the scale of the compared quantity; measured values are the
# worst over this file's cases under the simulator, cuda against cpu and reference).
# ROUND_OFF_64: float64. The per-site arithmetic is the same; what differs is the order of the
#   sums over sites (energy, probe overlap: a fixed tree per block of 128 threads vs blocks of
#   1024 sites in order), the CPU KPM kernels' fastmath (reassociation, FMA) and, on a real GPU,
#   NVVM's FMA contraction in every kernel. Measured: 0 (LLG vs cpu), 2.2e-16 (LLG vs the
#   reference), 2.9e-16 (classical), <= 3.6e-16 (KPM kernels and providers). ~30x headroom
#   (about 45 ulp) leaves room for the FMA contractions of a real GPU.
ROUND_OFF_64 = 1e-14
# ROUND_OFF_32: float32 arrays. numba promotes float32 * float64 scalar to float64, while the
#   simulator's numpy float32 scalars stay float32 (NEP 50), and the CPU KPM kernels use
#   fastmath: values differ by an ulp or two of float32 (eps_32 = 1.2e-7). Measured: 1.2e-7
#   (LLG, three steps of the classical trajectory), 1.9e-7 (KPM kernels); 10x.
ROUND_OFF_32 = 2e-6
TOLERANCES = {"float64": ROUND_OFF_64, "float32": ROUND_OFF_32}
# PROVIDER_32: the whole KPM solve with single-precision blocks, cuda vs cpu (forward and
#   reverse recursions of order 8, float64 moments and blocks): measured 2.9e-7 of the field
#   scale and 9e-9 of |E|; 10x.
PROVIDER_32 = 3e-6
# GPU_MATH_ULPS: Philox normals on a real GPU. The Philox words are integers (identical); the
#   Box-Muller transform calls libdevice's log, cos and sin, which may round differently from
#   the C library (up to ~2 ulp each; sqrt is correctly rounded on both), so a normal r cos(a)
#   may differ by a few ulp of float64, and a float32 normal (rounded from float64) by at most
#   1 ulp. Allowed: 4 ulp of the output dtype.
GPU_MATH_ULPS = 4

SCHEMES = ("sib", "heun")
dtypes = pytest.mark.parametrize("dtype", ["float64", "float32"])
needs_simulator = pytest.mark.skipif(not numba.config.ENABLE_CUDASIM,
                                     reason="bitwise equality holds under numba's CUDA simulator "
                                            "(on a GPU libdevice rounds log/cos/sin differently)")
FULL = dict(heisenberg=(1.0, -0.5, 0.3), field=(0.2, -0.1, 0.4),
            anisotropy=(0.7, (1.0, 2.0, -1.0)))


def cuda_backend(dtype):
    try:
        return get_backend("cuda", dtype)
    except InputError as err:
        pytest.skip(f"no cuda backend: {err}")


def dev(backend, *arrays):
    """Device copies (own dtypes) of host arrays, never the arrays themselves (under the
    simulator to_device returns its argument); None stays None."""
    return [None if a is None else backend.to_device(np.array(a, copy=True)) for a in arrays]


def deviation(got, want) -> float:
    """max |got - want| / max(1, max |want|)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return float(np.abs(got - want).max() / max(1.0, np.abs(want).max()))


def assert_close(got, want, tol, what=""):
    d = deviation(got, want)
    assert d <= tol, f"{what}: deviation {d:.3g} > {tol:.3g}"
    return d


# ---------------------------------------------------------------------- Philox normals

@needs_simulator
@dtypes
def test_normals_are_bitwise_the_cpu_normals(dtype):
    b = cuda_backend(dtype)
    for seed, step in ((0, 0), (12, 7), (2 ** 63 + 5, 2 ** 40 + 3)):
        want = np.empty((300, 3), dtype=dtype)  # 3 blocks of 128 threads, the last partial
        philox.fill_normals_cpu(seed, step, philox.THERMAL_STREAM, want)
        got = b.empty((300, 3))
        b.normals(seed, step, got)
        np.testing.assert_array_equal(b.to_host(got), want)
    reference = np.empty((300, 3), dtype=dtype)
    philox.fill_normals_reference(seed, step, 3, reference)
    philox.fill_normals_cuda(seed, step, 3, got)
    np.testing.assert_array_equal(b.to_host(got), reference)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.gpu
@pytest.mark.skipif(bool(numba.config.ENABLE_CUDASIM),
                    reason="needs a real CUDA GPU (NUMBA_ENABLE_CUDASIM=0)")
def test_normals_on_a_gpu_agree_to_a_few_ulp(dtype):
    b = cuda_backend(dtype)
    want = np.empty((100_000, 3), dtype=dtype)
    philox.fill_normals_cpu(99, 5, philox.THERMAL_STREAM, want)
    got = b.empty(want.shape)
    b.normals(99, 5, got)
    got = b.to_host(got)
    ulp = np.spacing(np.abs(want))
    assert np.all(np.abs(got - want) <= GPU_MATH_ULPS * ulp)


# ---------------------------------------------------------------------- LLG integrators

def _llg_inputs(dtype, n=50):
    rng = np.random.default_rng(1)
    spins = rng.standard_normal((n, 3))
    spins /= np.linalg.norm(spins, axis=1, keepdims=True)
    fields = [rng.uniform(-2, 2, (n, 3)) for _ in range(2)]
    normals = np.empty((n, 3))
    philox.fill_normals_cpu(3, 4, 0, normals)
    return [np.ascontiguousarray(a, dtype=dtype) for a in (spins, *fields, normals)]


@dtypes
@pytest.mark.parametrize("noisy", [True, False])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_integrator_kernels_match_cpu_and_reference(scheme, noisy, dtype):
    b = cuda_backend(dtype)
    tol = TOLERANCES[dtype]
    spins, field, field_mid, normals = _llg_inputs(dtype)
    normals = normals if noisy else None
    args = (0.3, 0.05, 0.1)  # amplitude, dt, alpha
    mids = {}
    for backend in ("cpu", "reference"):
        out = np.empty_like(spins)
        getattr(llg, f"{scheme}_predictor_{backend}")(spins, field, normals, *args, out)
        mids[backend] = out
    d_spins, d_field, d_field_mid, d_normals = dev(b, spins, field, field_mid, normals)
    d_mid = b.empty(spins.shape)
    getattr(llg, f"{scheme}_predictor_cuda")(d_spins, d_field, d_normals, *args, d_mid)
    mid = b.to_host(d_mid)
    assert mid.dtype == np.dtype(dtype)
    assert_close(mid, mids["cpu"], tol, "predictor vs cpu")
    assert_close(mid, mids["reference"], tol, "predictor vs reference")
    outs = {}
    for backend in ("cpu", "reference"):
        out = np.empty_like(spins)
        getattr(llg, f"{scheme}_corrector_{backend}")(spins, field, mids["cpu"], field_mid,
                                                      normals, *args, out)
        outs[backend] = out
    d_out = b.empty(spins.shape)
    (d_mid_cpu,) = dev(b, mids["cpu"])
    getattr(llg, f"{scheme}_corrector_cuda")(d_spins, d_field, d_mid_cpu, d_field_mid, d_normals,
                                             *args, d_out)
    out = b.to_host(d_out)
    assert_close(out, outs["cpu"], tol, "corrector vs cpu")
    assert_close(out, outs["reference"], tol, "corrector vs reference")
    assert np.abs(out - spins).max() > 1e-2  # the step moved the spins


@dtypes
@pytest.mark.parametrize("scheme", SCHEMES)
def test_classical_trajectory_agrees_between_cpu_and_cuda(scheme, dtype):
    """Three noisy steps through make_stepper (Backend.normals, the predictor and corrector and
    the classical field on each backend): the same spins to the dtype's tier."""
    lattice = Lattice.square(4)
    start = random_spins(lattice, 8)
    result = {}
    for name in ("cpu", "cuda"):
        b = get_backend(name, dtype) if name == "cpu" else cuda_backend(dtype)
        stepper = make_stepper(scheme, ClassicalSpins(lattice, **FULL, backend=b), dt=0.05,
                               alpha=0.1, seed=5)
        s = b.asarray(start.copy())  # the stepper reuses its input buffer
        for step in range(3):
            s, _ = stepper.advance(s, step, 0.2, False)
        result[name] = b.to_host(s)
    assert np.abs(result["cpu"] - start.astype(dtype)).max() > 1e-2
    assert_close(result["cuda"], result["cpu"], 3 * TOLERANCES[dtype], "3 steps")


# ---------------------------------------------------------------------- classical spins

@dtypes
def test_classical_kernel_matches_cpu_and_reference(dtype):
    b = cuda_backend(dtype)
    lattice = Lattice.triangular(6)  # 36 sites: a partial block of 128 threads
    p = ClassicalSpins(lattice, **FULL)
    spins = random_spins(lattice, 2).astype(dtype)
    tables = (p.neighbours, p.couplings, p._zeeman, p.K, p.axis)
    want = {}
    for backend in ("cpu", "reference"):
        field = np.empty_like(spins)
        want[backend] = getattr(classical, f"energy_and_field_{backend}")(spins, *tables, field), \
            field
    d_spins, = dev(b, spins)
    d_field = b.empty(spins.shape)
    energy = classical.energy_and_field_cuda(d_spins, *tables, d_field)
    assert isinstance(energy, float)
    for e, h in want.values():
        # energies: float64 site shares on every backend (the float64 tables promote)
        assert_close(energy, e, ROUND_OFF_64 * lattice.n_sites, "energy")
        assert_close(b.to_host(d_field), h, TOLERANCES[dtype], "field")


# ---------------------------------------------------------------------- KPM block kernels

def _kpm_inputs(dtype):
    """Square 4x4, two hopping shells (z = 8), 2x2 colors (S = 8 columns)."""
    lattice = Lattice.square(4)
    model = KondoModel(lattice, hopping=(1.0, -0.3), J=3.0, mu=0.0)
    spins = random_spins(lattice, 3)
    onsite, hops = K.scaled_blocks(model, spins, 0.2, 6.0, dtype)
    color = K.probe_colors(lattice, 2)
    phases = K.random_phases(np.random.default_rng(0), lattice.n_sites, dtype)
    neighbours = model.neighbours.astype(np.int32)
    rng = np.random.default_rng(2)
    blocks = [rng.standard_normal((2 * lattice.n_sites, 2, 8)).astype(dtype) for _ in range(4)]
    return onsite, hops, neighbours, phases, color, blocks


@dtypes
def test_kpm_kernels_match_cpu_and_reference(dtype):
    b = cuda_backend(dtype)
    tol = TOLERANCES[dtype]
    np_dtype = np.dtype(dtype).type
    onsite, hops, neighbours, phases, color, (x, out, _, _) = _kpm_inputs(np_dtype)
    tables = dev(b, onsite, neighbours, hops)
    d_phases, d_color = dev(b, phases, color)

    d_probes = b.to_device(np.full(x.shape, 7.0, dtype=dtype))  # stale values must go
    kpm.fill_probes_cuda(d_probes, d_phases, d_color)
    probes = b.to_host(d_probes)
    for backend in ("cpu", "reference"):
        want = np.empty_like(x)
        getattr(kpm, f"fill_probes_{backend}")(want, phases, color)
        np.testing.assert_array_equal(probes, want)

    for factor in (1, 2):
        d_x, d_out = dev(b, x, out)
        kpm.chebyshev_step_cuda(d_x, d_out, np_dtype(factor), tables[0], tables[1], tables[2])
        for backend in ("cpu", "reference"):
            want = out.copy()
            getattr(kpm, f"chebyshev_step_{backend}")(x, want, np_dtype(factor), onsite,
                                                      neighbours, hops)
            assert_close(b.to_host(d_out), want, tol, f"chebyshev_step {factor} vs {backend}")

    d_x, = dev(b, x)
    overlap = kpm.probe_overlap_cuda(d_x, d_phases, d_color)
    assert isinstance(overlap, float)
    for backend in ("cpu", "reference"):
        want = getattr(kpm, f"probe_overlap_{backend}")(x, phases, color)
        assert_close(overlap, want, tol * color.shape[0], f"probe_overlap vs {backend}")


@dtypes
@pytest.mark.parametrize("step_alpha, weight", [(True, 2.0), (False, 1.0)])
def test_kpm_adjoint_step_matches_cpu_and_reference(step_alpha, weight, dtype):
    b = cuda_backend(dtype)
    tol = TOLERANCES[dtype]
    np_dtype = np.dtype(dtype).type
    onsite, hops, neighbours, phases, color, blocks4 = _kpm_inputs(np_dtype)
    start_blocks = np.random.default_rng(5).standard_normal((color.shape[0], 8))
    args = (np_dtype(2), 0.37, weight, step_alpha)
    d_arrays = dev(b, *blocks4)
    d_blocks, = dev(b, start_blocks)
    kpm.adjoint_step_cuda(*d_arrays, *args, *dev(b, onsite, neighbours, hops, phases, color),
                          d_blocks)
    got = [b.to_host(a) for a in (*d_arrays, d_blocks)]
    for backend in ("cpu", "reference"):
        want = [a.copy() for a in (*blocks4, start_blocks)]
        getattr(kpm, f"adjoint_step_{backend}")(*want[:4], *args, onsite, neighbours, hops,
                                                phases, color, want[4])
        for name, g, w in zip(("alpha", "alpha_next", "beta_next", "beta_after", "blocks"),
                              got, want):
            # blocks sum 8 columns of products of O(1) entries
            assert_close(g, w, tol * (8 if name == "blocks" else 1), f"{name} vs {backend}")
    if not step_alpha:
        np.testing.assert_array_equal(got[1], blocks4[1])


# ---------------------------------------------------------------------- providers

@dtypes
def test_classical_provider_on_cuda_matches_cpu(dtype):
    lattice = Lattice.triangular(6)
    spins = random_spins(lattice, 4)
    b = cuda_backend(dtype)
    provider = ClassicalSpins(lattice, **FULL, backend=b)
    e, h = provider.energy_and_field(spins)
    e_cpu, h_cpu = ClassicalSpins(lattice, **FULL,
                                  backend=get_backend("cpu", dtype)).energy_and_field(spins)
    h = b.to_host(h)
    assert h.dtype == np.dtype(dtype)
    assert_close(e, e_cpu, ROUND_OFF_64 * lattice.n_sites, "energy")
    assert_close(h, h_cpu, TOLERANCES[dtype], "field")
    e2, h2 = provider.energy_and_field(spins)  # two evaluations: bitwise equal
    assert e2 == e
    np.testing.assert_array_equal(b.to_host(h2), h)


def _kpm_model():
    return KondoModel(Lattice.square(4), J=6.0, filling=0.485, kT=0.1)


@dtypes
def test_kpm_provider_on_cuda_matches_cpu(dtype):
    """Backend dtype float64 with double-precision blocks, float32 with single."""
    model = _kpm_model()
    spins = random_spins(model.lattice, 5)
    precision = "double" if dtype == "float64" else "single"
    b = cuda_backend(dtype)
    kw = dict(order=8, colors=2, seed=3, precision=precision)
    provider = KPM(model, **kw, backend=b)
    e, h = provider.energy_and_field(spins)
    e_cpu, h_cpu = KPM(model, **kw, backend=get_backend("cpu", dtype)).energy_and_field(spins)
    h = b.to_host(h)
    assert h.dtype == np.dtype(dtype)
    assert np.abs(h_cpu).max() > 0.1  # a field to compare
    tol = ROUND_OFF_64 if dtype == "float64" else PROVIDER_32
    assert abs(e - e_cpu) <= tol * abs(e_cpu)
    assert_close(h, h_cpu, tol, "field")
    if dtype == "float64":  # two evaluations: bitwise equal (phases keyed by the spins)
        e2, h2 = provider.energy_and_field(spins)
        assert e2 == e
        np.testing.assert_array_equal(b.to_host(h2), h)


def test_kpm_lanczos_bounds_on_cuda_match_cpu():
    model = _kpm_model()
    spins = random_spins(model.lattice, 6)
    bounds = [KPM(model, order=8, colors=2, bounds="lanczos", backend=backend)
              .spectral_bounds(spins) for backend in (cuda_backend("float64"), "cpu")]
    np.testing.assert_allclose(bounds[0], bounds[1], rtol=ROUND_OFF_64, atol=0)
