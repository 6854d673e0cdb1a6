"""Observers that write a run file: frames, observables and checkpoints (llgsim.run.driver)."""

from __future__ import annotations

import time as wallclock

import numpy as np

from .driver import END, STOP, Observer
from .runfile import Checkpoint


class FrameRecorder(Observer):
    """Writes the spins of every ``interval``-th step (and of the final step of a completed run
    when it is one) to the trajectory."""

    def __init__(self, writer, interval: int):
        self.writer, self.interval = writer, interval

    def wants(self, step, moment):
        return moment != STOP and step % self.interval == 0

    def on_sample(self, sample):
        self.writer.write_frame(sample.step, sample.time, sample.spins)


class ObservableRecorder(Observer):
    """Writes llgsim.analysis.observables_for(lattice) every ``interval``-th step."""

    needs_energy = True

    def __init__(self, writer, compute, interval: int):
        self.writer, self.compute, self.interval = writer, compute, interval

    def wants(self, step, moment):
        return moment != STOP and step % self.interval == 0

    def on_sample(self, sample):
        self.writer.write_observables(sample.step, sample.time,
                                      self.compute(sample.spins, sample.energy))


class Checkpointer(Observer):
    """Writes a checkpoint every ``interval`` steps, whenever ``seconds`` of wall time have
    passed since the last one, and at the final state (completed or stopped). The step the file
    already holds (``saved_step``, the start of a run) is not saved again."""

    def __init__(self, writer, interval: int, seconds: float, saved_step: int | None = None):
        self.writer, self.interval, self.seconds = writer, interval, seconds
        self._last_time = wallclock.monotonic()
        self._last_step = saved_step

    def wants(self, step, moment):
        if step == self._last_step:
            return False
        return (moment in (END, STOP) or step % self.interval == 0
                or wallclock.monotonic() - self._last_time >= self.seconds)

    def on_sample(self, sample):
        self.save(Checkpoint(np.asarray(sample.spins, dtype=np.float64), sample.step,
                             sample.time))

    def save(self, checkpoint: Checkpoint) -> None:
        self.writer.write_checkpoint(checkpoint)
        self._last_time = wallclock.monotonic()
        self._last_step = checkpoint.step


__all__ = ["Checkpointer", "FrameRecorder", "ObservableRecorder"]
