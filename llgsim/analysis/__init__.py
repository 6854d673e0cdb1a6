"""Analysis of spin configurations and trajectories: pure functions on arrays, one module per
concept (docs/analysis.md). The file-driven pipeline (run files, tables, figures, movies) is
llgsim.report.

observables  scalar observables recorded during a run (energy, magnetization, ...)
chirality    scalar chirality per triangle and its maps
order        order-parameter fields (spin, staggered, chirality, charge) and their Ising sign
structure    structure factors S(q) on the reciprocal lattice and circular averages
lengths      characteristic lengths: first moment of S(k), half-width of C(r), wall density
clusters     periodic cluster and domain labelling, size distributions
correlations nearest-neighbour correlations, split by local density
fits         power-law growth exponents with error bars over windows and seeds
scaling      dynamical-scaling collapse and the Porod tail
plots        matplotlib figures of maps and results
"""

from .chirality import chirality
from .observables import (magnetization, nearest_neighbour_correlation, observables_for,
                          staggered_magnetization)

__all__ = ["chirality", "magnetization", "nearest_neighbour_correlation", "observables_for",
           "staggered_magnetization"]
