"""Training data for the ML force field: snapshots labelled by an electron solver, exact
diagonalization (ED, the default) or the kernel polynomial method (KPM) for lattices ED cannot do.

A dataset is one HDF5 file of S labelled snapshots on one lattice (physics.md section 3,
"Training data"; P. Zhang and G.-W. Chern, PRL 127, 146401 (2021), arXiv:2105.08221):

* ``spins``   (S, N, 3) float64, unit vectors;
* ``energy``  (S,) float64, total electronic energy (F at fixed filling, Omega at fixed mu);
* ``field``   (S, N, 3) float64, H_i = -dE/dS_i = J Tr(sigma rho_ii);
* ``density`` (S, N) float64, electrons per site;
* ``mu``      (S,) float64, chemical potential used;
* source records, one per snapshot: ``source/kind`` ("random", "quench" or "frame"),
  ``source/seed``, ``source/step``, ``source/time``, ``source/kT`` (bath temperature of a
  quench, NaN otherwise), ``source/file`` and ``source/frame`` (trajectory frames), and
  ``source/key``, a string that identifies the snapshot independently of its position;
* attributes ``lattice`` and ``model`` (JSON of Lattice.describe() / KondoModel.describe()),
  ``solver`` (JSON of the solver's describe() without the model; files written before the
  solver was recorded hold ED labels) and ``config`` (the TOML text of the latest generation
  run).

The solver is the ``[solver]`` table: ``kind = "ed"`` (default) or ``kind = "kpm"`` with the
``order``, ``colors``, ``kernel`` and ``seed`` of a run config's KPM provider. It labels every
snapshot and drives the quenches. Sources (a TOML data config, :class:`DataConfig`;
docs/training.md):

* ``[[random]]``: ``count`` configurations uniform on the sphere, snapshot k from the seed
  sequence (seed, k);
* ``[[quench]]``: a solver-driven SIB quench from random spins (seed) at bath temperature kT,
  labelling the start configuration of every ``interval``-th step. The first field evaluation
  of a SIB step is the start configuration, so the labels cost nothing beyond the dynamics.
  The noise of step n comes from the seed sequence (seed, n): a quench resumes exactly from its
  last stored snapshot;
* ``[[frames]]``: frames ``start:stop:stride`` of an llgsim trajectory file (e.g. of an
  ML-driven run, for active learning);
* ``[[perturbed]]``: ``count`` ordered states (llgsim.states, randomly rotated) with up to
  ``droplets`` discs of a second ordered state (rotated, random sign) cut in, then Gaussian
  noise of a random width in ``noise`` on every spin: stand-ins for the late stages of a quench
  (ordered domains, ferromagnetic clusters in an antiferromagnet), which the dynamics reaches
  only after times too long to run with ED.

Resumable: snapshots are appended one by one; a snapshot counts once its ``source/key`` is
written (last, after its arrays), and a rerun skips every key already present, so finished
snapshots are never recomputed or rewritten. Appending sources to the config and rerunning
extends the dataset.
"""

from __future__ import annotations

import hashlib
import json
import math
import time as wallclock
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Callable, Iterator, Union

import h5py
import numpy as np
from pydantic import Field

from ..run.schema import EDProvider, KPMProvider, LatticeConfig, ModelConfig, _Table, parse_toml
from ..errors import InputError

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]

ARRAYS = ("spins", "energy", "field", "density", "mu")
RECORDS = ("kind", "seed", "step", "time", "kT", "file", "frame")


# ---------------------------------------------------------------------- config

class RandomSource(_Table):
    seed: NonNegativeInt
    count: PositiveInt


class QuenchSource(_Table):
    """Solver-driven SIB quench from random spins ``seed``: ``steps`` steps of ``dt`` (hbar / t_1)
    at damping ``alpha`` and bath temperature ``kT``; label every ``interval``-th step."""

    seed: NonNegativeInt
    kT: NonNegativeFloat = 0.0
    alpha: NonNegativeFloat = 0.5
    dt: PositiveFloat = 0.01
    steps: PositiveInt
    interval: PositiveInt


