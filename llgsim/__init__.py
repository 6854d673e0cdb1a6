"""llgsim: stochastic Landau-Lifshitz-Gilbert dynamics of itinerant magnets with
machine-learned electron forces. Data flows lattice -> model -> field provider -> stepper ->
driver -> run file; see README.md and docs/.

    from llgsim import Lattice, KondoModel, InputError

The names are imported on first use, so ``import llgsim.run.probe`` (a child process that reads
run files) or the command line does not pay for scipy.
"""

from importlib import import_module

__version__ = "0.2.0"

_LAZY = {"InputError": ".errors", "Lattice": ".lattice", "Shell": ".lattice",
         "KondoModel": ".model"}

__all__ = ["InputError", "KondoModel", "Lattice", "Shell", "__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
