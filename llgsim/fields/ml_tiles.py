"""The ML energy and field on the "cpu" and "cuda" backends: descriptor kernels, GEMMs over tiles
of sites for every linear map, a deterministic gather for the field.

For each tile of up to ``tile`` sites (work arrays allocated once per provider, sites last):

1. local unit spins and invariants q (kernels/descriptor.py);
2. the components c and references r (the tables' sparse linear maps, rows of sites: SIMD)
   and the features G (kernels);
3. both networks' first layers as one GEMM with the stacked weights, the input normalisation
   x = (G - mu) / sigma folded into them, then each network's hidden layers (GEMM, then bias,
   activation and its derivative in kernels/activation.py), the site energies eps and the
   parallel fields h;
4. the energy network's input gradient d eps / dG by the transposed GEMMs, then back through
   the features, the two sparse maps and the invariants (kernels) into
   g = d eps_i / d u (M, 3, N).

The field of every site is then gathered from g (kernels/descriptor.py): no feature matrix of
the lattice is ever held, only g (3 M numbers per site) and the tile's rows, and no atomics are
used, so repeated evaluations are bitwise equal. The numbers are the torch model's
(llgsim.ml.network, the "reference" backend) up to round-off: E = sum_i eps_i on unit spins and
H_i = -(1 - u_i u_i^T) d(sum eps)/dS_i + h_i u_i (the field of E = sum_i eps_i - h_i (|S_i| - 1)
at unit spins).

A canonical model (mu as an input, run at fixed filling) first solves mu* for the spins
(llgsim.ml.chemical_potential): each trial mu runs step 3 for the energy network alone and
its backward to the first layer, whose product with the mu weights is sum_i n_i; the
descriptor and the first layer's product W_0 x, which do not depend on mu, are computed once per
solve and kept for the lattice (h1 numbers per site).
"""

from __future__ import annotations

import numpy as np

from ..kernels import activation as _activation
from ..kernels import descriptor as _kernels

#: most sites per tile by backend: the work rows of a tile hold ~1.5 k numbers per site, 6 MB
#: per CPU worker in float32 (1024 sites: L2 and L3; 1.4 us/site against 1.5 with 4096 at 10^5
#: sites, BENCHMARKS.md) and ~0.4 GB in float32 on a GPU (enough sites to fill it)
TILE_SITES = {"cpu": 1024, "cuda": 65536}
#: the CPU cuts a lattice into a multiple of MIN_TILES tiles of ceil(N / tiles) sites (the last
#: one shorter), so that two workers get near equal work at every size; the tiling depends on N
#: only, never on the thread count (the energy's tile sums stay in one order)
MIN_TILES = 2