class FrameSource(_Table):
    """Frames ``start:stop:stride`` (Python slice) of an llgsim trajectory file."""

    path: str
    start: int = 0
    stop: int | None = None
    stride: PositiveInt = 1


class PerturbedSource(_Table):
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


class DataOutput(_Table):
    path: str


class DataConfig(_Table):
    lattice: LatticeConfig
    model: ModelConfig
    output: DataOutput
    solver: Annotated[Union[EDProvider, KPMProvider], Field(discriminator="kind")] = \
        EDProvider(kind="ed")
    random: list[RandomSource] = []
    quench: list[QuenchSource] = []
    frames: list[FrameSource] = []
    perturbed: list[PerturbedSource] = []


def parse_data_config(text: str) -> DataConfig:
    """Validate the TOML text of a data config; errors are one-line InputErrors."""
    cfg = parse_toml(text, DataConfig)
    if (cfg.model.filling is None) == (cfg.model.mu is None):
        raise InputError("model.filling/mu", f"filling={cfg.model.filling}, mu={cfg.model.mu}",
                         "exactly one of filling and mu")
    if not (cfg.random or cfg.quench or cfg.frames or cfg.perturbed):
        raise InputError("sources", [], "at least one [[random]], [[quench]], [[frames]] or "
                         "[[perturbed]] table")
    from ..states import ORDERED_STATES

    for k, src in enumerate(cfg.perturbed):
        for name in ("state", "droplet_state"):
            if getattr(src, name) not in ORDERED_STATES:
                raise InputError(f"perturbed[{k}].{name}", getattr(src, name),
                                 f"one of {sorted(ORDERED_STATES)}")
    return cfg


def build_model(lattice: LatticeConfig, model: ModelConfig):
    """KondoModel of the [lattice] and [model] tables."""
    from ..lattice import Lattice
    from ..model import KondoModel

    lat = Lattice.from_kind(lattice.kind, lattice.Lx, lattice.Ly)
    return KondoModel(lat, hopping=tuple(model.hopping), J=model.J, filling=model.filling,
                      mu=model.mu, kT=model.kT)


def build_solver(cfg: DataConfig, model):
    """The electron solver of the [solver] table (ExactDiagonalization or KPM) for ``model``;
    constructor errors name the key, e.g. ``solver.colors``."""
    from ..run.schema import _named, _provider

    return _named("solver", lambda: _provider(cfg.solver, model.lattice, model))


def solver_description(solver) -> str:
    """JSON of ``solver.describe()`` without its model: the ``solver`` attribute of a dataset."""
    return json.dumps({k: v for k, v in solver.describe().items()
                       if k not in ("model", *solver.model.describe())}, sort_keys=True)


#: the ``solver`` attribute assumed for files written before it was recorded (all ED)
LEGACY_SOLVER = json.dumps({"name": "ed"})


# ---------------------------------------------------------------------- snapshot records

@dataclass(frozen=True)
class Record:
    """Where a snapshot comes from (one row of the ``source/*`` datasets)."""

    kind: str
    seed: int = -1
    step: int = -1
    time: float = math.nan
    kT: float = math.nan
    file: str = ""
    frame: int = -1

    @property
    def key(self) -> str:
        """Identity of the snapshot, independent of its row: kind, seed, step, kT, file, frame
        (and for quenches the integration parameters, appended by the caller)."""
        return (f"{self.kind} seed={self.seed} step={self.step} kT={self.kT!r} "
                f"file={self.file} frame={self.frame}")


def quench_key(source: QuenchSource, step: int) -> str:
    """Key of the quench snapshot at ``step``: every parameter of the trajectory and the step."""
    return (f"quench seed={source.seed} kT={source.kT!r} alpha={source.alpha!r} "
            f"dt={source.dt!r} step={step}")


def random_record_spins(lattice, seed: int, index: int) -> np.ndarray:
    """Random snapshot ``index`` of a [[random]] source: spins from the seed sequence (seed, index)."""
    from ..states import random_spins

    return random_spins(lattice, np.random.default_rng((seed, index)))


