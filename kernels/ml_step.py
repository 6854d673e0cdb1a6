"""The fused stages of an ML-driven integrator step: the field gather of kernels/descriptor.py,
the thermal noise of kernels/philox.py and the SIB or Heun update of kernels/llg.py in one pass
over the sites, on the CPU (numba, parallel over sites) and the GPU (one thread per site).

A step from spins s with noise increment b (llgsim.dynamics.stepper; kernels/llg.py for the
equations) runs

    tiles(s)                      site gradients g and parallel fields h at s (ml_tiles)
    predict: f = H(s), m          the field gathered from g at each site, its noise drawn
                                  there (Philox keyed by seed, step, site), the predictor's
                                  midpoint m (SIB) or predicted spin (Heun)
    tiles(m)
    correct: s' from s, f, m, H(m), b  (b drawn again: the same counter gives the same normals)

so neither a field of the midpoint nor a noise array is ever stored, and each site's numbers are
those of the generic step (llgsim.dynamics.GenericStepper: field kernel, noise kernel,
predictor and corrector kernels) bit for bit: the same per-site functions in the same order, the
normals rounded to the spins' dtype as the generic noise buffer stores them.

Arguments: ``scheme`` 0 (SIB) or 1 (Heun); ``spins``, ``mid``, ``field``, ``out`` (N, 3) of one
float dtype; ``geometry`` = (offsets (M, 2) int32, lx, ly) and ``g`` (M, 3, N), ``parallel``
(N,) as in kernels/descriptor.py; ``key`` = (k0, k1, n0, n1) the uint64 words of seed and step
(kernels/philox.py); ``noisy`` (bool) whether kT > 0; ``amplitude`` the noise standard
deviation per step (kernels/llg.noise_amplitude), ``dt``, ``alpha``.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, njit, prange
from numba.extending import register_jitable

from .descriptor import site_field
from .llg import heun_correct, heun_predict, sib_correct, sib_predict
from .philox import THERMAL_STREAM, site_normals

SIB, HEUN = 0, 1


@register_jitable
def kick(spins, k0, k1, n0, n1, noisy, amplitude, i):
    """Noise increment b_i = amplitude * n_i (n_i the step's normals at site i, rounded to the
    spins' dtype as a noise buffer stores them); zero when not ``noisy``."""
    if not noisy:
        return 0.0, 0.0, 0.0
    z0, z1, z2 = site_normals(k0, k1, n0, n1, np.uint64(i), np.uint64(THERMAL_STREAM))
    cast = spins.dtype.type
    return amplitude * cast(z0), amplitude * cast(z1), amplitude * cast(z2)


@register_jitable
def predict_site(scheme, spins, geometry_offsets, lx, ly, g, parallel, k0, k1, n0, n1, noisy,
                 amplitude, dt, alpha, field, mid, i):
    """field[i] = H_i(s); mid[i] = the SIB midpoint or the Heun predicted spin."""
    fx, fy, fz = site_field(spins, geometry_offsets, lx, ly, g, parallel, i)
    field[i, 0], field[i, 1], field[i, 2] = fx, fy, fz
    fx, fy, fz = field[i, 0], field[i, 1], field[i, 2]  # as stored (the generic step reads it)
    bx, by, bz = kick(spins, k0, k1, n0, n1, noisy, amplitude, i)
    sx, sy, sz = spins[i, 0], spins[i, 1], spins[i, 2]
    if scheme == SIB:
        mid[i, 0], mid[i, 1], mid[i, 2] = sib_predict(sx, sy, sz, fx, fy, fz, bx, by, bz, dt,
                                                      alpha)
    else:
        mid[i, 0], mid[i, 1], mid[i, 2] = heun_predict(sx, sy, sz, fx, fy, fz, bx, by, bz, dt,
                                                       alpha)


@register_jitable
def correct_site(scheme, spins, mid, geometry_offsets, lx, ly, g, parallel, field, k0, k1, n0,
                 n1, noisy, amplitude, dt, alpha, out, i):
    """out[i] = the corrected spin from s, H(s) (``field``), m and H(m) (gathered here)."""
    hx, hy, hz = site_field(mid, geometry_offsets, lx, ly, g, parallel, i)
    cast = spins.dtype.type
    hx, hy, hz = cast(hx), cast(hy), cast(hz)  # as a field buffer would store them
    bx, by, bz = kick(spins, k0, k1, n0, n1, noisy, amplitude, i)
    sx, sy, sz = spins[i, 0], spins[i, 1], spins[i, 2]
    mx, my, mz = mid[i, 0], mid[i, 1], mid[i, 2]
    if scheme == SIB:
        out[i, 0], out[i, 1], out[i, 2] = sib_correct(sx, sy, sz, mx, my, mz, hx, hy, hz,
                                                      bx, by, bz, dt, alpha)
    else:
        out[i, 0], out[i, 1], out[i, 2] = heun_correct(
            sx, sy, sz, field[i, 0], field[i, 1], field[i, 2], mx, my, mz, hx, hy, hz,
            bx, by, bz, dt, alpha)


# ---------------------------------------------------------------------- CPU launchers

@njit(cache=True, parallel=True)
def predict_cpu(scheme, spins, offsets, lx, ly, g, parallel, k0, k1, n0, n1, noisy, amplitude,
                dt, alpha, field, mid):
    """field = H(s) and mid = the predictor's spins, every site (module docstring)."""
    for i in prange(spins.shape[0]):
        predict_site(scheme, spins, offsets, lx, ly, g, parallel, k0, k1, n0, n1, noisy,
                     amplitude, dt, alpha, field, mid, i)


@njit(cache=True, parallel=True)
def correct_cpu(scheme, spins, mid, offsets, lx, ly, g, parallel, field, k0, k1, n0, n1, noisy,
                amplitude, dt, alpha, out):
    """out = the step's new spins, every site (module docstring)."""
    for i in prange(spins.shape[0]):
        correct_site(scheme, spins, mid, offsets, lx, ly, g, parallel, field, k0, k1, n0, n1,
                     noisy, amplitude, dt, alpha, out, i)


# ---------------------------------------------------------------------- CUDA launchers

@cuda.jit
def _predict_kernel(scheme, spins, offsets, lx, ly, g, parallel, k0, k1, n0, n1, noisy,
                    amplitude, dt, alpha, field, mid):
    i = cuda.grid(1)
    if i < spins.shape[0]:
        predict_site(scheme, spins, offsets, lx, ly, g, parallel, k0, k1, n0, n1, noisy,
                     amplitude, dt, alpha, field, mid, i)


@cuda.jit
def _correct_kernel(scheme, spins, mid, offsets, lx, ly, g, parallel, field, k0, k1, n0, n1,
                    noisy, amplitude, dt, alpha, out):
    i = cuda.grid(1)
    if i < spins.shape[0]:
        correct_site(scheme, spins, mid, offsets, lx, ly, g, parallel, field, k0, k1, n0, n1,
                     noisy, amplitude, dt, alpha, out, i)


#: threads per block of the CUDA launches (one thread per site)
THREADS = 128


def predict_cuda(scheme, spins, *rest):
    """CUDA version of :func:`predict_cpu` (same arguments, device arrays)."""
    _predict_kernel[(spins.shape[0] + THREADS - 1) // THREADS, THREADS](scheme, spins, *rest)


def correct_cuda(scheme, spins, *rest):
    """CUDA version of :func:`correct_cpu` (same arguments, device arrays)."""
    _correct_kernel[(spins.shape[0] + THREADS - 1) // THREADS, THREADS](scheme, spins, *rest)
