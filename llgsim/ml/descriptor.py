"""Symmetry-invariant descriptor of the spins around each site, for the ML force field.

The descriptor G_i (F features per site) is a function of the spins within a cutoff of
``n_shells`` neighbour shells of site i. It is exactly invariant under

* a global spin rotation S_j -> R S_j, R in SO(3): it is built from dot and triple products;
* every operation g of the site point group about site i (D4 square, D6 triangular);
* time reversal S_j -> -S_j: every feature is even in the spins.

Construction (the "reference irreducible representation" method of REV25, arXiv:2501.06171;
docs/physics.md, section 3.3; docs/descriptor.md):

1. Rotation invariants around i, listed on integer cell offsets (index 0 = the centre):
   bond products b_jk = S_j . S_k for the centre with every neighbour, for every pair of
   neighbours within the first ``n_pair_shells`` shells and for every two sites seen at a
   separation within the first ``n_bond_shells`` shells (time-reversal even), and scalar
   chiralities chi_abc = S_a . (S_b x S_c) of every elementary triangle inside the cutoff,
   vertices counter-clockwise (time-reversal odd).
2. The point group permutes these invariants in orbits; a mirror reverses a triangle's
   orientation, so on chiralities it acts as a signed permutation, D(g) with entries det(g).
3. Each orbit vector q is projected onto the real irreducible representations r (D4: A1, A2, B1,
   B2, E; D6: A1, A2, B1, B2, E1, E2) in one fixed basis per irrep, so every component vector
   f^{o,r,k} (copy k of r in orbit o) transforms as f -> Gamma_r(g) f with the same orthogonal
   matrices Gamma_r(g) for all orbits.
4. Features: the A1 components of bond orbits (invariant as they are); for every other block the
   power |f|^2 and, where a reference holds more than one block, the phase
   f . f_ref / sqrt(|f_ref|^2 + eps^2), with f_ref^{r,p} the mean of all blocks of irrep r and
   time-reversal parity p. Products of two odd quantities are even; a block is never combined
   with a reference of the other parity.

Everything linear (steps 1-3 and the references) is stored as explicit integer index tables
with coefficients (llgsim.ml.descriptor_tables; the group theory in llgsim.ml.symmetry), so the
evaluation is gathers, products and sums only: the same tables drive the torch reference here
and any fused kernel.

Shapes: spins (N, 3); descriptor (N, F); the dtype of the spins is kept (float64 or float32).
Index tables are numpy int64, coefficients numpy float64. Building the tables needs numpy only;
torch is imported inside :meth:`Descriptor.__call__`.
"""

from __future__ import annotations

import functools

import numpy as np

from ..errors import InputError
from ..lattice import Lattice
from .descriptor_tables import DescriptorSettings, build_tables


