"""The CPU activation pass (kernels/activation.py) against the activation evaluated in extended
precision (numpy's longdouble): SiLU with its own exp, and tanh, in float64 and float32."""

import numpy as np
import pytest

from llgsim.kernels.activation import activate_cpu

# Tolerances: errors in units of the dtype's eps, relative to max(1, |want|) (the units' values
# are O(1); smaller ones only need absolute accuracy in the GEMM that follows).
# PHI_ULPS: phi rounds in the reduction, the polynomial, the division and one product: measured
#   <= 1.1 (SiLU) and 0.5 (tanh) over z in [-61, 61], both dtypes; 4.
PHI_ULPS = 4
# phi' = s (1 + z (1 - s)) inherits the rounding of s, eps / 2, times |z| through 1 - s (any
# evaluation of this formula does): allowed 4 + |z| eps; measured 18 eps at |z| ~ 60 (float64).
# Below z = -X_MAX the exponential is clipped (module docstring): phi and phi' must be no larger
# than a few multiples of the dtype's smallest normal number times |z|.
CLIPPED = {"float32": -88.0, "float64": -709.0}


def _reference(z, activation):
    z = z.astype(np.longdouble)
    if activation == "tanh":
        a = np.tanh(z)
        return a, 1 - a * a
    s = 1 / (1 + np.exp(-z))
    return z * s, s * (1 + z * (1 - s))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("activation", ["silu", "tanh"])
def test_activation_pass_matches_extended_precision(dtype, activation):
    rng = np.random.default_rng(7)
    pre = np.concatenate([np.linspace(-60, 60, 2400), 8 * rng.standard_normal(2000)])
    pre = pre.reshape(5, -1).astype(dtype)  # 5 units of 880 sites (SIMD bodies and tails)
    bias = rng.standard_normal((5, 1)).astype(dtype)
    z, a, d = pre.copy(), np.empty_like(pre), np.empty_like(pre)
    activate_cpu(activation, z, bias, a, d)
    np.testing.assert_array_equal(z, pre + bias)
    want_a, want_d = _reference(z, activation)
    eps = np.finfo(dtype).eps
    for got, want, ulps in ((a, want_a, PHI_ULPS), (d, want_d, 4 + np.abs(z))):
        err = np.abs(got - want) / np.maximum(1, np.abs(want)) / eps
        assert np.all(err <= ulps), err.max()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_silu_far_below_zero_is_at_its_limits(dtype):
    """exp(-z) is clipped below z = -X_MAX: phi = z s and phi' stay ~tiny, s never exactly 1/0."""
    z = np.array([[CLIPPED[dtype] - 1, -1000.0, -3e4, CLIPPED[dtype] + 1]], dtype=dtype)
    a, d = np.empty_like(z), np.empty_like(z)
    activate_cpu("silu", z, np.zeros((1, 1), dtype), a, d)
    tiny = np.finfo(dtype).tiny
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))
    assert np.all(np.abs(a[0, :3]) <= 4 * tiny * np.abs(z[0, :3]))
    assert np.all(np.abs(d[0, :3]) <= 4 * tiny * np.abs(z[0, :3]))
    assert 0 > a[0, 3] > -1e-30  # just inside the range: exp is exact, s ~ 1e-38 / 1e-307
