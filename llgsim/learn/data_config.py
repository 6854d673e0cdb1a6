"""The data config of ``llgsim generate``: what to label, with which solver, into which file.

Tables (docs/training.md): [lattice] and [model] (llgsim.run.tables), [solver] (an electron
solver of the provider registry: ``kind = "ed"``, the default, or ``kind = "kpm"`` with the keys
of a run config's KPM provider), [output] (``path`` of the dataset), an optional [cluster]
(llgsim.cluster: label on Dask workers; absent: in this process) and at least one snapshot
source, arrays of tables:

* ``[[random]]``: ``count`` configurations uniform on the sphere, snapshot k from the seed
  sequence (seed, k);
* ``[[quench]]``: a solver-driven SIB quench from random spins (seed) at bath temperature kT,
  labelling the start configuration of every ``interval``-th step (the first field evaluation
  of a step, so the labels cost nothing beyond the dynamics). Its noise is keyed by (seed,
  step), so a quench resumes exactly from its last stored snapshot;
* ``[[frames]]``: frames ``start:stop:stride`` of an llgsim run file (e.g. of an ML-driven run,
  for active learning);
* ``[[perturbed]]``: ``count`` ordered states (llgsim.states, randomly rotated) with up to
  ``droplets`` discs of a second ordered state (rotated, random sign) cut in, then Gaussian
  noise of a random width in ``noise`` on every spin: stand-ins for the late stages of a quench
  (ordered domains, ferromagnetic clusters in an antiferromagnet);
* ``[[snapshots]]``: rows ``start:stop:stride`` of an llgsim dataset (its spins, relabelled).

A top-level ``mu_scan = [mu_1, ...]`` labels every snapshot at each of these chemical
potentials (one row per mu) from one diagonalization: the labels of a model with a mu input
(docs/physics.md 1.3). It needs the ED solver, a [model] at fixed mu (whose mu it replaces)
and no [[quench]] (a quench runs at one mu; label its frames instead).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from ..errors import InputError
from ..run.providers import EDTable, validate_provider
from ..run.tables import (LatticeTable, ModelTable, NonNegativeFloat, NonNegativeInt,
                          PositiveFloat, PositiveInt, Table, apply_overrides, load_toml, validate)


class RandomSource(Table):
    seed: NonNegativeInt
    count: PositiveInt


class QuenchSource(Table):
    """Solver-driven SIB quench from random spins ``seed``: ``steps`` steps of ``dt`` (hbar / t_1)
    at damping ``alpha`` and bath temperature ``kT``; label every ``interval``-th step."""

    seed: NonNegativeInt
    kT: NonNegativeFloat = 0.0
    alpha: NonNegativeFloat = 0.5
    dt: PositiveFloat = 0.01
    steps: PositiveInt
    interval: PositiveInt


class FrameSource(Table):
    """Frames ``start:stop:stride`` (Python slice) of an llgsim run file."""

    path: str
    start: int = 0
    stop: int | None = None
    stride: PositiveInt = 1


class PerturbedSource(Table):
    """Ordered ``state`` + droplets of ``droplet_state`` + noise; snapshot k from the seed
    sequence (seed, k). noise: [min, max] width of the Gaussian added to each spin component
    before normalising; droplets: at most this many discs, radius in [min, max] (lattice
    constants)."""

    state: str
    droplet_state: str = "ferromagnetic"
    seed: NonNegativeInt
    count: PositiveInt
    noise: Annotated[list[NonNegativeFloat], Field(min_length=2, max_length=2)] = [0.0, 0.5]
    droplets: NonNegativeInt = 0
    radius: Annotated[list[PositiveFloat], Field(min_length=2, max_length=2)] = [1.5, 4.0]


class SnapshotSource(Table):
    """Rows ``start:stop:stride`` (Python slice) of an llgsim dataset (llgsim.learn.dataset)."""

    path: str
    start: int = 0
    stop: int | None = None
    stride: PositiveInt = 1


class DataOutput(Table):
    path: str


class DataConfig(Table):
    lattice: LatticeTable
    model: ModelTable
    output: DataOutput
    solver: Any = EDTable(kind="ed")  # an electron solver table of the provider registry
    random: list[RandomSource] = []
    quench: list[QuenchSource] = []
    frames: list[FrameSource] = []
    perturbed: list[PerturbedSource] = []
    snapshots: list[SnapshotSource] = []
    mu_scan: list[float] = []
    cluster: Any = None  # a [cluster] table (llgsim.cluster); None: label in this process


def parse_data_config(text: str, overrides: dict | None = None) -> DataConfig:
    """Validate the TOML text of a data config (``overrides``: dotted key path -> value);
    errors are one-line InputErrors."""
    data = load_toml(text)
    apply_overrides(data, overrides or {})
    solver, cluster = data.pop("solver", None), data.pop("cluster", None)
    cfg = validate(DataConfig, data)
    if cluster is not None:
        from ..cluster import parse_cluster

        cfg = cfg.model_copy(update={"cluster": parse_cluster(cluster)})
    if solver is not None:
        cfg = cfg.model_copy(update={"solver": validate_provider(solver, "solver",
                                                                 electronic_only=True)})
    if not (cfg.random or cfg.quench or cfg.frames or cfg.perturbed or cfg.snapshots):
        raise InputError("sources", [], "at least one [[random]], [[quench]], [[frames]], "
                         "[[perturbed]] or [[snapshots]] table")
    if cfg.mu_scan:
        if cfg.solver.kind != "ed":
            raise InputError("mu_scan", cfg.mu_scan, "the ED solver ([solver] kind = \"ed\")")
        if cfg.model.mu is None:
            raise InputError("mu_scan", cfg.mu_scan, "a [model] at fixed mu, not filling")
        if cfg.quench:
            raise InputError("mu_scan", cfg.mu_scan, "no [[quench]] sources (label the "
                             "frames of a quench run instead)")
    from ..states import ORDERED_STATES

    for k, src in enumerate(cfg.perturbed):
        for name in ("state", "droplet_state"):
            if getattr(src, name) not in ORDERED_STATES:
                raise InputError(f"perturbed[{k}].{name}", getattr(src, name),
                                 f"one of {sorted(ORDERED_STATES)}")
    return cfg
