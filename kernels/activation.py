"""Bias and activation of one MLP layer over a tile of sites, with the derivative the backward
pass needs: numba CPU launchers and numba-cuda kernels side by side.

For the pre-activations z (W x, rows of units, sites last) and the bias b of the layer:

    z <- z + b,   a = phi(z),   d = phi'(z)

for the shipped activations (llgsim.ml.network):

    SiLU: phi(z) = z s,  s = 1 / (1 + exp(-z)),  phi'(z) = s (1 + z (1 - s));
    tanh: phi(z) = tanh z,                       phi'(z) = 1 - tanh^2 z.

Arrays: z, a, d (units, n) C-contiguous of one float dtype; bias (units, 1) of that dtype.

CPU, SiLU: one SIMD pass per row computes exp(-z) itself, because numpy's exp is not vectorised
on this path (measured 1.3 ns per float32 and 5 ns per float64 element on a 2-core AMD EPYC,
where the pass below takes 0.8 and 2.0 ns for the whole SiLU; BENCHMARKS.md). With x = -z
clipped to [X_MIN, X_MAX] of the dtype (exp(x) stays a finite normal number) and
k = floor(x / ln 2 + 1/2):

    exp(x) = 2^k exp(r),   r = (x - k ln2_hi) - k ln2_lo,   |r| <= ln 2 / 2,

with ln 2 split in two (Cody and Waite, "Software Manual for the Elementary Functions", 1980)
so that r is exact to the dtype, exp(r) by its Taylor polynomial of degree 7 (float32) or 13
(float64), whose truncation error |r|^(d+1)/(d+1)! is 5e-9 and 4e-18, below half an ulp, and 2^k
assembled from its bits: k + MAGIC (MAGIC = 1.5 2^p + exponent bias, p the mantissa bits) holds
the biased exponent in its low bits, which a shift by p moves into the exponent field. The
exponent arithmetic runs on a scratch row per call, so that every loop vectorises (no float to
int conversion, which AVX2 lacks for int64). The fast-math flags allow FMA contraction but not
reassociation, which would fold the two halves of ln 2 back together. Below z = -X_MAX (-88 in
float32, -709 in float64) s = 1 / (1 + exp(-z)) underflows to ~1e-38 (1e-308) instead of 0, and
phi, phi' with it: their limits to within the dtype's smallest normal numbers. tanh uses numpy's
tanh and one pass for the rest.

The GPU kernel does it all per element in one pass with the device's exp; exp(-z) = inf for
z < -88 (float32) or -709 (float64) gives s = 0, phi = -0 and phi' = 0, the limits.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, njit

#: the activations these kernels implement (model file metadata "network.activation")
ACTIVATIONS = ("silu", "tanh")


#: fast-math flags of the SiLU pass: FMA contraction, no reassociation (module docstring)
_EXP_FLAGS = {"nnan", "ninf", "nsz", "contract"}


def _exp_constants(dtype) -> tuple:
    """(Taylor coefficients of exp(r), highest degree first; X_MIN; X_MAX; MAGIC; ln2_hi;
    ln2_lo; p) of the CPU SiLU pass for a float dtype (module docstring)."""
    if np.dtype(dtype) == np.float32:
        f, degree, bits, bias = np.float32, 7, 23, 127
        hi, lo, x_min, x_max = 0.693145751953125, 1.428606765330187e-06, -87.0, 88.0
    else:
        f, degree, bits, bias = np.float64, 13, 52, 1023
        hi, lo, x_min, x_max = 6.93147180369123816490e-01, 1.90821492927058770002e-10, -708.0, 709.0
    taylor = tuple(f(1 / math.factorial(j)) for j in range(degree, -1, -1))
    return taylor, f(x_min), f(x_max), f(1.5 * 2.0**bits + bias), f(hi), f(lo), bits


_EXP = {np.dtype(t): _exp_constants(t) for t in (np.float32, np.float64)}


@njit(cache=True, nogil=True, fastmath=_EXP_FLAGS, error_model="numpy")
def _silu_cpu(z, bias, a, d, taylor, x_min, x_max, magic, ln2_hi, ln2_lo, bits, scratch):
    """z += bias, a = phi(z), d = phi'(z) for SiLU (module docstring); ``scratch`` an int
    array (two rows of z's length, int32 for float32, int64 for float64)."""
    one, half = z.dtype.type(1), z.dtype.type(0.5)
    log2e = z.dtype.type(1.4426950408889634)
    power = scratch[0]
    poly, scale = scratch[1].view(z.dtype), power.view(z.dtype)
    for u in range(z.shape[0]):
        b, zu, au, du = bias[u, 0], z[u], a[u], d[u]
        for k in range(zu.shape[0]):
            v = zu[k] + b
            zu[k] = v
            x = -v
            x = x_min if x < x_min else x
            x = x_max if x > x_max else x
            kf = np.floor(x * log2e + half)
            r = (x - kf * ln2_hi) - kf * ln2_lo
            p = taylor[0]
            for c in taylor[1:]:
                p = p * r + c
            poly[k] = p
            scale[k] = kf + magic
        for k in range(zu.shape[0]):
            power[k] = power[k] << bits
        for k in range(zu.shape[0]):
            v = zu[k]
            s = one / (one + poly[k] * scale[k])
            au[k] = v * s
            du[k] = s * (one + v * (one - s))


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _add_bias(z, bias):
    """z += bias (per row)."""
    for u in range(z.shape[0]):
        b, zu = bias[u, 0], z[u]
        for k in range(zu.shape[0]):
            zu[k] += b


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _tanh_finish(a, d):
    """d = 1 - a^2 for a = tanh z."""
    one = a.dtype.type(1)
    for u in range(a.shape[0]):
        au, du = a[u], d[u]
        for k in range(au.shape[0]):
            du[k] = one - au[k] * au[k]


def activate_cpu(activation: str, z, bias, a, d) -> None:
    """z += bias, a = phi(z), d = phi'(z) (module docstring)."""
    if activation == "silu":
        constants = _EXP[z.dtype]
        scratch = np.empty((2, z.shape[1]), dtype=np.int32 if z.itemsize == 4 else np.int64)
        _silu_cpu(z, bias, a, d, *constants, scratch)
    else:
        _add_bias(z, bias)
        np.tanh(z, out=a)
        _tanh_finish(a, d)


@cuda.jit
def _silu_kernel(z, bias, a, d):
    k, u = cuda.grid(2)
    if k < z.shape[1] and u < z.shape[0]:
        one = z.dtype.type(1)  # a literal 1.0 would promote float32 arithmetic to float64
        v = z[u, k] + bias[u, 0]
        z[u, k] = v
        s = one / (one + math.exp(-v))
        a[u, k] = v * s
        d[u, k] = s * (one + v * (one - s))


@cuda.jit
def _tanh_kernel(z, bias, a, d):
    k, u = cuda.grid(2)
    if k < z.shape[1] and u < z.shape[0]:
        v = z[u, k] + bias[u, 0]
        z[u, k] = v
        t = math.tanh(v)
        a[u, k] = t
        d[u, k] = z.dtype.type(1) - t * t


#: threads per block along the sites of the CUDA launches (one thread per unit and site)
THREADS = 128


def activate_cuda(activation: str, z, bias, a, d) -> None:
    """CUDA version of :func:`activate_cpu` (same arguments, device arrays)."""
    kernel = _silu_kernel if activation == "silu" else _tanh_kernel
    kernel[((z.shape[1] + THREADS - 1) // THREADS, z.shape[0]), (THREADS, 1)](z, bias, a, d)
