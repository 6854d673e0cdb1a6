"""Snapshot sources of a data config: records, keys and the spin configurations to label.

Every snapshot has a :class:`Record` (where it comes from) and a key, a string that identifies
it independently of its row in the dataset, so a rerun of ``llgsim generate`` skips finished
snapshots. The job generators yield (record, key, spins) for every snapshot of the [[random]],
[[perturbed]], [[frames]] and [[snapshots]] sources that is not done yet; quenches are run by
llgsim.learn.generate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .data_config import DataConfig, PerturbedSource, QuenchSource


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
    """Random snapshot ``index`` of a [[random]] source: spins from the seed sequence
    (seed, index)."""
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


def planned(cfg: DataConfig) -> int:
    """Number of snapshots the config describes. The run files of [[frames]] sources are
    probed (llgsim.run.probe: a damaged one is one InputError within seconds), so the frames
    read later are known to be readable."""
    from ..run.probe import probe

    n = sum(s.count for s in cfg.random) + sum(s.count for s in cfg.perturbed)
    n += sum(-(-q.steps // q.interval) for q in cfg.quench)
    for k, fr in enumerate(cfg.frames):
        count = probe(fr.path, f"frames[{k}].path")["frames"]["count"]
        n += len(range(*slice(fr.start, fr.stop, fr.stride).indices(count)))
    for src in cfg.snapshots:
        n += len(_rows(src))
    return n * max(1, len(cfg.mu_scan))


def _rows(src) -> range:
    """Rows of a [[snapshots]] source in its dataset."""
    from .dataset import dataset_length

    return range(*slice(src.start, src.stop, src.stride).indices(dataset_length(src.path)))


def snapshot_jobs(cfg, done) -> Iterator[tuple]:
    import h5py

    for src in cfg.snapshots:
        with h5py.File(src.path, "r", locking=False) as f:
            for row in _rows(src):
                rec = Record("snapshot", file=str(src.path), frame=row)
                if rec.key not in done:
                    yield rec, rec.key, np.asarray(f["spins"][row], dtype=np.float64)


def random_jobs(cfg, lattice, done) -> Iterator[tuple]:
    for src in cfg.random:
        for k in range(src.count):
            rec = Record("random", seed=src.seed, step=k)
            if rec.key not in done:
                yield rec, rec.key, random_record_spins(lattice, src.seed, k)


def perturbed_jobs(cfg, lattice, done) -> Iterator[tuple]:
    for src in cfg.perturbed:
        for k in range(src.count):
            rec = Record("perturbed", seed=src.seed, step=k)
            key = (f"perturbed {src.state}+{src.droplet_state} seed={src.seed} step={k} "
                   f"noise={src.noise} droplets={src.droplets} radius={src.radius}")
            if key not in done:
                yield rec, key, perturbed_spins(lattice, src, k)


def frame_jobs(cfg, done) -> Iterator[tuple]:
    from ..run.runfile import Trajectory

    for src in cfg.frames:
        with Trajectory(src.path) as traj:
            for index in range(*slice(src.start, src.stop, src.stride).indices(traj.n_frames)):
                step, time, spins = traj.frame(index)
                rec = Record("frame", step=step, time=time, file=str(src.path), frame=index)
                if rec.key not in done:
                    yield rec, rec.key, np.asarray(spins, dtype=np.float64)
