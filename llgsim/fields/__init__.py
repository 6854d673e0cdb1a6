"""Field providers: every force source behind one interface, ``energy_and_field(spins)``.

    from llgsim.fields import ExactDiagonalization, ClassicalSpins, KPM, MLField

Providers are imported on first use, so a run that never touches the ML model never imports torch.
"""

from importlib import import_module

from .base import ElectronSolution, FieldProvider, SumOfProviders

_LAZY = {
    "ExactDiagonalization": ".ed",
    "ClassicalSpins": ".classical",
    "KPM": ".kpm",
    "MLField": ".ml",
}

__all__ = ["ElectronSolution", "FieldProvider", "SumOfProviders", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
