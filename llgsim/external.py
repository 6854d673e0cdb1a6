"""Readers of labelled spin snapshots published by others, for checks against external data.

ZC21 text snapshots (P. Zhang and G.-W. Chern, PRL 127, 146401 (2021), repository
zhangpuhan/ML_double_exchange, folder training_data_sample/; two are in tests/data/zc21_de30):
one whitespace-separated row per site of an L x L square lattice with the columns
x, y, (n_up + n_down) / 2, S_x, S_y, S_z, H_x, H_y, H_z, rows in any order.
"""

from __future__ import annotations

import numpy as np


def read_zc21_snapshot(path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spins (N, 3), field (N, 3), density n_up + n_down (N,)), float64, in llgsim site order
    i = x + L y (docs/conventions.md); the field is the electronic exchange field J <c+ sigma c>."""
    rows = np.loadtxt(path)
    side = int(rows[:, 0].max()) + 1
    rows = rows[np.argsort(rows[:, 0] + side * rows[:, 1])]
    return (np.ascontiguousarray(rows[:, 3:6]), np.ascontiguousarray(rows[:, 6:9]),
            2 * rows[:, 2])
