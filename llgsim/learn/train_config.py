"""The training config of ``llgsim train`` (docs/training.md): [data], [network] (with an optional
[network.descriptor]), [loss], [optimizer] and [output] tables."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..errors import InputError
from ..run.tables import (NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Table,
                          parse_toml)


class TrainData(Table):
    paths: Annotated[list[str], Field(min_length=1)]
    validation_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.15
    split_seed: NonNegativeInt = 0
    train_snapshots: PositiveInt | None = None  # a learning-curve point: this many for training


class DescriptorTable(Table):
    n_shells: PositiveInt
    n_pair_shells: NonNegativeInt
    eps: PositiveFloat = 0.1
    n_bond_shells: NonNegativeInt = 0


class MuInputTable(Table):
    """The chemical potential as a network input (llgsim.ml.network): (mu - reference) / scale."""

    reference: float
    scale: PositiveFloat


class NetworkTable(Table):
    hidden: Annotated[list[PositiveInt], Field(min_length=1)] = [64, 64]
    activation: Literal["silu", "tanh"] = "silu"
    seed: NonNegativeInt = 0
    descriptor: DescriptorTable | None = None  # default: DescriptorSettings.default(kind)
    mu_input: MuInputTable | None = None
    # a model file to start from (same layout and descriptor; no mu input, the mu weights then
    # at zero, or the same mu input): its weights and normalisation
    init: str | None = None


class LossTable(Table):
    w_field: NonNegativeFloat = 1.0
    w_torque: NonNegativeFloat = 1.0
    w_energy: NonNegativeFloat = 0.0
    w_density: NonNegativeFloat = 0.0  # site densities, models with a mu input only


class OptimizerTable(Table):
    lr: PositiveFloat = 1e-3
    batch_snapshots: PositiveInt = 4
    max_epochs: PositiveInt = 200
    patience: PositiveInt = 20
    lr_factor: Annotated[float, Field(gt=0, lt=1)] = 0.5
    lr_patience: PositiveInt = 6
    min_lr: PositiveFloat = 1e-5
    threads: PositiveInt = 1
    seed: NonNegativeInt = 0
    dtype: Literal["float32", "float64"] = "float32"  # working precision; files are float64


class TrainOutput(Table):
    model: str
    checkpoint: str


class TrainConfig(Table):
    data: TrainData
    network: NetworkTable = NetworkTable()
    loss: LossTable = LossTable()
    optimizer: OptimizerTable = OptimizerTable()
    output: TrainOutput


def parse_train_config(text: str, overrides: dict | None = None) -> TrainConfig:
    """Validate the TOML text of a training config (``overrides``: dotted key path -> value,
    as for run configs); errors are one-line InputErrors."""
    cfg = parse_toml(text, TrainConfig, overrides)
    if cfg.loss.w_field == cfg.loss.w_torque == cfg.loss.w_energy == cfg.loss.w_density == 0:
        raise InputError("loss", "all weights 0", "at least one positive weight")
    if cfg.loss.w_density > 0 and cfg.network.mu_input is None:
        raise InputError("loss.w_density", cfg.loss.w_density, "0 without [network.mu_input]")
    return cfg
