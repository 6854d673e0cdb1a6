"""The backend seam: where a run's arrays live, which kernels act on them, and the noise.

A run has one backend, chosen by name (``backend`` in a run config, ``--backend`` on the
command line):

* ``"reference"``: numpy arrays and the numpy (or torch) reference of every kernel, written to
  be read and checked; every fast path is tested against it.
* ``"cpu"``: numpy arrays and numba kernels, parallel over sites on numba's threads.
* ``"cuda"``: CuPy arrays and numba-cuda kernels on an NVIDIA GPU. Under numba's CUDA simulator
  (NUMBA_ENABLE_CUDASIM=1, for tests on machines without a GPU) the same kernels run, slowly,
  on numpy arrays.
* ``"auto"``: ``"cuda"`` where a real GPU and CuPy are present (never the simulator),
  ``"cpu"`` otherwise.

A :class:`Backend` owns the array module, the working dtype (float64 or float32) of spins and
fields, the allocation of buffers, the copies between host and device, and the thermal noise:
normals keyed by (seed, step, site, component) (``llgsim.kernels.philox``), the same numbers on
every backend and thread count, so a checkpoint needs only the seed and the step. Kernel modules
in ``kernels/`` name their entry points ``<job>_<backend>`` (``sib_predictor_cpu`` beside
``sib_predictor_reference``); :meth:`Backend.kernel` picks the one of this backend.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .kernels import philox

#: names a run config or a provider accepts ("auto" resolves to one of the others)
BACKEND_NAMES = ("auto", "reference", "cpu", "cuda")
DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Backend:
    """Array module, dtype, buffers, host copies, noise and kernels of one backend.

    name   : "reference", "cpu" or "cuda" (resolved; never "auto").
    dtype  : numpy dtype of spins, fields and noise buffers (float64 or float32).
    device : human-readable name of the device the arrays live on (for run files).
    simulated : True for "cuda" under numba's CUDA simulator (numpy arrays, no GPU).
    """

    name: str
    dtype: np.dtype
    device: str
    simulated: bool = False

    @property
    def xp(self):
        """The array module of this backend: cupy on a real GPU, numpy otherwise."""
        if self.name == "cuda" and not self.simulated:
            import cupy

            return cupy
        return np

    def empty(self, shape):
        """An uninitialised array of ``shape`` in the backend's dtype, on its device."""
        return self.xp.empty(shape, dtype=self.dtype)

    def asarray(self, host):
        """``host`` (any array-like) as a C-contiguous array of the backend's dtype on its
        device; no copy when it already is one."""
        return self.xp.ascontiguousarray(self.xp.asarray(host, dtype=self.dtype))

    def to_device(self, host):
        """``host`` on the backend's device as a C-contiguous array of its own dtype (index
        tables)."""
        return self.xp.ascontiguousarray(self.xp.asarray(host))

    def to_host(self, array) -> np.ndarray:
        """A host (numpy) copy of a device array: the only way data leaves the device."""
        if self.xp is not np:
            return self.xp.asnumpy(array)
        return np.array(array, copy=True)

    def synchronize(self) -> None:
        """Wait until the device has finished the work queued so far (timings)."""
        if self.xp is not np:
            self.xp.cuda.get_current_stream().synchronize()

    def normals(self, seed: int, step: int, out) -> None:
        """Fill ``out`` (N, 3) with the standard normals of (seed, step, site, component),
        identical on every backend (``llgsim.kernels.philox``)."""
        self.kernel(philox, "fill_normals")(seed, step, philox.THERMAL_STREAM, out)

    def kernel(self, module, job: str):
        """The entry point ``<job>_<name>`` of a kernels module."""
        entry = getattr(module, f"{job}_{self.name}", None)
        if entry is None:
            raise InputError("backend", self.name,
                             f"a backend with a {job} kernel in {module.__name__}")
        return entry

    def workers(self, n_tiles: int) -> "Workers":
        """Workers for ``n_tiles`` independent tiles of work: one per numba thread on the CPU
        (each runs its tiles' serial kernels and single-threaded BLAS), one on other
        backends."""
        import numba

        count = min(numba.get_num_threads(), n_tiles) if self.name == "cpu" else 1
        return Workers(max(count, 1))

    def available_memory(self) -> int:
        """Bytes of memory available to a run on this backend's device: the GPU's free memory,
        else the host's MemAvailable (Linux), else its physical memory."""
        if self.xp is not np:
            return int(self.xp.cuda.runtime.memGetInfo()[0])
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        import os

        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")

    def describe(self) -> dict:
        """backend, dtype and device, as recorded in run files."""
        return {"backend": self.name, "dtype": np.dtype(self.dtype).name, "device": self.device}


