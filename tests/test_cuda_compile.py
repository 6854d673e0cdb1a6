"""Every CUDA kernel of the kernels package compiles to PTX with the real numba-cuda compiler
(NVVM), for compute capabilities 8.0 and 9.0, in float32 and float64.

The test suite runs kernels in numba's CUDA simulator (tests/conftest.py), which never compiles
them, so a kernel that the simulator accepts may still fail to type or lower (e.g. a float32
array stored from a float64 expression is fine, an unsupported call is not). Here:

1. This process (simulator) discovers every ``@cuda.jit`` kernel (not device functions) in every
   module of ``llgsim.kernels``, replaces each by a recorder and runs small workloads that launch
   them all (Philox normals, the SIB and Heun steps with and without noise, the classical and
   KPM providers, the ML field with each activation and its integrator steps), in float64 and
   float32. The recorder
   keeps the numba type of every argument of every launch (arrays as dtype, ndim, layout and
   mutability).
2. A subprocess per compute capability, with NUMBA_ENABLE_CUDASIM=0, rebuilds those types,
   discovers the kernels again with the real compiler's dispatchers, fails if one has no
   recorded launch, and compiles every distinct (kernel, signature) with ``compile_ptx``.

Without a GPU the real dispatcher still asks the driver for the current device's compute
capability when it compiles the ``register_jitable`` functions a kernel calls; the subprocess
replaces ``numba.cuda.dispatcher.get_current_device`` by a stub that reports the capability being
compiled for. The test skips when NVVM itself is unusable (a trivial kernel fails to compile).
"""

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numba
import pytest

import llgsim.kernels
from conftest import write_random_model

CAPABILITIES = ((8, 0), (9, 0))
#: wall-clock limit of one compile subprocess (s); ~40 distinct signatures at ~1 s each
COMPILE_TIMEOUT = 600
NVVM_UNAVAILABLE = 77

needs_simulator = pytest.mark.skipif(
    not numba.config.ENABLE_CUDASIM,
    reason="the launches are recorded under numba's CUDA simulator (tests/conftest.py)")


def kernel_modules():
    """Every module of the llgsim.kernels package."""
    return [importlib.import_module(f"llgsim.kernels.{m.name}")
            for m in pkgutil.iter_modules(llgsim.kernels.__path__)]


def simulator_kernels(module):
    """{name: kernel} of the simulator's @cuda.jit kernels defined in ``module``."""
    from numba.cuda.simulator.kernel import FakeCUDAKernel

    return {name: obj for name, obj in vars(module).items()
            if isinstance(obj, FakeCUDAKernel) and not obj._device
            and obj.fn.__module__ == module.__name__}


def type_spec(value):
    """JSON description of numba.typeof(value) that the subprocess turns back into a type."""
    t = numba.typeof(value)
    if isinstance(t, numba.types.Array):
        return {"dtype": t.dtype.name, "ndim": t.ndim, "layout": t.layout,
                "readonly": not t.mutable}
    if t == numba.types.boolean:
        return "boolean"
    return str(t)  # float64, float32, int64, uint64, none


class Recorder:
    """Stands in for a kernel: ``rec[grid, block](*args)`` records the argument types, then
    launches the kernel."""

    def __init__(self, key, kernel, log):
        self.key, self.kernel, self.log = key, kernel, log

    def __getitem__(self, config):
        launch = self.kernel[config]

        def record(*args):
            self.log.setdefault(self.key, set()).add(json.dumps([type_spec(a) for a in args]))
            return launch(*args)

        return record


def ml_activations():
    """The activations the ML kernels implement (each has its own kernel)."""
    try:
        from llgsim.kernels.activation import ACTIVATIONS
    except ImportError:
        return ("silu",)
    return ACTIVATIONS


def run_workloads(model_paths):
    """Launch every kernel of the package in float64 and float32 (small lattices); one ML model
    file per activation."""
    from llgsim import Lattice
    from llgsim.backend import get_backend
    from llgsim.dynamics import make_stepper
    from llgsim.fields import KPM, ClassicalSpins, MLField
    from llgsim.model import KondoModel
    from llgsim.states import random_spins

    square = Lattice.square(6)
    spins = random_spins(square, 1)
    kondo = KondoModel(Lattice.square(4), J=6.0, filling=0.485, kT=0.1)
    for dtype, precision in (("float64", "double"), ("float32", "single")):
        b = get_backend("cuda", dtype)
        classical = ClassicalSpins(square, heisenberg=(1.0, 0.5), field=(0.0, 0.1, 0.2),
                                   anisotropy=(0.3, (0.0, 0.0, 1.0)), backend=b)
        for scheme in ("sib", "heun"):
            stepper = make_stepper(scheme, classical, dt=0.05, alpha=0.1, seed=1)
            s = b.asarray(spins.copy())
            for step, kT in enumerate((0.1, 0.0)):  # with noise, then without
                s, _ = stepper.advance(s, step, kT, True)
        KPM(kondo, order=4, colors=2, precision=precision, backend=b).energy_and_field(
            random_spins(kondo.lattice, 2))
        for k, path in enumerate(model_paths):
            ml = MLField(path, square, dtype, b)
            ml.energy_and_field(spins)
            if k == 0:  # the ML field's own (fused) step, where it offers one
                for scheme in ("sib", "heun"):
                    make_stepper(scheme, ml, dt=0.05, alpha=0.1, seed=1).advance(
                        b.asarray(spins.copy()), 0, 0.1, True)


