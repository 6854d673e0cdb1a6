"""llgsim: stochastic Landau-Lifshitz-Gilbert dynamics of itinerant magnets with
machine-learned electron forces. Data flows lattice -> model -> field provider -> integrator ->
writer; see README.md and docs/."""

from .errors import InputError
from .lattice import Lattice, Shell
from .model import KondoModel

__version__ = "0.2.0"
__all__ = ["InputError", "KondoModel", "Lattice", "Shell", "__version__"]
