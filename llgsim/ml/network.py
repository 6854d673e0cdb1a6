"""Behler-Parrinello site-energy network (torch) with a parallel-field network.

    eps_i = MLP_E(x_i),   h_i = MLP_H(x_i),   x_i = (G_i(u) - mu) / sigma,   u_j = S_j / |S_j|
    E = sum_i eps_i - sum_i h_i (|S_i| - 1),      H_i = -dE/dS_i

G_i is the descriptor of :mod:`llgsim.ml.descriptor` (N, F) of the unit spins u, mu and sigma (F,)
the feature mean and standard deviation of the training data, MLP_E and MLP_H two networks of
the same layout (linear layers with a smooth activation, SiLU or tanh, so the field is smooth,
and one output): the site energy eps_i and the parallel field h_i. Two networks rather than two
outputs of one keep the two fits independent: the parallel field (~J n_i, spread ~0.3 in DE) is
three times larger than the perpendicular one and would take over a shared hidden layer. On unit
spins the second term of E vanishes and E is the sum of site energies, while the field splits
cleanly:

    H_i = -(1 - S_i S_i^T) d(sum_j eps_j)/dS_i  +  h_i S_i      (|S_j| = 1 for all j)

The perpendicular part (the torque, the only part that drives the dynamics) is the gradient of
the energy; the parallel part H_i . S_i = J <s_i> . S_i (~J n_i in double exchange) is a local
scalar learned directly. An energy of unit spins alone has no parallel gradient; one of the
raw spins (dot and triple products of S, not u) ties its parallel gradient to the same
coefficients as the perpendicular one, and fitting both failed (docs/training_results.md,
"Choices").
The field is the full gradient with respect to the Cartesian spin components (docs/conventions.md),
by reverse-mode autograd through the MLP, the descriptor and the normalisation.

A model of the grand potential for a range of chemical potentials (docs/physics.md 1.3) takes mu
as an input of the first layer of both networks, as an extra bias w_mu (mu - mu_0) / mu_scale
(``mu_input = {"reference": mu_0, "scale": mu_scale}``; w_mu (h_1,) per network). Its site
energies are site grand potentials omega_i(G_i, mu), and its site densities are

    n_i = -d omega_i / d mu          (electrons per site; sum_i n_i = -dOmega/dmu = N)

At a fixed mu the extra bias is a constant: :func:`llgsim.ml.modelfile.fold_mu` writes it into
the first-layer biases, which gives a plain model for every backend.
J. Behler and M. Parrinello, PRL 98, 146401 (2007); for spins, REV25 (arXiv:2501.06171).
"""

from __future__ import annotations

import numpy as np
import torch

from .descriptor import Descriptor
from ..errors import InputError
from ..lattice import Lattice
from . import modelfile

ACTIVATIONS = {"silu": torch.nn.SiLU, "tanh": torch.nn.Tanh}
#: the two networks (module docstring), as named in model files
HEADS = ("site_energy", "parallel_field")
#: (module attribute, tensor-name prefix in model files) of the two networks
_NETWORKS = (("mlp", "layers"), ("parallel_mlp", "parallel_layers"))
#: parameter holding the first layer's mu weights, per network attribute
_MU_WEIGHTS = {"mlp": "mu_weight", "parallel_mlp": "parallel_mu_weight"}
#: sites per chunk of the field evaluation (toolchain.md: ~10^4 rows keep an MLP pass in cache)
CHUNK_SITES = 16384


