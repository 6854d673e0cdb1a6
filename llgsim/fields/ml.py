"""ML field provider: energy and field of a Behler-Parrinello model file on one lattice.

    E = sum_i eps_i(G_i),   H_i = -dE/dS_i   (llgsim.ml.network; docs/physics.md, section 3.3)

The field on site i depends only on spins within the descriptor cutoff of the sites whose
cutoff contains i (twice the cutoff radius); beyond that it is exactly independent of them.

Backends: "reference" evaluates the torch model (autograd through descriptor and network), the
yardstick; "cpu" and "cuda" evaluate the same model with the descriptor kernels, GEMMs over
tiles of sites and a deterministic gather (llgsim.fields.ml_tiles), without torch.

A model of the grand potential with a chemical-potential input (llgsim.ml.network) runs either
at a fixed ``mu`` (grand canonical: mu folded into the first-layer biases, every backend) or at
a fixed ``filling`` f (canonical, docs/physics.md 1.3): at every evaluation mu* solves

    sum_i n_i(S, mu*) = N_e = 2 f N,      n_i = -d omega_i / d mu,

and the field is that of Omega at mu* (the terms in dmu*/dS cancel), the energy
F = Omega(mu*) + mu* N_e. The canonical solve runs on the "reference" backend.
"""

from __future__ import annotations

import numpy as np

from ..backend import DTYPES, Backend, as_backend
from ..errors import InputError
from ..lattice import Lattice
from .base import FieldProvider


class MLField(FieldProvider):
    """Energy and field from a model file.

    MLField(path, lattice, dtype=None, backend="auto")
    MLField.pretrained(name, lattice, dtype=None, backend="auto")  # shipped with llgsim

    path    : model file (llgsim.ml.modelfile); its lattice kind and descriptor must match.
    lattice : Lattice the spins live on (any size at least as large as the cutoff needs).
    dtype   : working precision of descriptor and network, "float64" or "float32"; None: the
              dtype of ``backend`` when it is a Backend, else float64 (a Backend of another
              dtype is refused).
    backend : Backend or its name: "reference" (torch), "cpu", "cuda" or "auto" (module
              docstring).
    mu      : chemical potential of a model with a mu input (module docstring), else None.
    filling : electrons per site / 2 (0 < f < 1) of a model with a mu input run canonically
              (module docstring; backend "reference"), else None. Such a model needs exactly
              one of mu and filling; ``self.mu`` is the mu* of the last evaluation.
    The energy is a Python float (energy units of the training data, t_1 = 1), the field an
    (N, 3) array of the backend's dtype.
    """

    def __init__(self, path, lattice: Lattice, dtype: str | None = None, backend="auto",
                 mu: float | None = None, filling: float | None = None):
        from ..ml.modelfile import fold_mu, open_model

        if not isinstance(lattice, Lattice):
            raise InputError("lattice", type(lattice).__name__, "an llgsim.Lattice")
        if dtype is not None and dtype not in DTYPES:
            raise InputError("dtype", dtype, f"one of {list(DTYPES)}")
        if isinstance(backend, Backend) and dtype not in (None, backend.dtype.name):
            raise InputError("dtype", dtype, f"None or {backend.dtype.name!r}, the dtype of the "
                             "backend given")
        self.backend = as_backend(backend, dtype or "float64")
        self.dtype = self.backend.dtype.name
        arrays, meta, descriptor = open_model(path, lattice)
        self.mu, self.filling = mu, filling
        if "mu_input" not in meta["network"]:
            if mu is not None or filling is not None:
                raise InputError("mu/filling", f"mu={mu}, filling={filling}",
                                 "neither: this model has no chemical-potential input")
        elif (mu is None) == (filling is None):
            raise InputError("mu/filling", f"mu={mu}, filling={filling}", "exactly one: this "
                             "model takes the chemical potential as an input")
        elif mu is not None:
            arrays, meta = fold_mu(arrays, meta, mu)
        elif not 0 < filling < 1:
            raise InputError("filling", filling, "0 < filling < 1 (electrons per site / 2)")
        elif self.backend.name != "reference":
            raise InputError("backend", self.backend.name, "'reference': a canonical (fixed "
                             "filling) ML field solves mu in torch")
        else:
            self.mu = float(meta["network"]["mu_input"]["reference"])
        if self.backend.name == "reference":
            import torch

            from ..ml.network import BehlerParrinello

            model = BehlerParrinello.from_parts(arrays, meta, descriptor)
            self.model = model.to(getattr(torch, self.dtype)).requires_grad_(False)
            self._tiles = None
        else:
            from .ml_tiles import TiledNetwork

            self.model = None
            self._tiles = TiledNetwork(arrays, meta, descriptor, self.backend)
        self.metadata = meta
        self.descriptor = descriptor
        self.lattice = lattice
        self.n_sites = lattice.n_sites
        self.model_reference = str(path)
        self._path = path

    @classmethod
    def pretrained(cls, name: str, lattice: Lattice, dtype: str | None = None,
                   backend="auto", mu: float | None = None,
                   filling: float | None = None) -> "MLField":
        """The shipped model ``name`` (see ``llgsim models`` / llgsim.ml.pretrained)."""
        from ..ml.pretrained import path_of

        provider = cls(path_of(name), lattice, dtype, backend, mu, filling)
        provider.model_reference = name
        return provider

    def evaluate(self, spins, field, energy):
        """H_i = -dE/dS_i into ``field``; E when ``energy``."""
        if self._tiles is not None:
            return self._tiles.evaluate(spins, field, energy)
        import torch

        s = torch.from_numpy(spins)
        if self.filling is None:
            e, h = self.model.energy_and_field(s)
        else:
            n_electrons = 2 * self.filling * self.n_sites
            self.mu = solve_mu(self.model, s, n_electrons, self.mu)
            e, h = self.model.energy_and_field(s, self.mu)
            e = e + self.mu * n_electrons
        np.copyto(field, h.numpy())
        return float(e) if energy else None

    def stepper(self, scheme: str, dt: float, alpha: float, seed: int):
        """cpu/cuda: the fused ML step (llgsim.fields.ml_step); reference: None (the generic
        step drives the torch model)."""
        if self._tiles is None:
            return None
        from .ml_step import FusedMLStepper

        return FusedMLStepper(scheme, self._tiles, dt, alpha, seed)

    def site_energies(self, spins) -> np.ndarray:
        """eps_i (N,) in the provider's dtype (evaluated by the torch model)."""
        import torch

        from ..ml.network import BehlerParrinello
        from ..model import check_spins

        model = self.model
        if model is None:
            model, _ = BehlerParrinello.load(self._path, self.lattice)
        s = np.ascontiguousarray(check_spins(spins, self.n_sites), dtype=self.dtype)
        with torch.no_grad():
            return model.to(getattr(torch, self.dtype)).site_energies(
                torch.from_numpy(s), mu=None if model.mu_input is None else self.mu).numpy()

    def memory_bytes(self) -> int:
        """cpu/cuda: the arrays of the tiled evaluator (llgsim.fields.ml_tiles); reference: the
        descriptor's site tables and, per chunk of sites, the torch intermediates of
        descriptor, both networks and autograd (about three times the forward values)."""
        if self._tiles is not None:
            return self._tiles.memory_bytes()
        from ..ml.network import CHUNK_SITES

        d = self.descriptor
        tb = d.tables
        n_inv = len(tb.pairs) + len(tb.triangles)
        layout = self.metadata["network"]["layout"]
        per_site = (3 * (2 * len(tb.pairs) + 3 * len(tb.triangles)) + 3 * len(tb.offsets)
                    + 2 * n_inv + 2 * len(tb.comp_index) + len(tb.ref_index)
                    + 3 * d.n_features + 4 * sum(layout[1:]))
        chunk = min(self.n_sites, CHUNK_SITES)
        return (2 * self.n_sites * len(tb.offsets) * 8  # site tables, int64
                + 3 * per_site * chunk * self.backend.dtype.itemsize)

    def describe(self) -> dict:
        out = {"name": "ml", "model": self.model_reference,
               "content_hash": self.metadata["content_hash"], "dtype": self.dtype}
        if self.filling is not None:
            out["filling"] = self.filling
        elif self.mu is not None:
            out["mu"] = self.mu
        return out


