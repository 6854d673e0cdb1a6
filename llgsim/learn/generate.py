"""``llgsim generate``: label the snapshots of a data config with its electron solver.

Random, perturbed and frame snapshots are solved one by one; quenches are driven by the run
driver (llgsim.run.driver) with the generic SIB step on the solver, whose noise is keyed by the
quench seed and the step, and the start configuration of every ``interval``-th step is stored
with the solution of the step's first field evaluation. Snapshots are appended to the dataset
one by one (llgsim.learn.dataset), and a rerun skips every key already there: finished snapshots
are never recomputed or rewritten, and a quench resumes from its last stored snapshot.

The work is a sequence of tasks in a fixed order: batches of :data:`BATCH` random and perturbed
snapshots, one task per quench, then batches of frames. Without a ``[cluster]`` table the tasks
run in this process. With one (llgsim.cluster) every task runs in a worker process and returns
its labels, and this process alone appends them, in the same order: the dataset is the serial
one bit for bit (given the same number of BLAS threads per process; workers have one), and a
worker that dies costs only its task, which Dask runs again elsewhere.
"""

from __future__ import annotations

import itertools
import time as wallclock
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..fields.base import FieldProvider
from ..run.driver import STOP, Observer, RunState, drive
from .data_config import parse_data_config
from .dataset import DatasetWriter, dataset_hash, solver_description
from .sources import (Record, frame_jobs, perturbed_jobs, planned, quench_key, random_jobs,
                      snapshot_jobs)

#: snapshots per task on a cluster: a few seconds of ED work on a 30 x 30 lattice, so the
#: scheduler's few milliseconds per task do not count, and a dead worker loses little
BATCH = 8


@dataclass(frozen=True)
class Solve:
    """Label these snapshots: (Record, key, spins (N, 3) float64) each."""

    jobs: tuple


@dataclass(frozen=True)
class Quench:
    """Drive quench ``index`` of the config from ``step`` (``spins`` (N, 3) float64 there, or
    None: its random start) to the last of ``labels``, labelling the start configurations of
    the steps in ``labels``."""

    index: int
    step: int
    spins: np.ndarray | None
    labels: frozenset


def generate_dataset(config_path, progress: Callable[[str], None] = print) -> dict:
    """Label the snapshots of the data config at ``config_path`` with its solver (ED unless a
    [solver] table says otherwise), appending to its output file (resumable: snapshots already
    there are skipped), on the cluster of its [cluster] table if it has one.

    progress : called with one line per snapshot ("[k/S] source: E/N, seconds").
    Returns {"path", "snapshots" (total in the file), "added", "hash", "seconds"}.
    """
    text = Path(config_path).read_text()
    cfg = parse_data_config(text)
    lattice, model, solver = _build(cfg)
    writer = DatasetWriter(cfg.output.path, model, solver_description(solver), text,
                           cfg.mu_scan)
    total, added, t0 = planned(cfg), 0, wallclock.time()
    last = [wallclock.time()]

    def store(record, key, spins, solution):
        nonlocal added
        if key in writer.keys:  # a mu-scan row of a snapshot that was cut short
            return
        writer.append(record, key, spins, solution)
        added += 1
        now = wallclock.time()
        progress(f"[{len(writer.keys)}/{total}] {key}: E/N = "
                 f"{solution.energy / model.n_sites:.5f}, {now - last[0]:.1f} s")
        last[0] = now

    try:
        tasks = _tasks(cfg, lattice, writer)
        if cfg.cluster is None:
            for task in tasks:
                _label(task, cfg, lattice, solver, store)
        else:
            from ..cluster import connect, map_in_order

            with connect(cfg.cluster) as client:
                for labels in map_in_order(client, label_task, tasks, text):
                    for item in labels:
                        store(*item)
    finally:
        writer.close()
    return {"path": cfg.output.path, "snapshots": len(writer.keys), "added": added,
            "hash": dataset_hash(cfg.output.path), "seconds": wallclock.time() - t0}


def label_task(task, config_text: str) -> list[tuple]:
    """The labels of ``task`` (Solve or Quench) of the data config ``config_text``, computed in
    this (worker) process: (Record, key, spins, ElectronSolution) each, in order."""
    cfg = parse_data_config(config_text)
    lattice, _, solver = _build(cfg)
    labels = []
    _label(task, cfg, lattice, solver, lambda *item: labels.append(item))
    return labels


def _build(cfg):
    """(lattice, model, solver) of a data config; the solver runs on the CPU backend."""
    from ..backend import get_backend
    from ..run.providers import build_provider
    from ..run.tables import named

    lattice = named("lattice", cfg.lattice.build)
    model = cfg.model.build(lattice)
    return lattice, model, build_provider(cfg.solver, lattice, model, get_backend("cpu"),
                                          key="solver")