def perturbed_spins(lattice, src: PerturbedSource, index: int) -> np.ndarray:
    """Snapshot ``index`` of a [[perturbed]] source (see PerturbedSource), (N, 3) float64."""
    from scipy.spatial.transform import Rotation

    from ..states import ordered_state

    rng = np.random.default_rng((src.seed, index))
    spins = ordered_state(src.state, lattice) @ Rotation.random(random_state=rng).as_matrix().T
    pos = lattice.positions()
    for _ in range(int(rng.integers(0, src.droplets + 1))):
        centre = pos[rng.integers(lattice.n_sites)]
        d = lattice.minimum_image(pos - centre)
        inside = np.linalg.norm(d, axis=1) <= rng.uniform(*src.radius)
        droplet = ordered_state(src.droplet_state, lattice) @ Rotation.random(
            random_state=rng).as_matrix().T
        spins[inside] = rng.choice([-1.0, 1.0]) * droplet[inside]
    spins = spins + rng.uniform(*src.noise) * rng.standard_normal(spins.shape)
    return np.ascontiguousarray(spins / np.linalg.norm(spins, axis=1, keepdims=True))


def step_normals(seed: int, step: int, n_sites: int) -> np.ndarray:
    """(N, 3) standard normals of quench step ``step``: seed sequence (seed, step), so a quench
    can restart at any stored step and continue exactly."""
    return np.random.default_rng((seed, step, 1)).standard_normal((n_sites, 3))


# ---------------------------------------------------------------------- file

