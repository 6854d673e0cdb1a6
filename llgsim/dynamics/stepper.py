"""Stochastic Landau-Lifshitz integrators on a provider's backend: the SIB and Heun steps.

Equation of motion (Landau-Lifshitz form, gamma = 1, hbar = 1; time in hbar / t_1, fields in
energy units; docs/physics.md, section 4):

    dS_i/dt = -S_i x (H_i + xi_i) - alpha S_i x (S_i x (H_i + xi_i)),   H_i = -dE/dS_i,

with Gaussian white noise xi (Stratonovich), <xi_a(t) xi_b(t')> = 2 D delta_ab delta(t - t'),
D = alpha kT / (1 + alpha^2), which makes the Boltzmann distribution exp(-E / kT) stationary.
A Gilbert-form trajectory (gamma = 1) at time t is this LL trajectory at t / (1 + alpha^2).

Schemes (per-site math, its numpy reference and the numba launchers in ``llgsim.kernels.llg``):

* ``"sib"``: the semi-implicit predictor-corrector of Mentink et al., J. Phys.: Condens. Matter
  22, 176001 (2010), doi:10.1088/0953-8984/22/17/176001, with field and damping cross product of
  the corrector at the (unit) midpoint: |S_i| conserved exactly, second order in dt for the
  deterministic damped motion.
* ``"heun"``: explicit Heun predictor-corrector with renormalisation, second order
  (Garcia-Palacios and Lazaro, Phys. Rev. B 58, 14937 (1998)).

Both take two provider evaluations per step. Thermal averages carry a time-step bias, first
order in dt: for one spin in a field h at alpha = 1, kT/h = 2, <S.h>/h is too large by 1.4e-2
(SIB) and 2.3e-2 (Heun) at dt = 0.04, 4.2e-3 and 6.8e-3 at dt = 0.01
(benchmarks/sib_thermal_bias.py, BENCHMARKS.md). The SIB variant with the damping cross product
at the start spin, first order in the deterministic motion, had a smaller bias (2e-3 and 3e-4
at kT/h = 0.5 and 2, dt = 0.04) and was removed: a dt small enough for 1e-3 thermal accuracy
(<= 0.01) makes both schemes accurate, and only the midpoint form converges at second order. :class:`GenericStepper` runs either on any
provider's backend with preallocated buffers and the backend's counter-based noise, keyed by
(seed, step, site, component); :func:`make_stepper` prefers a provider's fused step where it
offers one. :func:`sib_step` and :func:`heun_step` are the one-step functional forms with the
noise normals supplied by the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, is_real
from ..kernels import llg
from ..kernels.llg import noise_amplitude
from ..model import check_spins

SCHEMES = ("sib", "heun")


@dataclass(frozen=True)
class StepResult:
    """Outcome of one step of :func:`sib_step` / :func:`heun_step`.

    spins  : (N, 3) new array in the provider's dtype: the configuration after the step.
    energy : float, provider energy at the configuration the step started from.
    field  : (N, 3) array, provider field H = -dE/dS at the configuration the step started from.
    """

    spins: np.ndarray
    energy: float
    field: np.ndarray


class GenericStepper:
    """SIB or Heun steps of one provider on its backend (llgsim.fields.base.Stepper).

    scheme   : "sib" or "heun".
    provider : FieldProvider; the buffers (N, 3) are allocated once on its backend.
    dt       : float > 0, time step (hbar / t_1).
    alpha    : float >= 0, Landau-Lifshitz damping.
    seed     : int >= 0, key of the thermal noise: the normals of step n are the backend's
               ``normals(seed, n)``, so a restart needs only the seed and the step.
    """

    def __init__(self, scheme: str, provider, dt: float, alpha: float, seed: int):
        check_stepper(scheme, dt, alpha, seed)
        self.scheme, self.provider = scheme, provider
        self.dt, self.alpha, self.seed = float(dt), float(alpha), int(seed)
        self.backend = b = provider.backend
        self._predictor = b.kernel(llg, f"{scheme}_predictor")
        self._corrector = b.kernel(llg, f"{scheme}_corrector")
        n = provider.n_sites
        self._field, self._mid, self._field_mid, self._noise, self._out = (
            b.empty((n, 3)) for _ in range(5))

    def advance(self, spins, step: int, kT: float, energy: bool):
        """(new spins, E at ``spins`` or None): one step from ``spins`` at bath temperature kT
        with the noise of ``step``. Two buffers alternate: the result is valid until the next
        call, and ``spins``, unchanged by this call, is overwritten by the next one."""
        normals = None
        if kT > 0:
            self.backend.normals(self.seed, step, self._noise)
            normals = self._noise
        if self._out is spins:
            self._out = self.backend.empty(spins.shape)
        out = self._out
        e = self.step_with(spins, normals, noise_amplitude(self.alpha, kT, self.dt), energy, out)
        self._out = spins
        return out, e

    def step_with(self, spins, normals, amplitude: float, energy: bool, out):
        """One step with given noise: ``out`` <- the new spins; returns E at ``spins`` (or
        None). The field at ``spins`` is left in :attr:`field`."""
        e = self.provider.evaluate(spins, self._field, energy)
        self._predictor(spins, self._field, normals, amplitude, self.dt, self.alpha, self._mid)
        self.provider.evaluate(self._mid, self._field_mid, False)
        self._corrector(spins, self._field, self._mid, self._field_mid, normals, amplitude,
                        self.dt, self.alpha, out)
        return e

    @property
    def field(self):
        """The field at the start configuration of the last step (a stepper buffer)."""
        return self._field

    def energy(self, spins) -> float:
        """Total energy E of ``spins``."""
        return self.provider.evaluate(spins, self._field, True)


def make_stepper(scheme: str, provider, dt: float, alpha: float, seed: int):
    """The provider's fused step for ``scheme`` where it offers one (FieldProvider.stepper),
    else a :class:`GenericStepper`."""
    check_stepper(scheme, dt, alpha, seed)
    fused = provider.stepper(scheme, dt, alpha, seed)
    return fused if fused is not None else GenericStepper(scheme, provider, dt, alpha, seed)


# ---------------------------------------------------------------------- functional forms

def sib_step(spins, provider, dt: float, alpha: float, kT: float, normals) -> StepResult:
    """One stochastic SIB step (module docstring; kernels/llg.py for the equations).

    spins    : (N, 3) unit vectors, the configuration at time t.
    provider : FieldProvider; the step runs on its backend and dtype.
    dt, alpha, kT : time step (> 0), damping (>= 0), bath temperature (>= 0, energy units).
    normals  : (N, 3) standard normal draws for this step, or None when kT == 0.
    Returns the spins at t + dt and the energy and field at t.
    """
    return _one_step("sib", spins, provider, dt, alpha, kT, normals)


def heun_step(spins, provider, dt: float, alpha: float, kT: float, normals) -> StepResult:
    """One stochastic Heun step; arguments and result as :func:`sib_step`."""
    return _one_step("heun", spins, provider, dt, alpha, kT, normals)


def _one_step(scheme, spins, provider, dt, alpha, kT, normals) -> StepResult:
    check_parameters(dt, alpha, kT)
    backend = provider.backend
    s = backend.asarray(check_spins(spins, provider.n_sites))
    if normals is None:
        if kT > 0:
            raise InputError("normals", None,
                             "an (N, 3) array of standard normal draws when kT > 0")
    else:
        normals = np.asarray(normals)
        if normals.shape != s.shape or normals.dtype.kind != "f":
            raise InputError("normals", f"{normals.dtype}{normals.shape}",
                             f"floats of shape {s.shape} (or None when kT == 0)")
        normals = backend.asarray(normals)
    stepper = GenericStepper(scheme, provider, dt, alpha, 0)
    out = backend.empty(s.shape)
    energy = stepper.step_with(s, normals, noise_amplitude(alpha, kT, dt), True, out)
    return StepResult(out, energy, stepper.field)


def check_stepper(scheme, dt, alpha, seed) -> None:
    """One-line InputError unless the scheme is known, dt > 0, alpha >= 0 and the seed is an
    integer in [0, 2^64)."""
    if scheme not in SCHEMES:
        raise InputError("scheme", scheme, f"one of {list(SCHEMES)}")
    check_parameters(dt, alpha, 0.0)
    if not (is_real(seed) and int(seed) == seed and 0 <= seed < 2 ** 64):
        raise InputError("seed", seed, "an integer in [0, 2^64)")


def check_parameters(dt, alpha, kT) -> None:
    """One-line InputError unless dt > 0, alpha >= 0 and kT >= 0 are finite numbers."""
    for name, value, allowed, ok in (
            ("dt", dt, "a finite time step > 0", lambda v: v > 0),
            ("alpha", alpha, "a finite damping >= 0", lambda v: v >= 0),
            ("kT", kT, "a finite temperature >= 0", lambda v: v >= 0)):
        if not (is_real(value) and math.isfinite(value) and ok(value)):
            raise InputError(name, value, allowed)
