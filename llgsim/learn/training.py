"""Training of the Behler-Parrinello force field on ED-labelled snapshots (torch, CPU).

Loss over a batch of snapshots (docs/physics.md, section 3.3), with Delta H_i = H_pred,i - H_ref,i:

    L = w_field  mean_i |Delta H_i|^2
      + w_torque mean_i |S_i x Delta H_i|^2
      + w_energy mean_s ((E_pred,s - E_ref,s) / N)^2
      + w_density mean_i (n_pred,i - n_ref,i)^2

means over all sites (and snapshots) of the batch, |.| the Euclidean norm of the 3-vector.
S_i x Delta H_i is the error of the perpendicular field, the only part that drives the
dynamics (|S_i x v| = |v - (v . S_i) S_i| for unit S_i); in DE it is ~1 % of |H_i|, hence its
own weight. The density term is that of a model with a chemical-potential input, trained on
labels at many mu (a mu scan): n_pred,i = -d omega_i / d mu (llgsim.ml.network). The
predicted field is the field -dE/dS_i of the network (llgsim.ml.network), a
vector-Jacobian product of the descriptor recomputed at every step
(:func:`llgsim.learn.features.energy_and_field_for_training`): nothing per site is stored but
the spins and labels, so the cutoff and the data are bounded by time, not memory.

Training: Adam, a validation split by snapshot, learning rate reduced by ``lr_factor`` after
``lr_patience`` epochs without improvement of the validation loss, early stopping after
``patience`` such epochs, the best weights (validation loss) written to the model file. A
checkpoint after every epoch makes an interrupted training resume where it stopped.
J. Behler and M. Parrinello, PRL 98, 146401 (2007); REV25 (arXiv:2501.06171).
"""

from __future__ import annotations

import hashlib
import json
import time as wallclock
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError
from .dataset import Snapshots, dataset_hash, read_dataset
from .features import energy_and_field_for_training
from .train_config import LossTable, TrainConfig, parse_train_config

#: Feature standard deviations are floored here: a feature (almost) constant on the training
#: data must not be amplified on configurations where it varies.
MIN_FEATURE_STD = 1e-3


# ---------------------------------------------------------------------- data

def load_snapshots(paths) -> tuple[Snapshots, str]:
    """Concatenate the datasets at ``paths`` (same lattice and model up to the chemical
    potentials labelled: every row carries its own mu, and the joined model's ``mu`` lists them
    all, a number when there is one); return them and the training-data hash (sha256 of the
    datasets' hashes joined, in the given order)."""
    parts = [read_dataset(p) for p in paths]
    other = lambda model: {k: v for k, v in model.items() if k != "mu"}  # noqa: E731
    for p, s in zip(paths[1:], parts[1:]):
        if other(s.model) != other(parts[0].model):
            raise InputError("data.paths", str(p), f"a dataset of the same model and lattice as "
                             f"{paths[0]} ({parts[0].model})")
    model = dict(parts[0].model)
    if "mu" in model:
        mus = sorted({float(m) for s in parts for m in np.atleast_1d(s.model["mu"])})
        model["mu"] = mus if len(mus) > 1 or isinstance(model["mu"], list) else mus[0]
    joined = Snapshots(*(np.concatenate([getattr(s, n) for s in parts])
                         for n in ("spins", "energy", "field", "density", "mu")),
                       {k: np.concatenate([s.records[k] for s in parts]) for k in parts[0].records},
                       model, parts[0].lattice)
    hashes = [dataset_hash(p) for p in paths]
    digest = hashes[0] if len(hashes) == 1 else hashlib.sha256(
        "\n".join(hashes).encode()).hexdigest()
    return joined, digest


def split_snapshots(n: int, fraction: float, seed: int, n_train: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) snapshot indices: a seeded permutation, round(fraction n) (at least
    one) snapshots for validation, the next ``n_train`` (default: all the rest) for training,
    both sorted. The validation set does not depend on ``n_train``, so the points of a learning
    curve share it, and a smaller training set is part of every larger one."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(fraction * n)))
    if n_val >= n:
        raise InputError("data", f"{n} snapshots", "at least 2 snapshots to split off validation")
    if n_train is not None and n_train > n - n_val:
        raise InputError("data.train_snapshots", str(n_train),
                         f"at most the {n - n_val} snapshots left after validation")
    stop = n if n_train is None else n_val + n_train
    return np.sort(order[n_val:stop]), np.sort(order[:n_val])


