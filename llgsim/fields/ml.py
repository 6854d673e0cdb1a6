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
F = Omega(mu*) + mu* N_e (llgsim.ml.chemical_potential), on every backend.
"""

from __future__ import annotations

import numpy as np

from ..backend import DTYPES, Backend, as_backend
from ..errors import InputError
from ..lattice import Lattice
from ..ml.chemical_potential import solve_mu
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
              (module docstring), else None. Such a model needs exactly one of mu and
              filling; ``self.mu`` is the mu* of the last evaluation.
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
        self._mu, self.filling = mu, filling
        self.n_sites = lattice.n_sites
        self._n_electrons = None if filling is None else 2 * filling * self.n_sites
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
        else:
            self._mu = float(meta["network"]["mu_input"]["reference"])
        if self.backend.name == "reference":
            import torch

            from ..ml.network import BehlerParrinello

            model = BehlerParrinello.from_parts(arrays, meta, descriptor)
            self.model = model.to(getattr(torch, self.dtype)).requires_grad_(False)
            self._tiles = None
        else:
            from .ml_tiles import TiledNetwork

            self.model = None
            self._tiles = TiledNetwork(arrays, meta, descriptor, self.backend, filling)
        self.metadata = meta
        self.descriptor = descriptor
        self.lattice = lattice
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

    @property
    def mu(self) -> float | None:
        """The fixed mu; canonical: the mu* of the last evaluation; None for a plain model."""
        if self._tiles is not None and self.filling is not None:
            return self._tiles.mu
        return self._mu

    def chemical_potential(self, spins) -> float | None:
        """mu* of ``spins`` (a backend array (N, 3)) at the provider's filling (module
        docstring; llgsim.ml.chemical_potential), without evaluating the field; else
        :attr:`mu`."""
        if self.filling is None:
            return self.mu
        if self._tiles is not None:
            return self._tiles.chemical_potential(spins)
        import torch

        return solve_mu(reference_density(self.model, torch.from_numpy(spins)),
                        self._n_electrons, self._mu,
                        self.model.mu_input["reference"], self.n_sites)

    def evaluate(self, spins, field, energy):
        """H_i = -dE/dS_i into ``field``; E when ``energy``."""
        if self._tiles is not None:
            return self._tiles.evaluate(spins, field, energy)
        import torch

        s = torch.from_numpy(spins)
        if self.filling is None:
            e, h = self.model.energy_and_field(s)
        else:
            self._mu = self.chemical_potential(spins)
            e, h = self.model.energy_and_field(s, self._mu)
            e = e + self._mu * self._n_electrons
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


def reference_density(model, spins):
    """mu -> N(mu) = sum_i n_i(spins, mu) of a torch model with a mu input (torch spins (N, 3)):
    the descriptor computed once, each trial mu a pass through the networks and its backward
    (llgsim.ml.network.BehlerParrinello.densities_of_features)."""
    features = model.feature_chunks(spins)
    return lambda mu: sum(float(model.densities_of_features(g, mu).sum()) for g in features)