class BehlerParrinello(torch.nn.Module):
    """Site energies eps_i (N,) and parallel fields h_i (N,) of spins (N, 3) on one lattice.

    descriptor   : Descriptor (fixes the lattice and F = descriptor.n_features).
    hidden       : widths of the hidden layers, e.g. (64, 64): layout [F, *hidden, 1] of both
                   networks.
    activation   : "silu" or "tanh".
    feature_mean, feature_std : (F,) normalisation (default 0 and 1).
    seed         : seed of the initial weights (torch's default Linear initialisation).
    mu_input     : None, or {"reference": mu_0, "scale": mu_scale} (energy units): the chemical
                   potential is an input (module docstring); its weights start at zero.
    Weights are float64 after construction; ``.to(torch.float32)`` gives a float32 model.
    """

    def __init__(self, descriptor: Descriptor, hidden=(64, 64), activation: str = "silu",
                 feature_mean=None, feature_std=None, seed: int = 0, mu_input=None):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise InputError("network.activation", activation, f"one of {sorted(ACTIVATIONS)}")
        hidden = tuple(hidden)
        if not all(isinstance(h, (int, np.integer)) and h > 0 for h in hidden):
            raise InputError("network.hidden", hidden, "a tuple of positive layer widths")
        n_features = descriptor.n_features
        self.descriptor = descriptor
        self.activation = activation
        self.layout = [n_features, *map(int, hidden), 1]
        mean = np.zeros(n_features) if feature_mean is None else np.asarray(feature_mean, float)
        std = np.ones(n_features) if feature_std is None else np.asarray(feature_std, float)
        for name, value in (("feature_mean", mean), ("feature_std", std)):
            if value.shape != (n_features,) or not np.all(np.isfinite(value)):
                raise InputError(name, value.shape, f"({n_features},) finite floats")
        if not np.all(std > 0):
            raise InputError("feature_std", float(std.min()), "positive standard deviations")
        self.register_buffer("feature_mean", torch.tensor(mean, dtype=torch.float64))
        self.register_buffer("feature_std", torch.tensor(std, dtype=torch.float64))
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.mlp = self._network()
            self.parallel_mlp = self._network()
        self.mu_input = None if mu_input is None else _mu_input(mu_input)
        if self.mu_input is not None:
            zeros = torch.zeros(self.layout[1], dtype=torch.float64)
            self.mu_weight = torch.nn.Parameter(zeros.clone())
            self.parallel_mu_weight = torch.nn.Parameter(zeros.clone())

    def _network(self) -> torch.nn.Sequential:
        linear = [torch.nn.Linear(a, b, dtype=torch.float64)
                  for a, b in zip(self.layout[:-1], self.layout[1:])]
        modules = []
        for k, layer in enumerate(linear):
            modules.append(layer)
            if k < len(linear) - 1:
                modules.append(ACTIVATIONS[self.activation]())
        return torch.nn.Sequential(*modules)

    def site_outputs(self, spins: torch.Tensor, sites: slice = slice(None),
                     mu=None) -> torch.Tensor:
        """(n, 2): eps_i and h_i of the sites ``sites`` (default all) for torch spins (N, 3) in
        the model's dtype; the descriptor sees the unit spins S / |S|. ``mu``: the chemical
        potential of a model with a mu input (float or tensor, () or (n,)), None otherwise."""
        unit = spins / torch.linalg.vector_norm(spins, dim=-1, keepdim=True)
        return self.outputs_of_features(self.descriptor(unit, sites), mu)

    def outputs_of_features(self, features: torch.Tensor, mu=None) -> torch.Tensor:
        """(n, 2): eps and h of descriptor rows G (n, F) (``mu`` as in :meth:`site_outputs`)."""
        x = (features - self.feature_mean) / self.feature_std
        return torch.cat([self._head(x, mu, self.mlp, "mu_weight"),
                          self._head(x, mu, self.parallel_mlp, "parallel_mu_weight")], dim=1)

    def _head(self, x, mu, network, mu_weight: str) -> torch.Tensor:
        if self.mu_input is None:
            if mu is not None:
                raise InputError("mu", mu, "None: this model has no chemical-potential input")
            return network(x)
        if mu is None:
            raise InputError("mu", None, "a chemical potential: this model takes mu as an input")
        shift = (torch.as_tensor(mu, dtype=x.dtype) - self.mu_input["reference"]) \
            / self.mu_input["scale"]
        z = network[0](x) + shift.reshape(-1, 1) * getattr(self, mu_weight)
        return network[1:](z)

    def site_energies(self, spins: torch.Tensor, sites: slice = slice(None),
                      mu=None) -> torch.Tensor:
        """eps_i (n,) of the sites ``sites`` (default all)."""
        return self.site_outputs(spins, sites, mu)[:, 0]

    def site_densities(self, spins: torch.Tensor, mu: float) -> torch.Tensor:
        """n_i = -d omega_i / d mu (N,), detached, of a model with a mu input (module
        docstring), in chunks of CHUNK_SITES."""
        return torch.cat([self.densities_of_features(g, mu) for g in self.feature_chunks(spins)])

    def feature_chunks(self, spins: torch.Tensor) -> list[torch.Tensor]:
        """Descriptor rows G (n, F) of the unit spins S / |S|, detached, for each chunk of
        CHUNK_SITES sites in order."""
        unit = spins.detach() / torch.linalg.vector_norm(spins.detach(), dim=-1, keepdim=True)
        with torch.no_grad():
            return [self.descriptor(unit, slice(k, min(k + CHUNK_SITES, len(unit))))
                    for k in range(0, len(unit), CHUNK_SITES)]

    def densities_of_features(self, features: torch.Tensor, mu: float) -> torch.Tensor:
        """n_i = -d omega_i / d mu (n,), detached, of descriptor rows G (n, F), by reverse mode
        through a per-site copy of mu."""
        m = torch.full((len(features),), float(mu), dtype=features.dtype, requires_grad=True)
        with torch.enable_grad():
            (d,) = torch.autograd.grad(self.outputs_of_features(features, m)[:, 0].sum(), m)
        return -d

    def energy_and_field(self, spins: torch.Tensor, mu=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(E, H): total energy (0-dim tensor) and H = -dE/dS (N, 3), both detached; E as in
        the module docstring (the sum of site energies on unit spins); ``mu`` as in
        :meth:`site_outputs`.

        Sites are taken in chunks of CHUNK_SITES, each chunk's energy differentiated into the
        gradient of all spins, so memory stays bounded on large lattices (the descriptor of one
        chunk holds ~10^3 numbers per site)."""
        s = spins.detach().requires_grad_(True)
        n = len(s)
        energy = torch.zeros((), dtype=s.dtype, device=s.device)
        field = torch.zeros_like(s)
        with torch.enable_grad():
            for start in range(0, n, CHUNK_SITES):
                sites = slice(start, min(start + CHUNK_SITES, n))
                out = self.site_outputs(s, sites, mu)
                norm = torch.linalg.vector_norm(s[sites], dim=-1)
                chunk = out[:, 0].sum() - (out[:, 1] * (norm - 1)).sum()
                (grad,) = torch.autograd.grad(chunk, s)
                energy += chunk.detach()
                field -= grad
        return energy, field

    # ------------------------------------------------------------------ files
    def arrays(self) -> dict:
        """Weights and normalisation as float64 numpy arrays, named as in model files."""
        out = {"feature_mean": self.feature_mean, "feature_std": self.feature_std}
        for attribute, prefix in _NETWORKS:
            linear = (m for m in getattr(self, attribute) if isinstance(m, torch.nn.Linear))
            for k, layer in enumerate(linear):
                out[f"{prefix}.{k}.weight"] = layer.weight
                out[f"{prefix}.{k}.bias"] = layer.bias
            if self.mu_input is not None:
                out[f"{prefix}.0.mu_weight"] = getattr(self, _MU_WEIGHTS[attribute])
        return {name: t.detach().to(torch.float64).cpu().numpy() for name, t in out.items()}

    def save(self, path, model_parameters: dict, training_data_hash: str,
             metrics: dict) -> str:
        """Write the model file (llgsim.ml.modelfile); return its content hash.

        model_parameters   : the s-d parameters of the training data (e.g. KondoModel.describe()).
        training_data_hash : sha256 of the training set, as the trainer computed it.
        metrics            : accuracy figures (JSON-serialisable), e.g. held-out field RMSE.
        """
        d = self.descriptor
        metadata = {
            "lattice_kind": d.lattice.kind,
            "descriptor": {"settings": d.settings.to_dict(), "n_features": d.n_features,
                           "fingerprint": d.tables.fingerprint()},
            "network": {"layout": self.layout, "activation": self.activation,
                        "heads": list(HEADS),
                        **({} if self.mu_input is None else {"mu_input": self.mu_input})},
            "model_parameters": model_parameters,
            "normalization": {"mean": "feature_mean", "std": "feature_std"},
            "training_data_hash": training_data_hash,
            "metrics": metrics,
        }
        return modelfile.save_model(path, self.arrays(), metadata)

    @classmethod
    def load(cls, path, lattice: Lattice) -> tuple["BehlerParrinello", dict]:
        """(model, metadata) from a model file, for use on ``lattice`` (kind and descriptor
        checked: a model for another lattice kind or descriptor is an InputError)."""
        arrays, meta, descriptor = modelfile.open_model(path, lattice)
        return cls.from_parts(arrays, meta, descriptor), meta

    @classmethod
    def from_parts(cls, arrays: dict, meta: dict, descriptor) -> "BehlerParrinello":
        """The model of an opened model file (:func:`llgsim.ml.modelfile.open_model`)."""
        layout = meta["network"]["layout"]
        mu_input = meta["network"].get("mu_input")
        model = cls(descriptor, hidden=layout[1:-1], activation=meta["network"]["activation"],
                    feature_mean=arrays["feature_mean"], feature_std=arrays["feature_std"],
                    mu_input=mu_input)
        state = {f"{net}.{2 * k}.{part}": torch.from_numpy(arrays[f"{prefix}.{k}.{part}"])
                 for net, prefix in _NETWORKS
                 for k in range(len(layout) - 1) for part in ("weight", "bias")}
        state["feature_mean"] = torch.from_numpy(arrays["feature_mean"])
        state["feature_std"] = torch.from_numpy(arrays["feature_std"])
        if mu_input is not None:
            for attribute, prefix in _NETWORKS:
                state[_MU_WEIGHTS[attribute]] = torch.from_numpy(arrays[f"{prefix}.0.mu_weight"])
        model.load_state_dict(state)
        return model


def _mu_input(value) -> dict:
    """{"reference": float, "scale": float > 0} from a mapping, or an InputError."""
    try:
        out = {"reference": float(value["reference"]), "scale": float(value["scale"])}
    except (TypeError, KeyError, ValueError):
        raise InputError("network.mu_input", value, '{"reference": mu_0, "scale": s > 0}') \
            from None
    if not (np.isfinite(out["reference"]) and out["scale"] > 0):
        raise InputError("network.mu_input", value, "a finite reference and a positive scale")
    return out
