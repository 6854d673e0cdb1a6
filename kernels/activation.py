"""Bias and activation of one MLP layer over a tile of sites, with the derivative the backward
pass needs: numba CPU launchers and numba-cuda kernels side by side.

For the pre-activations z (W x, rows of units, sites last) and the bias b of the layer:

    z <- z + b,   a = phi(z),   d = phi'(z)

for the shipped activations (llgsim.ml.network):

    SiLU: phi(z) = z s,  s = 1 / (1 + exp(-z)),  phi'(z) = s (1 + z (1 - s));
    tanh: phi(z) = tanh z,                       phi'(z) = 1 - tanh^2 z.

Arrays: z, a, d (units, n) C-contiguous of one float dtype; bias (units, 1) of that dtype.
The CPU path makes three passes over the rows (bias and -z; numpy's vectorised exp or tanh in
place; the rest), each a SIMD loop (numba's "numpy" error model: a division by zero gives inf
rather than raising, which is what lets LLVM vectorise the divisions), against ten passes of
numpy ufuncs. The GPU
kernel does it all per element in one pass. exp(-z) overflows to inf for z < -88 (float32) or
-709 (float64): s = 0, phi = -0 and phi' = 0, the limits.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, njit

#: the activations these kernels implement (model file metadata "network.activation")
ACTIVATIONS = ("silu", "tanh")


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _add_bias(z, bias, negated):
    """z += bias (per row); negated = -z (for SiLU's exp) or None."""
    for u in range(z.shape[0]):
        b, zu = bias[u, 0], z[u]
        for k in range(zu.shape[0]):
            zu[k] += b
        if negated is not None:
            nu = negated[u]
            for k in range(zu.shape[0]):
                nu[k] = -zu[k]


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _silu_finish(z, a, d):
    """d holds exp(-z) on entry: a = z s, d = s (1 + z (1 - s)), s = 1 / (1 + exp(-z))."""
    one = z.dtype.type(1)
    for u in range(z.shape[0]):
        zu, au, du = z[u], a[u], d[u]
        for k in range(zu.shape[0]):
            v = zu[k]
            s = one / (one + du[k])
            au[k] = v * s
            du[k] = s * (one + v * (one - s))


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
        _add_bias(z, bias, d)
        with np.errstate(over="ignore"):  # exp(-z) = inf far below zero: s = 0, the limit
            np.exp(d, out=d)
        _silu_finish(z, a, d)
    else:
        _add_bias(z, bias, None)
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
