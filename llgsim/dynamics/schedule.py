"""Bath temperature schedules kT(t) of a run (``[dynamics.temperature]``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError, is_real

SCHEDULE_KINDS = ("constant", "linear", "exponential")


@dataclass(frozen=True)
class TemperatureSchedule:
    """Bath temperature kT(t) (energy units) as a function of time t >= 0 (hbar / t_1).

    kind "constant": kT_start at all times (kT_end and duration must be None).
    kind "linear": kT_start + (kT_end - kT_start) t / duration for t < duration.
    kind "exponential": kT_start (kT_end / kT_start)^(t / duration) for t < duration (both > 0).
    The ramps hold kT_end for t >= duration.
    """

    kind: str
    kT_start: float
    kT_end: float | None = None
    duration: float | None = None

    def __post_init__(self):
        if self.kind not in SCHEDULE_KINDS:
            raise InputError("schedule.kind", self.kind, f"one of {SCHEDULE_KINDS}")
        positive = self.kind == "exponential"
        temps = [("schedule.kT_start", self.kT_start)]
        if self.kind == "constant":
            for name, value in (("schedule.kT_end", self.kT_end),
                                ("schedule.duration", self.duration)):
                if value is not None:
                    raise InputError(name, value, "None for a constant schedule")
        else:
            temps.append(("schedule.kT_end", self.kT_end))
            if not (is_real(self.duration) and math.isfinite(self.duration)
                    and self.duration > 0):
                raise InputError("schedule.duration", self.duration, "a finite time > 0")
        for name, value in temps:
            if not (is_real(value) and math.isfinite(value)
                    and (value > 0 if positive else value >= 0)):
                raise InputError(name, value, "a finite temperature > 0 for an exponential ramp"
                                 if positive else "a finite temperature >= 0")

    def __call__(self, time: float) -> float:
        """kT at ``time`` (>= 0)."""
        if not (is_real(time) and math.isfinite(time) and time >= 0):
            raise InputError("time", time, "a finite time >= 0")
        if self.kind == "constant":
            return float(self.kT_start)
        if time >= self.duration:
            return float(self.kT_end)
        x = time / self.duration
        if self.kind == "linear":
            return float(self.kT_start + (self.kT_end - self.kT_start) * x)
        return float(self.kT_start * (self.kT_end / self.kT_start) ** x)
