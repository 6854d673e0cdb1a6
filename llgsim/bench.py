"""The tables of ``llgsim bench``: speed of the ML field and of ML-driven LLG on the machine at
hand, against the torch reference, ED, KPM and the machine's own matmul peak.

Tables (each printed as markdown, with machine, date and load):

* ``ml``: per backend ("reference" = torch autograd, "cpu", "cuda" where a GPU is present) and
  dtype, for N sites of an L x L square lattice with the shipped model ``de-square``: field
  evaluations per second, SIB spin-steps per second (two evaluations, the Philox noise and the
  update per step; kT > 0; energy not requested, as between samples), the ratio to torch on the
  same N and dtype, the bytes per spin the provider and the stepper hold, and the fraction of
  the FLOP-bound limit: multiply-adds per site (the two networks' forward passes and the energy
  network's input-gradient pass, :func:`mlp_macs`) x N x evaluations per second, divided by the
  multiply-adds per second of a large matmul in the same dtype timed in the same run
  (:func:`matmul_peak`). The descriptor's own arithmetic (~10 % of the multiply-adds) is not
  counted, so the fraction is a lower bound.
* ``speedup``: seconds per SIB step with ED, KPM (M = 1000 moments, 10 colors, single
  precision), ML torch and ML on the fast backends, for the double-exchange model the shipped
  model learned (J = 6, f = 0.485, kT_e = 0), at L = 30, 50, 100, ...; ED is measured up to
  ``ed_max`` and beyond that extrapolated by the power law fitted to the measured sizes
  (marked "fit"). Ratios are to ED.
* ``memory``: the peak resident memory of an ``llgsim run`` of a 1000 x 1000 (10^6-spin) ML run
  in float32, two steps, in a child process (its VmHWM, Linux).

Timings are the best of ``repeats`` after a warm-up (which also compiles the kernels);
a shared machine inflates them, never deflates.
"""

from __future__ import annotations

import datetime
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: the shipped model every table runs
MODEL = "de-square"
#: the electron model the shipped model learned (its metadata): t1 = 1, J = 6, f = 0.485
MODEL_PARAMETERS = dict(J=6.0, filling=0.485, kT=0.0)
#: SIB step of the timings (alpha, kT, dt): noise drawn, energy not requested
DT, ALPHA, KT = 0.01, 0.1, 0.05
#: sides L of the ED timings the power law is fitted to (the three largest <= ed_max, where the
#: O(N^3) diagonalisation dominates the more the larger they are; a smaller fitted exponent
#: under-estimates ED beyond, so the speed-ups quoted from the fit are lower bounds)
ED_FIT_SIDES = (8, 12, 16, 20, 24, 30)
#: KPM settings of the speed-up table (the KPM-vs-ED study of docs/benchmarks)
KPM_ORDER, KPM_COLORS = 1000, 10


def best_seconds(fn, repeats: int, synchronize=lambda: None) -> float:
    """The shortest of ``repeats`` wall times of ``fn()`` after one untimed warm-up call."""
    fn()
    synchronize()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_peak(backend, repeats: int = 3) -> float:
    """Multiply-adds per second of an n x n x n matmul in the backend's dtype (n = 2048 on the
    CPU with all BLAS threads, 8192 on a GPU): the machine's practical FLOP-bound rate."""
    n = 8192 if backend.name == "cuda" else 2048
    xp = backend.xp
    a = xp.asarray(np.random.default_rng(0).random((n, n)), dtype=backend.dtype)
    out = xp.empty_like(a)
    return n ** 3 / best_seconds(lambda: xp.matmul(a, a, out=out), repeats,
                                 backend.synchronize)


def mlp_macs(layout) -> int:
    """Multiply-adds per site of one field evaluation: both networks (energy and parallel
    field, the same layout) forward and the energy network's input gradient backward."""
    return 3 * sum(a * b for a, b in zip(layout[:-1], layout[1:]))


def side(n_sites: int) -> int:
    """L of the L x L lattice closest to ``n_sites``."""
    return max(1, round(math.sqrt(n_sites)))