class TiledNetwork:
    """Energy and field of a model file's networks on ``backend`` (module docstring).

    arrays     : the model file's tensors (llgsim.ml.modelfile), float64.
    meta       : its metadata (network layout and activation).
    descriptor : llgsim.ml.descriptor.Descriptor on the lattice of the run.
    backend    : llgsim.backend.Backend ("cpu" or "cuda").
    filling    : of a model with a mu input (llgsim.ml.network; its ``mu_input`` in ``meta``):
                 electrons per site / 2 held fixed (canonical): every evaluation first solves
                 the mu* that holds 2 f N electrons (llgsim.ml.chemical_potential; :attr:`mu`)
                 and adds mu* N_e to the energy, F = Omega(mu*) + mu* N_e. None for a plain
                 model (a model at a fixed mu comes folded, llgsim.ml.modelfile.fold_mu).
    tile       : sites per tile; None: TILE_SITES of the backend (on the CPU, at most that
                 many, in a multiple of MIN_TILES tiles).
    """

    def __init__(self, arrays: dict, meta: dict, descriptor, backend,
                 filling: float | None = None, tile: int | None = None):
        xp, dtype = backend.xp, backend.dtype
        self.backend, self.xp = backend, xp
        tb = descriptor.tables
        n = descriptor.lattice.n_sites
        if tile is None:
            tile = TILE_SITES[backend.name]
            if backend.name == "cpu":
                tile = -(-n // (MIN_TILES * -(-n // (MIN_TILES * tile))))
        self.n_sites, self.tile = n, min(tile, n)
        index = lambda a: backend.to_device(np.asarray(a, dtype=np.int32))  # noqa: E731
        lattice = descriptor.lattice
        #: (offsets (M, 2) int32, Lx, Ly): the site indexing of the kernels
        self.geometry = (index(tb.offsets), lattice.Lx, lattice.Ly)
        self._pairs, self._triangles = index(tb.pairs), index(tb.triangles)
        self._blocks = (index(tb.a1_index), index(tb.block_index),
                        backend.asarray(tb.block_weight), index(tb.block_ref),
                        index(tb.phase_blocks), dtype.type(float(descriptor.settings.eps) ** 2))
        self._comp = (index(tb.comp_index), backend.asarray(tb.comp_coef))
        self._ref = (index(tb.ref_index), backend.asarray(tb.ref_coef))
        layout = meta["network"]["layout"]
        self._activation = meta["network"]["activation"]
        nets = ("layers", "parallel_layers")
        mean, std = arrays["feature_mean"], arrays["feature_std"]
        first = [np.asarray(arrays[f"{p}.0.weight"]) / std for p in nets]  # (h1, F) each
        self._w0 = backend.asarray(np.concatenate(first))  # (2 h1, F)
        #: both networks' first-layer biases with the normalisation folded in, (2 h1, 1)
        self._biases = lambda a: backend.asarray(np.concatenate(  # noqa: E731
            [a[f"{p}.0.bias"] - w @ mean for p, w in zip(nets, first)])[:, None])
        self._b0 = self._biases(arrays)
        self._h1 = layout[1]
        self.filling, self.mu = filling, None
        if filling is not None:
            spec = meta["network"]["mu_input"]
            #: the model at a trial mu: its mu term folded into the biases (fold_mu)
            self._arrays, self._meta = arrays, meta
            #: n_i = -d omega_i / d mu = (-w_mu / scale) . d eps_i / dz_0 of the energy network
            self._density_weight = backend.asarray(
                -arrays["layers.0.mu_weight"][None, :] / spec["scale"])
            self._n_electrons = 2 * filling * n
            self._mu_reference = self.mu = float(spec["reference"])
            self._set_mu(self.mu)
            #: W_0 x of the energy network for every site (h1, N): the part of its first layer
            #: that does not depend on mu, made once per solve (:meth:`chemical_potential`)
            self._first_layer = xp.zeros((layout[1], n), dtype=dtype)
        self._layers = [[(backend.asarray(arrays[f"{p}.{k}.weight"]),
                          backend.asarray(arrays[f"{p}.{k}.bias"][:, None]))
                         for k in range(1, len(layout) - 1)] for p in nets]
        self._shapes = dict(m=len(tb.offsets), n_inv=len(tb.pairs) + len(tb.triangles),
                            n_comp=len(tb.comp_index), n_ref=len(tb.ref_index),
                            n_features=descriptor.n_features, layout=layout)
        #: d eps_i / d u at each slot, (M, 3, N), and the parallel fields h (N,) of the last
        #: :meth:`gradients`
        self.g = xp.zeros((len(tb.offsets), 3, n), dtype=dtype)
        self.parallel = xp.zeros(n, dtype=dtype)
        self._ops = {job: backend.kernel(_kernels, job) for job in (
            "invariants", "sparse_map", "sparse_map_transposed", "combine", "combine_backward",
            "invariants_backward", "field")}
        self._activate = backend.kernel(_activation, "activate")
        # CPU: one worker per numba thread, each with its own tile rows and one thread for its
        # kernels and BLAS (alternating a numba pool and a BLAS pool, each spinning while the
        # other works, cost 2-5x); GPU: one stream of work
        self._workers = backend.workers(n_tiles=-(-n // self.tile))
        self._work = [self._work_rows() for _ in range(self._workers.count)]

    def _work_rows(self) -> dict:
        """The tile work of one worker: name -> (rows per site, flat buffer of rows * tile).
        A tile of n sites uses the first rows * n numbers as a C-contiguous (rows, n) array
        (:meth:`_rows`), so BLAS and the kernels see contiguous rows for every n."""
        s, layout = self._shapes, self._shapes["layout"]
        sizes = {"loc": 3 * s["m"], "q": s["n_inv"], "c": s["n_comp"], "r": s["n_ref"],
                 "dc": s["n_comp"], "dr": s["n_ref"], "x": s["n_features"]}
        # pre-activation z, activation a and its derivative d per layer of both nets
        widths = [2 * layout[1]] + [w for _net in (0, 1) for w in layout[2:-1]]
        for k, w in enumerate(widths):
            sizes.update({f"{part}{k}": w for part in ("z", "a", "d")})
        return {name: (rows, self.xp.zeros(rows * self.tile, dtype=self.backend.dtype))
                for name, rows in sizes.items()}

    @staticmethod
    def _rows(work: dict, name: str, n: int):
        rows, flat = work[name]
        return flat[:rows * n].reshape(rows, n)

    def memory_bytes(self) -> int:
        """Bytes of the arrays this evaluator holds (g, h and the tile work rows)."""
        arrays = [self.g, self.parallel]
        if self.filling is not None:
            arrays.append(self._first_layer)
        arrays += [flat for work in self._work for _, flat in work.values()]
        return int(sum(a.nbytes for a in arrays))

    def evaluate(self, spins, field, energy: bool):
        """H = -dE/dS into ``field`` (N, 3); E (float) when ``energy``."""
        e = self.gradients(spins, energy)
        self._ops["field"](spins, *self.geometry, self.g, self.parallel, field)
        return e

    def _set_mu(self, mu: float):
        """First-layer biases at chemical potential ``mu`` (canonical models)."""
        from ..ml.modelfile import fold_mu

        self._b0 = self._biases(fold_mu(self._arrays, self._meta, mu)[0])

    def chemical_potential(self, spins) -> float:
        """mu* of ``spins`` at :attr:`filling` (llgsim.ml.chemical_potential), searched from the
        last mu*; leaves the biases at mu*. One pass of every tile through the descriptor stores
        the energy network's W_0 x (mu enters the first layer only through its bias, fold_mu);
        each trial mu then runs the network from there and back to its first layer
        (:meth:`_tile_density`)."""
        from ..ml.chemical_potential import solve_mu

        starts = range(0, self.n_sites, self.tile)
        size = lambda k: min(self.tile, self.n_sites - starts[k])  # noqa: E731

        def first_layer(k, worker):
            work, n = self._work[worker], size(k)
            x = self._features(work, spins, starts[k], n)[-1]
            z0 = self._rows(work, "z0", n)[:self._h1]
            self.xp.matmul(self._w0[:self._h1], x, out=z0)
            self._first_layer[:, starts[k]:starts[k] + n] = z0

        self._workers.map(first_layer, len(starts))

        def total_density(mu: float) -> float:
            self._set_mu(mu)
            sums = self._workers.map(lambda k, worker: self._tile_density(
                self._work[worker], starts[k], size(k)), len(starts))
            return float(sum(sums))

        mu = solve_mu(total_density, self._n_electrons, self.mu,
                      self._mu_reference, self.n_sites)
        self._set_mu(mu)
        return mu

    def gradients(self, spins, energy: bool):
        """Steps 1-4 of every tile: :attr:`g` and :attr:`parallel` of ``spins``, from which a
        gather (kernels/descriptor.py, or the fused steps of kernels/ml_step.py) makes the
        field; E (float) when ``energy`` (the tiles' sums added in tile order, whatever worker
        computed them), else None. A canonical model first solves its mu* (``filling``)."""
        if self.filling is not None:
            self.mu = self.chemical_potential(spins)
        starts = range(0, self.n_sites, self.tile)

        def tile(k, worker):
            start = starts[k]
            eps = self._tile(self._work[worker], spins, start, min(self.tile, self.n_sites - start))
            if not energy:
                return 0.0
            # E = sum eps - sum h (|S| - 1) (llgsim.ml.network): the second sum vanishes on unit
            # spins and gives finite differences off them the parallel field
            s = spins[start:start + len(eps)]
            norm = self.xp.sqrt((s * s).sum(axis=1))
            h = self.parallel[start:start + len(eps)]
            return float(eps.sum(dtype=np.float64) - (h * (norm - 1)).sum(dtype=np.float64))

        sums = self._workers.map(tile, len(starts))
        if not energy:
            return None
        if self.filling is not None:
            return float(sum(sums)) + self.mu * self._n_electrons
        return float(sum(sums))

    def _features(self, work: dict, spins, start: int, n: int):
        """Steps 1-2 for sites start .. start + n - 1: the rows loc, q, c, r and the features x
        (F, n) of the tile."""
        ops = self._ops
        rows = lambda name: self._rows(work, name, n)  # noqa: E731
        q, c, r, x = (rows(k) for k in ("q", "c", "r", "x"))
        loc = rows("loc").reshape(3, self._shapes["m"], n)
        ops["invariants"](spins, *self.geometry, start, self._pairs, self._triangles, loc, q)
        ops["sparse_map"](*self._comp, q, c)
        ops["sparse_map"](*self._ref, c, r)
        ops["combine"](c, r, *self._blocks, x)
        return loc, q, c, r, x

    def _head(self, net: int, a, layer, k: int, first) -> tuple:
        """Hidden layers and output of network ``net`` (0 energy, 1 parallel) from its first
        activation ``a`` (h1, n), the work rows of layer k on; returns (output (n,), the (z, d)
        rows of every layer from ``first``, the next free layer k)."""
        kept = [first]
        layers = self._layers[net]
        for w, b in layers[:-1]:
            z, a_next, d = layer(k)
            k += 1
            self.xp.matmul(w, a, out=z)
            self._activate(self._activation, z, b, a_next, d)
            a = a_next
            kept.append((z, d))
        w, b = layers[-1]
        return (w @ a)[0] + b[0, 0], kept, k

    def _energy_backward(self, kept):
        """d eps / dz_0 (h1, n) of the energy network from its (z, d) rows (:meth:`_head`); the
        gradient of each layer overwrites its pre-activations z, no longer needed."""
        xp, layers = self.xp, self._layers[0]
        grad, d = kept[-1]
        xp.multiply(layers[-1][0].T, d, out=grad)  # (h_last, 1) * (h_last, n)
        for k in range(len(layers) - 2, -1, -1):
            z, d = kept[k]
            xp.matmul(layers[k][0].T, grad, out=z)  # BLAS takes the transpose as it is
            z *= d
            grad = z
        return grad

    def _tile(self, work: dict, spins, start: int, n: int):
        """Steps 1-4 of the module docstring for sites start .. start + n - 1; returns eps (n,)."""
        xp, ops, h1 = self.xp, self._ops, self._h1
        rows = lambda name: self._rows(work, name, n)  # noqa: E731
        loc, q, c, r, x = self._features(work, spins, start, n)
        layer = lambda k: tuple(rows(f"{p}{k}") for p in "zad")  # noqa: E731
        z0, a0, d0 = layer(0)
        xp.matmul(self._w0, x, out=z0)
        self._activate(self._activation, z0, self._b0, a0, d0)
        eps, kept, k = self._head(0, a0[:h1], layer, 1, (z0[:h1], d0[:h1]))
        self.parallel[start:start + n] = self._head(1, a0[h1:], layer, k, None)[0]
        # d eps / dG (F, n) overwrites the features x
        dx = xp.matmul(self._w0[:h1].T, self._energy_backward(kept), out=x)
        dc, dr = rows("dc"), rows("dr")
        ops["combine_backward"](c, r, dx, *self._blocks, dc, dr)
        ops["sparse_map_transposed"](*self._ref, dr, dc)
        q[...] = 0  # dq overwrites q (no longer needed)
        ops["sparse_map_transposed"](*self._comp, dc, q)
        ops["invariants_backward"](loc, self._pairs, self._triangles, q, start, self.g)
        return eps

    def _tile_density(self, work: dict, start: int, n: int) -> float:
        """sum of n_i = -d omega_i / d mu over sites start .. start + n - 1 at the biases' mu:
        the energy network from the stored W_0 x (:meth:`chemical_potential`) and its backward
        to the first layer."""
        h1 = self._h1
        z0, a0, d0 = (self._rows(work, f"{p}0", n)[:h1] for p in "zad")
        z0[...] = self._first_layer[:, start:start + n]
        self._activate(self._activation, z0, self._b0[:h1], a0, d0)
        layer = lambda k: tuple(self._rows(work, f"{p}{k}", n) for p in "zad")  # noqa: E731
        kept = self._head(0, a0, layer, 1, (z0, d0))[1]
        return float((self._density_weight @ self._energy_backward(kept)).sum(dtype=np.float64))
