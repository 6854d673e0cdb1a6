"""The run driver: integrator steps plus observers that record, checkpoint and report.

Data flow (style.md): config -> lattice, model, provider -> :func:`integrate` -> observers.
The integrator step (llgsim.dynamics.sib_step or heun_step) knows none of the observers; the driver hands
every observer each configuration with its energy and field (:class:`Sample`, for frames and
observables) and each new run state (:class:`RunState`, for checkpoints and progress).

Randomness: the noise normals of a step are drawn from the run's numpy Generator (PCG64 seeded
with dynamics.seed) only when kT(t) > 0, so the stream is a deterministic function of the step;
the checkpoint stores the generator state, and a resumed run continues bit for bit.
"""

from __future__ import annotations

import json
import time as wallclock
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError


class SimulationError(RuntimeError):
    """The run produced a non-finite number; the message is one line naming step and site."""


@dataclass
class RunState:
    """State of a run at the start of step ``step``.

    spins : (N, 3) float64 unit vectors.
    step  : int, steps completed.
    time  : float, step * dt (hbar / t_1).
    rng   : numpy Generator (PCG64), advanced past every draw of the steps completed.
    """

    spins: np.ndarray
    step: int
    time: float
    rng: np.random.Generator


@dataclass(frozen=True)
class Sample:
    """One configuration with its provider output: spins (N, 3) at ``step`` / ``time``,
    total energy (float) and field H = -dE/dS (N, 3)."""

    step: int
    time: float
    spins: np.ndarray
    energy: float
    field: np.ndarray


class Observer:
    """A hook on the run; subclasses override what they need."""

    def start(self, state: "RunState", total_steps: int) -> None:
        """The run starts (or resumes) at ``state`` and ends at step ``total_steps``."""

    def on_sample(self, sample: Sample) -> None:
        """A configuration and its energy and field (every step, and the final state)."""

    def on_state(self, state: RunState) -> None:
        """The run state after a completed step."""


def integrate(state: RunState, provider, step_fn, *, dt: float, alpha: float, schedule,
              backend: str, total_steps: int, observers, stop=lambda: False) -> RunState:
    """Advance ``state`` to step ``total_steps`` (or until ``stop()`` is true after a step).

    Each step draws (N, 3) standard normals from ``state.rng`` when kT(time) > 0, calls
    ``step_fn(spins, provider, dt, alpha, kT, normals, backend=backend)`` and passes the start
    configuration as a :class:`Sample` to every observer, then the new :class:`RunState`. When
    the run reaches ``total_steps``, the final configuration is evaluated once more and passed
    on as a Sample. Raises SimulationError on a non-finite energy, field or spin, also one that
    a provider refuses in the middle of a step (the message then carries the provider's
    InputError, which names the site).
    """
    n = state.spins.shape[0]
    while state.step < total_steps and not stop():
        kT = schedule(state.time)
        normals = state.rng.standard_normal((n, 3)) if kT > 0 else None
        try:
            result = step_fn(state.spins, provider, dt, alpha, kT, normals, backend=backend)
        except InputError as exc:  # inputs were valid: the step itself produced bad numbers
            raise SimulationError(f"step {state.step}: {exc}") from None
        sample = Sample(state.step, state.time, state.spins, result.energy, result.field)
        _check_sample(sample)
        for obs in observers:
            obs.on_sample(sample)
        _check_finite(result.spins, "spin", state.step + 1)
        state = RunState(result.spins, state.step + 1, (state.step + 1) * dt, state.rng)
        for obs in observers:
            obs.on_state(state)
    if state.step == total_steps:
        energy, field = provider.energy_and_field(state.spins)
        sample = Sample(state.step, state.time, state.spins, float(energy), field)
        _check_sample(sample)
        for obs in observers:
            obs.on_sample(sample)
    return state


def _check_sample(sample: Sample) -> None:
    if not np.isfinite(sample.energy):
        raise SimulationError(f"step {sample.step}: the energy is {sample.energy}")
    _check_finite(sample.field, "field", sample.step)


def _check_finite(array, what: str, step: int) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        site = int(np.argwhere(bad)[0, 0])
        raise SimulationError(f"step {step}: non-finite {what} at site {site}: "
                              f"{np.asarray(array[site]).tolist()}")


# ---------------------------------------------------------------------- observers

class FrameRecorder(Observer):
    """Writes the spins of every ``interval``-th step to the trajectory."""

    def __init__(self, writer, interval: int):
        self.writer, self.interval = writer, interval

    def on_sample(self, sample):
        if sample.step % self.interval == 0:
            self.writer.write_frame(sample.step, sample.time, sample.spins)


class ObservableRecorder(Observer):
    """Writes llgsim.analysis.observables_for(lattice) every ``interval``-th step."""

    def __init__(self, writer, compute, interval: int):
        self.writer, self.compute, self.interval = writer, compute, interval

    def on_sample(self, sample):
        if sample.step % self.interval == 0:
            self.writer.write_observables(sample.step, sample.time,
                                          self.compute(sample.spins, sample.energy))