def seconds_per_step(provider, lattice, repeats: int) -> float:
    """Best wall time of one SIB step (:func:`llgsim.dynamics.make_stepper`: the provider's
    fused step where it has one) at kT > 0 from random spins, energy not requested."""
    from .dynamics import make_stepper
    from .states import random_spins

    stepper = make_stepper("sib", provider, DT, ALPHA, seed=0)
    state = {"spins": provider.backend.asarray(random_spins(lattice, 1)), "step": 0}

    def step():
        state["spins"], _ = stepper.advance(state["spins"], state["step"], KT, False)
        state["step"] += 1

    return best_seconds(step, repeats, provider.backend.synchronize)


def ml_rows(backends, dtypes, sizes, repeats: int, max_sites: dict):
    """Rows of the ``ml`` table (module docstring), yielded as they are measured; a backend
    named in ``max_sites`` is skipped above that N."""
    from .backend import get_backend
    from .fields import MLField
    from .lattice import Lattice
    from .states import random_spins

    peaks = {}
    for n_target in sizes:
        L = side(n_target)
        lattice = Lattice.square(L)
        n = lattice.n_sites
        start = random_spins(lattice, 1)
        torch_seconds = {}
        for dtype in dtypes:
            for name in backends:
                if n > max_sites.get(name, n):
                    continue
                backend = get_backend(name, dtype)
                if (name, dtype) not in peaks:
                    peaks[name, dtype] = matmul_peak(get_backend(
                        "cpu" if name == "reference" else name, dtype))
                ml = MLField.pretrained(MODEL, lattice, dtype, backend)
                spins = backend.asarray(start)
                field = backend.empty((n, 3))
                evaluation = best_seconds(lambda: ml.evaluate(spins, field, False), repeats,
                                          backend.synchronize)
                llg = seconds_per_step(ml, lattice, repeats)
                if name == "reference":
                    torch_seconds[dtype] = evaluation
                ratio = torch_seconds.get(dtype, math.nan) / evaluation
                # an upper bound: 5 stepper buffers (the generic step; the fused ML step holds
                # 3) and 2 spin arrays
                stepper_bytes = 7 * 3 * n * backend.dtype.itemsize
                macs = mlp_macs(ml.metadata["network"]["layout"])
                yield dict(backend=name, device=backend.device, dtype=dtype, L=L, N=n,
                           evaluations_per_s=1 / evaluation, us_per_site=1e6 * evaluation / n,
                           spin_steps_per_s=n / llg, torch_ratio=ratio,
                           bytes_per_spin=(ml.memory_bytes() + stepper_bytes) / n,
                           flop_fraction=macs * n / evaluation / peaks[name, dtype],
                           peak_macs=peaks[name, dtype])


def speedup_rows(sizes, fast_backends, repeats: int, ed_max: int, kpm_max: int,
                 torch_max: int, dtype: str = "float32"):
    """Rows of the ``speedup`` table (module docstring): seconds per SIB step per method."""
    from .fields import KPM, ExactDiagonalization, MLField
    from .lattice import Lattice
    from .model import KondoModel

    ed_measured = {}
    fit_sides = [L for L in ED_FIT_SIDES if L <= ed_max][-3:]
    for L in sorted({*fit_sides, *[L for L in sizes if L <= ed_max]}):
        model = KondoModel(Lattice.square(L), **MODEL_PARAMETERS)
        ed_measured[L] = seconds_per_step(ExactDiagonalization(model, backend="cpu"),
                                          model.lattice, repeats)
    ls = np.array(sorted(ed_measured))
    exponent, log_a = np.polyfit(np.log(ls ** 2), np.log([ed_measured[L] for L in ls]), 1)
    for L in sizes:
        lattice = Lattice.square(L)
        model = KondoModel(lattice, **MODEL_PARAMETERS)
        row = {"L": L, "N": lattice.n_sites, "ed_exponent": exponent}
        if L in ed_measured:
            row["ed"], row["ed_kind"] = ed_measured[L], "measured"
        else:
            row["ed"], row["ed_kind"] = math.exp(log_a) * lattice.n_sites ** exponent, "fit"
        for name in ("cpu", *[b for b in fast_backends if b == "cuda"]):
            if L <= kpm_max:
                kpm = KPM(model, order=KPM_ORDER, colors=KPM_COLORS, backend=name)
                row[f"kpm_{name}"] = seconds_per_step(kpm, lattice, repeats)
        for name in ("reference", *fast_backends):
            if name == "reference" and lattice.n_sites > torch_max:
                continue
            ml = MLField.pretrained(MODEL, lattice, dtype, name)
            row[f"ml_{name}"] = seconds_per_step(ml, lattice, repeats)
        yield row


