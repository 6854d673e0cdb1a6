"""Per-site energy and field of the classical spin terms (Heisenberg shells, Zeeman, easy axis).

    E = sum_n J_H,n sum_<ij>_n S_i . S_j - h . sum_i S_i - K sum_i (S_i . e)^2

(conventions.md, "Hamiltonian"; each bond once). With the neighbour table nb (N, z) over every
offset of every shell (both directions) and the coupling J_c of column c, each bond appears twice
in sum_i sum_c, so with the exchange sum X_i = sum_c J_c S_nb[i, c]:

    H_i = -dE/dS_i = -X_i + h + 2 K (S_i . e) e
    E   = sum_i [ 1/2 S_i . X_i - h . S_i - K (S_i . e)^2 ]

Arrays: spins (N, 3) float64 or float32, neighbours (N, z) int64, couplings (z,) float64,
zeeman and axis (3,) float64; field out (N, 3) float64. ``llgsim.fields.classical`` holds the
numpy reference and selects the backend.
"""

from __future__ import annotations

from numba import njit, prange


@njit(cache=True)
def site_energy_and_field(spins, neighbours, couplings, zeeman, K, axis, i):
    """Energy share e_i and field (hx, hy, hz) of site i (formulas in the module docstring)."""
    xx = 0.0
    xy = 0.0
    xz = 0.0
    for c in range(neighbours.shape[1]):
        j = neighbours[i, c]
        xx += couplings[c] * spins[j, 0]
        xy += couplings[c] * spins[j, 1]
        xz += couplings[c] * spins[j, 2]
    sx, sy, sz = spins[i, 0], spins[i, 1], spins[i, 2]
    se = sx * axis[0] + sy * axis[1] + sz * axis[2]
    energy = (0.5 * (sx * xx + sy * xy + sz * xz)
              - (zeeman[0] * sx + zeeman[1] * sy + zeeman[2] * sz) - K * se * se)
    return (energy,
            -xx + zeeman[0] + 2.0 * K * se * axis[0],
            -xy + zeeman[1] + 2.0 * K * se * axis[1],
            -xz + zeeman[2] + 2.0 * K * se * axis[2])


@njit(cache=True, parallel=True)
def energy_and_field(spins, neighbours, couplings, zeeman, K, axis, field):
    """Fill ``field`` (N, 3) with H_i and return the total energy E (float)."""
    total = 0.0
    for i in prange(spins.shape[0]):
        e, field[i, 0], field[i, 1], field[i, 2] = site_energy_and_field(
            spins, neighbours, couplings, zeeman, K, axis, i)
        total += e
    return total
