"""Model files: round trip, content hash, numpy-only reading, refusals; shipped-model lookup."""

import json
import subprocess
import sys

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from llgsim import InputError, Lattice
from llgsim.fields import MLField
from llgsim.ml import modelfile, pretrained
from llgsim.ml.modelfile import load_model, read_metadata, save_model


def _one_line_error(excinfo):
    assert "\n" not in str(excinfo.value)


def test_round_trip_and_metadata(model_path, sd_parameters):
    kind, path = model_path
    arrays, meta = load_model(path)
    assert set(modelfile.REQUIRED_KEYS) <= set(meta)
    assert meta["format_version"] == modelfile.FORMAT_VERSION and meta["lattice_kind"] == kind
    assert meta["model_parameters"] == sd_parameters
    layout = meta["network"]["layout"]
    assert layout[0] == meta["descriptor"]["n_features"] and layout[-1] == 1
    for k, (n_in, n_out) in enumerate(zip(layout[:-1], layout[1:])):
        for net in ("layers", "parallel_layers"):  # site energy and parallel-field networks
            assert arrays[f"{net}.{k}.weight"].shape == (n_out, n_in)
            assert arrays[f"{net}.{k}.bias"].shape == (n_out,)
    assert arrays["feature_std"].shape == (layout[0],)
    assert all(a.dtype == np.float64 for a in arrays.values())
    assert meta["content_hash"] == modelfile.content_hash(arrays, meta)


def test_readable_with_numpy_alone(model_path):
    """safetensors.numpy and the JSON header suffice; llgsim's reader does not import torch."""
    path = model_path[1]
    with safe_open(str(path), framework="np") as f:
        meta = json.loads(f.metadata()["llgsim"])
    assert set(load_file(str(path))) >= {"feature_mean", "layers.0.weight"}
    code = ("import sys; from llgsim.ml.modelfile import load_model; "
            "from llgsim.ml.pretrained import list_models; import llgsim.ml.descriptor; "
            f"a, m = load_model({str(path)!r}); list_models(); "
            "assert 'torch' not in sys.modules; print(m['content_hash'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == meta["content_hash"]


def test_modified_file_is_refused(model_path, tmp_path):
    arrays, meta = load_model(model_path[1])
    arrays["layers.0.bias"] = arrays["layers.0.bias"] + 1e-12
    bad = tmp_path / "modified.safetensors"
    save_file(arrays, str(bad), metadata={"llgsim": json.dumps(meta)})
    with pytest.raises(InputError, match="content hash") as excinfo:
        load_model(bad)
    _one_line_error(excinfo)


def test_wrong_lattice_kind_is_refused(model_path):
    kind, path = model_path
    other = "triangular" if kind == "square" else "square"
    with pytest.raises(InputError, match="lattice_kind") as excinfo:
        MLField(path, Lattice.from_kind(other, 10))
    _one_line_error(excinfo)


def test_other_descriptor_is_refused(model_path, tmp_path):
    """A file whose descriptor tables differ from what these settings build (another descriptor
    version) is refused even though the settings read fine."""
    kind, path = model_path
    arrays, meta = load_model(path)
    meta = {k: v for k, v in meta.items() if k != "content_hash"}
    meta["descriptor"] = {**meta["descriptor"], "fingerprint": "0" * 64}
    other = tmp_path / "other.safetensors"
    save_model(other, arrays, meta)
    with pytest.raises(InputError, match="descriptor") as excinfo:
        MLField(other, Lattice.from_kind(kind, 10))
    _one_line_error(excinfo)


def test_not_a_model_file_is_refused(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    plain = tmp_path / "plain.safetensors"
    save_file({"x": np.zeros(3)}, str(plain))
    for path in (junk, plain, tmp_path / "missing.safetensors"):
        with pytest.raises(InputError, match="model file") as excinfo:
            load_model(path)
        _one_line_error(excinfo)
    with pytest.raises(InputError, match="metadata"):
        save_model(tmp_path / "incomplete.safetensors", {"x": np.zeros(3)}, {"lattice_kind": "x"})


#: the models docs/training_results.md documents, with their lattice kinds
SHIPPED = {"de-square": "square", "de-square-fixed-filling": "square",
           "de-square-canonical": "square",
           "sd-triangular": "triangular", "sd-triangular-fixed-filling": "triangular"}


def test_shipped_models(model_path, tmp_path, monkeypatch):
    """The documented models ship (docs/training_results.md; an empty pretrained folder
    fails here), each loads on its lattice kind with its descriptor fingerprint; list_models
    summarises every file in the pretrained folder; path_of names the choices;
    MLField.pretrained loads by name."""
    shipped = {s["name"]: s for s in pretrained.list_models()}
    assert set(SHIPPED) <= set(shipped) and set(SHIPPED) <= set(pretrained.names())
    for name, lattice_kind in SHIPPED.items():
        assert {"name", "lattice_kind", "content_hash"} <= set(shipped[name])
        assert shipped[name]["lattice_kind"] == lattice_kind
        mu_input = read_metadata(pretrained.path_of(name))["network"].get("mu_input")
        ml = MLField.pretrained(name, Lattice.from_kind(lattice_kind, 12),
                                mu=None if mu_input is None else mu_input["reference"])
        assert ml.describe()["content_hash"] == shipped[name]["content_hash"]
    kind, path = model_path
    (tmp_path / "demo.safetensors").write_bytes(path.read_bytes())
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    (summary,) = pretrained.list_models()
    assert summary["name"] == "demo" and summary["lattice_kind"] == kind
    with pytest.raises(InputError, match=r"\['demo'\]") as excinfo:
        pretrained.path_of("nonexistent")
    _one_line_error(excinfo)
    ml = MLField.pretrained("demo", Lattice.from_kind(kind, 10))
    assert ml.describe()["model"] == "demo"
    assert ml.describe()["content_hash"] == summary["content_hash"]
