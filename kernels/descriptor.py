"""Kernels of the ML force field's descriptor, its backward pass and the gather of the field:
numba CPU launchers and numba-cuda kernels side by side, the per-element math shared.

The descriptor G_i of site i (llgsim.ml.descriptor: the tables and their meaning):

    u_m      = S_{i+o_m} / |S_{i+o_m}|                              m < M (local unit spins)
    q_p      = u_a . u_b                     (a, b) = pairs[p]      p < P
    q_{P+t}  = u_a . (u_b x u_c)             (a, b, c) = tri[t]     t < T
    c_n      = sum_k comp_coef[n,k] q[comp_index[n,k]]              n < C
    r_l      = sum_k ref_coef[l,k]  c[ref_index[l,k]]               l < R
    G        = [ c[a1_index] | sum_a w c[bi]^2 | sum_a w c[bi] r[br] / sqrt(sum_a w r[br]^2 + eps^2) ]

(bi, br, w = block_index, block_ref, block_weight of a block; the phase part runs over
phase_blocks). The backward pass runs the same steps in reverse from dE/dG to
g_m = d eps_i / d u_m. The field then needs, at every site j, the sum of the contributions of
the sites that see j: with the lattice's translation invariance site j is slot m of the site
inv(j, m) = j - o_m, so

    H_j = -(1 - u_j u_j^T) (sum_m g[inv(j,m), m]) / |S_j| + h_j u_j,

a gather in a fixed order (no atomics): two evaluations give bitwise the same field. h_j is the
parallel-field head of the network (llgsim.ml.network).

CPU: the tile kernels run serially without the GIL (``nogil``): llgsim.fields.ml_tiles runs
one tile per CPU worker thread, its BLAS calls single-threaded, which avoids two thread pools
(numba's and BLAS's) spinning against each other; the field gather runs over all sites in
parallel (prange).

Layout: sites last. Work arrays of a tile of n sites starting at site ``start`` are (..., n):
loc (3, M, n), q and dq (P + T, n), c and dc (C, n), r and dr (R, n), G and dG (F, n); g is
(M, 3, N) for the whole lattice (it feeds the gather); spins and the field (N, 3); parallel
(N,). Site indices are computed, not stored: site i is the cell (x, y) = (i mod lx, i div lx)
of the periodic lx x ly lattice (llgsim.lattice), i + o_m the cell shifted by offsets[m]
((M, 2) int32), which saves two (N, M) index tables (200 MB at 10^6 sites) and their memory
traffic. Sites last makes the CPU loops over sites innermost and
contiguous (SIMD) and the GPU's neighbouring threads read neighbouring addresses. One float
dtype throughout (float64 or float32). The torch model (llgsim.ml.network) is the reference:
tests check every launcher, through llgsim.fields.ml_tiles, against it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda, njit, prange
from numba.extending import register_jitable

#: sites per block of the CPU loops (inner loops run over the sites of a block: SIMD)
CHUNK = 256


# ---------------------------------------------------------------------- per-element math

@register_jitable
def unit(x, y, z):
    norm = math.sqrt(x * x + y * y + z * z)
    return x / norm, y / norm, z / norm


@register_jitable
def cross(ax, ay, az, bx, by, bz):
    return ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx


@register_jitable
def phase_parts(c0, c1, r0, r1, w0, w1, eps2):
    """(numerator, denominator) of a phase feature sum_a w c r / sqrt(sum_a w r^2 + eps^2)."""
    return w0 * c0 * r0 + w1 * c1 * r1, math.sqrt(w0 * r0 * r0 + w1 * r1 * r1 + eps2)


@register_jitable
def wrapped(x, y, lx, ly):
    """Site index x + lx y of the cell (x, y) folded into the periodic lx x ly lattice, for
    -lx <= x < 2 lx and -ly <= y < 2 ly (offsets shorter than the lattice)."""
    if x < 0:
        x += lx
    elif x >= lx:
        x -= lx
    if y < 0:
        y += ly
    elif y >= ly:
        y -= ly
    return x + lx * y


@register_jitable
def site_field(spins, offsets, lx, ly, g, parallel, j):
    """(hx, hy, hz) = -(1 - u u^T) sum_m g[m, :, inv(j, m)] / |S_j| + h_j u_j at site j, with
    inv(j, m) the site at offset -offsets[m] from j."""
    ax = 0.0
    ay = 0.0
    az = 0.0
    xj, yj = j % lx, j // lx
    for m in range(offsets.shape[0]):
        i = wrapped(xj - offsets[m, 0], yj - offsets[m, 1], lx, ly)
        ax += g[m, 0, i]
        ay += g[m, 1, i]
        az += g[m, 2, i]
    sx, sy, sz = spins[j, 0], spins[j, 1], spins[j, 2]
    norm = math.sqrt(sx * sx + sy * sy + sz * sz)
    ux, uy, uz = sx / norm, sy / norm, sz / norm
    along = ax * ux + ay * uy + az * uz
    h = parallel[j]
    return ((along * ux - ax) / norm + h * ux, (along * uy - ay) / norm + h * uy,
            (along * uz - az) / norm + h * uz)


# ---------------------------------------------------------------------- CPU launchers

@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def invariants_cpu(spins, offsets, lx, ly, start, pairs, triangles, loc, q):
    """loc (3, M, n) and q (P + T, n) of the tile's sites (module docstring)."""
    n, n_pairs = q.shape[1], pairs.shape[0]
    xs, ys = np.empty(CHUNK, dtype=np.int64), np.empty(CHUNK, dtype=np.int64)
    for chunk in range((n + CHUNK - 1) // CHUNK):
        k0, k1 = chunk * CHUNK, min(n, (chunk + 1) * CHUNK)
        for k in range(k0, k1):
            xs[k - k0], ys[k - k0] = (start + k) % lx, (start + k) // lx
        for m in range(loc.shape[1]):
            dx, dy = offsets[m, 0], offsets[m, 1]
            for k in range(k0, k1):
                j = wrapped(xs[k - k0] + dx, ys[k - k0] + dy, lx, ly)
                loc[0, m, k], loc[1, m, k], loc[2, m, k] = unit(spins[j, 0], spins[j, 1],
                                                                spins[j, 2])
        for p in range(n_pairs):
            a, b = pairs[p, 0], pairs[p, 1]
            ax, ay, az = loc[0, a, k0:k1], loc[1, a, k0:k1], loc[2, a, k0:k1]
            bx, by, bz = loc[0, b, k0:k1], loc[1, b, k0:k1], loc[2, b, k0:k1]
            qp = q[p, k0:k1]
            for k in range(k1 - k0):
                qp[k] = ax[k] * bx[k] + ay[k] * by[k] + az[k] * bz[k]
        for t in range(triangles.shape[0]):
            a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
            ax, ay, az = loc[0, a, k0:k1], loc[1, a, k0:k1], loc[2, a, k0:k1]
            bx, by, bz = loc[0, b, k0:k1], loc[1, b, k0:k1], loc[2, b, k0:k1]
            cx, cy, cz = loc[0, c, k0:k1], loc[1, c, k0:k1], loc[2, c, k0:k1]
            qt = q[n_pairs + t, k0:k1]
            for k in range(k1 - k0):
                qt[k] = (ax[k] * (by[k] * cz[k] - bz[k] * cy[k])
                         + ay[k] * (bz[k] * cx[k] - bx[k] * cz[k])
                         + az[k] * (bx[k] * cy[k] - by[k] * cx[k]))


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def sparse_map_cpu(index, coef, x, out):
    """out[n] = sum_k coef[n, k] x[index[n, k]] (rows of sites; zero-padded coefficients are
    skipped): the comp and ref tables."""
    n = x.shape[1]
    for i in range(index.shape[0]):
        for k in range(n):
            out[i, k] = 0.0
        for j in range(index.shape[1]):
            w = coef[i, j]
            if w != 0.0:
                row = index[i, j]
                for k in range(n):
                    out[i, k] += w * x[row, k]


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def sparse_map_transposed_cpu(index, coef, dout, dx):
    """dx[index[n, k]] += coef[n, k] dout[n]: the backward of :func:`sparse_map_cpu`."""
    n = dout.shape[1]
    for i in range(index.shape[0]):
        for j in range(index.shape[1]):
            w = coef[i, j]
            if w != 0.0:
                row = index[i, j]
                for k in range(n):
                    dx[row, k] += w * dout[i, k]


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def combine_cpu(c, r, a1_index, block_index, block_weight, block_ref, phase_blocks, eps2, x):
    """x (F, n) = [c[a1] | powers | phases] (module docstring)."""
    n, n_a1, n_blocks = c.shape[1], a1_index.shape[0], block_index.shape[0]
    for f in range(n_a1):
        x[f] = c[a1_index[f]]
    for b in range(n_blocks):
        c0, c1, xb = c[block_index[b, 0]], c[block_index[b, 1]], x[n_a1 + b]
        w0, w1 = block_weight[b, 0], block_weight[b, 1]
        for k in range(n):
            xb[k] = w0 * c0[k] * c0[k] + w1 * c1[k] * c1[k]
    for f in range(phase_blocks.shape[0]):
        b = phase_blocks[f]
        c0, c1 = c[block_index[b, 0]], c[block_index[b, 1]]
        r0, r1 = r[block_ref[b, 0]], r[block_ref[b, 1]]
        w0, w1, xf = block_weight[b, 0], block_weight[b, 1], x[n_a1 + n_blocks + f]
        for k in range(n):
            num, den = phase_parts(c0[k], c1[k], r0[k], r1[k], w0, w1, eps2)
            xf[k] = num / den


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _axpy(y, w, a, b):
    """y += w a b (elementwise, over y's length)."""
    for k in range(y.shape[0]):
        y[k] += w * a[k] * b[k]


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _axpy_projected(y, w, a, c, s, r):
    """y += w a (c - s r) (elementwise, over y's length)."""
    for k in range(y.shape[0]):
        y[k] += w * a[k] * (c[k] - s[k] * r[k])


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def combine_backward_cpu(c, r, dx, a1_index, block_index, block_weight, block_ref,
                         phase_blocks, eps2, dc, dr):
    """dc (C, n), dr (R, n) <- dE/dc, dE/dr from dx = dE/dG."""
    n, n_a1, n_blocks = c.shape[1], a1_index.shape[0], block_index.shape[0]
    scale, ratio = np.empty(CHUNK, dtype=dc.dtype), np.empty(CHUNK, dtype=dc.dtype)
    for chunk in range((n + CHUNK - 1) // CHUNK):
        k0, k1 = chunk * CHUNK, min(n, (chunk + 1) * CHUNK)
        dc[:, k0:k1] = 0
        dr[:, k0:k1] = 0
        for f in range(n_a1):
            dci, dxf = dc[a1_index[f], k0:k1], dx[f, k0:k1]
            for k in range(k1 - k0):
                dci[k] += dxf[k]
        for b in range(n_blocks):
            i0, i1 = block_index[b, 0], block_index[b, 1]
            w0, w1 = block_weight[b, 0] + block_weight[b, 0], block_weight[b, 1] + block_weight[b, 1]
            dxb = dx[n_a1 + b, k0:k1]
            _axpy(dc[i0, k0:k1], w0, dxb, c[i0, k0:k1])
            _axpy(dc[i1, k0:k1], w1, dxb, c[i1, k0:k1])
        for f in range(phase_blocks.shape[0]):
            b = phase_blocks[f]
            i0, i1, j0, j1 = block_index[b, 0], block_index[b, 1], block_ref[b, 0], block_ref[b, 1]
            w0, w1 = block_weight[b, 0], block_weight[b, 1]
            dxf = dx[n_a1 + n_blocks + f, k0:k1]
            c0, c1, r0, r1 = c[i0, k0:k1], c[i1, k0:k1], r[j0, k0:k1], r[j1, k0:k1]
            for k in range(k1 - k0):  # one store stream per loop: SIMD
                num, den = phase_parts(c0[k], c1[k], r0[k], r1[k], w0, w1, eps2)
                scale[k] = dxf[k] / den
                ratio[k] = num / (den * den)
            _axpy(dc[i0, k0:k1], w0, scale, r0)
            _axpy(dc[i1, k0:k1], w1, scale, r1)
            _axpy_projected(dr[j0, k0:k1], w0, scale, c0, ratio, r0)
            _axpy_projected(dr[j1, k0:k1], w1, scale, c1, ratio, r1)


@njit(cache=True, nogil=True)
def _terms_by_slot(pairs, triangles, m_slots):
    """The invariants' derivatives grouped by slot m: pair terms (p, o) with d q_p / d u_m = u_o,
    triangle terms (P + t, o1, o2) with d q_{P+t} / d u_m = u_o1 x u_o2; each group as rows
    ptr[m] .. ptr[m + 1] of its table."""
    n_pairs, n_tri = pairs.shape[0], triangles.shape[0]
    pair_ptr, tri_ptr = np.zeros(m_slots + 1, np.int64), np.zeros(m_slots + 1, np.int64)
    for p in range(n_pairs):
        pair_ptr[pairs[p, 0] + 1] += 1
        pair_ptr[pairs[p, 1] + 1] += 1
    for t in range(n_tri):
        for j in range(3):
            tri_ptr[triangles[t, j] + 1] += 1
    for m in range(m_slots):
        pair_ptr[m + 1] += pair_ptr[m]
        tri_ptr[m + 1] += tri_ptr[m]
    pair_terms, tri_terms = np.empty((2 * n_pairs, 2), np.int64), np.empty((3 * n_tri, 3), np.int64)
    fill_p, fill_t = pair_ptr[:-1].copy(), tri_ptr[:-1].copy()
    for p in range(n_pairs):
        for j in range(2):
            m = pairs[p, j]
            pair_terms[fill_p[m], 0], pair_terms[fill_p[m], 1] = p, pairs[p, 1 - j]
            fill_p[m] += 1
    for t in range(n_tri):
        for j in range(3):  # cyclic: d/du_a = u_b x u_c, d/du_b = u_c x u_a, d/du_c = u_a x u_b
            m = triangles[t, j]
            row = tri_terms[fill_t[m]]
            row[0], row[1], row[2] = n_pairs + t, triangles[t, (j + 1) % 3], triangles[t, (j + 2) % 3]
            fill_t[m] += 1
    return pair_ptr, pair_terms, tri_ptr, tri_terms


@njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def invariants_backward_cpu(loc, pairs, triangles, dq, start, g):
    """g[:, :, start + k] = d eps / d u of the tile's sites from dq = dE/dq (P + T, n): slot by
    slot, each slot's sum over the invariants that contain it built in three rows of CHUNK
    sites (L1) and stored once."""
    n, m_slots = dq.shape[1], g.shape[0]
    pair_ptr, pair_terms, tri_ptr, tri_terms = _terms_by_slot(pairs, triangles, m_slots)
    acc = np.empty((3, CHUNK), dtype=dq.dtype)
    gx, gy, gz = acc[0], acc[1], acc[2]
    for chunk in range((n + CHUNK - 1) // CHUNK):
        k0 = chunk * CHUNK
        w = min(n, k0 + CHUNK) - k0
        for m in range(m_slots):
            acc[...] = 0
            for e in range(pair_ptr[m], pair_ptr[m + 1]):
                dqp = dq[pair_terms[e, 0], k0:k0 + w]
                o = pair_terms[e, 1]
                ox, oy, oz = loc[0, o, k0:k0 + w], loc[1, o, k0:k0 + w], loc[2, o, k0:k0 + w]
                for k in range(w):
                    gx[k] += dqp[k] * ox[k]
                    gy[k] += dqp[k] * oy[k]
                    gz[k] += dqp[k] * oz[k]
            for e in range(tri_ptr[m], tri_ptr[m + 1]):
                wt = dq[tri_terms[e, 0], k0:k0 + w]
                b, c = tri_terms[e, 1], tri_terms[e, 2]
                bx, by, bz = loc[0, b, k0:k0 + w], loc[1, b, k0:k0 + w], loc[2, b, k0:k0 + w]
                cx, cy, cz = loc[0, c, k0:k0 + w], loc[1, c, k0:k0 + w], loc[2, c, k0:k0 + w]
                for k in range(w):
                    v = wt[k]
                    gx[k] += v * (by[k] * cz[k] - bz[k] * cy[k])
                    gy[k] += v * (bz[k] * cx[k] - bx[k] * cz[k])
                    gz[k] += v * (bx[k] * cy[k] - by[k] * cx[k])
            for d in range(3):
                gm, am = g[m, d], acc[d]
                for k in range(w):
                    gm[start + k0 + k] = am[k]


@njit(cache=True, parallel=True, error_model="numpy")
def field_cpu(spins, offsets, lx, ly, g, parallel, field):
    """field[j] = H_j of every site (module docstring)."""
    for j in prange(spins.shape[0]):
        field[j, 0], field[j, 1], field[j, 2] = site_field(spins, offsets, lx, ly, g, parallel,
                                                           j)


# ---------------------------------------------------------------------- CUDA kernels
# one thread per site k of the tile; the loops over invariants, blocks and slots run inside

@cuda.jit
def _invariants_kernel(spins, offsets, lx, ly, start, pairs, triangles, loc, q):
    k = cuda.grid(1)
    if k >= q.shape[1]:
        return
    x, y = (start + k) % lx, (start + k) // lx
    for m in range(loc.shape[1]):
        j = wrapped(x + offsets[m, 0], y + offsets[m, 1], lx, ly)
        loc[0, m, k], loc[1, m, k], loc[2, m, k] = unit(spins[j, 0], spins[j, 1], spins[j, 2])
    n_pairs = pairs.shape[0]
    for p in range(n_pairs):
        a, b = pairs[p, 0], pairs[p, 1]
        q[p, k] = (loc[0, a, k] * loc[0, b, k] + loc[1, a, k] * loc[1, b, k]
                   + loc[2, a, k] * loc[2, b, k])
    for t in range(triangles.shape[0]):
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        x, y, z = cross(loc[0, b, k], loc[1, b, k], loc[2, b, k],
                        loc[0, c, k], loc[1, c, k], loc[2, c, k])
        q[n_pairs + t, k] = loc[0, a, k] * x + loc[1, a, k] * y + loc[2, a, k] * z


@cuda.jit
def _combine_kernel(c, r, a1_index, block_index, block_weight, block_ref, phase_blocks, eps2,
                    x):
    k = cuda.grid(1)
    if k >= c.shape[1]:
        return
    n_a1, n_blocks = a1_index.shape[0], block_index.shape[0]
    for f in range(n_a1):
        x[f, k] = c[a1_index[f], k]
    for b in range(n_blocks):
        i0, i1 = block_index[b, 0], block_index[b, 1]
        x[n_a1 + b, k] = (block_weight[b, 0] * c[i0, k] * c[i0, k]
                          + block_weight[b, 1] * c[i1, k] * c[i1, k])
    for f in range(phase_blocks.shape[0]):
        b = phase_blocks[f]
        num, den = phase_parts(c[block_index[b, 0], k], c[block_index[b, 1], k],
                               r[block_ref[b, 0], k], r[block_ref[b, 1], k],
                               block_weight[b, 0], block_weight[b, 1], eps2)
        x[n_a1 + n_blocks + f, k] = num / den


@cuda.jit
def _combine_backward_kernel(c, r, dx, a1_index, block_index, block_weight, block_ref,
                             phase_blocks, eps2, dc, dr):
    k = cuda.grid(1)
    if k >= c.shape[1]:
        return
    n_a1, n_blocks = a1_index.shape[0], block_index.shape[0]
    for i in range(dc.shape[0]):
        dc[i, k] = 0.0
    for i in range(dr.shape[0]):
        dr[i, k] = 0.0
    for f in range(n_a1):
        dc[a1_index[f], k] += dx[f, k]
    for b in range(n_blocks):
        d = dx[n_a1 + b, k]
        for a in range(2):
            i = block_index[b, a]
            dc[i, k] += (d + d) * block_weight[b, a] * c[i, k]
    for f in range(phase_blocks.shape[0]):
        b = phase_blocks[f]
        i0, i1, j0, j1 = block_index[b, 0], block_index[b, 1], block_ref[b, 0], block_ref[b, 1]
        w0, w1 = block_weight[b, 0], block_weight[b, 1]
        c0, c1, r0, r1 = c[i0, k], c[i1, k], r[j0, k], r[j1, k]
        num, den = phase_parts(c0, c1, r0, r1, w0, w1, eps2)
        d = dx[n_a1 + n_blocks + f, k] / den
        dc[i0, k] += d * w0 * r0
        dc[i1, k] += d * w1 * r1
        s = num / (den * den)
        dr[j0, k] += d * w0 * (c0 - s * r0)
        dr[j1, k] += d * w1 * (c1 - s * r1)


@cuda.jit
def _invariants_backward_kernel(loc, pairs, triangles, dq, start, g):
    k = cuda.grid(1)
    if k >= dq.shape[1]:
        return
    s = start + k
    for m in range(g.shape[0]):
        for d in range(3):
            g[m, d, s] = 0.0
    n_pairs = pairs.shape[0]
    for p in range(n_pairs):
        a, b = pairs[p, 0], pairs[p, 1]
        for d in range(3):
            g[a, d, s] += dq[p, k] * loc[d, b, k]
            g[b, d, s] += dq[p, k] * loc[d, a, k]
    for t in range(triangles.shape[0]):
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        w = dq[n_pairs + t, k]
        ax, ay, az = loc[0, a, k], loc[1, a, k], loc[2, a, k]
        bx, by, bz = loc[0, b, k], loc[1, b, k], loc[2, b, k]
        cx, cy, cz = loc[0, c, k], loc[1, c, k], loc[2, c, k]
        x, y, z = cross(bx, by, bz, cx, cy, cz)
        g[a, 0, s] += w * x
        g[a, 1, s] += w * y
        g[a, 2, s] += w * z
        x, y, z = cross(cx, cy, cz, ax, ay, az)
        g[b, 0, s] += w * x
        g[b, 1, s] += w * y
        g[b, 2, s] += w * z
        x, y, z = cross(ax, ay, az, bx, by, bz)
        g[c, 0, s] += w * x
        g[c, 1, s] += w * y
        g[c, 2, s] += w * z


@cuda.jit
def _field_kernel(spins, offsets, lx, ly, g, parallel, field):
    j = cuda.grid(1)
    if j < spins.shape[0]:
        field[j, 0], field[j, 1], field[j, 2] = site_field(spins, offsets, lx, ly, g, parallel,
                                                           j)


@cuda.jit
def _sparse_map_kernel(index, coef, x, out):
    k = cuda.grid(1)
    if k >= x.shape[1]:
        return
    for i in range(index.shape[0]):
        acc = 0.0
        for j in range(index.shape[1]):
            acc += coef[i, j] * x[index[i, j], k]
        out[i, k] = acc


@cuda.jit
def _sparse_map_transposed_kernel(index, coef, dout, dx):
    k = cuda.grid(1)
    if k >= dout.shape[1]:
        return
    for i in range(index.shape[0]):
        d = dout[i, k]
        for j in range(index.shape[1]):
            dx[index[i, j], k] += coef[i, j] * d


#: threads per block of the CUDA launches (one thread per site)
THREADS = 128


def _blocks(n: int) -> int:
    return (n + THREADS - 1) // THREADS


def invariants_cuda(spins, *rest):
    """CUDA version of :func:`invariants_cpu` (same arguments, device arrays)."""
    q = rest[-1]
    _invariants_kernel[_blocks(q.shape[1]), THREADS](spins, *rest)


def combine_cuda(c, *rest):
    """CUDA version of :func:`combine_cpu`."""
    _combine_kernel[_blocks(c.shape[1]), THREADS](c, *rest)


def combine_backward_cuda(c, *rest):
    """CUDA version of :func:`combine_backward_cpu`."""
    _combine_backward_kernel[_blocks(c.shape[1]), THREADS](c, *rest)


def invariants_backward_cuda(loc, pairs, triangles, dq, start, g):
    """CUDA version of :func:`invariants_backward_cpu`."""
    _invariants_backward_kernel[_blocks(dq.shape[1]), THREADS](loc, pairs, triangles, dq, start, g)


def field_cuda(spins, *rest):
    """CUDA version of :func:`field_cpu`."""
    _field_kernel[_blocks(spins.shape[0]), THREADS](spins, *rest)


def sparse_map_cuda(index, coef, x, out):
    """CUDA version of :func:`sparse_map_cpu`."""
    _sparse_map_kernel[_blocks(x.shape[1]), THREADS](index, coef, x, out)


def sparse_map_transposed_cuda(index, coef, dout, dx):
    """CUDA version of :func:`sparse_map_transposed_cpu`."""
    _sparse_map_transposed_kernel[_blocks(dout.shape[1]), THREADS](index, coef, dout, dx)

