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

    MLField(path, lattice, dtype=None, backend="cpu")
    MLField.pretrained(name, lattice, dtype=None, backend="cpu")   # shipped with llgsim

    path    : model file (llgsim.ml.modelfile); its lattice kind and descriptor must match.
    lattice : Lattice the spins live on (any size at least as large as the cutoff needs).
    dtype   : working precision of descriptor and network, "float64" or "float32"; None: the
              dtype of ``backend`` when it is a Backend, else float64 (a Backend of another
              dtype is refused).
    backend : Backend or its name. On "reference" and "cpu" the network is evaluated by torch
              on the CPU (llgsim.ml.network, autograd through descriptor and network).
    The energy is a Python float (energy units of the training data, t_1 = 1), the field an
    (N, 3) array of the backend's dtype.
    """

    def __init__(self, path, lattice: Lattice, dtype: str | None = None, backend="cpu"):
        import torch

        from ..ml.network import BehlerParrinello

        if not isinstance(lattice, Lattice):
            raise InputError("lattice", type(lattice).__name__, "an llgsim.Lattice")
        if dtype is not None and dtype not in DTYPES:
            raise InputError("dtype", dtype, f"one of {list(DTYPES)}")
        if isinstance(backend, Backend) and dtype not in (None, backend.dtype.name):
            raise InputError("dtype", dtype, f"None or {backend.dtype.name!r}, the dtype of the "
                             "backend given")
        self.backend = as_backend(backend, dtype or "float64")
        self.dtype = self.backend.dtype.name
        model, meta = BehlerParrinello.load(path, lattice)
        self.model = model.to(getattr(torch, self.dtype)).requires_grad_(False)
        self.metadata = meta
        self.lattice = lattice
        self.n_sites = lattice.n_sites
        self.model_reference = str(path)

    @classmethod
    def pretrained(cls, name: str, lattice: Lattice, dtype: str | None = None,
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

    def memory_bytes(self) -> int:
        """The descriptor's site tables (two (N, M) int64 copies) and, per chunk of sites, the
        torch intermediates of descriptor, both networks and autograd (about three times the
        forward values; llgsim.ml.network.CHUNK_SITES sites at a time)."""
        from ..ml.network import CHUNK_SITES

        d = self.model.descriptor
        tb = d.tables
        n_inv = len(tb.pairs) + len(tb.triangles)
        per_site = (3 * (2 * len(tb.pairs) + 3 * len(tb.triangles)) + 3 * len(tb.offsets)
                    + 2 * n_inv + 2 * len(tb.comp_index) + len(tb.ref_index)
                    + 3 * d.n_features + 4 * sum(self.model.layout[1:]))
        chunk = min(self.n_sites, CHUNK_SITES)
        return 2 * d.neighbours.nbytes + 3 * per_site * chunk * self.backend.dtype.itemsize

    def describe(self) -> dict:
        return {"name": "ml", "model": self.model_reference,
                "content_hash": self.metadata["content_hash"], "dtype": self.dtype}
