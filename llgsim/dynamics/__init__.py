"""Stochastic Landau-Lifshitz dynamics: integrator steps (SIB, Heun) on a provider's backend,
and bath temperature schedules.

    from llgsim.dynamics import sib_step, heun_step, make_stepper, TemperatureSchedule
"""

from .schedule import SCHEDULE_KINDS, TemperatureSchedule
from .stepper import (SCHEMES, GenericStepper, StepResult, check_parameters, heun_step,
                      make_stepper, noise_amplitude, sib_step)

__all__ = ["SCHEDULE_KINDS", "SCHEMES", "GenericStepper", "StepResult", "TemperatureSchedule",
           "check_parameters", "heun_step", "make_stepper", "noise_amplitude", "sib_step"]
