"""ML field provider: energy and field of a Behler-Parrinello model file on one lattice.

    E = sum_i eps_i(G_i),   H_i = -dE/dS_i   (llgsim.ml.network; physics.md section 3)

The field on site i depends only on spins within the descriptor cutoff of the sites whose
cutoff contains i (twice the cutoff radius); beyond that it is exactly independent of them.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..lattice import Lattice
from ..model import check_spins
from .base import FieldProvider

_DTYPES = ("float64", "float32")


class MLField(FieldProvider):
    """Energy and field from a model file.

    MLField(path, lattice, dtype="float64")
    MLField.pretrained(name, lattice, dtype="float64")   # a model shipped with llgsim

    path    : model file (llgsim.ml.modelfile); its lattice kind and descriptor must match.
    lattice : Lattice the spins live on (any size at least as large as the cutoff needs).
    dtype   : working precision of descriptor and network, "float64" or "float32"; spins are
              converted to it and the field is returned in it.
    The energy is a Python float (energy units of the training data, t_1 = 1), the field a
    C-contiguous numpy array (N, 3).
    """

    def __init__(self, path, lattice: Lattice, dtype: str = "float64"):
        import torch

        from ..ml.network import BehlerParrinello

        if not isinstance(lattice, Lattice):
            raise InputError("lattice", type(lattice).__name__, "an llgsim.Lattice")
        if dtype not in _DTYPES:
            raise InputError("dtype", dtype, f"one of {list(_DTYPES)}")
        model, meta = BehlerParrinello.load(path, lattice)
        self._torch_dtype = getattr(torch, dtype)
        self.model = model.to(self._torch_dtype).requires_grad_(False)
        self.metadata = meta
        self.lattice = lattice
        self.n_sites = lattice.n_sites
        self.dtype = dtype
        self.model_reference = str(path)

    @classmethod
    def pretrained(cls, name: str, lattice: Lattice, dtype: str = "float64") -> "MLField":
        """The shipped model ``name`` (see ``llgsim models`` / llgsim.ml.pretrained)."""
        from ..ml.pretrained import path_of

        provider = cls(path_of(name), lattice, dtype)
        provider.model_reference = name
        return provider

    def _spins(self, spins):
        import torch

        s = check_spins(spins, self.n_sites)
        return torch.from_numpy(np.ascontiguousarray(s, dtype=self.dtype))

    def energy_and_field(self, spins) -> tuple[float, np.ndarray]:
        """(E, H): E = sum_i eps_i (float), H_i = -dE/dS_i (N, 3) in the provider's dtype."""
        energy, field = self.model.energy_and_field(self._spins(spins))
        return float(energy), np.ascontiguousarray(field.numpy())

    def site_energies(self, spins) -> np.ndarray:
        """eps_i (N,) in the provider's dtype."""
        import torch

        with torch.no_grad():
            return self.model.site_energies(self._spins(spins)).numpy()

    def describe(self) -> dict:
        return {"name": "ml", "model": self.model_reference,
                "content_hash": self.metadata["content_hash"], "dtype": self.dtype}