#: |mu* - mu| of the canonical solve (energy units): far below kT_e, which sets the scale on
#: which n_i(mu) changes
MU_TOLERANCE = 1e-10
#: width of the cells of the fixed mu grid (from the model's reference mu) in which the root is
#: bracketed: the bracket, and so Brent's iterates and mu*, depend on the spins alone, not on
#: the previous mu* (a restarted run repeats the uninterrupted one bit for bit)
MU_CELL = 0.01
#: cells walked at most from the guess (mu within +-100 of it)
MU_MAX_CELLS = 10000


def solve_mu(model, spins, n_electrons: float, guess: float) -> float:
    """mu* with sum_i n_i(spins, mu*) = n_electrons for a model with a mu input (torch spins
    (N, 3)): the cell of the MU_CELL grid that holds the root, walked to from the cell of
    ``guess`` (the previous mu*), then Brent's method inside it. The descriptor is computed
    once; each trial mu costs a pass through the networks and its backward
    (llgsim.ml.network.BehlerParrinello.densities_of_features)."""
    import math

    import torch
    from scipy.optimize import brentq

    from ..ml.network import CHUNK_SITES

    unit = spins / torch.linalg.vector_norm(spins, dim=-1, keepdim=True)
    with torch.no_grad():
        features = [model.descriptor(unit, slice(k, min(k + CHUNK_SITES, len(unit))))
                    for k in range(0, len(unit), CHUNK_SITES)]

    def excess(mu: float) -> float:
        return sum(float(model.densities_of_features(g, mu).sum()) for g in features) \
            - n_electrons

    reference = model.mu_input["reference"]
    k = math.floor((guess - reference) / MU_CELL)
    edge = lambda j: reference + j * MU_CELL  # noqa: E731
    lo, hi = k, k + 1
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
    raise InputError("filling", n_electrons / (2 * len(unit)),
                     "a filling the model reaches within mu +- 100 of its reference")
