"""Training: loss definition against numpy, split, early stopping, checkpoint resume, model file."""

import numpy as np
import pytest
import torch

from llgsim import Lattice
from llgsim.ml.descriptor import Descriptor
from llgsim.errors import InputError
from llgsim.learn.dataset import dataset_hash
from llgsim.learn.generate import generate_dataset
from llgsim.ml.modelfile import read_metadata
from llgsim.ml.network import BehlerParrinello
from llgsim.learn.features import energy_and_field_for_training
from llgsim.learn.train_config import LossTable, parse_train_config
from llgsim.learn.training import (MIN_FEATURE_STD, _feature_statistics, keep_training,
                                   snapshot_loss, split_snapshots, train_model)
from llgsim.states import random_spins

TOL_EXACT = 1e-12  # same float64 arithmetic in torch and numpy, different summation order

DATA = """
[lattice]
kind = "square"
Lx = 6

[model]
J = 6.0
filling = 0.485

[output]
path = "{out}"

[[random]]
seed = 1
count = 6
"""
TRAIN = """
[data]
paths = ["{data}"]
validation_fraction = 0.34

[network]
hidden = [8]
seed = 1

[loss]
w_field = 1.0
w_torque = 3.0
w_energy = 0.5

[optimizer]
lr = 0.01
batch_snapshots = 2
max_epochs = {epochs}
patience = 50
dtype = "float64"

[output]
model = "{model}"
checkpoint = "{checkpoint}"
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("data")
    cfg = tmp / "data.toml"
    cfg.write_text(DATA.format(out=tmp / "data.h5"))
    generate_dataset(cfg, progress=lambda line: None)
    return tmp / "data.h5"


def write_train_config(tmp_path, dataset, epochs):
    path = tmp_path / f"train{epochs}.toml"
    path.write_text(TRAIN.format(data=dataset, epochs=epochs, model=tmp_path / "m.safetensors",
                                 checkpoint=tmp_path / "ck.pt"))
    return path


def test_training_field_and_its_parameter_gradient_equal_double_autograd():
    """The vector-Jacobian field against reverse mode through the whole network twice (unit
    spins, as in datasets; the derivative through the normalisation and the parallel head
    both enter)."""
    lat = Lattice.triangular(8)
    model = BehlerParrinello(Descriptor(lat), hidden=(8,), seed=3)
    spins = torch.from_numpy(random_spins(lat, 4))
    energy, field, _ = energy_and_field_for_training(model, spins, create_graph=True)
    (field * field).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    s = spins.clone().requires_grad_(True)
    out = model.site_outputs(s)
    e_ref = out[:, 0].sum()
    (g,) = torch.autograd.grad(e_ref - (out[:, 1] * (torch.linalg.vector_norm(s, dim=-1) - 1)).sum(),
                               s, create_graph=True)
    (g * g).sum().backward()
    assert abs(energy.item() - e_ref.item()) < TOL_EXACT * abs(e_ref.item())
    np.testing.assert_allclose(field.detach().numpy(), -g.detach().numpy(), atol=TOL_EXACT)
    for got, p in zip(grads, model.parameters()):
        np.testing.assert_allclose(got.numpy(), p.grad.numpy(), rtol=1e-9, atol=TOL_EXACT)


def test_loss_matches_a_numpy_computation():
    lat = Lattice.square(6)
    descriptor = Descriptor(lat)
    model = BehlerParrinello(descriptor, hidden=(8,), seed=3)
    rng = np.random.default_rng(0)
    spins = random_spins(lat, 2)
    field_ref = rng.normal(size=(36, 3))
    energy_ref = -200.0
    w = LossTable(w_field=0.7, w_torque=2.0, w_energy=0.3)
    snapshot = {"spins": torch.from_numpy(spins),
                "field": torch.from_numpy(field_ref),
                "energy": torch.tensor(energy_ref, dtype=torch.float64)}
    loss, parts = snapshot_loss(model, snapshot, w, False)
    energy, field = model.energy_and_field(torch.from_numpy(spins))
    diff = field.numpy() - field_ref
    torque = np.cross(spins, diff)
    de = (float(energy) - energy_ref) / 36
    expected = (0.7 * np.mean(np.sum(diff ** 2, 1)) + 2.0 * np.mean(np.sum(torque ** 2, 1))
                + 0.3 * de ** 2)
    assert abs(loss.item() - expected) < TOL_EXACT * expected
    assert abs(parts["energy"] - de) < TOL_EXACT * abs(de)


def test_streamed_feature_statistics_equal_those_of_the_stacked_features():
    """Mean and (sample) standard deviation accumulated snapshot by snapshot against numpy on
    the stacked descriptor rows; the floor MIN_FEATURE_STD applies to constant features."""
    lat = Lattice.square(6)
    descriptor = Descriptor(lat)
    spins = [torch.from_numpy(random_spins(lat, seed)) for seed in (1, 2, 3)]
    stacked = np.concatenate([descriptor(s).numpy() for s in spins])
    mean, std = _feature_statistics(descriptor, spins)
    np.testing.assert_allclose(mean, stacked.mean(0), atol=TOL_EXACT)
    # sum-of-squares form: cancellation costs ~1e-16 x mean^2 / var relative, < 1e-10 here
    np.testing.assert_allclose(std, np.maximum(stacked.std(0, ddof=1), MIN_FEATURE_STD),
                               rtol=1e-10, atol=TOL_EXACT)


def test_split_is_by_snapshot_and_seeded():
    train, val = split_snapshots(20, 0.25, seed=4)
    assert len(val) == 5 and len(train) == 15
    assert sorted(np.concatenate([train, val])) == list(range(20))
    np.testing.assert_array_equal(split_snapshots(20, 0.25, seed=4)[1], val)
    with pytest.raises(InputError):
        split_snapshots(1, 0.5, seed=0)
    small, val_small = split_snapshots(20, 0.25, seed=4, n_train=6)
    np.testing.assert_array_equal(val_small, val)  # learning-curve points share the validation
    assert len(small) == 6 and set(small) <= set(train)
    with pytest.raises(InputError, match="train_snapshots"):
        split_snapshots(20, 0.25, seed=4, n_train=16)


def test_early_stopping_rule():
    assert keep_training(epoch=5, best_epoch=3, patience=3, max_epochs=10)
    assert not keep_training(epoch=6, best_epoch=3, patience=3, max_epochs=10)
    assert not keep_training(epoch=10, best_epoch=10, patience=3, max_epochs=10)


def test_train_writes_model_and_resumes(tmp_path, dataset):
    lines = []
    first = train_model(write_train_config(tmp_path, dataset, 2), progress=lines.append)
    assert first["metrics"]["epochs"] == 2 and first["metrics"]["n_validation"] == 2
    lines.clear()
    second = train_model(write_train_config(tmp_path, dataset, 4), progress=lines.append)
    resumed = [line for line in lines if line.startswith("resumed")]
    assert len(resumed) == 1 and "epoch 2" in resumed[0]
    assert second["metrics"]["epochs"] == 4
    meta = read_metadata(second["model"])
    assert meta["training_data_hash"] == dataset_hash(dataset)
    assert meta["model_parameters"] == {"hopping": [1.0], "J": 6.0, "filling": 0.485, "kT": 0.0}
    assert meta["metrics"]["validation"]["rmse_field"] > 0
    epoch_lines = [line for line in lines if line.startswith("epoch")]
    assert len(epoch_lines) == 2  # epochs 3 and 4 only


def test_bad_train_config_names_the_key():
    with pytest.raises(InputError, match="optimizer.lr"):
        parse_train_config(TRAIN.format(data="d.h5", epochs=1, model="m", checkpoint="c")
                           .replace("lr = 0.01", "lr = -1.0"))
    with pytest.raises(InputError, match="loss"):
        parse_train_config(TRAIN.format(data="d.h5", epochs=1, model="m", checkpoint="c")
                           .replace("w_field = 1.0", "w_field = 0.0")
                           .replace("w_torque = 3.0", "w_torque = 0.0")
                           .replace("w_energy = 0.5", "w_energy = 0.0"))