# ---------------------------------------------------------------------- loss

def field_errors(spins, field_pred, field_ref) -> dict:
    """Squared-error sums of one snapshot (torch tensors (N, 3)): {"field": sum_i |dH_i|^2,
    "torque": sum_i |S_i x dH_i|^2}, dH = field_pred - field_ref."""
    import torch

    diff = field_pred - field_ref
    return {"field": (diff * diff).sum(),
            "torque": torch.linalg.cross(spins, diff).pow(2).sum()}


def snapshot_loss(model, snapshot: dict, weights: LossTable, create_graph: bool):
    """(loss, parts) of one snapshot: the module-docstring loss with means over its N sites.

    snapshot : dict of torch tensors "spins" (N, 3), "field" (N, 3), "energy" (), "density"
               (N,) and the float "mu" of its labels.
    parts    : the float squared-error sums (field, torque, density: 0 without a mu input) and
               the energy error per site.
    """
    mu = None if model.mu_input is None else snapshot["mu"]
    energy, field, density = energy_and_field_for_training(model, snapshot["spins"],
                                                           create_graph, mu)
    n = len(field)
    err = field_errors(snapshot["spins"], field, snapshot["field"])
    de = (energy - snapshot["energy"]) / n
    loss = (weights.w_field * err["field"] + weights.w_torque * err["torque"]) / n \
        + weights.w_energy * de * de
    dn = 0.0
    if density is not None:
        dn = (density - snapshot["density"]).pow(2).sum()
        loss = loss + weights.w_density * dn / n
        dn = dn.item()
    parts = {"field": err["field"].item(), "torque": err["torque"].item(), "energy": de.item(),
             "density": dn}
    return loss, parts


def _evaluate(model, snapshots, weights) -> dict:
    """Validation figures over a list of snapshots: loss, field RMSE, perpendicular-field RMSE
    (per-site vector norms), energy RMSE per site and, for a model with a mu input, the site
    density RMSE."""
    sums = {"loss": 0.0, "field": 0.0, "torque": 0.0, "energy": 0.0, "density": 0.0}
    for snap in snapshots:
        loss, parts = snapshot_loss(model, snap, weights, create_graph=False)
        sums["loss"] += loss.item()
        sums["field"] += parts["field"]
        sums["torque"] += parts["torque"]
        sums["energy"] += parts["energy"] ** 2
        sums["density"] += parts["density"]
    n_sites = len(snapshots[0]["spins"])
    m = len(snapshots)
    out = {"loss": sums["loss"] / m, "rmse_field": float(np.sqrt(sums["field"] / (m * n_sites))),
           "rmse_perp": float(np.sqrt(sums["torque"] / (m * n_sites))),
           "rmse_energy_per_site": float(np.sqrt(sums["energy"] / m))}
    if model.mu_input is not None:
        out["rmse_density"] = float(np.sqrt(sums["density"] / (m * n_sites)))
    return out


# ---------------------------------------------------------------------- training

def _feature_statistics(descriptor, spins) -> tuple[np.ndarray, np.ndarray]:
    """Mean and floored standard deviation (F,) float64 of the descriptor over all sites of the
    snapshots ``spins`` (an iterable of torch (N, 3)), accumulated one snapshot at a time in
    float64 (the stacked features of a large training set would not fit in memory)."""
    import torch

    count, total, squares = 0, 0.0, 0.0
    with torch.no_grad():
        for s in spins:
            g = descriptor(s).double()
            count, total, squares = count + len(g), total + g.sum(0), squares + (g * g).sum(0)
    mean = total / count
    var = (squares - count * mean * mean).clamp_min(0.0) / (count - 1)
    return mean.numpy(), var.sqrt().clamp_min(MIN_FEATURE_STD).numpy()