def _tasks(cfg, lattice, writer):
    """The tasks that label the snapshots missing from ``writer``'s dataset, in order."""
    done = _done(cfg, writer.keys)
    yield from _batches(itertools.chain(random_jobs(cfg, lattice, done),
                                        perturbed_jobs(cfg, lattice, done)))
    for index, src in enumerate(cfg.quench):
        labels = range(0, src.steps, src.interval)
        todo = [n for n in labels if quench_key(src, n) not in writer.keys]
        if not todo:
            continue
        done = [n for n in labels if n < todo[0]]
        if done:  # restart from the last stored snapshot before the first missing one
            step, spins = done[-1], _stored_spins(writer, quench_key(src, done[-1]))
        else:
            step, spins = 0, None
        yield Quench(index, step, spins, frozenset(todo))
    yield from _batches(itertools.chain(frame_jobs(cfg, done), snapshot_jobs(cfg, done)))


def scan_key(key: str, mu: float) -> str:
    """Key of the row at chemical potential ``mu`` of a mu-scan snapshot ``key``."""
    return f"{key} mu={mu!r}"


def _done(cfg, keys) -> set:
    """Snapshot keys that need no more labels: the stored keys, or with a mu scan the
    snapshots whose rows at every mu are stored."""
    if not cfg.mu_scan:
        return keys
    rows = {}
    for key in keys:
        base = key.rsplit(" mu=", 1)[0]
        rows[base] = rows.get(base, 0) + 1
    return {base for base, n in rows.items() if n == len(cfg.mu_scan)}


def _batches(jobs):
    jobs = iter(jobs)
    while batch := tuple(itertools.islice(jobs, BATCH)):
        yield Solve(batch)


def _label(task, cfg, lattice, solver, store) -> None:
    """Compute the labels of ``task``, passing each to ``store(record, key, spins, solution)``
    as soon as it is known."""
    if isinstance(task, Solve):
        for rec, key, spins in task.jobs:
            if not cfg.mu_scan:
                store(rec, key, spins, solver.solve(spins))
                continue
            for mu, solution in zip(cfg.mu_scan, solver.solve_scan(spins, cfg.mu_scan)):
                store(rec, scan_key(key, mu), spins, solution)
    else:
        _quench(task, cfg.quench[task.index], solver, lattice, store)


def _quench(task: Quench, src, solver, lattice, store) -> None:
    """Drive the quench ``src`` from the start of ``task`` up to its last missing label."""
    from ..dynamics import GenericStepper, TemperatureSchedule
    from ..states import random_spins

    spins = random_spins(lattice, src.seed) if task.spins is None else task.spins
    labeller = Labeller(solver)
    stepper = GenericStepper("sib", labeller, src.dt, src.alpha, src.seed)
    drive(RunState(solver.backend.asarray(spins), task.step, task.step * src.dt), stepper,
          dt=src.dt, schedule=TemperatureSchedule("constant", src.kT),
          total_steps=max(task.labels), observers=[_QuenchLabels(src, labeller, task.labels,
                                                                 store)])


class Labeller(FieldProvider):
    """The data solver as a provider that keeps the ElectronSolution of its last evaluation
    with energy (the first one of every step the driver samples)."""

    def __init__(self, solver):
        self.solver, self.backend, self.n_sites = solver, solver.backend, solver.n_sites
        self.solution = None

    def evaluate(self, spins, field, energy):
        sol = self.solver.solve(self.backend.to_host(spins))
        field[...] = self.backend.asarray(sol.field)
        if not energy:
            return None
        self.solution = sol
        return sol.energy

    def describe(self):
        return self.solver.describe()


class _QuenchLabels(Observer):
    """Stores the start configuration of the steps in ``labels``."""

    needs_energy = True

    def __init__(self, src, labeller, labels, store):
        self.src, self.labeller, self.labels, self.store = src, labeller, labels, store

    def wants(self, step, moment):
        return moment != STOP and step in self.labels

    def on_sample(self, sample):
        rec = Record("quench", seed=self.src.seed, step=sample.step, time=sample.time,
                     kT=self.src.kT)
        self.store(rec, quench_key(self.src, sample.step), sample.spins, self.labeller.solution)


def _stored_spins(writer: DatasetWriter, key: str) -> np.ndarray:
    keys = writer.file["source/key"].asstr()[:]
    return writer.file["spins"][int(np.flatnonzero(keys == key)[0])]
