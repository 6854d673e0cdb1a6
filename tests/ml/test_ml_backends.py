"""The ML field's kernels ("cpu", and "cuda" under numba's CUDA simulator) against the torch
reference (autograd through descriptor and networks), float64 and float32, plus the properties
of the tiled evaluation: tiles and worker threads do not change the numbers, two evaluations
are bitwise equal, and a short ML-driven trajectory agrees between cpu and cuda.

The reference is an independent implementation: torch's autograd of the site-energy sum, while
the kernels run a hand-written backward pass (llgsim.fields.ml_tiles).
"""

import numba
import numpy as np
import pytest

from llgsim import Lattice
from llgsim.backend import gpu_device, get_backend
from llgsim.dynamics import make_stepper
from llgsim.fields import MLField
from llgsim.fields.ml_tiles import TiledNetwork
from llgsim.states import random_spins

# Tolerance tiers (fields in t_1; energies relative to max(1, |E|)), ~10x the measured worst:
# ROUND_OFF_64: float64 kernels vs float64 torch, the same sums in another order; measured
#   <= 1.3e-16 (random models, fields ~0.2) and 2.7e-15 (shipped de-square, fields up to 5.8),
#   energies <= 1.7e-15.
ROUND_OFF_64 = 3e-14
# FLOAT32: float32 kernels vs float64 torch (float32 descriptors and GEMMs over ~200 features
#   and 64 hidden units); measured fields <= 5.7e-8 (random models) and 9.2e-7 (de-square),
#   energies <= 1.3e-7.
FLOAT32_FIELD, FLOAT32_ENERGY = 1e-5, 1e-6
TOLERANCES = {"float64": (ROUND_OFF_64, ROUND_OFF_64), "float32": (FLOAT32_FIELD, FLOAT32_ENERGY)}

# the cuda cases run under numba's CUDA simulator (conftest), or on a real GPU with
# NUMBA_ENABLE_CUDASIM=0
needs_cuda = pytest.mark.skipif(gpu_device() is None, reason="no CUDA: neither the simulator "
                                     "nor a GPU with CuPy")


def _lattice(kind):
    return Lattice.from_kind(kind, 8)  # 64 sites: the simulator runs one Python call per thread


def _compare(provider, reference, spins, dtype):
    field_tol, energy_tol = TOLERANCES[dtype]
    e, h = provider.energy_and_field(spins)
    e_ref, h_ref = reference.energy_and_field(spins)
    h = provider.backend.to_host(h)
    assert h.dtype == np.dtype(dtype)
    assert np.abs(h_ref).max() > 1e-2  # a field to compare
    np.testing.assert_allclose(h, h_ref, rtol=0, atol=field_tol)
    assert abs(e - e_ref) <= energy_tol * max(1.0, abs(e_ref))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["cpu", pytest.param("cuda", marks=needs_cuda)])
def test_kernels_match_the_torch_reference(model_path, backend, dtype):
    kind, path = model_path
    lattice = _lattice(kind)
    spins = random_spins(lattice, 3)
    reference = MLField(path, lattice, "float64", "reference")
    _compare(MLField(path, lattice, dtype, backend), reference, spins, dtype)


@pytest.mark.parametrize("backend", ["cpu", pytest.param("cuda", marks=needs_cuda)])
def test_any_layout_and_activation_runs_without_new_code(tmp_path, backend):
    """A tanh network of three hidden layers of unequal widths (the shipped models are SiLU
    with two of 64): the kernels take the layout from the model file."""
    from conftest import write_random_model

    path = write_random_model(tmp_path / "tanh.safetensors", "square", hidden=(24, 16, 8),
                              seed=5, activation="tanh")
    lattice = _lattice("square")
    reference = MLField(path, lattice, "float64", "reference")
    _compare(MLField(path, lattice, "float64", backend), reference, random_spins(lattice, 4),
             "float64")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, kind, size", [("de-square", "square", 30),
                                              ("sd-triangular", "triangular", 24)])
def test_shipped_model_matches_the_torch_reference(name, kind, size, dtype):
    """The shipped models (de-square: 203 features, fields up to several t_1 on 30 x 30;
    sd-triangular: 602 features, 73 sites in its cutoff, on 24 x 24), 64-64 SiLU: the tiers
    hold on trained models too."""
    lattice = Lattice.from_kind(kind, size)
    spins = random_spins(lattice, 5)
    reference = MLField.pretrained(name, lattice, "float64", "reference")
    _compare(MLField.pretrained(name, lattice, dtype, "cpu"), reference, spins, dtype)


@needs_cuda
def test_shipped_sd_triangular_on_cuda():
    """The largest shipped descriptor (sd-triangular: 602 features, 73 sites in its cutoff) on
    the cuda backend, on 9 x 9, the smallest triangular lattice it fits (~40 s under the
    simulator)."""
    lattice = Lattice.from_kind("triangular", 9)
    reference = MLField.pretrained("sd-triangular", lattice, "float64", "reference")
    _compare(MLField.pretrained("sd-triangular", lattice, "float64", "cuda"), reference,
             random_spins(lattice, 5), "float64")


