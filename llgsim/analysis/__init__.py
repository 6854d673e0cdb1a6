"""Analysis of spin configurations and trajectories."""

from .observables import (chirality, magnetization, nearest_neighbour_correlation,
                          observables_for, staggered_magnetization)

__all__ = ["chirality", "magnetization", "nearest_neighbour_correlation", "observables_for",
           "staggered_magnetization"]
