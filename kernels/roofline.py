"""Memory-bandwidth probe of the machine, for the roofline figures of the benchmarks.

:func:`stream_copy_cpu` is a STREAM-like parallel copy: it reads ``src`` once and writes ``dst``
once, so one call moves 2 x src.nbytes bytes between the cores and memory. Timed on arrays well
out of cache (benchmarks/kpm.py, part d), it gives the bandwidth that a memory-bound kernel
(the Chebyshev block mat-vec of ``llgsim.kernels.kpm``) can reach on this machine, against which
its effective bandwidth is quoted. It does no physics and no provider or integrator calls it.
"""

from __future__ import annotations

from numba import njit, prange


@njit(parallel=True, cache=True)
def stream_copy_cpu(src, dst):
    """dst[i] = src[i] for every element of the 1-D arrays ``src`` and ``dst`` (same length and
    dtype), numba parallel over elements. Bytes moved per call: 2 x src.nbytes."""
    for i in prange(src.shape[0]):
        dst[i] = src[i]
