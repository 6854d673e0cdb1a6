"""Periodic Bravais lattices: sites, neighbour shells and point-group operations.

Conventions (docs/conventions.md, "Lattices and indices"): a site is the integer pair (x, y) at
x a1 + y a2 with 0 <= x < Lx, 0 <= y < Ly, periodic; its index is i = x + Lx * y, so
``array.reshape(Ly, Lx)`` gives the image. Square: a1 = (1, 0), a2 = (0, 1). Triangular:
a1 = (1, 0), a2 = (1/2, sqrt(3)/2). Lengths are in units of the lattice constant.

Everything geometric is expressed through integer cell offsets (dx, dy) and integer point-group
matrices acting on them, so the same code serves any Bravais lattice; a lattice with a basis adds
a basis index b fastest (i = b + nb * (x + Lx * y)) and turns offsets into (dx, dy, b_from, b_to)
records, and a 3D lattice adds a third column; the shells, tables and permutations below are built
the same way in both cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError

_SQRT3 = np.sqrt(3.0)

# Generators of the point group as integer matrices acting on cell offsets (column vectors).
# Square: 90-degree rotation and the mirror y -> -y.  Triangular: 60-degree rotation
# (a1 -> a2, a2 -> a2 - a1) and the mirror y -> -y (a1 -> a1, a2 -> a1 - a2).
_KINDS = {
    "square": dict(vectors=np.array([[1.0, 0.0], [0.0, 1.0]]),
                   rotation=np.array([[0, -1], [1, 0]]), order=4),
    "triangular": dict(vectors=np.array([[1.0, 0.0], [0.5, _SQRT3 / 2]]),
                       rotation=np.array([[0, -1], [1, 1]]), order=6),
}
_MIRROR = {"square": np.array([[1, 0], [0, -1]]), "triangular": np.array([[1, 1], [0, -1]])}


@dataclass(frozen=True, eq=False)
class Shell:
    """One neighbour shell: all cell offsets at one distance that one point-group orbit holds.

    distance : float, in lattice constants.
    offsets  : (z, 2) int64, the offsets (dx, dy) of the shell, sorted by polar angle.
    """

    distance: float
    offsets: np.ndarray


@dataclass(frozen=True, eq=False)
class Lattice:
    """A periodic Lx x Ly Bravais lattice (square or triangular).

    Build with :meth:`square` or :meth:`triangular`. ``vectors`` holds a1 and a2 as rows;
    ``point_group`` holds the (G, 2, 2) integer matrices of the site point group (D4, G = 8, or
    D6, G = 12) acting on cell offsets: rotations R^k first, then R^k M.
    """

    kind: str
    Lx: int
    Ly: int
    vectors: np.ndarray = field(repr=False)
    point_group: np.ndarray = field(repr=False)

    @classmethod
    def square(cls, Lx: int, Ly: int | None = None) -> "Lattice":
        """Square lattice, a1 = (1, 0), a2 = (0, 1); point group D4."""
        return cls._build("square", Lx, Lx if Ly is None else Ly)

    @classmethod
    def triangular(cls, Lx: int, Ly: int | None = None) -> "Lattice":
        """Triangular lattice, a1 = (1, 0), a2 = (1/2, sqrt 3/2); point group D6."""
        return cls._build("triangular", Lx, Lx if Ly is None else Ly)

    @classmethod
    def from_kind(cls, kind: str, Lx: int, Ly: int | None = None) -> "Lattice":
        """The lattice named ``kind`` ("square" or "triangular")."""
        if kind not in _KINDS:
            raise InputError("lattice.kind", kind, f"one of {sorted(_KINDS)}")
        return cls._build(kind, Lx, Lx if Ly is None else Ly)

    @classmethod
    def _build(cls, kind: str, Lx: int, Ly: int) -> "Lattice":
        for name, value in (("Lx", Lx), ("Ly", Ly)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InputError(f"lattice.{name}", value, "a positive integer")
        spec = _KINDS[kind]
        rot, mirror = spec["rotation"], _MIRROR[kind]
        rotations = [np.linalg.matrix_power(rot, k) for k in range(spec["order"])]
        group = np.array(rotations + [r @ mirror for r in rotations], dtype=np.int64)
        return cls(kind, int(Lx), int(Ly), spec["vectors"].copy(), group)

    # ------------------------------------------------------------------ sites
    @property
    def n_sites(self) -> int:
        return self.Lx * self.Ly

    @property
    def shape(self) -> tuple[int, int]:
        """(Ly, Lx): the shape that ``reshape`` gives a per-site array (row-major image)."""
        return (self.Ly, self.Lx)

    def coordinates(self) -> np.ndarray:
        """(N, 2) int64 cell coordinates (x, y) of every site, in index order."""
        i = np.arange(self.n_sites)
        return np.stack([i % self.Lx, i // self.Lx], axis=1)

    def positions(self) -> np.ndarray:
        """(N, 2) float64 Cartesian positions x a1 + y a2."""
        return self.coordinates() @ self.vectors

    def index(self, x, y) -> np.ndarray:
        """Site index of the (periodically wrapped) cell (x, y); works on integer arrays."""
        return np.mod(x, self.Lx) + self.Lx * np.mod(y, self.Ly)

    @property
    def box(self) -> np.ndarray:
        """(2, 2) float64 periodic supercell vectors (rows): Lx a1 and Ly a2."""
        return self.vectors * np.array([[self.Lx], [self.Ly]])

    def minimum_image(self, displacements: np.ndarray) -> np.ndarray:
        """Shortest periodic image of Cartesian displacements (M, 2) float64 -> (M, 2).

        Fractional coordinates are first wrapped into [-1/2, 1/2); on the oblique triangular
        cell a shorter image can then still lie one period away, so the nine images around the
        wrapped one are compared.
        """
        box = self.box
        frac = np.asarray(displacements, dtype=np.float64) @ np.linalg.inv(box)
        wrapped = (frac - np.round(frac)) @ box
        images = np.array([[a, b] for a in (-1, 0, 1) for b in (-1, 0, 1)]) @ box
        candidates = wrapped[:, None, :] + images[None, :, :]
        best = np.argmin(np.sum(candidates ** 2, axis=-1), axis=1)
        return candidates[np.arange(len(candidates)), best]

    # ------------------------------------------------------------------ neighbours
    def offset_length(self, offsets: np.ndarray) -> np.ndarray:
        """Cartesian length of integer offsets (..., 2) -> (...)."""
        return np.linalg.norm(np.asarray(offsets) @ self.vectors, axis=-1)

    def neighbour_shells(self, n_shells: int) -> list[Shell]:
        """The first ``n_shells`` neighbour shells, ordered by distance.

        Offsets at one distance that the point group does not map into each other form separate
        shells (e.g. (5, 0) and (3, 4) on the square lattice), ordered by the smallest offset in
        lexicographic order. The shells are those of the infinite lattice; on a periodic lattice
        smaller than twice a shell's reach, several offsets reach the same site (see
        :meth:`neighbour_table`).
        """
        if isinstance(n_shells, bool) or not isinstance(n_shells, (int, np.integer)) or n_shells < 1:
            raise InputError("n_shells", n_shells, "a positive integer")
        reach = 2
        while True:
            r = np.arange(-reach, reach + 1)
            box = np.stack(np.meshgrid(r, r, indexing="ij"), axis=-1).reshape(-1, 2)
            box = box[np.any(box != 0, axis=1)]
            dist = self.offset_length(box)
            # every offset shorter than the inscribed radius of the box is inside it
            inscribed = reach * min(abs(np.linalg.det(self.vectors)) / np.linalg.norm(v)
                                    for v in self.vectors)
            shells = self._split_shells(box[dist < inscribed - 1e-9])
            if len(shells) >= n_shells:
                return shells[:n_shells]
            reach *= 2

    def _split_shells(self, offsets: np.ndarray) -> list[Shell]:
        dist = np.round(self.offset_length(offsets), 9)
        shells = []
        for d in np.unique(dist):
            remaining = {tuple(o) for o in offsets[dist == d]}
            orbits = []
            while remaining:
                seed = np.array(min(remaining))
                orbit = {tuple(g @ seed) for g in self.point_group}
                remaining -= orbit
                orbits.append(sorted(orbit))
            for orbit in sorted(orbits):
                arr = np.array(orbit, dtype=np.int64)
                cart = arr @ self.vectors
                angle = np.mod(np.arctan2(cart[:, 1], cart[:, 0]), 2 * np.pi)
                shells.append(Shell(float(d), arr[np.argsort(angle, kind="stable")]))
        return shells

    def shells_that_fit(self, n_shells: int) -> int:
        """How many of the first ``n_shells`` neighbour shells reach sites that are all distinct
        and none of them the centre itself. On a lattice smaller than twice a shell's reach the
        periodic images coincide: a bond of that shell joins a pair another bond already joins
        (or a site to itself), which :meth:`neighbour_table` keeps as such."""
        seen = {(0, 0)}
        for k, shell in enumerate(self.neighbour_shells(n_shells)):
            for dx, dy in shell.offsets:
                image = (int(dx) % self.Lx, int(dy) % self.Ly)
                if image in seen:
                    return k
                seen.add(image)
        return n_shells

    def neighbour_table(self, offsets: np.ndarray) -> np.ndarray:
        """(N, z) int64 table: entry [i, c] is the site at offset ``offsets[c]`` from site i.

        Periodic images are not merged: on a small lattice two offsets may name the same site,
        which is what a periodic Hamiltonian with these bonds means (it matches the k-space
        sums over the offsets exactly).
        """
        offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
        xy = self.coordinates()
        return self.index(xy[:, 0:1] + offsets[None, :, 0], xy[:, 1:2] + offsets[None, :, 1])

    # ------------------------------------------------------------------ symmetry
    def point_group_permutations(self, centre: int = 0) -> np.ndarray:
        """(G, N) int64: perm[g, i] = the site that operation g about ``centre`` sends site i to.

        A spin configuration transformed by g is ``spins[inverse]`` with
        inverse = argsort(perm[g]), i.e. S'_{perm[g, i]} = S_i. The operation must map the
        periodic torus onto itself, which needs Lx == Ly for both lattices.
        """
        if self.Lx != self.Ly:
            raise InputError("lattice", f"{self.Lx}x{self.Ly}",
                             "Lx == Ly for point-group operations on a periodic lattice")
        xy = self.coordinates()
        c = xy[centre]
        d = xy - c
        out = np.empty((len(self.point_group), self.n_sites), dtype=np.int64)
        for g, mat in enumerate(self.point_group):
            nd = d @ mat.T
            out[g] = self.index(c[0] + nd[:, 0], c[1] + nd[:, 1])
        return out

    def triangles(self) -> np.ndarray:
        """(2N, 3) int64 counter-clockwise triangular plaquettes, up triangles of every cell then
        down triangles: up = ((x,y), (x+1,y), (x,y+1)), down = ((x+1,y), (x+1,y+1), (x,y+1)).
        Triangular lattice only (docs/conventions.md)."""
        if self.kind != "triangular":
            raise InputError("lattice.kind", self.kind, "'triangular' for triangular plaquettes")
        x, y = self.coordinates().T
        up = np.stack([self.index(x, y), self.index(x + 1, y), self.index(x, y + 1)], axis=1)
        down = np.stack([self.index(x + 1, y), self.index(x + 1, y + 1), self.index(x, y + 1)],
                        axis=1)
        return np.concatenate([up, down])

    def describe(self) -> dict:
        """Parameters that rebuild this lattice (for file provenance)."""
        return {"kind": self.kind, "Lx": self.Lx, "Ly": self.Ly}
