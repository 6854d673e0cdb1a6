"""Per-site math of the stochastic Landau-Lifshitz integrators (SIB and Heun), with the numpy
reference and the numba CPU launchers side by side.

Equation of motion (Landau-Lifshitz form, gamma = 1, hbar = 1; docs/physics.md, section 4):

    dS/dt = -S x (H + xi) - alpha S x (S x (H + xi)),

xi Gaussian white noise (Stratonovich) of strength D = alpha kT / (1 + alpha^2); over one step
the noise increment b = xi dt has per component the standard deviation sqrt(2 D dt)
(:func:`noise_amplitude`), b = amplitude * n with standard normals n.

SIB (semi-implicit scheme B of J. H. Mentink, M. V. Tretyakov, A. Fasolino, M. I. Katsnelson,
T. Rasing, J. Phys.: Condens. Matter 22, 176001 (2010), doi:10.1088/0953-8984/22/17/176001).
Each stage solves the implicit midpoint equation s' = s + (s + s') x w exactly, which keeps
|s'| = |s|, with

    w(a, g) = -1/2 [ g + alpha a x g ],    g = dt f + b,

for the field f, the noise increment b and the spin ``a`` of the damping cross product. Writing
(1 + [w]x) s' = r with r = s + s x w gives the closed form

    s' = [ r - w x r + w (w . r) ] / (1 + |w|^2).

Predictor: p = solve(s, w(s, dt f(s) + b)); the unit midpoint m = (s + p) / |s + p|.
Corrector: s_new = solve(s, w(m, dt f(m) + b)), the field AND the damping cross product at the
midpoint and the same noise b. That is second order in dt for the deterministic damped motion
(taking the damping cross product with s in the corrector is first order). The midpoint is
normalised because field providers are defined on unit spins; that moves it by
O(|p - s|^2) and keeps the order. The solve keeps |s'| = |s| in exact arithmetic; in floating
point each step adds round-off of ~eps (1 + |w|^2), which a float32 run or a very hot one (|w|
large) would accumulate over millions of steps, so the corrector's output is renormalised (one
square root per site): every state the integrator writes is a unit-spin state it accepts back.

Heun: d(a, f) = 2 a x w(a, dt f + b) = -a x g - alpha a x (a x g) is the explicit increment;
predictor p = (s + d(s, f(s))) / |...|, s_new = [s + (d(s, f(s)) + d(p, f(p))) / 2] / |...|,
the same noise in both (J. L. Garcia-Palacios, F. J. Lazaro, Phys. Rev. B 58, 14937 (1998),
doi:10.1103/PhysRevB.58.14937).

The per-site functions take and return vector components as scalars and touch no arrays, so the
CPU launchers (numba, ``prange`` over sites) and the CUDA kernels (numba-cuda, one thread per
site) share them. Launchers of one job
have one signature on every backend:

    <scheme>_predictor_<backend>(spins, field, normals, amplitude, dt, alpha, out)
    <scheme>_corrector_<backend>(spins, field, mid, field_mid, normals, amplitude, dt, alpha, out)

with spins, fields, mid and out (N, 3) C-contiguous arrays of one dtype (float64 or float32;
arithmetic in the promoted type), normals (N, 3) standard normals or None (kT = 0), ``mid`` the
predictor's output and ``field_mid`` the field there.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, njit, prange
from numba.extending import register_jitable


def noise_amplitude(alpha: float, kT: float, dt: float) -> float:
    """Standard deviation sqrt(2 D dt) of each component of the noise increment b = xi dt over
    one step, D = alpha kT / (1 + alpha^2) (energy x time units)."""
    return math.sqrt(2.0 * alpha * kT / (1.0 + alpha * alpha) * dt)


# ---------------------------------------------------------------------- per-site math

@register_jitable
def sib_w(ax, ay, az, gx, gy, gz, alpha):
    """w = -1/2 [g + alpha a x g] for the impulse g = dt f + b and the spin a of the damping
    cross product."""
    cx = ay * gz - az * gy
    cy = az * gx - ax * gz
    cz = ax * gy - ay * gx
    return -0.5 * (gx + alpha * cx), -0.5 * (gy + alpha * cy), -0.5 * (gz + alpha * cz)


@register_jitable
def sib_solve(sx, sy, sz, wx, wy, wz):
    """The s' that solves s' = s + (s + s') x w: s' = [r - w x r + w (w . r)] / (1 + |w|^2)
    with r = s + s x w. |s'| = |s| exactly (up to round-off)."""
    rx = sx + (sy * wz - sz * wy)
    ry = sy + (sz * wx - sx * wz)
    rz = sz + (sx * wy - sy * wx)
    wr = wx * rx + wy * ry + wz * rz
    inv = 1.0 / (1.0 + wx * wx + wy * wy + wz * wz)
    return ((rx - (wy * rz - wz * ry) + wx * wr) * inv,
            (ry - (wz * rx - wx * rz) + wy * wr) * inv,
            (rz - (wx * ry - wy * rx) + wz * wr) * inv)


@register_jitable
def sib_site(sx, sy, sz, ax, ay, az, fx, fy, fz, bx, by, bz, dt, alpha):
    """One SIB solve at one site: spin s, damping spin a, field f, noise increment b -> s'."""
    wx, wy, wz = sib_w(ax, ay, az, dt * fx + bx, dt * fy + by, dt * fz + bz, alpha)
    return sib_solve(sx, sy, sz, wx, wy, wz)


@register_jitable
def ll_increment(sx, sy, sz, fx, fy, fz, bx, by, bz, dt, alpha):
    """Explicit LL increment 2 s x w(s, g) = -s x g - alpha s x (s x g), g = dt f + b."""
    wx, wy, wz = sib_w(sx, sy, sz, dt * fx + bx, dt * fy + by, dt * fz + bz, alpha)
    return 2.0 * (sy * wz - sz * wy), 2.0 * (sz * wx - sx * wz), 2.0 * (sx * wy - sy * wx)


@register_jitable
def normalized(x, y, z):
    """(x, y, z) / |(x, y, z)|."""
    inv = 1.0 / math.sqrt(x * x + y * y + z * z)
    return x * inv, y * inv, z * inv


@register_jitable
def noise_at(normals, amplitude, i):
    """Noise increment b_i = amplitude * normals[i] (zero when ``normals`` is None)."""
    if normals is None:
        return 0.0, 0.0, 0.0
    return amplitude * normals[i, 0], amplitude * normals[i, 1], amplitude * normals[i, 2]


@register_jitable
def sib_predict(sx, sy, sz, fx, fy, fz, bx, by, bz, dt, alpha):
    """The unit SIB midpoint (s + p) / |s + p|, p = SIB(s; s, f, b)."""
    px, py, pz = sib_site(sx, sy, sz, sx, sy, sz, fx, fy, fz, bx, by, bz, dt, alpha)
    return normalized(sx + px, sy + py, sz + pz)


@register_jitable
def sib_correct(sx, sy, sz, mx, my, mz, hx, hy, hz, bx, by, bz, dt, alpha):
    """SIB(s; m, f(m), b), renormalised: field and damping cross product at the midpoint m."""
    nx, ny, nz = sib_site(sx, sy, sz, mx, my, mz, hx, hy, hz, bx, by, bz, dt, alpha)
    return normalized(nx, ny, nz)


@register_jitable
def heun_predict(sx, sy, sz, fx, fy, fz, bx, by, bz, dt, alpha):
    """(s + d0) / |s + d0|, d0 the LL increment at (s, f(s))."""
    dx, dy, dz = ll_increment(sx, sy, sz, fx, fy, fz, bx, by, bz, dt, alpha)
    return normalized(sx + dx, sy + dy, sz + dz)


@register_jitable
def heun_correct(sx, sy, sz, fx, fy, fz, mx, my, mz, hx, hy, hz, bx, by, bz, dt, alpha):
    """s + (d0 + d1) / 2 renormalised, d0 the LL increment at (s, f(s)) and d1 at the predicted
    spin m and its field h, the same noise in both."""
    ax, ay, az = ll_increment(sx, sy, sz, fx, fy, fz, bx, by, bz, dt, alpha)
    cx, cy, cz = ll_increment(mx, my, mz, hx, hy, hz, bx, by, bz, dt, alpha)
    return normalized(sx + 0.5 * (ax + cx), sy + 0.5 * (ay + cy), sz + 0.5 * (az + cz))


# ---------------------------------------------------------------------- CPU launchers

@njit(cache=True, parallel=True)
def sib_predictor_cpu(spins, field, normals, amplitude, dt, alpha, out):
    """out_i = the unit midpoint (s_i + p_i) / |s_i + p_i|, p_i = SIB(s_i; s_i, f_i, b_i)."""
    for i in prange(spins.shape[0]):
        out[i, 0], out[i, 1], out[i, 2] = sib_predict(
            spins[i, 0], spins[i, 1], spins[i, 2], field[i, 0], field[i, 1], field[i, 2],
            *noise_at(normals, amplitude, i), dt, alpha)


@njit(cache=True, parallel=True)
def sib_corrector_cpu(spins, field, mid, field_mid, normals, amplitude, dt, alpha, out):
    """out_i = SIB(s_i; m_i, f(m)_i, b_i): field and damping cross product at the midpoint m,
    the predictor's noise (``field`` is not used); renormalised (module docstring)."""
    for i in prange(spins.shape[0]):
        out[i, 0], out[i, 1], out[i, 2] = sib_correct(
            spins[i, 0], spins[i, 1], spins[i, 2], mid[i, 0], mid[i, 1], mid[i, 2],
            field_mid[i, 0], field_mid[i, 1], field_mid[i, 2], *noise_at(normals, amplitude, i),
            dt, alpha)


@njit(cache=True, parallel=True)
def heun_predictor_cpu(spins, field, normals, amplitude, dt, alpha, out):
    """out_i = (s_i + d0_i) / |s_i + d0_i|, d0 = the LL increment at (s, f(s))."""
    for i in prange(spins.shape[0]):
        out[i, 0], out[i, 1], out[i, 2] = heun_predict(
            spins[i, 0], spins[i, 1], spins[i, 2], field[i, 0], field[i, 1], field[i, 2],
            *noise_at(normals, amplitude, i), dt, alpha)


@njit(cache=True, parallel=True)
def heun_corrector_cpu(spins, field, mid, field_mid, normals, amplitude, dt, alpha, out):
    """out_i = normalised s_i + (d0_i + d1_i) / 2, d0 the LL increment at (s, f(s)) and d1 at
    the predicted spin (``mid``) and its field, the same noise in both."""
    for i in prange(spins.shape[0]):
        out[i, 0], out[i, 1], out[i, 2] = heun_correct(
            spins[i, 0], spins[i, 1], spins[i, 2], field[i, 0], field[i, 1], field[i, 2],
            mid[i, 0], mid[i, 1], mid[i, 2], field_mid[i, 0], field_mid[i, 1], field_mid[i, 2],
            *noise_at(normals, amplitude, i), dt, alpha)


# ---------------------------------------------------------------------- CUDA launchers
#
# One thread per site, the same per-site functions as the CPU launchers. A kernel takes no
# None argument: the launchers pass ``noisy`` (bool) and, when there is no noise, the spins as a
# stand-in for ``normals`` that the kernel never reads (one kernel per job compiles for both).

@register_jitable
def noise_flagged(normals, noisy, amplitude, i):
    """Noise increment b_i = amplitude * normals[i] when ``noisy``, else zero (as noise_at)."""
    if noisy:
        return amplitude * normals[i, 0], amplitude * normals[i, 1], amplitude * normals[i, 2]
    return 0.0, 0.0, 0.0


@cuda.jit
def _sib_predictor_kernel(spins, field, normals, noisy, amplitude, dt, alpha, out):
    i = cuda.grid(1)
    if i < spins.shape[0]:
        bx, by, bz = noise_flagged(normals, noisy, amplitude, i)
        out[i, 0], out[i, 1], out[i, 2] = sib_predict(
            spins[i, 0], spins[i, 1], spins[i, 2], field[i, 0], field[i, 1], field[i, 2],
            bx, by, bz, dt, alpha)


@cuda.jit
def _sib_corrector_kernel(spins, mid, field_mid, normals, noisy, amplitude, dt, alpha, out):
    i = cuda.grid(1)
    if i < spins.shape[0]:
        bx, by, bz = noise_flagged(normals, noisy, amplitude, i)
        out[i, 0], out[i, 1], out[i, 2] = sib_correct(
            spins[i, 0], spins[i, 1], spins[i, 2], mid[i, 0], mid[i, 1], mid[i, 2],
            field_mid[i, 0], field_mid[i, 1], field_mid[i, 2], bx, by, bz, dt, alpha)


@cuda.jit
def _heun_predictor_kernel(spins, field, normals, noisy, amplitude, dt, alpha, out):
    i = cuda.grid(1)
    if i < spins.shape[0]:
        bx, by, bz = noise_flagged(normals, noisy, amplitude, i)
        out[i, 0], out[i, 1], out[i, 2] = heun_predict(
            spins[i, 0], spins[i, 1], spins[i, 2], field[i, 0], field[i, 1], field[i, 2],
            bx, by, bz, dt, alpha)


@cuda.jit
def _heun_corrector_kernel(spins, field, mid, field_mid, normals, noisy, amplitude, dt, alpha,
                           out):
    i = cuda.grid(1)
    if i < spins.shape[0]:
        bx, by, bz = noise_flagged(normals, noisy, amplitude, i)
        out[i, 0], out[i, 1], out[i, 2] = heun_correct(
            spins[i, 0], spins[i, 1], spins[i, 2], field[i, 0], field[i, 1], field[i, 2],
            mid[i, 0], mid[i, 1], mid[i, 2], field_mid[i, 0], field_mid[i, 1], field_mid[i, 2],
            bx, by, bz, dt, alpha)


#: threads per block of the CUDA launches (one thread per site)
THREADS = 128


def _launch(kernel, n):
    """``kernel`` configured for n sites, one thread each."""
    return kernel[(n + THREADS - 1) // THREADS, THREADS]


def _noise_args(spins, normals, amplitude):
    """(normals or a never-read stand-in, noisy, amplitude as float) for the kernels."""
    if normals is None:
        return spins, False, 0.0
    return normals, True, float(amplitude)


def _step_cuda(kernel, spins, arrays, normals, amplitude, dt, alpha, out):
    """Launch a predictor or corrector kernel on the sites of ``spins``."""
    if spins.shape[0]:
        _launch(kernel, spins.shape[0])(spins, *arrays, *_noise_args(spins, normals, amplitude),
                                        float(dt), float(alpha), out)


def sib_predictor_cuda(spins, field, normals, amplitude, dt, alpha, out):
    """CUDA version of :func:`sib_predictor_cpu` (same arguments; (N, 3) device arrays)."""
    _step_cuda(_sib_predictor_kernel, spins, (field,), normals, amplitude, dt, alpha, out)


def sib_corrector_cuda(spins, field, mid, field_mid, normals, amplitude, dt, alpha, out):
    """CUDA version of :func:`sib_corrector_cpu` (``field`` is not used)."""
    _step_cuda(_sib_corrector_kernel, spins, (mid, field_mid), normals, amplitude, dt, alpha,
               out)


def heun_predictor_cuda(spins, field, normals, amplitude, dt, alpha, out):
    """CUDA version of :func:`heun_predictor_cpu`."""
    _step_cuda(_heun_predictor_kernel, spins, (field,), normals, amplitude, dt, alpha, out)


def heun_corrector_cuda(spins, field, mid, field_mid, normals, amplitude, dt, alpha, out):
    """CUDA version of :func:`heun_corrector_cpu`."""
    _step_cuda(_heun_corrector_kernel, spins, (field, mid, field_mid), normals, amplitude, dt,
               alpha, out)


# ---------------------------------------------------------------------- numpy reference

def _noise_reference(normals, amplitude):
    return 0.0 if normals is None else amplitude * normals


def _solve_reference(spins, damping, field, noise, dt, alpha):
    """SIB solve on every site: w = -1/2 [g + alpha a x g], g = dt f + b;
    s' = [r - w x r + w (w . r)] / (1 + |w|^2), r = s + s x w."""
    g = dt * field + noise
    w = -0.5 * (g + alpha * np.cross(damping, g))
    r = spins + np.cross(spins, w)
    wr = np.sum(w * r, axis=1, keepdims=True)
    return (r - np.cross(w, r) + w * wr) / (1.0 + np.sum(w * w, axis=1, keepdims=True))


def _increment_reference(spins, field, noise, dt, alpha):
    """Explicit LL increment -s x g - alpha s x (s x g), g = dt f + b."""
    g = dt * field + noise
    return -np.cross(spins, g + alpha * np.cross(spins, g))


def _normalized_reference(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def sib_predictor_reference(spins, field, normals, amplitude, dt, alpha, out):
    """numpy version of :func:`sib_predictor_cpu`."""
    noise = _noise_reference(normals, amplitude)
    out[...] = _normalized_reference(
        spins + _solve_reference(spins, spins, field, noise, dt, alpha))


def sib_corrector_reference(spins, field, mid, field_mid, normals, amplitude, dt, alpha, out):
    """numpy version of :func:`sib_corrector_cpu`."""
    out[...] = _normalized_reference(_solve_reference(
        spins, mid, field_mid, _noise_reference(normals, amplitude), dt, alpha))


def heun_predictor_reference(spins, field, normals, amplitude, dt, alpha, out):
    """numpy version of :func:`heun_predictor_cpu`."""
    noise = _noise_reference(normals, amplitude)
    out[...] = _normalized_reference(spins + _increment_reference(spins, field, noise, dt, alpha))


def heun_corrector_reference(spins, field, mid, field_mid, normals, amplitude, dt, alpha, out):
    """numpy version of :func:`heun_corrector_cpu`."""
    noise = _noise_reference(normals, amplitude)
    d0 = _increment_reference(spins, field, noise, dt, alpha)
    d1 = _increment_reference(mid, field_mid, noise, dt, alpha)
    out[...] = _normalized_reference(spins + 0.5 * (d0 + d1))
