"""The driving loop: stepper steps plus observers that record, checkpoint and report.

One loop serves runs (llgsim.run.launch) and data generation (llgsim.learn.generate). The spins
stay on the stepper's backend for the whole run; the loop copies them to the host only at the
steps where an observer asks for them (:meth:`Observer.wants`), once per such step whatever the
number of observers, and computes the energy only where one of those needs it. Each host copy
(:class:`Sample`) is checked for non-finite numbers before any observer sees it, so a
checkpoint is never written from a broken state; a non-finite value arising between two copies
is reported at the next one. Noise is the stepper's: counter-based and keyed by (seed, step),
so the loop holds no random state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


class SimulationError(RuntimeError):
    """The run produced a non-finite number; the message is one line naming step and site."""


@dataclass
class RunState:
    """State of a run at the start of step ``step``.

    spins : (N, 3) array on the backend (a stepper buffer once the run has stepped).
    step  : int, steps completed.
    time  : float, step * dt (hbar / t_1).
    """

    spins: object
    step: int
    time: float


@dataclass(frozen=True)
class Sample:
    """One configuration copied to the host: spins (N, 3) numpy at ``step`` / ``time`` and the
    total energy there (float, or None when no observer of this step needs it)."""

    step: int
    time: float
    spins: np.ndarray
    energy: float | None


#: when :meth:`Observer.wants` is asked: before a step, at the end of a completed run, or at
#: the state where a run was stopped early
STEP, END, STOP = "step", "end", "stop"


class Observer:
    """A hook on the run; subclasses override what they need."""

    #: whether :meth:`on_sample` needs ``sample.energy``
    needs_energy = False

    def start(self, step: int, total_steps: int) -> None:
        """The run starts (or resumes) at ``step`` and ends at step ``total_steps``."""

    def wants(self, step: int, moment: str) -> bool:
        """Whether this observer needs the configuration at ``step`` (moment STEP, END or
        STOP)."""
        return False

    def on_sample(self, sample: Sample) -> None:
        """The configuration of a step this observer wants."""

    def on_step(self, step: int) -> None:
        """A step completed; ``step`` steps are done (no data: progress, bookkeeping)."""


def drive(state: RunState, stepper, *, dt: float, schedule, total_steps: int, observers,
          stop=lambda: False) -> RunState:
    """Advance ``state`` to step ``total_steps`` (or until ``stop()`` is true after a step).

    Before each step the observers that want its configuration get it as a :class:`Sample`
    (one host copy, the energy from the step's first field evaluation); at the end, those that
    want the final state (moment END, or STOP when stopped early) get it too. Raises
    SimulationError on a non-finite energy or spin, also when a provider refuses the spins in
    the middle of a step (the message then carries its InputError, which names the site).
    """
    backend = stepper.backend
    for obs in observers:
        obs.start(state.step, total_steps)
    while state.step < total_steps and not stop():
        step = state.step
        takers = [obs for obs in observers if obs.wants(step, STEP)]
        host = backend.to_host(state.spins) if takers else None
        try:
            spins, energy = stepper.advance(state.spins, step, schedule(state.time),
                                            any(obs.needs_energy for obs in takers))
        except InputError as exc:  # inputs were valid: the step itself produced bad numbers
            raise SimulationError(f"step {step}: {exc}") from None
        if takers:
            _dispatch(Sample(step, state.time, host, energy), takers)
        state = RunState(spins, step + 1, (step + 1) * dt)
        for obs in observers:
            obs.on_step(state.step)
    moment = END if state.step >= total_steps else STOP
    takers = [obs for obs in observers if obs.wants(state.step, moment)]
    if takers:
        energy = stepper.energy(state.spins) if any(o.needs_energy for o in takers) else None
        _dispatch(Sample(state.step, state.time, backend.to_host(state.spins), energy), takers)
    return state


def _dispatch(sample: Sample, observers) -> None:
    bad = ~np.isfinite(sample.spins)
    if bad.any():
        site = int(np.argwhere(bad)[0, 0])
        raise SimulationError(f"step {sample.step}: non-finite spin at site {site}: "
                              f"{sample.spins[site].tolist()}")
    if sample.energy is not None and not np.isfinite(sample.energy):
        raise SimulationError(f"step {sample.step}: the energy is {sample.energy}")
    for obs in observers:
        obs.on_sample(sample)
