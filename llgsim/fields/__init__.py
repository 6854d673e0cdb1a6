"""Field providers: every force source behind one interface, ``energy_and_field(spins)``."""

from .base import ElectronSolution, FieldProvider, SumOfProviders

__all__ = ["ElectronSolution", "FieldProvider", "SumOfProviders"]
