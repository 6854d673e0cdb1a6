"""The descriptor's definition: settings and the integer index tables with coefficients that
define the features (module docstring of llgsim.ml.descriptor for the construction).

Building the tables needs numpy only; every evaluation (the torch reference in
llgsim.ml.descriptor, any kernel) uses the same tables.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import InputError
from ..lattice import Lattice
from .symmetry import irreducible_representations, symmetry_adapted_basis

#: irreps named in the order of their construction (see :func:`irreducible_representations`)
IRREP_NAMES = {"square": ("A1", "A2", "B1", "B2", "E"),
               "triangular": ("A1", "A2", "B1", "B2", "E1", "E2")}

_EVEN, _ODD = 0, 1  # time-reversal parity of an invariant


@dataclass(frozen=True)
class DescriptorSettings:
    """What the descriptor sees; serialised into model files (``to_dict`` / ``from_dict``).

    n_shells      : cutoff, in neighbour shells (lattice.neighbour_shells): centre bonds reach
                    every site of these shells, triangles lie inside them.
    n_pair_shells : bond products between two neighbours are taken for neighbours of the first
                    ``n_pair_shells`` shells only (0 <= n_pair_shells <= n_shells).
    eps           : regularisation of the reference norm in the phase features (dimensionless,
                    bond products and chiralities are O(1)); keeps gradients bounded in uniform
                    states, where every non-A1 component vanishes.
    n_bond_shells : bond products S_j . S_k are also taken for every two sites seen whose
                    separation lies in the first ``n_bond_shells`` shells (1: every
                    nearest-neighbour bond inside the cutoff); 0 adds none.
    """

    n_shells: int
    n_pair_shells: int
    eps: float = 0.1
    n_bond_shells: int = 0

    def __post_init__(self):
        n, p, eps, b = self.n_shells, self.n_pair_shells, self.eps, self.n_bond_shells
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InputError("descriptor.n_shells", n, "a positive integer")
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= n:
            raise InputError("descriptor.n_pair_shells", p, f"an integer in [0, n_shells = {n}]")
        if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
            raise InputError("descriptor.eps", eps, "a finite float > 0")
        if isinstance(b, bool) or not isinstance(b, int) or b < 0:
            raise InputError("descriptor.n_bond_shells", b, "an integer >= 0")

    @classmethod
    def default(cls, kind: str) -> "DescriptorSettings":
        """Defaults per lattice: square 5 shells, radius sqrt 8 (24 neighbours, the 5 x 5 box,
        165 features); triangular 4 shells, radius sqrt 7 (30 neighbours, 171 features). Both
        pair up the neighbours of the first two shells. See docs/descriptor.md."""
        if kind not in IRREP_NAMES:
            raise InputError("lattice.kind", kind, f"one of {sorted(IRREP_NAMES)}")
        return cls(n_shells=5, n_pair_shells=2) if kind == "square" else cls(4, 2)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DescriptorSettings":
        keys = {"n_shells", "n_pair_shells", "eps"}
        if not isinstance(data, dict) or not keys <= set(data) <= keys | {"n_bond_shells"}:
            raise InputError("descriptor settings", data,
                             f"a mapping with keys {sorted(keys)} and optionally n_bond_shells")
        return cls(int(data["n_shells"]), int(data["n_pair_shells"]), float(data["eps"]),
                   int(data.get("n_bond_shells", 0)))


@dataclass(frozen=True, eq=False)
class DescriptorTables:
    """The precomputed index tables (numpy) that define the descriptor.

    offsets      : (M, 2) int64, cell offsets of the sites seen; row 0 is the centre (0, 0).
    pairs        : (P, 2) int64, rows of ``offsets``; invariant q_p = S_a . S_b.
    triangles    : (T, 3) int64, rows of ``offsets``, counter-clockwise; invariant
                   q_{P+t} = S_a . (S_b x S_c).
    comp_index   : (C, K) int64, comp_coef (C, K) float64: symmetry-adapted components
                   c_n = sum_k comp_coef[n, k] q[comp_index[n, k]] (zero-padded to K = |G|).
    ref_index    : (R, K') int64, ref_coef (R, K') float64: reference components
                   f_ref_m = sum_k ref_coef[m, k] c[ref_index[m, k]] (mean over a reference group).
    a1_index     : (A,) int64, components that are features as they are (even A1).
    block_index  : (B, 2) int64, block_weight (B, 2) float64: the components of each block
                   (second slot weight 0 for 1-dimensional irreps).
    block_ref    : (B, 2) int64, the matching reference components of each block.
    phase_blocks : (B',) int64, blocks that get a phase feature (reference of > 1 block).
    labels       : F strings naming the features, in order
                   [A1 components | powers of blocks | phases of phase_blocks].
    """

    offsets: np.ndarray
    pairs: np.ndarray
    triangles: np.ndarray
    comp_index: np.ndarray
    comp_coef: np.ndarray
    ref_index: np.ndarray
    ref_coef: np.ndarray
    a1_index: np.ndarray
    block_index: np.ndarray
    block_weight: np.ndarray
    block_ref: np.ndarray
    phase_blocks: np.ndarray
    labels: tuple = field(repr=False)

    def fingerprint(self) -> str:
        """sha256 over the tables (coefficients rounded to 1e-9): identifies the descriptor a
        model was trained with, independent of round-off in building them."""
        h = hashlib.sha256()
        for name in ("offsets", "pairs", "triangles", "comp_index", "ref_index", "a1_index",
                     "block_index", "block_ref", "phase_blocks"):
            h.update(name.encode() + np.ascontiguousarray(getattr(self, name), np.int64).tobytes())
        for name in ("comp_coef", "ref_coef", "block_weight"):
            rounded = np.round(getattr(self, name), 9) + 0.0  # + 0.0 turns -0.0 into 0.0
            h.update(name.encode() + np.ascontiguousarray(rounded).tobytes())
        return h.hexdigest()


# ---------------------------------------------------------------------------- geometry
def _canonical_triangle(tri):
    """Cyclic rotation of an oriented triangle (3 offset tuples) starting at its smallest
    vertex: chi is invariant under cyclic permutations."""
    k = min(range(3), key=lambda j: tri[j])
    return tri[k:] + tri[:k]


def _orbits(elements, act):
    """Point-group orbits of ``elements`` (canonical tuples). act(g, e) -> (e', sign).
    Returns a list of (members, action matrices (G, m, m)) with D(g)[index(e'), index(e)] =
    sign, in order of first appearance."""
    seen = set()
    out = []
    for seed in elements:
        if seed in seen:
            continue
        members = sorted({act(g, seed)[0] for g in range(act.n_group)})
        seen.update(members)
        pos = {e: k for k, e in enumerate(members)}
        mats = np.zeros((act.n_group, len(members), len(members)))
        for g in range(act.n_group):
            for k, e in enumerate(members):
                image, sign = act(g, e)
                mats[g, pos[image], k] = sign
        out.append((members, mats))
    return out


class _Action:
    """Action of the integer point-group matrices on pairs and oriented triangles of offsets."""

    def __init__(self, group):
        self.group = group
        self.det = np.round(np.linalg.det(group)).astype(int)
        self.n_group = len(group)

    def __call__(self, g, element):
        mapped = tuple(tuple(int(c) for c in self.group[g] @ np.array(o)) for o in element)
        if len(mapped) == 2:
            return tuple(sorted(mapped)), 1
        if self.det[g] < 0:  # a mirror reverses the orientation: chi changes sign
            mapped = (mapped[0], mapped[2], mapped[1])
        return _canonical_triangle(mapped), int(self.det[g])


def _region(lattice_kind: str, settings: DescriptorSettings):
    """Offsets seen (centre first, then shell by shell) and the pair-shell boundary."""
    lat = Lattice.from_kind(lattice_kind, 1)
    shells = lat.neighbour_shells(settings.n_shells)
    offsets = [(0, 0)] + [tuple(int(c) for c in o) for s in shells for o in s.offsets]
    n_inner = 1 + sum(len(s.offsets) for s in shells[:settings.n_pair_shells])
    return lat, offsets, n_inner


def _elementary_triangles(lat: Lattice, offsets) -> list[tuple]:
    """Counter-clockwise elementary triangles with all vertices in ``offsets``: triangular
    lattice, the up and down plaquettes (three nearest-neighbour sides); square lattice, the
    four triangles (two unit legs) of every unit plaquette."""
    inside = set(offsets)
    if lat.kind == "triangular":
        shapes = [((0, 0), (1, 0), (0, 1)), ((1, 0), (1, 1), (0, 1))]
    else:
        corners = [(0, 0), (1, 0), (1, 1), (0, 1)]  # counter-clockwise
        shapes = [tuple(c for c in corners if c != skip) for skip in corners]
    out = set()
    for site, shape in itertools.product(offsets, shapes):
        for anchor in shape:  # every placement of the shape with one vertex on ``site``
            tri = tuple((site[0] + a - anchor[0], site[1] + b - anchor[1]) for a, b in shape)
            if all(v in inside for v in tri):
                out.add(_canonical_triangle(tri))
    return sorted(out)


def _short_bonds(lat: Lattice, offsets, n_bond_shells: int) -> list[tuple]:
    """Pairs (sorted) of non-centre offsets whose separation lies in the first
    ``n_bond_shells`` neighbour shells: every nearest-neighbour bond (and further bonds) among
    the sites seen, the hoppings the electrons feel."""
    if n_bond_shells == 0:
        return []
    steps = {tuple(int(c) for c in o) for s in lat.neighbour_shells(n_bond_shells)
             for o in s.offsets}
    return [tuple(sorted((a, b))) for a, b in itertools.combinations(offsets[1:], 2)
            if (b[0] - a[0], b[1] - a[1]) in steps]


# ---------------------------------------------------------------------------- tables
def build_tables(lattice_kind: str, settings: DescriptorSettings) -> DescriptorTables:
    """All index tables of the descriptor for a lattice kind and settings (numpy only)."""
    if not isinstance(settings, DescriptorSettings):
        raise InputError("descriptor settings", type(settings).__name__, "a DescriptorSettings")
    lat, offsets, n_inner = _region(lattice_kind, settings)
    index_of = {o: k for k, o in enumerate(offsets)}
    centre = offsets[0]
    pairs = [tuple(sorted((centre, o))) for o in offsets[1:]]
    pairs += [tuple(sorted(p)) for p in itertools.combinations(offsets[1:n_inner], 2)]
    pairs += [p for p in _short_bonds(lat, offsets, settings.n_bond_shells) if p not in pairs]
    triangles = _elementary_triangles(lat, offsets)
    act = _Action(lat.point_group)
    irreps = irreducible_representations(lattice_kind)
    names = [name for name, _ in irreps]

    invariant_of = {e: k for k, e in enumerate(pairs + triangles)}
    comp_rows, blocks = [], []  # blocks: (irrep, parity, component numbers, label)
    for parity, elements in ((_EVEN, pairs), (_ODD, triangles)):
        for members, mats in _orbits(elements, act):
            columns = [invariant_of[e] for e in members]
            orbit_label = _orbit_label(members, parity)
            for r, basis in symmetry_adapted_basis(mats, irreps):
                numbers = []
                for row in basis:
                    numbers.append(len(comp_rows))
                    comp_rows.append([(columns[k], c) for k, c in enumerate(row)
                                      if abs(c) > 1e-12])
                blocks.append((r, parity, numbers, f"{orbit_label}:{names[r]}"))

    comp_index, comp_coef = _pad(comp_rows, len(lat.point_group))
    a1 = [b for b in blocks if b[0] == 0 and b[1] == _EVEN]
    others = [b for b in blocks if not (b[0] == 0 and b[1] == _EVEN)]
    groups = {}
    for b in others:
        groups.setdefault((b[0], b[1]), []).append(b)
    ref_rows, ref_of_group = [], {}
    for key, members in groups.items():
        dim = len(members[0][2])
        ref_of_group[key] = list(range(len(ref_rows), len(ref_rows) + dim))
        for a in range(dim):
            ref_rows.append([(m[2][a], 1.0 / len(members)) for m in members])
    ref_index, ref_coef = _pad(ref_rows, max(len(r) for r in ref_rows))

    block_index = np.array([m[2] + m[2][:1] * (2 - len(m[2])) for m in others], dtype=np.int64)
    block_weight = np.array([[1.0] * len(m[2]) + [0.0] * (2 - len(m[2])) for m in others])
    block_ref = np.array([ref_of_group[m[:2]] + ref_of_group[m[:2]][:1] * (2 - len(m[2]))
                          for m in others], dtype=np.int64)
    phase_blocks = np.array([k for k, m in enumerate(others) if len(groups[m[:2]]) > 1],
                            dtype=np.int64)
    labels = tuple([b[3] for b in a1] + [f"|{m[3]}|^2" for m in others]
                   + [f"phase {others[k][3]}" for k in phase_blocks])
    return DescriptorTables(
        offsets=np.array(offsets, dtype=np.int64),
        pairs=np.array([[index_of[a], index_of[b]] for a, b in pairs], dtype=np.int64),
        triangles=np.array([[index_of[v] for v in t] for t in triangles],
                           dtype=np.int64).reshape(-1, 3),
        comp_index=comp_index, comp_coef=comp_coef, ref_index=ref_index, ref_coef=ref_coef,
        a1_index=np.array([b[2][0] for b in a1], dtype=np.int64),
        block_index=block_index, block_weight=block_weight, block_ref=block_ref,
        phase_blocks=phase_blocks, labels=labels)


def _orbit_label(members, parity) -> str:
    kind = "chi" if parity == _ODD else "bond"
    return f"{kind}{list(members[0])}x{len(members)}".replace(" ", "")


def _pad(rows, width):
    index = np.zeros((len(rows), width), dtype=np.int64)
    coef = np.zeros((len(rows), width))
    for n, row in enumerate(rows):
        for k, (i, c) in enumerate(row):
            index[n, k], coef[n, k] = i, c
    return index, coef