def test_tiles_do_not_change_the_result(model_path):
    """Tiles of 7 sites (a partial last tile) against one tile of the whole lattice: the same
    per-site arithmetic; only the energy's summation order differs (ROUND_OFF_64)."""
    kind, path = model_path
    lattice = _lattice(kind)
    spins = random_spins(lattice, 4)
    ml = MLField(path, lattice, "float64", "cpu")
    e0, h0 = ml.energy_and_field(spins)
    ml._tiles = TiledNetwork(*_model_parts(path, lattice), ml.backend, tile=7)
    e1, h1 = ml.energy_and_field(spins)
    np.testing.assert_allclose(h1, h0, rtol=0, atol=ROUND_OFF_64)
    assert abs(e1 - e0) < ROUND_OFF_64 * abs(e0)


def _model_parts(path, lattice):
    from llgsim.ml.modelfile import open_model

    return open_model(path, lattice)


def test_worker_threads_do_not_change_a_bit(model_path):
    """Tiles are assigned to worker threads, but each tile's numbers and the order of the
    energy's tile sums are fixed: one thread and two give bitwise the same energy and field."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread on this machine: nothing to compare")
    kind, path = model_path
    lattice = Lattice.from_kind(kind, 12)
    spins = random_spins(lattice, 6)
    backend = get_backend("cpu")
    before = numba.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            tiles = TiledNetwork(*_model_parts(path, lattice), backend, tile=16)
            assert tiles._workers.count == threads
            field = backend.empty((lattice.n_sites, 3))
            out.append((tiles.evaluate(spins, field, True), field))
    finally:
        numba.set_num_threads(before)
    assert out[0][0] == out[1][0]
    np.testing.assert_array_equal(out[0][1], out[1][1])


@pytest.mark.parametrize("backend", ["cpu", pytest.param("cuda", marks=needs_cuda)])
def test_two_evaluations_are_bitwise_equal(model_path, backend):
    kind, path = model_path
    lattice = _lattice(kind)
    spins = random_spins(lattice, 7)
    ml = MLField(path, lattice, "float32", backend)
    e0, h0 = ml.energy_and_field(spins)
    e1, h1 = ml.energy_and_field(spins)
    assert e0 == e1
    np.testing.assert_array_equal(ml.backend.to_host(h0), ml.backend.to_host(h1))


@needs_cuda
@pytest.mark.parametrize("scheme", ["sib", "heun"])
def test_short_trajectory_agrees_between_cpu_and_cuda(tmp_path, scheme):
    """Three noisy steps (kT = 0.1, alpha = 0.1, dt = 0.05) driven by a square-lattice ML
    field, float64, on each backend: the same Philox noise and the same model, so the spins
    agree to round-off (ROUND_OFF_64: 3 steps of a map with Lipschitz constant ~1). (One
    lattice kind: the simulator takes ~20 s per step; the kernels' parity on both kinds is
    tested above.)"""
    from conftest import write_random_model

    kind, path = "square", write_random_model(tmp_path / "square.safetensors", "square")
    lattice = _lattice(kind)
    spins = {}
    for name in ("cpu", "cuda"):
        ml = MLField(path, lattice, "float64", name)
        stepper = make_stepper(scheme, ml, dt=0.05, alpha=0.1, seed=12)
        s = ml.backend.asarray(random_spins(lattice, 8))
        for step in range(3):
            s, _ = stepper.advance(s, step, 0.1, False)
        spins[name] = ml.backend.to_host(s)
    assert np.abs(spins["cpu"] - random_spins(lattice, 8)).max() > 1e-2  # the spins moved
    np.testing.assert_allclose(spins["cuda"], spins["cpu"], rtol=0, atol=ROUND_OFF_64)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["cpu", pytest.param("cuda", marks=needs_cuda)])
@pytest.mark.parametrize("scheme", ["sib", "heun"])
def test_fused_step_equals_the_generic_step_bit_for_bit(model_path, backend, dtype, scheme):
    """The ML field's own step (field gather, Philox noise and update fused per site) runs the
    generic step's per-site functions in the same order on the same rounded numbers, with and
    without noise: every spin and energy is bitwise equal. (Under the simulator, ~6 s a step:
    the square lattice only, and Heun in float64 only.)"""
    from llgsim.dynamics import GenericStepper
    from llgsim.fields.ml_step import FusedMLStepper

    kind, path = model_path
    if backend == "cuda" and (kind != "square" or (scheme, dtype) == ("heun", "float32")):
        pytest.skip("simulated cuda: the square lattice, and Heun in float64, cover the kernels")
    lattice = _lattice(kind)
    ml = MLField(path, lattice, dtype, backend)
    fused = make_stepper(scheme, ml, dt=0.05, alpha=0.3, seed=7)
    assert isinstance(fused, FusedMLStepper)
    generic = GenericStepper(scheme, ml, dt=0.05, alpha=0.3, seed=7)
    a = ml.backend.asarray(random_spins(lattice, 9))
    b = a.copy()
    for step, kT in enumerate((0.2, 0.0)):
        a, ea = fused.advance(a, step, kT, True)
        b, eb = generic.advance(b, step, kT, True)
        assert ea == eb
        np.testing.assert_array_equal(ml.backend.to_host(a), ml.backend.to_host(b))
