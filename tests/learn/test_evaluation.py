"""Evaluation figures against explicit numpy loops; evaluate_model on a tiny dataset (the shipped
models against exact labels: tests/ml/test_shipped_accuracy.py)."""


import numpy as np
import pytest

from llgsim import Lattice
from llgsim.errors import InputError
from llgsim.fields.ml import MLField
from llgsim.learn.dataset import read_dataset
from llgsim.learn.generate import generate_dataset
from llgsim.learn.evaluation import evaluate_model, field_metrics, format_evaluation



def write_random_model(path, sd_parameters):
    """A random-weight square-lattice model file with the given s-d parameters."""
    from llgsim.ml.descriptor import Descriptor
    from llgsim.ml.network import BehlerParrinello

    model = BehlerParrinello(Descriptor(Lattice.square(10)), hidden=(8,), seed=2)
    model.save(path, sd_parameters, training_data_hash="0" * 64, metrics={})
    return path

TOL_EXACT = 1e-12  # same numbers, different summation order

DATA = """
[lattice]
kind = "square"
Lx = 10

[model]
J = {J}
filling = 0.485

[output]
path = "{out}"

[[random]]
seed = 1
count = 2
"""


def test_field_metrics_match_loops():
    rng = np.random.default_rng(1)
    s = rng.normal(size=(2, 5, 3))
    s /= np.linalg.norm(s, axis=-1, keepdims=True)
    ref, pred = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 5, 3))
    err2, perr2, pref2, cross = [], [], [], []
    for k in range(2):
        for i in range(5):
            d = pred[k, i] - ref[k, i]
            err2.append(d @ d)
            pd = d - (d @ s[k, i]) * s[k, i]
            pr = ref[k, i] - (ref[k, i] @ s[k, i]) * s[k, i]
            perr2.append(pd @ pd)
            pref2.append(pr @ pr)
            cross.append((pred[k, i] - (pred[k, i] @ s[k, i]) * s[k, i]) @ pr)
    m = field_metrics(s, ref, pred, np.array([1.0, 2.0]), np.array([1.5, 1.0]))
    assert abs(m["rmse_field"] - np.sqrt(np.mean(err2))) < TOL_EXACT
    assert abs(m["rmse_perp"] - np.sqrt(np.mean(perr2))) < TOL_EXACT
    assert abs(m["rms_perp"] - np.sqrt(np.mean(pref2))) < TOL_EXACT
    assert abs(m["ratio_perp"] - np.sqrt(np.mean(perr2) / np.mean(pref2))) < TOL_EXACT
    assert abs(m["gain_perp"] - np.sum(cross) / np.sum(pref2)) < TOL_EXACT
    assert abs(m["rmse_energy_per_site"] - np.sqrt((0.25 + 1.0) / 2) / 5) < TOL_EXACT


def test_gain_is_the_slope_of_a_scaled_prediction():
    # a prediction 0.7 H_ED,perp plus noise along S (no perpendicular part) and a field
    # orthogonal in 3-space to H_ED,perp at each site: the slope is exactly 0.7
    rng = np.random.default_rng(2)
    s = rng.normal(size=(1, 50, 3))
    s /= np.linalg.norm(s, axis=-1, keepdims=True)
    ref = rng.normal(size=(1, 50, 3))
    perp = ref - np.sum(ref * s, -1, keepdims=True) * s
    orth = np.cross(s, perp)  # perpendicular to S and to H_ED,perp
    pred = 0.7 * perp + rng.normal(size=(1, 50, 1)) * s + rng.normal(size=(1, 50, 1)) * orth
    assert abs(field_metrics(s, ref, pred)["gain_perp"] - 0.7) < TOL_EXACT


def test_evaluate_model_on_a_dataset(tmp_path, sd_parameters):
    cfg = tmp_path / "data.toml"
    cfg.write_text(DATA.format(J=6.0, out=tmp_path / "data.h5"))
    generate_dataset(cfg, progress=lambda line: None)
    model = write_random_model(tmp_path / "m.safetensors", sd_parameters)
    result = evaluate_model(model, tmp_path / "data.h5", tmp_path / "parity.png")
    snaps = read_dataset(tmp_path / "data.h5")
    provider = MLField(model, Lattice.square(10))
    pred = np.stack([provider.energy_and_field(s)[1] for s in snaps.spins])
    expected = np.sqrt(np.mean(np.sum((pred - snaps.field) ** 2, -1)))
    assert abs(result["rmse_field"] - expected) < TOL_EXACT * expected
    assert result["by_kind"]["random"]["n_snapshots"] == 2
    assert (tmp_path / "parity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ratio" in format_evaluation(result)


def test_evaluate_refuses_other_model_parameters(tmp_path, sd_parameters):
    cfg = tmp_path / "data.toml"
    cfg.write_text(DATA.format(J=5.0, out=tmp_path / "data.h5"))
    generate_dataset(cfg, progress=lambda line: None)
    model = write_random_model(tmp_path / "m.safetensors", sd_parameters)
    with pytest.raises(InputError, match="dataset"):
        evaluate_model(model, tmp_path / "data.h5")
