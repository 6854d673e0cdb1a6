"""Hand-written per-site kernels (installed as ``llgsim.kernels``), one module per job.

Each module holds the raw per-site math as numba-compiled functions with a thin launcher. The
package calls them through the providers and the integrator, which also own the numpy reference
with the same signature; every kernel is tested against its reference.
"""
