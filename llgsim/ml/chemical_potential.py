"""The chemical potential of a canonical (fixed-filling) run of a model with a mu input.

At fixed electron number N_e the field is that of the grand potential at the mu* that holds N_e
(docs/physics.md 1.3):

    N(mu*) = sum_i n_i(S, mu*) = N_e,      n_i = -d omega_i / d mu   (llgsim.ml.network)

N(mu) is increasing (the network's densities are smooth in mu), so mu* is its one root. The root
is bracketed by a cell of a fixed grid of width MU_CELL anchored at the model's reference mu and
then refined by Brent's method inside that cell: the bracket, and with it every trial mu and the
root, depends on the spins alone, not on where the search started, so a run restarted from a
checkpoint repeats the uninterrupted run bit for bit. Every backend (the torch reference and the
tiled kernels of llgsim.fields.ml_tiles) supplies N(mu) and shares this search.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..errors import InputError

#: |mu* - mu| of the solve (energy units): far below kT_e, which sets the scale on which n_i(mu)
#: changes
MU_TOLERANCE = 1e-10
#: width of the grid cells (energy units) in which the root is bracketed
MU_CELL = 0.01
#: cells walked at most from the guess (mu within +-100 of it)
MU_MAX_CELLS = 10000


def solve_mu(total_density: Callable[[float], float], n_electrons: float, guess: float,
             reference: float, n_sites: int) -> float:
    """mu* with total_density(mu*) = n_electrons (module docstring).

    total_density : mu -> N(mu), electrons on the lattice at mu (increasing in mu).
    n_electrons   : N_e = 2 f N.
    guess         : where the walk over cells starts (the previous mu*; any value gives the same
                    root).
    reference     : the model's reference mu, the anchor of the grid.
    n_sites       : N, for the error message.
    """
    from scipy.optimize import brentq

    values = {}  # brentq evaluates the bracket's ends again: each N(mu) is costly

    def excess(mu: float) -> float:
        if mu not in values:
            values[mu] = total_density(mu) - n_electrons
        return values[mu]

    edge = lambda j: reference + j * MU_CELL  # noqa: E731
    lo = math.floor((guess - reference) / MU_CELL)
    hi = lo + 1
    f_lo, f_hi = excess(edge(lo)), excess(edge(hi))
    for _ in range(MU_MAX_CELLS):
        if f_lo > 0:
            hi, f_hi, lo = lo, f_lo, lo - 1
            f_lo = excess(edge(lo))
        elif f_hi < 0:
            lo, f_lo, hi = hi, f_hi, hi + 1
            f_hi = excess(edge(hi))
        else:
            return brentq(excess, edge(lo), edge(hi), xtol=MU_TOLERANCE,
                          rtol=4 * np.finfo(float).eps)
    raise InputError("filling", n_electrons / (2 * n_sites),
                     "a filling the model reaches within mu +- 100 of its reference")