class Checkpointer(Observer):
    """Writes a checkpoint every ``interval`` steps and whenever ``seconds`` of wall time have
    passed since the last one."""

    def __init__(self, writer, interval: int, seconds: float):
        self.writer, self.interval, self.seconds = writer, interval, seconds
        self._last = wallclock.monotonic()

    def on_state(self, state):
        if state.step % self.interval == 0 or wallclock.monotonic() - self._last >= self.seconds:
            self.save(state)

    def save(self, state: RunState) -> None:
        from .runfile import Checkpoint

        self.writer.write_checkpoint(Checkpoint(state.spins, state.step, state.time,
                                                state.rng.bit_generator.state))
        self._last = wallclock.monotonic()


# ---------------------------------------------------------------------- runs

@dataclass(frozen=True)
class RunOutcome:
    """path of the run file, first and last step of this invocation, and whether the run
    reached its final step (False when stopped early by ``stop``)."""

    path: Path
    start_step: int
    end_step: int
    completed: bool


def run(cfg, config_text: str, *, resume: bool = False, observers=(), stop=lambda: False,
        overrides: dict | None = None) -> RunOutcome:
    """Run (or resume) the simulation a validated config describes, writing cfg.output.path.

    ``observers`` are added to the file recorders (e.g. a progress display). ``stop`` is polled
    after every step; when it returns True the run checkpoints and returns. ``overrides`` (key
    path -> value, from the command line) is recorded in the file. A SimulationError leaves
    the file with its last good checkpoint.
    """
    from .. import __version__
    from ..analysis.observables import observables_for
    from .schema import (build_provider, initial_spins, parse_config, resumable_difference,
                         temperature_schedule)
    from ..dynamics import SCHEMES
    from .runfile import TrajectoryWriter, open_for_resume

    path = Path(cfg.output.path)
    schedule = temperature_schedule(cfg)
    lattice, _, provider = build_provider(cfg)
    shapes, compute = observables_for(lattice)
    if resume:
        writer, ck, stored_text = open_for_resume(path)
        try:
            stored = parse_config(stored_text)
            key = resumable_difference(cfg, stored)
            if key is not None:
                raise InputError(key, _lookup(cfg, key),
                                 f"the value stored in {path} ({_lookup(stored, key)!r}) to resume")
        except BaseException:
            writer.close()
            raise
        if cfg.dynamics.total_steps < ck.step:
            writer.close()
            raise InputError("dynamics.steps", cfg.dynamics.total_steps,
                             f"at least the checkpoint step {ck.step} of {path} to resume")
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = ck.rng_state
        state = RunState(ck.spins, ck.step, ck.time, rng)
    else:
        if path.exists():
            raise InputError("output.path", str(path),
                             "a file that does not exist yet (use --resume to continue it)")
        spins = initial_spins(cfg.initial, lattice)
        path.parent.mkdir(parents=True, exist_ok=True)
        description = provider.describe()
        provenance = {"llgsim_version": __version__, "seed": cfg.dynamics.seed,
                      "lattice": json.dumps(lattice.describe()),
                      "provider": json.dumps(description),
                      "overrides": json.dumps(overrides or {})}
        hashes = _model_hashes(description)
        if hashes:
            provenance["model_hash"] = ",".join(hashes)
        writer = TrajectoryWriter.create(
            path, n_sites=lattice.n_sites, positions=lattice.positions(),
            box=lattice.box, observables=shapes,
            frame_dtype=cfg.output.frame_precision, compression=cfg.output.compression,
            config_text=config_text, provenance=provenance)
        rng = np.random.Generator(np.random.PCG64(cfg.dynamics.seed))
        state = RunState(spins, 0, 0.0, rng)

    out = cfg.output
    checkpointer = Checkpointer(writer, out.checkpoint_interval, out.checkpoint_seconds)
    if not resume:
        checkpointer.save(state)  # a run killed before its first interval resumes from step 0
    recorders = [FrameRecorder(writer, out.frame_interval),
                 ObservableRecorder(writer, compute, out.observable_interval), checkpointer]
    total = cfg.dynamics.total_steps
    start = state.step
    for obs in observers:
        obs.start(state, total)
    try:
        state = integrate(state, provider, SCHEMES[cfg.dynamics.scheme], dt=cfg.dynamics.dt, alpha=cfg.dynamics.alpha,
                          schedule=schedule, backend=cfg.dynamics.backend, total_steps=total,
                          observers=[*recorders, *observers], stop=stop)
        checkpointer.save(state)
    finally:
        writer.close()
    return RunOutcome(path, start, state.step, state.step >= total)


def _lookup(cfg, key: str):
    node = cfg.model_dump()
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _model_hashes(description: dict) -> list[str]:
    """Content hashes of the ML models inside a provider description (key "content_hash")."""
    out = [description["content_hash"]] if "content_hash" in description else []
    for term in description.get("providers", []):
        out += _model_hashes(term)
    return out
