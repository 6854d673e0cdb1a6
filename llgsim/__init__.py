"""llgsim: stochastic Landau-Lifshitz-Gilbert dynamics of itinerant magnets with
machine-learned electron forces. Data flows lattice -> model -> field provider -> stepper ->
driver -> run file; see README.md and docs/.

    from llgsim import Lattice, KondoModel, InputError

The names are imported on first use, so ``import llgsim.run.probe`` (a child process that reads
run files) or the command line does not pay for scipy.
"""

import os
from importlib import import_module

# OpenMP threads (numba's "omp" threading layer, torch) sleep when idle instead of spinning:
# llgsim alternates numba's parallel loops with its own tile workers (llgsim.backend.Workers),
# which spinning OpenMP threads starve (an ML-driven SIB step at 100 x 100 on 2 cores: 27 ms
# passive, 40 ms spinning; KPM unchanged; BENCHMARKS.md). Read by OpenMP when it loads, so set
# here, before numba or torch start it; a value set by the user is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.2.0"

_LAZY = {"InputError": ".errors", "Lattice": ".lattice", "Shell": ".lattice",
         "KondoModel": ".model"}

__all__ = ["InputError", "KondoModel", "Lattice", "Shell", "__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