def _start_from(model, path, lattice, dtype) -> None:
    """Copy the weights and normalisation of the model file ``path`` (same descriptor and
    layout; no mu input, or the same one as ``model``) into ``model``; from a plain file the
    mu weights stay zero."""
    from ..ml.network import BehlerParrinello

    if not Path(path).is_file():
        raise InputError("network.init", str(path), "an existing model file")
    start, _ = BehlerParrinello.load(path, lattice)
    if start.layout != model.layout or start.mu_input not in (None, model.mu_input) \
            or start.descriptor.settings != model.descriptor.settings:
        raise InputError("network.init", str(path), f"a model of layout {model.layout}, the "
                         f"same descriptor and no mu input or {model.mu_input}")
    missing, unexpected = model.load_state_dict(start.to(dtype).state_dict(), strict=False)
    assert not unexpected and all("mu_weight" in k for k in missing)


def keep_training(epoch: int, best_epoch: int, patience: int, max_epochs: int) -> bool:
    """Early-stopping rule: go on while fewer than ``max_epochs`` epochs are done and the best
    validation loss is less than ``patience`` epochs old."""
    return epoch < max_epochs and epoch - best_epoch < patience


def _config_hash(cfg: TrainConfig, data_hash: str) -> str:
    """What a checkpoint must match to be resumed: the config (less output paths and
    max_epochs) and the training data."""
    d = cfg.model_dump()
    d.pop("output")
    d["optimizer"].pop("max_epochs")
    return hashlib.sha256((json.dumps(d, sort_keys=True) + data_hash).encode()).hexdigest()


