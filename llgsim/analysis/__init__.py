"""Analysis of spin configurations and trajectories."""

from .observables import chirality, magnetization, observables_for, staggered_magnetization

__all__ = ["chirality", "magnetization", "observables_for", "staggered_magnetization"]
