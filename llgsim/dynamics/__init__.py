from .stepper import *  # noqa
from .stepper import BACKENDS, SCHEMES, StepResult, TemperatureSchedule, heun_step, noise_amplitude, sib_step
