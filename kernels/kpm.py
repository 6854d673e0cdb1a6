"""Block-sparse Chebyshev kernels of the kernel polynomial method (llgsim.fields.kpm).

Layout. A block of S probe columns of 2N-component complex vectors is stored split into real and
imaginary parts as one float32 or float64 array of shape (2N, 2, S): ``x[2 i + s, 0, p]`` is the
real part and ``x[2 i + s, 1, p]`` the imaginary part of orbital (site i, spin s) in column p.
Rows stay contiguous and the innermost loops run over the columns, so they vectorize.

The rescaled one-body Hamiltonian X = (h - b) / a (spectrum inside [-1, 1]) enters through

* ``onsite`` (N, 4): per site (X_00, X_11, Re X_01, Im X_01) of the 2x2 on-site block
  (X_10 = conj X_01);
* ``neighbours`` (N, z) int32 and ``hops`` (z,): (X x)_i += hops[c] x_{neighbours[i, c]} per spin,
  the hopping blocks being multiples of the 2x2 identity (llgsim.model.KondoModel).

Probe columns (colored random-phase vectors): ``phases`` (2N, 2) holds (cos phi, sin phi) of the
one non-zero entry of row 2 i + s, which sits in column ``2 color[i] + s``.

The per-entry math (on-site 2x2 block, complex products) lives in small scalar functions that
numba-cuda can compile as device functions; the CPU launchers (``<job>_cpu``) loop over sites in
parallel (prange) and over columns innermost; the CUDA launchers (``<job>_cuda``, section "CUDA
launchers" for the thread mapping) share the scalar functions. The numpy references
(``<job>_reference``, the same signatures) apply the same operator through complex arrays and
fancy indexing. Sums over sites run over fixed blocks of BLOCK sites (CPU) or fixed trees per
block of THREADS threads (CUDA), so results do not depend on the thread count or the run.

References: A. Weisse, G. Wellein, A. Alvermann, H. Fehske, Rev. Mod. Phys. 78, 275 (2006);
Z. Wang, G.-W. Chern, C. D. Batista, K. Barros, J. Chem. Phys. 148, 094107 (2018),
arXiv:1711.10570.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, float64, njit, prange
from numba.extending import register_jitable

from .classical import THREADS, block_tree_sum, host_sum, like

#: sites per block of a sum over sites (partial sums per block, then the blocks in order)
BLOCK = 1024


@register_jitable
def onsite_product(d0, d1, xr, xi, u0r, u0i, u1r, u1i):
    """(X_ii u)_s for the 2x2 block [[d0, xr + i xi], [xr - i xi, d1]] acting on (u0, u1).

    Returns (v0r, v0i, v1r, v1i)."""
    v0r = d0 * u0r + xr * u1r - xi * u1i
    v0i = d0 * u0i + xr * u1i + xi * u1r
    v1r = d1 * u1r + xr * u0r + xi * u0i
    v1i = d1 * u1i + xr * u0i - xi * u0r
    return v0r, v0i, v1r, v1i


@njit(cache=True, inline="always")
def _site_recurrence(x, out, i, factor, onsite, neighbours, hops):
    """out[2i:2i+2] = factor * (X x)[2i:2i+2] - out[2i:2i+2], all columns."""
    d0 = factor * onsite[i, 0]
    d1 = factor * onsite[i, 1]
    xr = factor * onsite[i, 2]
    xi = factor * onsite[i, 3]
    u0 = x[2 * i]
    u1 = x[2 * i + 1]
    o0 = out[2 * i]
    o1 = out[2 * i + 1]
    for p in range(x.shape[2]):
        v0r, v0i, v1r, v1i = onsite_product(d0, d1, xr, xi, u0[0, p], u0[1, p], u1[0, p], u1[1, p])
        o0[0, p] = v0r - o0[0, p]
        o0[1, p] = v0i - o0[1, p]
        o1[0, p] = v1r - o1[0, p]
        o1[1, p] = v1i - o1[1, p]
    for c in range(neighbours.shape[1]):
        j = neighbours[i, c]
        t = factor * hops[c]
        w0 = x[2 * j]
        w1 = x[2 * j + 1]
        for p in range(x.shape[2]):
            o0[0, p] += t * w0[0, p]
            o0[1, p] += t * w0[1, p]
            o1[0, p] += t * w1[0, p]
            o1[1, p] += t * w1[1, p]


@njit(cache=True, parallel=True, fastmath=True)
def chebyshev_step_cpu(x, out, factor, onsite, neighbours, hops):
    """In place: out <- factor * X x - out, on (2N, 2, S) split-complex blocks.

    With factor = 2 this is the Chebyshev recursion T_{m+1} = 2 X T_m - T_{m-1} (out holds
    T_{m-1} r on entry and T_{m+1} r on exit); with factor = 1 and out = 0 it is the product X x.
    ``factor`` is a scalar of the blocks' dtype (a float64 factor would promote float32 work).
    """
    for i in prange(neighbours.shape[0]):
        _site_recurrence(x, out, i, factor, onsite, neighbours, hops)


@njit(cache=True, parallel=True)
def fill_probes_cpu(out, phases, color):
    """out <- R: the colored random-phase probe block, R[2i+s, 2 color[i] + s] = exp(i phi)."""
    out[:] = 0
    for i in prange(color.shape[0]):
        for s in range(2):
            out[2 * i + s, 0, 2 * color[i] + s] = phases[2 * i + s, 0]
            out[2 * i + s, 1, 2 * color[i] + s] = phases[2 * i + s, 1]


@njit(cache=True, parallel=True)
def probe_overlap_cpu(x, phases, color):
    """Re Tr(R^dagger x) = sum_{i,s} Re(exp(-i phi_{is}) x[2i+s, 2 color[i] + s]), float64.

    With x = T_m(X) R this is the stochastic Chebyshev moment mu_m = Tr(R^dagger T_m(X) R)."""
    n = color.shape[0]
    n_blocks = (n + BLOCK - 1) // BLOCK
    partial = np.zeros(n_blocks)
    for b in prange(n_blocks):
        total = 0.0
        for i in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            for s in range(2):
                p = 2 * color[i] + s
                total += (phases[2 * i + s, 0] * x[2 * i + s, 0, p]
                          + phases[2 * i + s, 1] * x[2 * i + s, 1, p])
        partial[b] = total
    total = 0.0
    for b in range(n_blocks):
        total += partial[b]
    return total


@njit(cache=True, parallel=True, fastmath=True)
def adjoint_step_cpu(alpha, alpha_next, beta_next, beta_after, two, gamma, weight, step_alpha,
                 onsite, neighbours, hops, phases, color, blocks):
    """One step j of the reverse (adjoint) Chebyshev pass, fused over sites.

    On entry alpha = T_j(X) R, alpha_next = T_{j+1}(X) R, beta_next = beta_{j+1},
    beta_after = beta_{j+2}. In place, per site:

        beta_after <- beta_j = gamma R + 2 X beta_{j+1} - beta_{j+2}     (gamma = gamma_{j+1})
        blocks     += weight * on-site blocks of beta_j alpha_j^dagger    (weight = 2, or 1 at j = 0)
        alpha_next <- T_{j-1}(X) R = 2 X alpha_j - alpha_{j+1}            (if step_alpha)

    ``two`` is the scalar 2 in the blocks' dtype (keeps float32 arithmetic in float32). The
    Chebyshev recursion run backwards regenerates alpha_j, so the pass needs four blocks of memory
    whatever the order M.
    """
    for i in prange(neighbours.shape[0]):
        _site_recurrence(beta_next, beta_after, i, two, onsite, neighbours, hops)
        for s in range(2):
            p = 2 * color[i] + s
            beta_after[2 * i + s, 0, p] += gamma * phases[2 * i + s, 0]
            beta_after[2 * i + s, 1, p] += gamma * phases[2 * i + s, 1]
        site_outer_add(beta_after, alpha, i, two - two, weight, blocks)
        if step_alpha:
            _site_recurrence(alpha, alpha_next, i, two, onsite, neighbours, hops)


# ---------------------------------------------------------------------- CUDA launchers
#
# Thread mapping: the recurrences and the probe fill run one thread per (row, column) entry of
# a block, thread k = (site or row) * S + column, so neighbouring threads touch neighbouring
# columns (contiguous addresses). Sums over columns (the on-site outer products) and over sites
# (the probe overlap) run one thread per site; the overlap's per-site terms are summed per block
# of THREADS threads in shared memory in a fixed tree order, and the block sums on the host in
# order (no atomics), so every result is the same on every run.

@register_jitable
def column_recurrence(x, out, i, p, factor, onsite, neighbours, hops):
    """out[2i:2i+2, :, p] = factor * (X x)[2i:2i+2, :, p] - out[2i:2i+2, :, p]: column p of
    :func:`_site_recurrence`, the same operations in the same order."""
    v0r, v0i, v1r, v1i = onsite_product(
        factor * onsite[i, 0], factor * onsite[i, 1], factor * onsite[i, 2],
        factor * onsite[i, 3], x[2 * i, 0, p], x[2 * i, 1, p], x[2 * i + 1, 0, p],
        x[2 * i + 1, 1, p])
    o0r = v0r - out[2 * i, 0, p]
    o0i = v0i - out[2 * i, 1, p]
    o1r = v1r - out[2 * i + 1, 0, p]
    o1i = v1i - out[2 * i + 1, 1, p]
    for c in range(neighbours.shape[1]):
        j = neighbours[i, c]
        t = factor * hops[c]
        o0r += t * x[2 * j, 0, p]
        o0i += t * x[2 * j, 1, p]
        o1r += t * x[2 * j + 1, 0, p]
        o1i += t * x[2 * j + 1, 1, p]
    out[2 * i, 0, p] = o0r
    out[2 * i, 1, p] = o0i
    out[2 * i + 1, 0, p] = o1r
    out[2 * i + 1, 1, p] = o1i


@cuda.jit
def _chebyshev_step_kernel(x, out, factor, onsite, neighbours, hops):
    k = cuda.grid(1)
    n_columns = x.shape[2]
    if k < neighbours.shape[0] * n_columns:
        i = k // n_columns
        column_recurrence(x, out, i, k - i * n_columns, factor, onsite, neighbours, hops)


@cuda.jit
def _fill_probes_kernel(out, phases, color):
    k = cuda.grid(1)
    n_columns = out.shape[2]
    if k < out.shape[0] * n_columns:
        row = k // n_columns
        q = k - row * n_columns
        if q == 2 * color[row // 2] + row % 2:
            out[row, 0, q] = phases[row, 0]
            out[row, 1, q] = phases[row, 1]
        else:
            out[row, 0, q] = 0
            out[row, 1, q] = 0


@cuda.jit
def _probe_overlap_kernel(x, phases, color, partial):
    i = cuda.grid(1)
    t = cuda.threadIdx.x
    cache = cuda.shared.array(THREADS, float64)
    cache[t] = 0.0
    if i < color.shape[0]:
        total = 0.0
        for s in range(2):
            p = 2 * color[i] + s
            total += (phases[2 * i + s, 0] * x[2 * i + s, 0, p]
                      + phases[2 * i + s, 1] * x[2 * i + s, 1, p])
        cache[t] = total
    block_tree_sum(cache, t)
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


@cuda.jit
def _adjoint_recurrence_kernel(alpha, alpha_next, beta_next, beta_after, two, gamma, step_alpha,
                               onsite, neighbours, hops, phases, color):
    k = cuda.grid(1)
    n_columns = alpha.shape[2]
    if k < neighbours.shape[0] * n_columns:
        i = k // n_columns
        p = k - i * n_columns
        column_recurrence(beta_next, beta_after, i, p, two, onsite, neighbours, hops)
        for s in range(2):
            if p == 2 * color[i] + s:
                beta_after[2 * i + s, 0, p] += gamma * phases[2 * i + s, 0]
                beta_after[2 * i + s, 1, p] += gamma * phases[2 * i + s, 1]
        if step_alpha:
            column_recurrence(alpha, alpha_next, i, p, two, onsite, neighbours, hops)


@register_jitable
def site_outer_add(beta, alpha, i, zero, weight, blocks):
    """blocks[i] += weight * sum_p beta[2i+s, p] conj(alpha[2i+s', p]) for s, s' in {0, 1}.

    blocks (N, 8) float64 holds (D_00, D_01, D_10, D_11) as (re, im) pairs; the column sums run
    in the blocks' own precision (``zero`` of that dtype starts them)."""
    b0 = beta[2 * i]
    b1 = beta[2 * i + 1]
    a0 = alpha[2 * i]
    a1 = alpha[2 * i + 1]
    r00 = i00 = r01 = i01 = r10 = i10 = r11 = i11 = zero
    for p in range(beta.shape[2]):
        r00 += b0[0, p] * a0[0, p] + b0[1, p] * a0[1, p]
        i00 += b0[1, p] * a0[0, p] - b0[0, p] * a0[1, p]
        r01 += b0[0, p] * a1[0, p] + b0[1, p] * a1[1, p]
        i01 += b0[1, p] * a1[0, p] - b0[0, p] * a1[1, p]
        r10 += b1[0, p] * a0[0, p] + b1[1, p] * a0[1, p]
        i10 += b1[1, p] * a0[0, p] - b1[0, p] * a0[1, p]
        r11 += b1[0, p] * a1[0, p] + b1[1, p] * a1[1, p]
        i11 += b1[1, p] * a1[0, p] - b1[0, p] * a1[1, p]
    blocks[i, 0] += weight * r00
    blocks[i, 1] += weight * i00
    blocks[i, 2] += weight * r01
    blocks[i, 3] += weight * i01
    blocks[i, 4] += weight * r10
    blocks[i, 5] += weight * i10
    blocks[i, 6] += weight * r11
    blocks[i, 7] += weight * i11


@cuda.jit
def _adjoint_outer_kernel(beta, alpha, two, weight, blocks):
    i = cuda.grid(1)
    if i < blocks.shape[0]:
        site_outer_add(beta, alpha, i, two - two, weight, blocks)


def _grid(n: int) -> int:
    return (n + THREADS - 1) // THREADS


def chebyshev_step_cuda(x, out, factor, onsite, neighbours, hops):
    """CUDA version of :func:`chebyshev_step_cpu` (same arguments, device arrays; ``factor`` a
    scalar of the blocks' dtype): one thread per (site, column)."""
    n = neighbours.shape[0] * x.shape[2]
    if n:
        _chebyshev_step_kernel[_grid(n), THREADS](x, out, factor, onsite, neighbours, hops)


def fill_probes_cuda(out, phases, color):
    """CUDA version of :func:`fill_probes_cpu`: one thread per (row, column) entry, zeros
    included."""
    n = out.shape[0] * out.shape[2]
    if n:
        _fill_probes_kernel[_grid(n), THREADS](out, phases, color)


def probe_overlap_cuda(x, phases, color) -> float:
    """CUDA version of :func:`probe_overlap_cpu` (float64 result): one thread per site, fixed
    order block sums, then the blocks' sums in order on the host."""
    blocks = _grid(color.shape[0])
    if blocks == 0:
        return 0.0
    partial = like(x, blocks, np.float64)
    _probe_overlap_kernel[blocks, THREADS](x, phases, color, partial)
    return host_sum(partial)


def adjoint_step_cuda(alpha, alpha_next, beta_next, beta_after, two, gamma, weight, step_alpha,
                      onsite, neighbours, hops, phases, color, blocks):
    """CUDA version of :func:`adjoint_step_cpu` (same arguments and in-place updates), in two
    launches: the beta (and alpha) recurrences one thread per (site, column), then the on-site
    outer products one thread per site, summed over the columns in order."""
    n = neighbours.shape[0] * alpha.shape[2]
    if n == 0:
        return
    _adjoint_recurrence_kernel[_grid(n), THREADS](
        alpha, alpha_next, beta_next, beta_after, two, float(gamma), bool(step_alpha), onsite,
        neighbours, hops, phases, color)
    _adjoint_outer_kernel[_grid(blocks.shape[0]), THREADS](beta_after, alpha, two, float(weight),
                                                          blocks)


# ---------------------------------------------------------------------- numpy reference

def _complex(x):
    """(2N, 2, S) split block -> (N, 2, S) complex128 (site, spin, column)."""
    return (x[:, 0, :] + 1j * x[:, 1, :]).astype(np.complex128).reshape(-1, 2, x.shape[2])


def _store(z, out):
    """(N, 2, S) complex -> the split layout of ``out`` (2N, 2, S), in place."""
    z = z.reshape(-1, z.shape[2])
    out[:, 0, :] = z.real
    out[:, 1, :] = z.imag


def _apply_reference(x, onsite, neighbours, hops):
    """X x for a split block x (2N, 2, S), as complex (N, 2, S)."""
    u = _complex(x)
    d0, d1, xr, xi = (onsite[:, k].astype(np.float64)[:, None] for k in range(4))
    off = xr + 1j * xi  # X_01; X_10 = conj(X_01)
    v = np.empty_like(u)
    v[:, 0] = d0 * u[:, 0] + off * u[:, 1]
    v[:, 1] = np.conj(off) * u[:, 0] + d1 * u[:, 1]
    for c in range(neighbours.shape[1]):
        v += float(hops[c]) * u[neighbours[:, c]]
    return v


def chebyshev_step_reference(x, out, factor, onsite, neighbours, hops):
    """numpy version of :func:`chebyshev_step_cpu`: out <- factor * X x - out."""
    _store(float(factor) * _apply_reference(x, onsite, neighbours, hops) - _complex(out), out)


def fill_probes_reference(out, phases, color):
    """numpy version of :func:`fill_probes_cpu`."""
    out[:] = 0
    rows = np.arange(len(phases))
    columns = 2 * np.repeat(color, 2) + rows % 2
    out[rows, 0, columns] = phases[:, 0]
    out[rows, 1, columns] = phases[:, 1]


def probe_overlap_reference(x, phases, color):
    """numpy version of :func:`probe_overlap_cpu`."""
    rows = np.arange(len(phases))
    columns = 2 * np.repeat(color, 2) + rows % 2
    return float(np.sum(phases[:, 0].astype(np.float64) * x[rows, 0, columns])
                 + np.sum(phases[:, 1].astype(np.float64) * x[rows, 1, columns]))


def adjoint_step_reference(alpha, alpha_next, beta_next, beta_after, two, gamma, weight,
                           step_alpha, onsite, neighbours, hops, phases, color, blocks):
    """numpy version of :func:`adjoint_step_cpu` (same in-place updates)."""
    probes = np.zeros_like(beta_after)
    fill_probes_reference(probes, phases, color)
    beta = (2.0 * _apply_reference(beta_next, onsite, neighbours, hops) - _complex(beta_after)
            + gamma * _complex(probes))
    _store(beta, beta_after)
    a = _complex(alpha)
    outer = np.einsum("isp,itp->ist", beta, np.conj(a))  # D_st = sum_p beta_s conj(alpha_t)
    blocks += weight * np.stack([outer[:, 0, 0].real, outer[:, 0, 0].imag,
                                 outer[:, 0, 1].real, outer[:, 0, 1].imag,
                                 outer[:, 1, 0].real, outer[:, 1, 0].imag,
                                 outer[:, 1, 1].real, outer[:, 1, 1].imag], axis=1)
    if step_alpha:
        _store(2.0 * _apply_reference(alpha, onsite, neighbours, hops) - _complex(alpha_next),
               alpha_next)