def nvvm_script(capability):
    """The subprocess: rebuild the recorded types, check coverage, compile every case."""
    return f"""
import importlib, json, pkgutil, sys
from types import SimpleNamespace
import numba
from numba import cuda, types
import numba.cuda.dispatcher as dispatcher
assert not numba.config.ENABLE_CUDASIM
CC = {capability!r}
# no driver here: the dispatcher of a register_jitable callee asks for the device's capability
dispatcher.get_current_device = lambda: SimpleNamespace(compute_capability=CC)

def trivial(x):
    i = cuda.grid(1)
    if i < x.shape[0]:
        x[i] = 2.0 * x[i]
try:
    cuda.compile_ptx(trivial, (types.float64[::1],), cc=CC)
except Exception as err:
    print(f"NVVM unusable: {{type(err).__name__}}: {{err}}".splitlines()[0])
    sys.exit({NVVM_UNAVAILABLE})

def rebuild(spec):
    if isinstance(spec, dict):
        return types.Array(getattr(types, spec["dtype"]), spec["ndim"], spec["layout"],
                           readonly=spec["readonly"])
    return getattr(types, spec)

import llgsim.kernels
cases = json.load(sys.stdin)
failures = []
for info in pkgutil.iter_modules(llgsim.kernels.__path__):
    module = importlib.import_module("llgsim.kernels." + info.name)
    for name, obj in sorted(vars(module).items()):
        if not isinstance(obj, dispatcher.CUDADispatcher) or obj.targetoptions.get("device"):
            continue
        if obj.py_func.__module__ != module.__name__:
            continue
        key = module.__name__ + "." + name
        if key not in cases:
            failures.append(key + ": a kernel with no compile case (no workload launches it)")
            continue
        for sig in cases.pop(key):
            argtypes = tuple(rebuild(s) for s in json.loads(sig))
            try:
                cuda.compile_ptx(obj.py_func, argtypes, cc=CC)
            except Exception as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                failures.append(f"{{key}}{{argtypes}}: {{type(err).__name__}}: {{first}}")
for key in cases:
    failures.append(key + ": recorded in the simulator but not found as a kernel here")
print("\\n".join(failures) if failures else "all kernels compiled")
sys.exit(1 if failures else 0)
"""


def compile_all(cases, capability):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    return subprocess.run([sys.executable, "-c", nvvm_script(capability)], input=json.dumps(cases),
                          capture_output=True, text=True, env=env, timeout=COMPILE_TIMEOUT)


@needs_simulator
def test_every_kernel_compiles_to_ptx(tmp_path, monkeypatch):
    paths = [write_random_model(tmp_path / f"random-{act}.safetensors", "square", L=10,
                                hidden=(4,), activation=act) for act in ml_activations()]
    log = {}
    for module in kernel_modules():
        for name, kernel in simulator_kernels(module).items():
            monkeypatch.setattr(module, name, Recorder(f"{module.__name__}.{name}", kernel, log))
    run_workloads(paths)
    monkeypatch.undo()

    cases = {key: sorted(sigs) for key, sigs in log.items()}
    (tmp_path / "cases.json").write_text(json.dumps(cases, indent=1))
    for key, sigs in cases.items():  # both precisions of every kernel
        floats = [{a["dtype"] for a in json.loads(s)
                   if isinstance(a, dict) and a["dtype"].startswith("float")} for s in sigs]
        assert any("float32" in f for f in floats), f"{key}: no float32 launch recorded"
        assert any(f == {"float64"} for f in floats), f"{key}: no float64-only launch recorded"

    with ThreadPoolExecutor(len(CAPABILITIES)) as pool:
        runs = list(pool.map(lambda cc: compile_all(cases, cc), CAPABILITIES))
    for cc, run in zip(CAPABILITIES, runs):
        if run.returncode == NVVM_UNAVAILABLE:
            pytest.skip(f"the CUDA compiler is unavailable here: {run.stdout.strip()}")
    report = {cc: (run.returncode, run.stdout.strip() or run.stderr.strip()[-3000:])
              for cc, run in zip(CAPABILITIES, runs)}
    assert all(code == 0 for code, _ in report.values()), report
