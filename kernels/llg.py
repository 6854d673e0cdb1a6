"""Per-site math of the integrators (SIB, Heun) for the stochastic Landau-Lifshitz equation.

Landau-Lifshitz form, gamma = 1 (conventions.md, "Dynamics"):

    dS/dt = -S x (H + xi) - alpha S x (S x (H + xi))

The SIB scheme of Mentink et al., J. Phys.: Condens. Matter 22, 176001 (2010),
doi:10.1088/0953-8984/22/17/176001, solves s' = s + (s + s') x w exactly, which conserves |s|,
with

    w = -1/2 [ g + alpha s x g ],    g = dt f + b,

for the field f, the noise increment b = sqrt(2 D dt) * n (n standard normal, D = alpha kT /
(1 + alpha^2)) and the damping cross product taken with the spin s at the start of the step.
Writing the equation as (1 + [w]x) s' = r with r = s + s x w gives the closed form

    s' = [ r - w x r + w (w . r) ] / (1 + |w|^2).

The same w gives the explicit increment of the Heun scheme, dt dS/dt = 2 s x w (+ noise).

The per-site functions take and return vector components as scalars and touch no arrays, so the
launchers below (numba, ``prange`` over sites) and a GPU kernel (one thread per site, not yet
written) can share them.
Arrays are (N, 3), C-contiguous; spins in float64 or float32 (arithmetic in the promoted type).
``llgsim.dynamics`` holds the numpy reference of the same math and selects the backend.
"""

from __future__ import annotations

import math

from numba import njit, prange


@njit(cache=True)
def sib_w(sx, sy, sz, gx, gy, gz, alpha):
    """w = -1/2 [g + alpha s x g] for the impulse g = dt f + b (energy x time units)."""
    cx = sy * gz - sz * gy
    cy = sz * gx - sx * gz
    cz = sx * gy - sy * gx
    return -0.5 * (gx + alpha * cx), -0.5 * (gy + alpha * cy), -0.5 * (gz + alpha * cz)


@njit(cache=True)
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


@njit(cache=True)
def sib_site(sx, sy, sz, fx, fy, fz, bx, by, bz, dt, alpha):
    """One SIB solve at one site: spin s, field f, noise increment b -> new spin."""
    wx, wy, wz = sib_w(sx, sy, sz, dt * fx + bx, dt * fy + by, dt * fz + bz, alpha)
    return sib_solve(sx, sy, sz, wx, wy, wz)


@njit(cache=True)
def ll_increment(sx, sy, sz, fx, fy, fz, bx, by, bz, dt, alpha):
    """Explicit LL increment 2 s x w = -s x g - alpha s x (s x g), g = dt f + b."""
    wx, wy, wz = sib_w(sx, sy, sz, dt * fx + bx, dt * fy + by, dt * fz + bz, alpha)
    return 2.0 * (sy * wz - sz * wy), 2.0 * (sz * wx - sx * wz), 2.0 * (sx * wy - sy * wx)


@njit(cache=True)
def normalized(x, y, z):
    """(x, y, z) / |(x, y, z)|."""
    inv = 1.0 / math.sqrt(x * x + y * y + z * z)
    return x * inv, y * inv, z * inv


@njit(cache=True, inline="always")
def _noise(normals, amplitude, i):
    """Noise increment b_i = amplitude * normals[i] (zero when ``normals`` is None)."""
    if normals is None:
        return 0.0, 0.0, 0.0
    return amplitude * normals[i, 0], amplitude * normals[i, 1], amplitude * normals[i, 2]


@njit(cache=True, parallel=True)
def sib_predictor(spins, field, normals, amplitude, dt, alpha, out):
    """Predictor: out_i = the unit midpoint (s_i + p_i) / |s_i + p_i| of s_i and
    p_i = SIB(s_i, f_i, b_i), where the corrector's field is evaluated (s and p are never
    antiparallel within one step). normals: (N, 3) float64 or None (kT = 0)."""
    for i in prange(spins.shape[0]):
        sx, sy, sz = spins[i, 0], spins[i, 1], spins[i, 2]
        bx, by, bz = _noise(normals, amplitude, i)
        px, py, pz = sib_site(sx, sy, sz, field[i, 0], field[i, 1], field[i, 2],
                              bx, by, bz, dt, alpha)
        out[i, 0], out[i, 1], out[i, 2] = normalized(sx + px, sy + py, sz + pz)


@njit(cache=True, parallel=True)
def sib_corrector(spins, field, normals, amplitude, dt, alpha, out):
    """Corrector: out_i = SIB(s_i, f_i, b_i) with the field f at the predicted midpoint and the
    same noise as the predictor."""
    for i in prange(spins.shape[0]):
        bx, by, bz = _noise(normals, amplitude, i)
        out[i, 0], out[i, 1], out[i, 2] = sib_site(
            spins[i, 0], spins[i, 1], spins[i, 2], field[i, 0], field[i, 1], field[i, 2],
            bx, by, bz, dt, alpha)


@njit(cache=True, parallel=True)
def heun_predictor(spins, field, normals, amplitude, dt, alpha, out):
    """Heun predictor: out_i = (s_i + d0_i) / |s_i + d0_i|, d0 = the LL increment at s."""
    for i in prange(spins.shape[0]):
        sx, sy, sz = spins[i, 0], spins[i, 1], spins[i, 2]
        bx, by, bz = _noise(normals, amplitude, i)
        dx, dy, dz = ll_increment(sx, sy, sz, field[i, 0], field[i, 1], field[i, 2],
                                  bx, by, bz, dt, alpha)
        out[i, 0], out[i, 1], out[i, 2] = normalized(sx + dx, sy + dy, sz + dz)


@njit(cache=True, parallel=True)
def heun_corrector(spins, field, predicted, predicted_field, normals, amplitude, dt, alpha, out):
    """Heun corrector: out_i = normalised s_i + (d0_i + d1_i) / 2, with d0 the LL increment at
    (s, f(s)) and d1 at (s~, f(s~)), the same noise in both."""
    for i in prange(spins.shape[0]):
        sx, sy, sz = spins[i, 0], spins[i, 1], spins[i, 2]
        px, py, pz = predicted[i, 0], predicted[i, 1], predicted[i, 2]
        bx, by, bz = _noise(normals, amplitude, i)
        ax, ay, az = ll_increment(sx, sy, sz, field[i, 0], field[i, 1], field[i, 2],
                                  bx, by, bz, dt, alpha)
        cx, cy, cz = ll_increment(px, py, pz, predicted_field[i, 0], predicted_field[i, 1],
                                  predicted_field[i, 2], bx, by, bz, dt, alpha)
        out[i, 0], out[i, 1], out[i, 2] = normalized(sx + 0.5 * (ax + cx), sy + 0.5 * (ay + cy),
                                                     sz + 0.5 * (az + cz))
