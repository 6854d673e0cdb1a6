"""ML field provider: energy and field of a Behler-Parrinello model file on one lattice.

    E = sum_i eps_i(G_i),   H_i = -dE/dS_i   (llgsim.ml.network; docs/physics.md, section 3)

The field on site i depends only on spins within the descriptor cutoff of the sites whose
cutoff contains i (twice the cutoff radius); beyond that it is exactly independent of them.
"""

from __future__ import annotations

import numpy as np

from ..backend import DTYPES, Backend, as_backend
from ..errors import InputError
from ..lattice import Lattice
from .base import FieldProvider


class MLField(FieldProvider):
    """Energy and field from a model file.

    MLField(path, lattice, dtype="float64", backend="cpu")
    MLField.pretrained(name, lattice, dtype="float64", backend="cpu")   # shipped with llgsim

    path    : model file (llgsim.ml.modelfile); its lattice kind and descriptor must match.
    lattice : Lattice the spins live on (any size at least as large as the cutoff needs).
    dtype   : working precision of descriptor and network, "float64" or "float32" (ignored when
              ``backend`` is a Backend, whose dtype it takes).
    backend : Backend or its name. On "reference" and "cpu" the network is evaluated by torch
              on the CPU (llgsim.ml.network, autograd through descriptor and network).
    The energy is a Python float (energy units of the training data, t_1 = 1), the field an
    (N, 3) array of the backend's dtype.
    """

    def __init__(self, path, lattice: Lattice, dtype: str = "float64", backend="cpu"):
        import torch

        from ..ml.network import BehlerParrinello

        if not isinstance(lattice, Lattice):
            raise InputError("lattice", type(lattice).__name__, "an llgsim.Lattice")
        if not isinstance(backend, Backend) and dtype not in DTYPES:
            raise InputError("dtype", dtype, f"one of {list(DTYPES)}")
        self.backend = as_backend(backend, dtype)
        self.dtype = self.backend.dtype.name
        model, meta = BehlerParrinello.load(path, lattice)
        self.model = model.to(getattr(torch, self.dtype)).requires_grad_(False)
        self.metadata = meta
        self.lattice = lattice
        self.n_sites = lattice.n_sites
        self.model_reference = str(path)

    @classmethod
    def pretrained(cls, name: str, lattice: Lattice, dtype: str = "float64",
                   backend="cpu") -> "MLField":
        """The shipped model ``name`` (see ``llgsim models`` / llgsim.ml.pretrained)."""
        from ..ml.pretrained import path_of

        provider = cls(path_of(name), lattice, dtype, backend)
        provider.model_reference = name
        return provider

    def evaluate(self, spins, field, energy):
        """H_i = -dE/dS_i into ``field`` (torch autograd); E when ``energy``."""
        import torch

        e, h = self.model.energy_and_field(torch.from_numpy(spins))
        np.copyto(field, h.numpy())
        return float(e) if energy else None

    def site_energies(self, spins) -> np.ndarray:
        """eps_i (N,) in the provider's dtype."""
        import torch

        from ..model import check_spins

        s = self.backend.asarray(check_spins(spins, self.n_sites))
        with torch.no_grad():
            return self.model.site_energies(torch.from_numpy(s)).numpy()

    def describe(self) -> dict:
        return {"name": "ml", "model": self.model_reference,
                "content_hash": self.metadata["content_hash"], "dtype": self.dtype}