MEMORY_CONFIG = """backend = "{backend}"
dtype = "float32"
[lattice]
kind = "square"
Lx = {L}
Ly = {L}
[provider]
kind = "ml"
pretrained = "{model}"
[initial]
kind = "random"
seed = 1
[dynamics]
scheme = "sib"
dt = {dt}
alpha = {alpha}
steps = 2
seed = 2
temperature = {{ kind = "constant", kT_start = {kT} }}
[output]
path = "{path}"
frame_interval = 1
observable_interval = 1
checkpoint_interval = 2
frame_precision = "float32"
"""


def run_memory(L: int, backend: str) -> dict:
    """Peak resident bytes of ``llgsim run`` of an L x L float32 ML run of two steps (a child
    process: its VmHWM), with its wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "memory.toml"
        config.write_text(MEMORY_CONFIG.format(backend=backend, L=L, model=MODEL, dt=DT,
                                               alpha=ALPHA, kT=KT, path=Path(tmp) / "run.h5"))
        # VmHWM: the peak resident set of the child's own address space (ru_maxrss would
        # start from the parent's resident set at the fork)
        code = ("import sys\n"
                "from llgsim.cli import app\n"
                "try:\n    app(sys.argv[1:], standalone_mode=False)\n"
                "finally:\n    print(next(line for line in open('/proc/self/status')"
                " if line.startswith('VmHWM')))\n")
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code, "run", str(config)],
                             capture_output=True, text=True, check=True).stdout
        wall = time.perf_counter() - start
    kb = int(next(line.split()[1] for line in out.splitlines() if line.startswith("VmHWM")))
    return {"L": L, "N": L * L, "backend": backend, "peak_rss_bytes": 1024 * kb,
            "wall_s": wall}


def header(backends) -> str:
    """Machine, devices, date and load of a benchmark run."""
    from .backend import get_backend

    devices = sorted({get_backend(b).device for b in backends})
    now = datetime.datetime.now(datetime.timezone.utc)
    return (f"# llgsim bench, {now:%Y-%m-%d %H:%M} UTC; {'; '.join(devices)}; "
            f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f} at start")


#: header lines of the ``ml`` table
ML_HEADER = ["| backend | dtype | L | N | evals/s | us/site | spin-steps/s | x torch | "
             "bytes/spin | FLOP-bound fraction | peak MAC/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]


def ml_line(r: dict) -> str:
    """One row of the ``ml`` table (a row of :func:`ml_rows`)."""
    ratio = "" if math.isnan(r["torch_ratio"]) else f"{r['torch_ratio']:.1f}"
    return (f"| {r['backend']} | {r['dtype']} | {r['L']} | {r['N']:,} | "
            f"{r['evaluations_per_s']:.3g} | {r['us_per_site']:.2f} | "
            f"{r['spin_steps_per_s']:.3g} | {ratio} | {r['bytes_per_spin']:.0f} | "
            f"{100 * r['flop_fraction']:.0f} % | {r['peak_macs']:.3g} |")


def speedup_header(columns) -> list[str]:
    """Header lines of the ``speedup`` table with the method ``columns`` beside ED."""
    return ["| L | N | ED s/step | " + " | ".join(f"{c} s/step (x ED)" for c in columns) + " |",
            "|---|---|---|" + "---|" * len(columns)]


def speedup_line(r: dict, columns) -> str:
    """One row of the ``speedup`` table (a row of :func:`speedup_rows`)."""
    ed = r["ed"]
    cells = [f"{r[c]:.3g} ({ed / r[c]:,.0f}x)" if c in r else "" for c in columns]
    kind = "" if r["ed_kind"] == "measured" else f" (fit N^{r['ed_exponent']:.2f})"
    return f"| {r['L']} | {r['N']:,} | {ed:.3g}{kind} | " + " | ".join(cells) + " |"
