"""ML model files: weights in safetensors, metadata as JSON in the safetensors header.

One file holds everything needed to rebuild and audit a model (docs/conventions.md, "Files"):

* tensors: ``layers.<k>.weight`` (out, in) and ``layers.<k>.bias`` (out,) of the k-th linear
  layer of the site-energy network, ``parallel_layers.<k>.*`` the same for the parallel-field
  network (llgsim.ml.network), ``feature_mean`` and ``feature_std`` (F,) of the input
  normalisation, all float64; a model with a chemical-potential input also holds
  ``layers.0.mu_weight`` and ``parallel_layers.0.mu_weight`` (h_1,) (llgsim.ml.network);
* header metadata key ``"llgsim"``: a JSON object with the keys of :data:`REQUIRED_KEYS`:
  ``format_version``; ``lattice_kind``; ``descriptor`` (``settings``, ``n_features`` and the
  ``fingerprint`` of its index tables); ``network`` (``layout`` [F, h_1, ..., 1] of both
  networks, ``activation``, ``heads`` and, with a mu input, ``mu_input`` {"reference",
  "scale"}); ``model_parameters`` (the s-d parameters of the
  training data); ``normalization`` (names of the mean/std tensors); ``training_data_hash``;
  ``metrics``; and
  ``content_hash``: sha256 over every tensor (name, dtype, shape, bytes, in name order) and the
  canonical JSON of the metadata without ``content_hash``.

Reading needs numpy and safetensors only (``safetensors.numpy``), no torch.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import InputError

#: 2: a second network for the parallel field (format 1 held the site-energy network alone)
FORMAT_VERSION = 2
_HEADER_KEY = "llgsim"
REQUIRED_KEYS = ("format_version", "lattice_kind", "descriptor", "network", "model_parameters",
                 "normalization", "training_data_hash", "metrics")


def content_hash(arrays: dict, metadata: dict) -> str:
    """sha256 hex digest over the tensors and the metadata (without ``content_hash``)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    rest = {k: v for k, v in metadata.items() if k != "content_hash"}
    h.update(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest()


def save_model(path, arrays: dict, metadata: dict) -> str:
    """Write ``arrays`` (name -> numpy array) and ``metadata`` (JSON-serialisable, keys
    :data:`REQUIRED_KEYS`; ``format_version`` is filled in) to ``path``; return the content hash."""
    from safetensors.numpy import save_file

    meta = {"format_version": FORMAT_VERSION, **metadata}
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise InputError("model metadata", sorted(meta), f"also the keys {missing}")
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    meta["content_hash"] = content_hash(arrays, meta)
    save_file(arrays, str(path), metadata={_HEADER_KEY: json.dumps(meta, sort_keys=True)})
    return meta["content_hash"]


def read_metadata(path) -> dict:
    """The metadata of a model file without reading its tensors (hash not verified)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            header = f.metadata() or {}
        meta = json.loads(header[_HEADER_KEY])
    except FileNotFoundError:
        raise InputError("model file", str(path), "an existing file") from None
    except Exception:  # any header that safetensors or json cannot read, or without our key
        raise InputError("model file", str(path), "a safetensors file written by "
                         "llgsim.ml.modelfile.save_model") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise InputError("model file format_version", meta.get("format_version"),
                         f"{FORMAT_VERSION} (written by a different llgsim version)")
    return meta


def load_model(path) -> tuple[dict, dict]:
    """(arrays, metadata) of a model file, after checking its format version and content hash."""
    from safetensors.numpy import load_file

    meta = read_metadata(path)
    arrays = load_file(str(path))
    if content_hash(arrays, meta) != meta.get("content_hash"):
        raise InputError("model file", str(path),
                         "a file whose content hash matches its data (file modified or corrupt)")
    return arrays, meta


def check_lattice_kind(metadata: dict, lattice_kind: str) -> None:
    """Refuse a model trained for another lattice kind."""
    if metadata["lattice_kind"] != lattice_kind:
        raise InputError("model lattice_kind", metadata["lattice_kind"],
                         f"{lattice_kind!r}, the kind of the lattice it is used on")


def check_descriptor(metadata: dict, fingerprint: str) -> None:
    """Refuse a model whose descriptor tables differ from those this llgsim builds from the
    same settings (:meth:`llgsim.ml.descriptor.DescriptorTables.fingerprint`)."""
    if metadata["descriptor"]["fingerprint"] != fingerprint:
        raise InputError("model descriptor", metadata["descriptor"]["settings"],
                         "a descriptor identical to the one this llgsim builds from these "
                         "settings (tables differ: model made by another descriptor version)")


def open_model(path, lattice) -> tuple[dict, dict, object]:
    """(arrays, metadata, llgsim.ml.descriptor.Descriptor on ``lattice``) of a model file, after
    checking its hash, its lattice kind and its descriptor tables (numpy only, no torch)."""
    from .descriptor import Descriptor
    from .descriptor_tables import DescriptorSettings

    arrays, meta = load_model(path)
    check_lattice_kind(meta, lattice.kind)
    descriptor = Descriptor(lattice, DescriptorSettings.from_dict(meta["descriptor"]["settings"]))
    check_descriptor(meta, descriptor.tables.fingerprint())
    return arrays, meta, descriptor


def fold_mu(arrays: dict, metadata: dict, mu: float) -> tuple[dict, dict]:
    """(arrays, metadata) of the plain model that a model with a mu input is at the chemical
    potential ``mu``: b_0 + w_mu (mu - mu_0) / mu_scale in the first-layer biases of both
    networks, no mu weights, no ``mu_input`` (llgsim.ml.network). The hashes are those of the
    file it came from (the folded model is never written)."""
    spec = metadata["network"]["mu_input"]
    shift = (float(mu) - spec["reference"]) / spec["scale"]
    out = {k: v for k, v in arrays.items() if not k.endswith(".mu_weight")}
    for prefix in ("layers", "parallel_layers"):
        out[f"{prefix}.0.bias"] = (arrays[f"{prefix}.0.bias"]
                                   + shift * arrays[f"{prefix}.0.mu_weight"])
    network = {k: v for k, v in metadata["network"].items() if k != "mu_input"}
    return out, {**metadata, "network": network}


def model_summary(path) -> dict:
    """Short description of a model file: name, lattice, s-d parameters, layout, metrics, hash."""
    meta = read_metadata(path)
    return {"name": Path(path).name.removesuffix(".safetensors"),
            "lattice_kind": meta["lattice_kind"],
            "model_parameters": meta["model_parameters"],
            "n_features": meta["descriptor"]["n_features"],
            "layout": meta["network"]["layout"],
            "activation": meta["network"]["activation"],
            "metrics": meta["metrics"],
            "content_hash": meta["content_hash"], "path": str(path)}
