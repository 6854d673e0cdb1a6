"""Counter-based standard normal deviates: Philox-4x32-10 and the Box-Muller transform.

Every normal a run draws is a pure function of (seed, step, site, component): the thermal noise
of step n at site i needs no generator state, so a checkpoint holds only the seed and the step,
and every backend, thread count or launch configuration draws the same numbers.

Philox-4x32-10 (J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw, "Parallel random numbers:
as easy as 1, 2, 3", SC11, doi:10.1145/2063384.2063405) maps a 128-bit counter and a 64-bit key
to 128 random bits with ten rounds of

    (c0, c1, c2, c3) -> (hi(M1 c2) ^ c1 ^ k0, lo(M1 c2), hi(M0 c0) ^ c3 ^ k1, lo(M0 c0)),

the key advancing by the Weyl constants (W0, W1) between rounds; hi/lo are the upper and lower
32 bits of the 64-bit product. Counter of site i at step n in stream s: (i, n mod 2^32,
n div 2^32, s); key: (seed mod 2^32, seed div 2^32). The four 32-bit words x_k become uniforms
u_k = (x_k + 1/2) 2^-32 in (0, 1), and two Box-Muller pairs give normals

    z0 = r1 cos(2 pi u1),  z1 = r1 sin(2 pi u1),  z2 = r2 cos(2 pi u3),  r = sqrt(-2 ln u),

of which (z0, z1, z2) are the x, y, z components (the fourth is not used). 32-bit uniforms cut
the tails at |z| = sqrt(2 ln 2^33) = 6.8, a probability of 1e-11 per draw.

All arithmetic on the words is done in uint64 holding 32-bit values (masked after every
addition), so numba-compiled code (CPU and CUDA) and plain Python give the same words. The
normals are computed in float64 and cast to the output dtype when stored. The numpy reference
:func:`fill_normals_reference` evaluates the logarithm and trigonometric functions with Python's
``math`` module, which rounds like the C library that numba calls (numpy's vectorised ``np.log``
differs from it in the last bit for ~0.3 % of arguments), so reference and CPU normals are
bitwise equal.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, njit, prange
from numba.extending import register_jitable

_MASK = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_ROUNDS = 10
_TWO_PI = 2.0 * math.pi
_INV_2_32 = 1.0 / 4294967296.0

#: counter word c3 of the thermal noise of the integrators
THERMAL_STREAM = 0


@register_jitable
def philox4x32(c0, c1, c2, c3, k0, k1):
    """The ten Philox-4x32 rounds: four uint64 words < 2^32 (the counter) and two (the key) ->
    four random words < 2^32 (uint64)."""
    for r in range(_ROUNDS):
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = ((p1 >> _SHIFT) ^ c1 ^ k0, p1 & _MASK,
                          (p0 >> _SHIFT) ^ c3 ^ k1, p0 & _MASK)
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return c0, c1, c2, c3


@register_jitable
def uniform(word):
    """(word + 1/2) 2^-32 in (0, 1), float64, for a 32-bit word."""
    return (np.float64(word) + 0.5) * _INV_2_32


@register_jitable
def site_normals(k0, k1, n0, n1, site, stream):
    """Three standard normals (float64) of ``site`` at the step with words (n0, n1) for the key
    (k0, k1) (module docstring); all arguments uint64 < 2^32."""
    x0, x1, x2, x3 = philox4x32(site, n0, n1, stream, k0, k1)
    r1 = math.sqrt(-2.0 * math.log(uniform(x0)))
    r2 = math.sqrt(-2.0 * math.log(uniform(x2)))
    a1 = _TWO_PI * uniform(x1)
    return r1 * math.cos(a1), r1 * math.sin(a1), r2 * math.cos(_TWO_PI * uniform(x3))


def split_words(value: int) -> tuple[np.uint64, np.uint64]:
    """(value mod 2^32, value div 2^32) of a non-negative integer < 2^64, as uint64."""
    return np.uint64(value & 0xFFFFFFFF), np.uint64((value >> 32) & 0xFFFFFFFF)


@njit(cache=True, parallel=True)
def _fill_cpu(k0, k1, n0, n1, stream, out):
    for i in prange(out.shape[0]):
        z0, z1, z2 = site_normals(k0, k1, n0, n1, np.uint64(i), stream)
        out[i, 0] = z0
        out[i, 1] = z1
        out[i, 2] = z2


def fill_normals_cpu(seed: int, step: int, stream: int, out: np.ndarray) -> None:
    """out (N, 3) float64 or float32 <- the normals of (seed, step, site, component), numba
    parallel over sites."""
    k0, k1 = split_words(seed)
    n0, n1 = split_words(step)
    _fill_cpu(k0, k1, n0, n1, np.uint64(stream), out)


@cuda.jit
def _fill_kernel(k0, k1, n0, n1, stream, out):
    i = cuda.grid(1)
    if i < out.shape[0]:
        z0, z1, z2 = site_normals(k0, k1, n0, n1, np.uint64(i), stream)
        out[i, 0] = z0
        out[i, 1] = z1
        out[i, 2] = z2


#: threads per block of the CUDA launch (one thread per site)
THREADS = 128


def fill_normals_cuda(seed: int, step: int, stream: int, out) -> None:
    """CUDA version of :func:`fill_normals_cpu`: out (N, 3) float64 or float32 device array,
    one thread per site. Under numba's CUDA simulator the normals equal the CPU's bit for bit;
    on a GPU, libdevice's log, cos and sin may round differently in the last bit (a few ulp of
    the normal); the Philox words are identical everywhere."""
    k0, k1 = split_words(seed)
    n0, n1 = split_words(step)
    blocks = (out.shape[0] + THREADS - 1) // THREADS
    _fill_kernel[blocks, THREADS](k0, k1, n0, n1, np.uint64(stream), out)


def philox4x32_reference(counter, key):
    """numpy Philox-4x32-10 on arrays: counter (4, n) and key (2,) uint64 words < 2^32 ->
    (4, n) uint64 words."""
    c = [np.asarray(w, dtype=np.uint64) for w in counter]
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for _ in range(_ROUNDS):
        p0 = _M0 * c[0]
        p1 = _M1 * c[2]
        c = [(p1 >> _SHIFT) ^ c[1] ^ k0, p1 & _MASK, (p0 >> _SHIFT) ^ c[3] ^ k1, p0 & _MASK]
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return np.stack(c)


_log = np.frompyfunc(math.log, 1, 1)
_cos = np.frompyfunc(math.cos, 1, 1)
_sin = np.frompyfunc(math.sin, 1, 1)


def fill_normals_reference(seed: int, step: int, stream: int, out: np.ndarray) -> None:
    """numpy version of :func:`fill_normals_cpu` (same normals, bit for bit)."""
    n = out.shape[0]
    n0, n1 = split_words(step)
    words = philox4x32_reference(
        [np.arange(n, dtype=np.uint64), np.full(n, n0), np.full(n, n1),
         np.full(n, np.uint64(stream))], split_words(seed))
    u = (words.astype(np.float64) + 0.5) * _INV_2_32
    r1 = np.sqrt(-2.0 * _log(u[0]).astype(np.float64))
    r2 = np.sqrt(-2.0 * _log(u[2]).astype(np.float64))
    a1 = _TWO_PI * u[1]
    out[:, 0] = r1 * _cos(a1).astype(np.float64)
    out[:, 1] = r1 * _sin(a1).astype(np.float64)
    out[:, 2] = r2 * _cos(_TWO_PI * u[3]).astype(np.float64)