class DatasetWriter:
    """Appends labelled snapshots to a dataset file (module docstring for the layout)."""

    def __init__(self, path, model, solver: str, config_text: str):
        """solver: :func:`solver_description` of the labelling solver; appending to a file of
        another model or solver is an InputError."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lattice = json.dumps(model.lattice.describe(), sort_keys=True)
        params = json.dumps(model.describe(), sort_keys=True)
        self.file = h5py.File(path, "a")
        f = self.file
        if "source/key" not in f:
            n = model.n_sites
            f.attrs["lattice"], f.attrs["model"], f.attrs["solver"] = lattice, params, solver
            shapes = {"spins": (n, 3), "energy": (), "field": (n, 3), "density": (n,), "mu": ()}
            for name, shape in shapes.items():
                f.create_dataset(name, (0, *shape), maxshape=(None, *shape), dtype="f8",
                                 chunks=(1, *shape) if shape else (256,))
            str_dtype = h5py.string_dtype()
            for name, dtype in (("kind", str_dtype), ("seed", "i8"), ("step", "i8"),
                                ("time", "f8"), ("kT", "f8"), ("file", str_dtype),
                                ("frame", "i8"), ("key", str_dtype)):
                f.create_dataset(f"source/{name}", (0,), maxshape=(None,), dtype=dtype,
                                 chunks=(256,))
        elif f.attrs["model"] != params:
            existing = f.attrs["model"]
            f.close()
            raise InputError("model", params, f"the model of the existing dataset {path}, "
                             f"{existing}")
        elif f.attrs.get("solver", LEGACY_SOLVER) != solver:
            existing = f.attrs.get("solver", LEGACY_SOLVER)
            f.close()
            raise InputError("solver", solver, f"the solver of the existing dataset {path}, "
                             f"{existing}")
        f.attrs["solver"] = solver
        f.attrs["config"] = config_text
        self._drop_unfinished()
        self.keys = set(f["source/key"].asstr()[:])

    def _drop_unfinished(self) -> None:
        """Trim arrays longer than the key list (a run killed between the two writes)."""
        n = len(self.file["source/key"])
        for name in (*ARRAYS, *(f"source/{r}" for r in RECORDS)):
            if len(self.file[name]) > n:
                self.file[name].resize(n, axis=0)

    def append(self, record: Record, key: str, spins, solution) -> None:
        """Append one snapshot: arrays and records first, the key last (then flush)."""
        f = self.file
        n = len(f["source/key"])
        values = {"spins": spins, "energy": solution.energy, "field": solution.field,
                  "density": solution.density, "mu": solution.mu}
        for name, value in values.items():
            f[name].resize(n + 1, axis=0)
            f[name][n] = value
        for name in RECORDS:
            f[f"source/{name}"].resize(n + 1, axis=0)
            f[f"source/{name}"][n] = getattr(record, name)
        f.flush()
        f["source/key"].resize(n + 1, axis=0)
        f["source/key"][n] = key
        f.flush()
        self.keys.add(key)

    def close(self) -> None:
        self.file.close()


def dataset_hash(path) -> str:
    """sha256 hex digest of a dataset: spins, energy, field, density (float64 bytes, in row
    order) and the snapshot keys. Identifies the training data in model files."""
    h = hashlib.sha256()
    with h5py.File(path, "r", locking=False) as f:
        n = len(f["source/key"])
        for name in ("spins", "energy", "field", "density"):
            for start in range(0, n, 64):
                h.update(np.ascontiguousarray(f[name][start:min(n, start + 64)],
                                              dtype="<f8").tobytes())
        for key in f["source/key"].asstr()[:n]:
            h.update(key.encode() + b"\n")
    return h.hexdigest()


@dataclass(frozen=True)
class Snapshots:
    """A dataset in memory: spins (S, N, 3), energy (S,), field (S, N, 3), density (S, N),
    float64; records: dict name -> (S,) array of the source records; model: dict of
    KondoModel.describe(); lattice: dict of Lattice.describe()."""

    spins: np.ndarray
    energy: np.ndarray
    field: np.ndarray
    density: np.ndarray
    records: dict
    model: dict
    lattice: dict

    def __len__(self) -> int:
        return len(self.energy)


def read_dataset(path) -> Snapshots:
    """Every finished snapshot of the dataset at ``path`` (read-only, no file locking)."""
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError as exc:
        raise InputError("dataset", str(path), f"a readable llgsim dataset ({exc})") from None
    with f:
        if "source/key" not in f:
            raise InputError("dataset", str(path), "an llgsim dataset (no source/key)")
        n = len(f["source/key"])
        records = {name: f[f"source/{name}"][:n] for name in (*RECORDS, "key")}
        for name in ("kind", "file", "key"):
            records[name] = f[f"source/{name}"].asstr()[:n]
        return Snapshots(f["spins"][:n], f["energy"][:n], f["field"][:n], f["density"][:n],
                         records, json.loads(f.attrs["model"]), json.loads(f.attrs["lattice"]))


# ---------------------------------------------------------------------- generation

def _planned(cfg: DataConfig) -> int:
    """Number of snapshots the config describes (frames counted when their file is read)."""
    n = sum(s.count for s in cfg.random) + sum(s.count for s in cfg.perturbed)
    n += sum(-(-q.steps // q.interval) for q in cfg.quench)
    for fr in cfg.frames:
        n += len(range(*slice(fr.start, fr.stop, fr.stride).indices(_n_frames(fr.path))))
    return n


def _n_frames(path) -> int:
    from ..run.runfile import Trajectory

    try:
        with Trajectory(path) as traj:
            return traj.n_frames
    except (OSError, KeyError) as exc:
        raise InputError("frames.path", str(path), f"a readable llgsim trajectory ({exc})") from None


class _Labeller:
    """Field provider that solves with the data solver and keeps every ElectronSolution of the
    current step."""

    def __init__(self, solver):
        self.solver = solver
        self.n_sites = solver.n_sites
        self.solutions = []

    def energy_and_field(self, spins):
        sol = self.solver.solve(spins)
        self.solutions.append(sol)
        return sol.energy, sol.field


def _random_jobs(cfg, lattice, done) -> Iterator[tuple]:
    for src in cfg.random:
        for k in range(src.count):
            rec = Record("random", seed=src.seed, step=k)
            if rec.key not in done:
                yield rec, rec.key, random_record_spins(lattice, src.seed, k)


def _perturbed_jobs(cfg, lattice, done) -> Iterator[tuple]:
    for src in cfg.perturbed:
        for k in range(src.count):
            rec = Record("perturbed", seed=src.seed, step=k)
            key = (f"perturbed {src.state}+{src.droplet_state} seed={src.seed} step={k} "
                   f"noise={src.noise} droplets={src.droplets} radius={src.radius}")
            if key not in done:
                yield rec, key, perturbed_spins(lattice, src, k)


def _frame_jobs(cfg, done) -> Iterator[tuple]:
    from ..run.runfile import Trajectory

    for src in cfg.frames:
        with Trajectory(src.path) as traj:
            for index in range(*slice(src.start, src.stop, src.stride).indices(traj.n_frames)):
                step, time, spins = traj.frame(index)
                rec = Record("frame", step=step, time=time, file=str(src.path), frame=index)
                if rec.key not in done:
                    yield rec, rec.key, np.asarray(spins, dtype=np.float64)


def generate_dataset(config_path, progress: Callable[[str], None] = print) -> dict:
    """Label the snapshots of the data config at ``config_path`` with its solver (ED unless a
    [solver] table says otherwise), appending to its output file (resumable: snapshots already
    there are skipped).

    progress : called with one line per snapshot ("[k/S] source: E/N, seconds").
    Returns {"path", "snapshots" (total in the file), "added", "hash", "seconds"}.
    """
    from ..dynamics import sib_step
    from ..model import check_spins
    from ..states import random_spins

    text = Path(config_path).read_text()
    cfg = parse_data_config(text)
    model = build_model(cfg.lattice, cfg.model)
    solver = build_solver(cfg, model)
    lattice = model.lattice
    writer = DatasetWriter(cfg.output.path, model, solver_description(solver), text)
    planned, added, t0 = _planned(cfg), 0, wallclock.time()

    def store(record, key, spins, solution, seconds):
        nonlocal added
        writer.append(record, key, spins, solution)
        added += 1
        progress(f"[{len(writer.keys)}/{planned}] {key}: E/N = "
                 f"{solution.energy / model.n_sites:.5f}, {seconds:.1f} s")

    try:
        for rec, key, spins in [*_random_jobs(cfg, lattice, writer.keys),
                                *_perturbed_jobs(cfg, lattice, writer.keys)]:
            t = wallclock.time()
            store(rec, key, spins, solver.solve(spins), wallclock.time() - t)
        for src in cfg.quench:
            labels = range(0, src.steps, src.interval)
            todo = [n for n in labels if quench_key(src, n) not in writer.keys]
            if not todo:
                continue
            done = [n for n in labels if n < todo[0]]
            if done:  # restart from the last stored snapshot before the first missing one
                step = done[-1]
                spins = _stored_spins(writer, quench_key(src, step))
            else:
                step, spins = 0, random_spins(lattice, src.seed)
            labeller = _Labeller(solver)
            while step <= todo[-1]:
                t = wallclock.time()
                labeller.solutions.clear()
                normals = step_normals(src.seed, step, model.n_sites) if src.kT > 0 else None
                new = sib_step(spins, labeller, src.dt, src.alpha, src.kT, normals).spins
                key = quench_key(src, step)
                if step % src.interval == 0 and key not in writer.keys:
                    rec = Record("quench", seed=src.seed, step=step, time=step * src.dt,
                                 kT=src.kT)
                    store(rec, key, spins, labeller.solutions[0], wallclock.time() - t)
                spins = check_spins(new, model.n_sites)
                step += 1
        for rec, key, spins in _frame_jobs(cfg, writer.keys):
            t = wallclock.time()
            store(rec, key, spins, solver.solve(spins), wallclock.time() - t)
    finally:
        writer.close()
    return {"path": cfg.output.path, "snapshots": len(writer.keys), "added": added,
            "hash": dataset_hash(cfg.output.path), "seconds": wallclock.time() - t0}


def _stored_spins(writer: DatasetWriter, key: str) -> np.ndarray:
    keys = writer.file["source/key"].asstr()[:]
    return writer.file["spins"][int(np.flatnonzero(keys == key)[0])]
