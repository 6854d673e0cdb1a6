"""Per-site energy and field of the classical spin terms (Heisenberg shells, Zeeman, easy axis),
with the numpy reference and the numba CPU launcher side by side.

    E = sum_n J_H,n sum_<ij>_n S_i . S_j - h . sum_i S_i - K sum_i (S_i . e)^2

(docs/conventions.md, "Hamiltonian"; each bond once). With the neighbour table nb (N, z) over
every offset of every shell (both directions) and the coupling J_c of column c, each bond
appears twice in sum_i sum_c, so with the exchange sum X_i = sum_c J_c S_nb[i, c]:

    H_i = -dE/dS_i = -X_i + h + 2 K (S_i . e) e
    E   = sum_i [ 1/2 S_i . X_i - h . S_i - K (S_i . e)^2 ]

Arrays: spins and field (N, 3) of one dtype (float64 or float32), neighbours (N, z) int64,
couplings (z,) float64, zeeman and axis (3,) float64. ``energy_and_field_<backend>(spins,
neighbours, couplings, zeeman, K, axis, field)`` fills ``field`` and returns E (float). The CPU
sum runs over fixed blocks of BLOCK sites, so E does not depend on the thread count. The CUDA
launcher runs one thread per site; each block of THREADS threads sums its energies in shared
memory in a fixed tree order and writes one partial sum, and the host adds the partials in
order (no atomics), so E is the same on every run.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, float64, njit, prange
from numba.extending import register_jitable

#: sites per block of the energy sum (partial sums per block, then the blocks in order)
BLOCK = 1024


@register_jitable
def site_energy_and_field(spins, neighbours, couplings, zeeman, K, axis, i):
    """Energy share e_i and field (hx, hy, hz) of site i (formulas in the module docstring)."""
    xx = 0.0
    xy = 0.0
    xz = 0.0
    for c in range(neighbours.shape[1]):
        j = neighbours[i, c]
        xx += couplings[c] * spins[j, 0]
        xy += couplings[c] * spins[j, 1]
        xz += couplings[c] * spins[j, 2]
    sx, sy, sz = spins[i, 0], spins[i, 1], spins[i, 2]
    se = sx * axis[0] + sy * axis[1] + sz * axis[2]
    energy = (0.5 * (sx * xx + sy * xy + sz * xz)
              - (zeeman[0] * sx + zeeman[1] * sy + zeeman[2] * sz) - K * se * se)
    return (energy,
            -xx + zeeman[0] + 2.0 * K * se * axis[0],
            -xy + zeeman[1] + 2.0 * K * se * axis[1],
            -xz + zeeman[2] + 2.0 * K * se * axis[2])


@njit(cache=True, parallel=True)
def energy_and_field_cpu(spins, neighbours, couplings, zeeman, K, axis, field):
    """Fill ``field`` (N, 3) with H_i and return the total energy E (float)."""
    n = spins.shape[0]
    n_blocks = (n + BLOCK - 1) // BLOCK
    partial = np.zeros(n_blocks)
    for b in prange(n_blocks):
        total = 0.0
        for i in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            e, field[i, 0], field[i, 1], field[i, 2] = site_energy_and_field(
                spins, neighbours, couplings, zeeman, K, axis, i)
            total += e
        partial[b] = total
    energy = 0.0
    for b in range(n_blocks):
        energy += partial[b]
    return energy


@cuda.jit(device=True)
def block_tree_sum(cache, t):
    """Sum of cache[0:THREADS] (a shared array, THREADS a power of two) left in cache[0] by the
    threads t < THREADS of one block, in a fixed tree order (pairs at strides THREADS/2, ...,
    1); every thread of the block must call it. A CUDA device function (not register_jitable)
    so that the simulator also finds ``cuda.syncthreads`` when another module's kernel calls
    it."""
    cuda.syncthreads()
    stride = THREADS // 2
    while stride > 0:
        if t < stride:
            cache[t] += cache[t + stride]
        cuda.syncthreads()
        stride //= 2


@cuda.jit
def _energy_and_field_kernel(spins, neighbours, couplings, zeeman, K, axis, field, partial):
    i = cuda.grid(1)
    t = cuda.threadIdx.x
    cache = cuda.shared.array(THREADS, float64)
    cache[t] = 0.0
    if i < spins.shape[0]:
        e, field[i, 0], field[i, 1], field[i, 2] = site_energy_and_field(
            spins, neighbours, couplings, zeeman, K, axis, i)
        cache[t] = e
    block_tree_sum(cache, t)
    if t == 0:
        partial[cuda.blockIdx.x] = cache[0]


#: threads per block of the CUDA launch (one thread per site); a power of two (tree sums)
THREADS = 128


def like(x, shape, dtype):
    """A zeroed array of ``shape`` and ``dtype`` in the array module of ``x``: cupy for a cupy
    array, numpy otherwise (numpy arrays under numba's CUDA simulator)."""
    if hasattr(x, "__cuda_array_interface__") and type(x).__module__.startswith("cupy"):
        import cupy

        return cupy.zeros(shape, dtype=dtype)
    return np.zeros(shape, dtype=dtype)


def host_sum(partial) -> float:
    """Sum of a 1-d array of partial sums (copied to the host), in index order, as float."""
    if not isinstance(partial, np.ndarray):
        partial = partial.get() if hasattr(partial, "get") else partial.copy_to_host()
    total = 0.0
    for value in partial.tolist():
        total += value
    return total


def energy_and_field_cuda(spins, neighbours, couplings, zeeman, K, axis, field):
    """CUDA version of :func:`energy_and_field_cpu` (same arguments and result; device arrays,
    or host arrays for the small tables): fills ``field`` and returns E (float)."""
    n = spins.shape[0]
    blocks = (n + THREADS - 1) // THREADS
    if blocks == 0:
        return 0.0
    partial = like(spins, blocks, np.float64)
    _energy_and_field_kernel[blocks, THREADS](spins, neighbours, couplings, zeeman, float(K),
                                              axis, field, partial)
    return host_sum(partial)


def energy_and_field_reference(spins, neighbours, couplings, zeeman, K, axis, field):
    """numpy version of :func:`energy_and_field_cpu` (same arguments and result)."""
    s = np.asarray(spins, dtype=np.float64)
    exchange = np.zeros(s.shape)
    for c in range(neighbours.shape[1]):
        exchange += couplings[c] * s[neighbours[:, c]]
    se = s @ axis
    field[...] = -exchange + zeeman + 2.0 * K * se[:, None] * axis
    return float(0.5 * np.sum(s * exchange) - np.sum(s @ zeeman) - K * np.sum(se * se))
