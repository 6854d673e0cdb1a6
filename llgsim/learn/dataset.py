"""The dataset file of the ML force field: snapshots labelled by an electron solver.

A dataset is one HDF5 file of S labelled snapshots on one lattice (docs/physics.md, section 3;
P. Zhang and G.-W. Chern, PRL 127, 146401 (2021), arXiv:2105.08221):

* ``spins``   (S, N, 3) float64, unit vectors;
* ``energy``  (S,) float64, total electronic energy (F at fixed filling, Omega at fixed mu);
* ``field``   (S, N, 3) float64, H_i = -dE/dS_i = J Tr(sigma rho_ii);
* ``density`` (S, N) float64, electrons per site;
* ``mu``      (S,) float64, chemical potential used;
* source records, one per snapshot (llgsim.learn.sources): ``source/kind`` ("random",
  "perturbed", "quench", "frame" or "snapshot"), ``source/seed``, ``source/step``, ``source/time``,
  ``source/kT`` (bath temperature of a quench, NaN otherwise), ``source/file`` and
  ``source/frame`` (trajectory frames; for "snapshot" the dataset and its row), and
  ``source/key``, a string that identifies the snapshot independently of its position;
* attributes ``lattice`` and ``model`` (JSON of Lattice.describe() / KondoModel.describe(); a
  mu scan (llgsim.learn.data_config) writes its list of mu there, each row's mu in ``mu``),
  ``solver`` (JSON of the solver's describe() without the model; files written before the
  solver was recorded hold ED labels) and ``config`` (the TOML text of the latest generation
  run).

Appending is crash safe: a snapshot counts once its ``source/key`` is written (last, after its
arrays); rows beyond the key list (a run killed between the two writes) are dropped on reopening.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError

ARRAYS = ("spins", "energy", "field", "density", "mu")
RECORDS = ("kind", "seed", "step", "time", "kT", "file", "frame")


def solver_description(solver) -> str:
    """JSON of ``solver.describe()`` without its model: the ``solver`` attribute of a dataset."""
    return json.dumps({k: v for k, v in solver.describe().items()
                       if k not in ("model", *solver.model.describe())}, sort_keys=True)


#: the ``solver`` attribute assumed for files written before it was recorded (all ED)
LEGACY_SOLVER = json.dumps({"name": "ed"})


class DatasetWriter:
    """Appends labelled snapshots to a dataset file (module docstring for the layout)."""

    def __init__(self, path, model, solver: str, config_text: str, mu_scan=()):
        """solver: :func:`solver_description` of the labelling solver; mu_scan: the chemical
        potentials of a mu scan (replacing the model's mu in the ``model`` attribute), or
        empty; appending to a file of another model or solver is an InputError."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lattice = json.dumps(model.lattice.describe(), sort_keys=True)
        params = model.describe()
        if mu_scan:
            params["mu"] = [float(m) for m in mu_scan]
        params = json.dumps(params, sort_keys=True)
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

    def append(self, record, key: str, spins, solution) -> None:
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


def dataset_length(path) -> int:
    """Number of finished snapshots of the dataset at ``path``."""
    try:
        with h5py.File(path, "r", locking=False) as f:
            return len(f["source/key"])
    except (OSError, KeyError):
        raise InputError("dataset", str(path), "a readable llgsim dataset") from None


@dataclass(frozen=True)
class Snapshots:
    """A dataset in memory: spins (S, N, 3), energy (S,), field (S, N, 3), density (S, N),
    mu (S,), float64; records: dict name -> (S,) array of the source records; model: dict of
    KondoModel.describe(); lattice: dict of Lattice.describe()."""

    spins: np.ndarray
    energy: np.ndarray
    field: np.ndarray
    density: np.ndarray
    mu: np.ndarray
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
                         f["mu"][:n], records, json.loads(f.attrs["model"]),
                         json.loads(f.attrs["lattice"]))