def train_model(config_path, progress: Callable[[str], None] = print,
                overrides: dict | None = None) -> dict:
    """Train the model of the training config at ``config_path`` (with ``overrides``: dotted
    key path -> value, e.g. {"data.train_snapshots": 100}); write the model file.

    progress : called with one line per epoch (losses, validation RMSEs, learning rate, time).
    Returns {"model", "content_hash", "metrics"}; metrics (also in the model file) hold the
    validation figures of the best epoch, the split sizes, epochs and training seconds.
    Resumes from ``output.checkpoint`` when it belongs to the same config and data.
    """
    import torch

    from ..ml.descriptor import Descriptor, DescriptorSettings
    from ..lattice import Lattice
    from ..ml.network import BehlerParrinello

    cfg = parse_train_config(Path(config_path).read_text(), overrides)
    opt = cfg.optimizer
    torch.set_num_threads(opt.threads)
    snaps, data_hash = load_snapshots(cfg.data.paths)
    train_idx, val_idx = split_snapshots(len(snaps), cfg.data.validation_fraction,
                                         cfg.data.split_seed, cfg.data.train_snapshots)
    lat = snaps.lattice
    lattice = Lattice.from_kind(lat["kind"], lat["Lx"], lat["Ly"])
    settings = (DescriptorSettings.default(lattice.kind) if cfg.network.descriptor is None
                else DescriptorSettings(**cfg.network.descriptor.model_dump()))
    descriptor = Descriptor(lattice, settings)
    dtype = getattr(torch, opt.dtype)
    mu_input = None if cfg.network.mu_input is None else cfg.network.mu_input.model_dump()
    if mu_input is None and isinstance(snaps.model.get("mu"), list):
        raise InputError("network.mu_input", None, "a [network.mu_input] table: the data are "
                         "a mu scan, labels at more than one chemical potential")
    model = BehlerParrinello(descriptor, tuple(cfg.network.hidden), cfg.network.activation,
                             seed=cfg.network.seed, mu_input=mu_input).to(dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=opt.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=opt.lr_factor, patience=opt.lr_patience, min_lr=opt.min_lr)
    state = {"epoch": 0, "best_loss": float("inf"), "best_epoch": 0, "best_state": None,
             "history": [], "seconds": 0.0}
    ck_path = Path(cfg.output.checkpoint)
    key = _config_hash(cfg, data_hash)
    resumed = False
    if ck_path.exists():
        ck = torch.load(ck_path, weights_only=False)
        if ck["key"] == key:
            model.load_state_dict(ck["model"])
            optimizer.load_state_dict(ck["optimizer"])
            scheduler.load_state_dict(ck["scheduler"])
            state, resumed = ck["state"], True
            progress(f"resumed from {ck_path} at epoch {state['epoch']}")
        else:
            progress(f"checkpoint {ck_path} belongs to another config or data: starting anew")
    snapshots = [{"spins": torch.from_numpy(snaps.spins[k]).to(dtype),
                  "field": torch.from_numpy(snaps.field[k]).to(dtype),
                  "energy": torch.tensor(snaps.energy[k], dtype=dtype),
                  "density": torch.from_numpy(snaps.density[k]).to(dtype),
                  "mu": float(snaps.mu[k])}
                 for k in range(len(snaps))]
    if not resumed and cfg.network.init is not None:
        _start_from(model, cfg.network.init, lattice, dtype)
        progress(f"weights and normalisation from {cfg.network.init}")
    elif not resumed:
        mean, std = _feature_statistics(descriptor, (snapshots[k]["spins"] for k in train_idx))
        parallel = (snaps.spins[train_idx] * snaps.field[train_idx]).sum(-1).mean()
        with torch.no_grad():  # normalisation; mean energy per site and parallel field as offsets
            model.feature_mean.copy_(torch.from_numpy(mean))
            model.feature_std.copy_(torch.from_numpy(std))
            model.mlp[-1].bias.fill_(float(snaps.energy[train_idx].mean() / lattice.n_sites))
            model.parallel_mlp[-1].bias.fill_(float(parallel))
    progress(f"{len(train_idx)} training / {len(val_idx)} validation snapshots of "
             f"{lattice.kind} {lattice.Lx}x{lattice.Ly}, {descriptor.n_features} features, "
             f"layout {model.layout}")
    rng = np.random.default_rng((opt.seed, state["epoch"]))
    while keep_training(state["epoch"], state["best_epoch"], opt.patience, opt.max_epochs):
        t0 = wallclock.time()
        model.train()
        order = rng.permutation(train_idx)
        train_loss = 0.0
        for start in range(0, len(order), opt.batch_snapshots):
            batch = order[start:start + opt.batch_snapshots]
            optimizer.zero_grad()
            for k in batch:
                loss, _ = snapshot_loss(model, snapshots[k], cfg.loss, create_graph=True)
                (loss / len(batch)).backward()
                train_loss += loss.item()
            optimizer.step()
        val = _evaluate(model, [snapshots[k] for k in val_idx], cfg.loss)
        scheduler.step(val["loss"])
        state["epoch"] += 1
        state["seconds"] += wallclock.time() - t0
        lr = optimizer.param_groups[0]["lr"]
        state["history"].append({"epoch": state["epoch"], "train_loss": train_loss / len(order),
                                 **{f"val_{k}": v for k, v in val.items()}, "lr": lr})
        if val["loss"] < state["best_loss"]:
            state.update(best_loss=val["loss"], best_epoch=state["epoch"], best_val=val,
                         best_state={k: v.clone() for k, v in model.state_dict().items()})
        progress(f"epoch {state['epoch']:4d}  train {train_loss / len(order):.3e}  "
                 f"val {val['loss']:.3e}  rmse H {val['rmse_field']:.2e}  "
                 f"H_perp {val['rmse_perp']:.2e}  E/N {val['rmse_energy_per_site']:.1e}  "
                 + (f"n {val['rmse_density']:.1e}  " if "rmse_density" in val else "") +
                 f"lr {lr:.1e}  {wallclock.time() - t0:.1f} s")
        ck_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"key": key, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "state": state}, ck_path)
        rng = np.random.default_rng((opt.seed, state["epoch"]))
    model.load_state_dict(state["best_state"])
    model.to(torch.float64)
    metrics = {"validation": state["best_val"], "best_epoch": state["best_epoch"],
               "epochs": state["epoch"], "train_seconds": round(state["seconds"], 1),
               "n_train": int(len(train_idx)), "n_validation": int(len(val_idx)),
               "training_lattice": lat, "loss_weights": cfg.loss.model_dump()}
    params = {k: v for k, v in snaps.model.items() if k != "lattice"}
    out = Path(cfg.output.model)
    out.parent.mkdir(parents=True, exist_ok=True)
    content = model.save(out, params, data_hash, metrics)
    progress(f"wrote {out} (best epoch {state['best_epoch']}: validation rmse H "
             f"{state['best_val']['rmse_field']:.3e}, H_perp {state['best_val']['rmse_perp']:.3e})")
    return {"model": str(out), "content_hash": content, "metrics": metrics}