def get_backend(name: str = "auto", dtype: str = "float64") -> Backend:
    """The backend called ``name`` (BACKEND_NAMES) with working ``dtype`` (DTYPES)."""
    if name not in BACKEND_NAMES:
        raise InputError("backend", name, f"one of {list(BACKEND_NAMES)}")
    if dtype not in DTYPES:
        raise InputError("dtype", dtype, f"one of {list(DTYPES)}")
    gpu = gpu_device()
    if name == "cuda" or (name == "auto" and gpu is not None and gpu != SIMULATOR):
        if gpu is None:
            raise InputError("backend", name, "'cpu', 'reference' or 'auto': no CUDA GPU with "
                             "CuPy and numba-cuda is usable here")
        return Backend("cuda", np.dtype(dtype), gpu, simulated=gpu == SIMULATOR)
    resolved = "cpu" if name == "auto" else name
    return Backend(resolved, np.dtype(dtype), _cpu_name())


#: the device name of the "cuda" backend under numba's CUDA simulator
SIMULATOR = "numba CUDA simulator"


@functools.cache
def gpu_device() -> str | None:
    """The name of the GPU the "cuda" backend runs on: SIMULATOR under NUMBA_ENABLE_CUDASIM=1,
    the device's name where a real GPU, its driver and CuPy are usable, else None."""
    try:
        import numba
        from numba import cuda
    except ImportError:
        return None
    if numba.config.ENABLE_CUDASIM:
        return SIMULATOR
    try:
        import cupy

        if not (cuda.is_available() and cupy.is_available()):
            return None
        name = cuda.get_current_device().name
    except Exception:  # no driver, no runtime, a broken install: no GPU backend
        return None
    return name.decode() if isinstance(name, bytes) else str(name)


def as_backend(backend, dtype: str = "float64") -> Backend:
    """A Backend as given, or the one named ``backend`` with ``dtype``."""
    return backend if isinstance(backend, Backend) else get_backend(backend, dtype)


@functools.cache
def _cpu_name() -> str:
    """The processor's model name (Linux /proc/cpuinfo, else platform) and numba's threads."""
    import platform

    import numba

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {numba.get_num_threads()} threads"


class Workers:
    """A fixed pool of ``count`` worker threads (created on first use): ``map(fn, n)`` calls
    ``fn(k, worker)`` for tiles k < n, tile k on worker k mod count, and returns the results in
    tile order. Inside, BLAS runs single-threaded and so do the numba kernels (their work is
    split by tiles instead, so one pool of threads does all of it)."""

    def __init__(self, count: int):
        self.count = count
        self._pool = None
        self._blas = None

    def map(self, fn, n: int) -> list:
        if self._blas is None:
            from threadpoolctl import ThreadpoolController

            self._blas = ThreadpoolController()
        with self._blas.limit(limits=1, user_api="blas"):
            if self.count == 1:  # the caller's thread (its numba kernels are serial)
                return [fn(k, 0) for k in range(n)]
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.count, initializer=_one_numba_thread)

            def run(worker):
                return [(k, fn(k, worker)) for k in range(worker, n, self.count)]

            done = list(self._pool.map(run, range(self.count)))
        return [result for _, result in sorted(pair for part in done for pair in part)]


def _one_numba_thread() -> None:
    import numba

    numba.set_num_threads(1)
