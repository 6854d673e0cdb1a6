"""``llgsim generate``: label the snapshots of a data config with its electron solver.

Random, perturbed and frame snapshots are solved one by one; quenches are driven by the run
driver (llgsim.run.driver) with the generic SIB step on the solver, whose noise is keyed by the
quench seed and the step, and the start configuration of every ``interval``-th step is stored
with the solution of the step's first field evaluation. Snapshots are appended to the dataset
one by one (llgsim.learn.dataset), and a rerun skips every key already there: finished snapshots
are never recomputed or rewritten, and a quench resumes from its last stored snapshot.
"""

from __future__ import annotations

import time as wallclock
from pathlib import Path
from typing import Callable

import numpy as np

from ..fields.base import FieldProvider
from ..run.driver import STOP, Observer, RunState, drive
from .data_config import parse_data_config
from .dataset import DatasetWriter, dataset_hash, solver_description
from .sources import (Record, frame_jobs, perturbed_jobs, planned, quench_key, random_jobs)


def generate_dataset(config_path, progress: Callable[[str], None] = print) -> dict:
    """Label the snapshots of the data config at ``config_path`` with its solver (ED unless a
    [solver] table says otherwise), appending to its output file (resumable: snapshots already
    there are skipped).

    progress : called with one line per snapshot ("[k/S] source: E/N, seconds").
    Returns {"path", "snapshots" (total in the file), "added", "hash", "seconds"}.
    """
    from ..backend import get_backend
    from ..run.providers import build_provider
    from ..run.tables import named

    text = Path(config_path).read_text()
    cfg = parse_data_config(text)
    lattice = named("lattice", cfg.lattice.build)
    model = cfg.model.build(lattice)
    solver = build_provider(cfg.solver, lattice, model, get_backend("cpu"), key="solver")
    writer = DatasetWriter(cfg.output.path, model, solver_description(solver), text)
    total, added, t0 = planned(cfg), 0, wallclock.time()
    last = [wallclock.time()]

    def store(record, key, spins, solution):
        nonlocal added
        writer.append(record, key, spins, solution)
        added += 1
        now = wallclock.time()
        progress(f"[{len(writer.keys)}/{total}] {key}: E/N = "
                 f"{solution.energy / model.n_sites:.5f}, {now - last[0]:.1f} s")
        last[0] = now

    try:
        for rec, key, spins in [*random_jobs(cfg, lattice, writer.keys),
                                *perturbed_jobs(cfg, lattice, writer.keys)]:
            store(rec, key, spins, solver.solve(spins))
        for src in cfg.quench:
            _quench(src, solver, lattice, writer, store)
        for rec, key, spins in frame_jobs(cfg, writer.keys):
            store(rec, key, spins, solver.solve(spins))
    finally:
        writer.close()
    return {"path": cfg.output.path, "snapshots": len(writer.keys), "added": added,
            "hash": dataset_hash(cfg.output.path), "seconds": wallclock.time() - t0}


def _quench(src, solver, lattice, writer, store) -> None:
    """Drive the quench ``src`` up to its last missing label, storing every missing label."""
    from ..dynamics import GenericStepper, TemperatureSchedule
    from ..states import random_spins

    labels = range(0, src.steps, src.interval)
    todo = [n for n in labels if quench_key(src, n) not in writer.keys]
    if not todo:
        return
    done = [n for n in labels if n < todo[0]]
    if done:  # restart from the last stored snapshot before the first missing one
        step, spins = done[-1], _stored_spins(writer, quench_key(src, done[-1]))
    else:
        step, spins = 0, random_spins(lattice, src.seed)
    labeller = _Labeller(solver)
    stepper = GenericStepper("sib", labeller, src.dt, src.alpha, src.seed)
    backend = solver.backend
    drive(RunState(backend.asarray(spins), step, step * src.dt), stepper, dt=src.dt,
          schedule=TemperatureSchedule("constant", src.kT), total_steps=todo[-1],
          observers=[_QuenchLabels(src, labeller, writer.keys, store)])


class _Labeller(FieldProvider):
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
    """Stores the start configuration of every ``interval``-th step whose key is missing."""

    needs_energy = True

    def __init__(self, src, labeller, done, store):
        self.src, self.labeller, self.done, self.store = src, labeller, done, store

    def wants(self, step, moment):
        return (moment != STOP and step % self.src.interval == 0
                and quench_key(self.src, step) not in self.done)

    def on_sample(self, sample):
        rec = Record("quench", seed=self.src.seed, step=sample.step, time=sample.time,
                     kT=self.src.kT)
        self.store(rec, quench_key(self.src, sample.step), sample.spins, self.labeller.solution)


def _stored_spins(writer: DatasetWriter, key: str) -> np.ndarray:
    keys = writer.file["source/key"].asstr()[:]
    return writer.file["spins"][int(np.flatnonzero(keys == key)[0])]
