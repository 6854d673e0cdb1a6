"""ML field provider: energy and field of a Behler-Parrinello model file on one lattice.

    E = sum_i eps_i(G_i),   H_i = -dE/dS_i   (llgsim.ml.network; docs/physics.md, section 3.3)

The field on site i depends only on spins within the descriptor cutoff of the sites whose
cutoff contains i (twice the cutoff radius); beyond that it is exactly independent of them.

Backends: "reference" evaluates the torch model (autograd through descriptor and network), the
yardstick; "cpu" and "cuda" evaluate the same model with the descriptor kernels, GEMMs over
tiles of sites and a deterministic gather (llgsim.fields.ml_tiles), without torch.
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
    The energy is a Python float (energy units of the training data, t_1 = 1), the field an
    (N, 3) array of the backend's dtype.
    """

    def __init__(self, path, lattice: Lattice, dtype: str | None = None, backend="auto"):
        from ..ml.modelfile import open_model

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
                   backend="auto") -> "MLField":
        """The shipped model ``name`` (see ``llgsim models`` / llgsim.ml.pretrained)."""
        from ..ml.pretrained import path_of

        provider = cls(path_of(name), lattice, dtype, backend)
        provider.model_reference = name
        return provider

    def evaluate(self, spins, field, energy):
        """H_i = -dE/dS_i into ``field``; E when ``energy``."""
        if self._tiles is not None:
            return self._tiles.evaluate(spins, field, energy)
        import torch

        e, h = self.model.energy_and_field(torch.from_numpy(spins))
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
            return model.to(getattr(torch, self.dtype)).site_energies(torch.from_numpy(s)).numpy()

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
        return {"name": "ml", "model": self.model_reference,
                "content_hash": self.metadata["content_hash"], "dtype": self.dtype}
