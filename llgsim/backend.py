"""The backend seam: where a run's arrays live, which kernels act on them, and the noise.

A run has one backend, chosen by name (``backend`` in a run config, ``--backend`` on the
command line):

* ``"reference"``: numpy arrays and the numpy (or torch) reference of every kernel, written to
  be read and checked; every fast path is tested against it.
* ``"cpu"``: numpy arrays and numba kernels, parallel over sites on numba's threads.
* ``"cuda"``: device arrays and numba-cuda kernels on an NVIDIA GPU. Not part of this version:
  asking for it is a one-line error.
* ``"auto"``: ``"cuda"`` where a real GPU and the kernels are present (never numba's CUDA
  simulator), ``"cpu"`` otherwise.

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

    name   : "reference" or "cpu" (resolved; never "auto").
    dtype  : numpy dtype of spins, fields and noise buffers (float64 or float32).
    device : human-readable name of the device the arrays live on (for run files).
    """

    name: str
    dtype: np.dtype
    device: str

    @property
    def xp(self):
        """The array module of this backend (numpy)."""
        return np

    def empty(self, shape) -> np.ndarray:
        """An uninitialised array of ``shape`` in the backend's dtype, on its device."""
        return np.empty(shape, dtype=self.dtype)

    def asarray(self, host) -> np.ndarray:
        """``host`` (any array-like) as a C-contiguous array of the backend's dtype on its
        device; no copy when it already is one."""
        return np.ascontiguousarray(host, dtype=self.dtype)

    def to_host(self, array) -> np.ndarray:
        """A host (numpy) copy of a device array: the only way data leaves the device."""
        return np.array(array, copy=True)

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

    def available_memory(self) -> int:
        """Bytes of memory available to a run on this backend's device: the host's
        MemAvailable (Linux), else its physical memory."""
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
    if name == "cuda":
        raise InputError("backend", name, "'cpu', 'reference' or 'auto': the CUDA kernels are "
                         "not part of this version of llgsim")
    resolved = "cpu" if name == "auto" else name
    return Backend(resolved, np.dtype(dtype), _cpu_name())


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