class Descriptor:
    """G_i for every site of one lattice: ``Descriptor(lattice, settings)(spins) -> (N, F)``.

    lattice  : Lattice; it must be large enough that the M offsets reach M distinct sites
               (otherwise periodic images of one spin would enter twice: InputError).
    settings : DescriptorSettings (default ``DescriptorSettings.default(lattice.kind)``).

    ``neighbours`` (N, M) int64 is the site table for the offsets of ``tables``; the torch
    evaluation gathers S_loc = S[neighbours] (N, M, 3) and then only uses the tables.
    """

    def __init__(self, lattice: Lattice, settings: DescriptorSettings | None = None):
        if not isinstance(lattice, Lattice):
            raise InputError("lattice", type(lattice).__name__, "an llgsim.Lattice")
        self.lattice = lattice
        self.settings = DescriptorSettings.default(lattice.kind) if settings is None else settings
        self.tables = build_tables(lattice.kind, self.settings)
        offsets = self.tables.offsets
        if len(np.unique(lattice.index(offsets[:, 0], offsets[:, 1]))) != len(offsets):
            raise InputError("lattice", f"{lattice.kind} {lattice.Lx}x{lattice.Ly}",
                             f"a lattice large enough that the {len(self.tables.offsets)} sites "
                             f"within {self.settings.n_shells} shells are distinct")
        self._torch_tables = {}

    @functools.cached_property
    def neighbours(self) -> np.ndarray:
        """(N, M) int64 site table of the offsets (built on first use: the torch path)."""
        return self.lattice.neighbour_table(self.tables.offsets)

    @property
    def n_features(self) -> int:
        return len(self.tables.labels)

    def __call__(self, spins, sites: slice = slice(None)):
        """Descriptor (n, F) of the sites ``sites`` (a slice, default all: n = N) for torch
        spins (N, 3) (float64 or float32, differentiable).

        q = [S_a . S_b over pairs | S_a . (S_b x S_c) over triangles] (P + T per site);
        c = W^T q (C); f_ref = W_ref^T c (R); features =
        [c_A1, sum_a w c_a^2, sum_a w c_a f_ref_a / sqrt(sum_a w f_ref_a^2 + eps^2)].
        Internally sites run along the last axis (a (3, M, N) gather of the local spins, then
        row gathers and products of contiguous length-N rows), and the sparse tables (comp_*,
        ref_*) are applied as dense matrices W (P + T, C), W_ref (C, R): the same sums with
        zeros added, which BLAS evaluates faster than gathers and scatters. The result is the
        transpose of a (F, n) array.
        """
        import torch

        t = self._tables_for(spins.dtype, spins.device)
        n_p, n_t = len(self.tables.pairs), len(self.tables.triangles)
        local = spins.T[:, t["neighbours_t"][:, sites]]  # (3, M, n): S_loc, sites last
        a, b, c, d, e = local[:, t["vertices"]].split([n_p, n_p, n_t, n_t, n_t], dim=1)
        bonds = (a * b).sum(0)  # (P, n)
        chis = (c * torch.linalg.cross(d, e, dim=0)).sum(0)  # (T, n)
        comps = t["comp_matrix_t"] @ torch.cat([bonds, chis])  # (C, n)
        refs = t["ref_matrix_t"] @ comps  # (R, n)
        w = t["block_weight"]  # (B, 2, 1)
        block = comps[t["block_index"]]  # (B, 2, n)
        ph = t["phase_blocks"]
        ref = refs[t["block_ref"][ph]]  # (B', 2, n)
        power = (w * block * block).sum(1)
        eps2 = self.settings.eps ** 2
        phase = ((w[ph] * block[ph] * ref).sum(1)
                 / torch.sqrt((w[ph] * ref * ref).sum(1) + eps2))
        return torch.cat([comps[t["a1_index"]], power, phase]).T

    def dense_matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """(W (P + T, C), W_ref (C, R)) float64: the comp_* and ref_* tables as dense matrices,
        c = q W and f_ref = c W_ref."""
        tb = self.tables
        n_inv = len(tb.pairs) + len(tb.triangles)
        comp = np.zeros((n_inv, len(tb.comp_index)))
        np.add.at(comp, (tb.comp_index, np.arange(len(tb.comp_index))[:, None]), tb.comp_coef)
        ref = np.zeros((len(tb.comp_index), len(tb.ref_index)))
        np.add.at(ref, (tb.ref_index, np.arange(len(tb.ref_index))[:, None]), tb.ref_coef)
        return comp, ref

    def _tables_for(self, dtype, device) -> dict:
        """The tables as torch tensors on ``device`` (floats in ``dtype``), converted once."""
        import torch

        key = (dtype, device)
        if key not in self._torch_tables:
            tb = self.tables
            vertices = np.concatenate([tb.pairs[:, 0], tb.pairs[:, 1], tb.triangles[:, 0],
                                       tb.triangles[:, 1], tb.triangles[:, 2]])
            ints = {"neighbours_t": np.ascontiguousarray(self.neighbours.T),
                    "vertices": vertices, "a1_index": tb.a1_index,
                    "block_index": tb.block_index, "block_ref": tb.block_ref,
                    "phase_blocks": tb.phase_blocks}
            comp, ref = self.dense_matrices()
            floats = {"comp_matrix_t": comp.T.copy(), "ref_matrix_t": ref.T.copy(),
                      "block_weight": tb.block_weight[:, :, None]}
            self._torch_tables[key] = (
                {k: torch.as_tensor(v, device=device) for k, v in ints.items()}
                | {k: torch.as_tensor(v, dtype=dtype, device=device) for k, v in floats.items()})
        return self._torch_tables[key]
