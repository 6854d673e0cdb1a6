"""Stochastic Landau-Lifshitz dynamics: the SIB and Heun integrators, temperature schedules.

Equation of motion (Landau-Lifshitz form, gamma = 1, hbar = 1; time in hbar / t_1, fields in
energy units; conventions.md, "Dynamics"):

    dS_i/dt = -S_i x (H_i + xi_i) - alpha S_i x (S_i x (H_i + xi_i)),   H_i = -dE/dS_i,

with Gaussian white noise xi (Stratonovich), <xi_a(t) xi_b(t')> = 2 D delta_ab delta(t - t'),
D = alpha kT / (1 + alpha^2). This LL form equals the Gilbert form dS/dt = -S x H_eff
+ alpha S x dS/dt (gamma = 1) with time rescaled: a Gilbert trajectory at time t is the LL
trajectory at time t / (1 + alpha^2). The noise strength D makes the Boltzmann distribution
exp(-E / kT) stationary.

Integrator: the semi-implicit predictor-corrector SIB of Mentink et al., J. Phys.: Condens.
Matter 22, 176001 (2010), doi:10.1088/0953-8984/22/17/176001, in the variant of physics.md
section 4 (damping cross product with the spin at the start of the step). It preserves |S_i|
exactly. Deterministic accuracy: second order in dt for the precession (alpha = 0), first order
in the damping term (global error O(alpha dt)). In exchange its stationary state stays closer to
Boltzmann at large dt: for one spin in a field h, alpha = 1, dt = 0.04 and kT/h = 0.5 and 2, the
bias of <S.h>/h is 2e-3 and < 1e-4, where evaluating the damping cross product at the predicted
midpoint (second order) gives 8e-3 and 1.3e-2.
:func:`heun_step` is the explicit alternative (second order, damping included).
Per-site math in ``llgsim.kernels.llg``; ``backend="reference"`` runs the same math in numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..kernels import llg as _sib
from ..model import check_spins

BACKENDS = ("reference", "cpu")
SCHEDULE_KINDS = ("constant", "linear", "exponential")


@dataclass(frozen=True)
class StepResult:
    """Outcome of one integrator step.

    spins  : (N, 3) array, same dtype as the input spins: the new configuration.
    energy : float, provider energy at the configuration the step started from.
    field  : (N, 3) array, provider field H = -dE/dS at the configuration the step started from.
    """

    spins: np.ndarray
    energy: float
    field: np.ndarray


def noise_amplitude(alpha: float, kT: float, dt: float) -> float:
    """Standard deviation sqrt(2 D dt) of each component of the noise increment b = xi dt over
    one step, D = alpha kT / (1 + alpha^2) (energy x time units)."""
    _check_parameters(dt, alpha, kT)
    return math.sqrt(2.0 * alpha * kT / (1.0 + alpha * alpha) * dt)


# ---------------------------------------------------------------------- numpy reference

def _sib_reference(spins, field, noise, dt, alpha):
    """SIB solve on every site (numpy): w = -1/2 [g + alpha s x g], g = dt f + b;
    s' = [r - w x r + w (w . r)] / (1 + |w|^2), r = s + s x w. Same math as kernels.sib."""
    g = dt * field + noise
    w = -0.5 * (g + alpha * np.cross(spins, g))
    r = spins + np.cross(spins, w)
    wr = np.sum(w * r, axis=1, keepdims=True)
    return (r - np.cross(w, r) + w * wr) / (1.0 + np.sum(w * w, axis=1, keepdims=True))


def _normalized(v):
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _predictor_reference(spins, field, normals, amplitude, dt, alpha, out):
    noise = 0.0 if normals is None else amplitude * normals
    out[...] = _normalized(spins + _sib_reference(spins, field, noise, dt, alpha))


def _corrector_reference(spins, field, normals, amplitude, dt, alpha, out):
    noise = 0.0 if normals is None else amplitude * normals
    out[...] = _sib_reference(spins, field, noise, dt, alpha)


def _ll_increment_reference(spins, field, noise, dt, alpha):
    """Explicit LL increment -s x g - alpha s x (s x g), g = dt f + b (numpy)."""
    g = dt * field + noise
    return -np.cross(spins, g + alpha * np.cross(spins, g))


def _heun_predictor_reference(spins, field, normals, amplitude, dt, alpha, out):
    noise = 0.0 if normals is None else amplitude * normals
    out[...] = _normalized(spins + _ll_increment_reference(spins, field, noise, dt, alpha))


def _heun_corrector_reference(spins, field, predicted, predicted_field, normals, amplitude, dt,
                              alpha, out):
    noise = 0.0 if normals is None else amplitude * normals
    d0 = _ll_increment_reference(spins, field, noise, dt, alpha)
    d1 = _ll_increment_reference(predicted, predicted_field, noise, dt, alpha)
    out[...] = _normalized(spins + 0.5 * (d0 + d1))


_SIB_BACKENDS = {
    "reference": (_predictor_reference, _corrector_reference),
    "cpu": (_sib.sib_predictor, _sib.sib_corrector),
}
_HEUN_BACKENDS = {
    "reference": (_heun_predictor_reference, _heun_corrector_reference),
    "cpu": (_sib.heun_predictor, _sib.heun_corrector),
}


# ---------------------------------------------------------------------- integrator

def sib_step(spins, provider, dt: float, alpha: float, kT: float, normals,
             backend: str = "cpu") -> StepResult:
    """One stochastic SIB step of the Landau-Lifshitz equation (module docstring).

    Each stage solves s' = s + (s + s') x w exactly (|s'| = |s|), w = -1/2 [g + alpha s x g],
    g = dt f + b, with the start spin s in the damping cross product. Predictor: f = f(s), giving
    s~. Corrector: f = f(m) at the unit midpoint m = (s + s~) / |s + s~|, with the same noise b
    (Mentink et al. 2010, doi:10.1088/0953-8984/22/17/176001). The midpoint is normalised
    because providers are defined on unit spins; that moves it by O(|s~ - s|^2) and keeps the
    order of the scheme. Two provider evaluations per step.

    Parameters
    ----------
    spins : (N, 3) float64 (or float32) unit vectors, the configuration at time t.
    provider : FieldProvider, gives (E, H = -dE/dS) of a configuration.
    dt : float > 0, time step in hbar / t_1.
    alpha : float >= 0, Landau-Lifshitz damping.
    kT : float >= 0, temperature of the spin bath (energy units).
    normals : (N, 3) float64 standard normal draws for this step, or None when kT == 0. The
        caller owns the random generator, so a restart continues bit for bit.
    backend : "reference" (numpy) or "cpu" (numba, parallel over sites).

    Returns
    -------
    StepResult with the spins at t + dt and the energy and field at t.
    """
    s, normals, amplitude = _validated(spins, provider, dt, alpha, kT, normals, backend)
    predictor, corrector = _SIB_BACKENDS[backend]

    energy, field = provider.energy_and_field(s)
    midpoint = np.empty_like(s)
    predictor(s, np.ascontiguousarray(field), normals, amplitude, float(dt), float(alpha), midpoint)
    _, field_mid = provider.energy_and_field(midpoint)
    new = np.empty_like(s)
    corrector(s, np.ascontiguousarray(field_mid), normals, amplitude, float(dt), float(alpha), new)
    return StepResult(new, float(energy), field)


def heun_step(spins, provider, dt: float, alpha: float, kT: float, normals,
              backend: str = "cpu") -> StepResult:
    """One stochastic Heun step of the Landau-Lifshitz equation (module docstring).

    With the explicit increment d(s, f) = -s x g - alpha s x (s x g), g = dt f + b:
    predictor s~ = (s + d(s, f(s))) / |...|; s' = [s + (d(s, f(s)) + d(s~, f(s~))) / 2] / |...|,
    the same noise b in both (Stratonovich; e.g. J. L. Garcia-Palacios and F. J. Lazaro,
    Phys. Rev. B 58, 14937 (1998), doi:10.1103/PhysRevB.58.14937). Second order in dt for
    deterministic dynamics, damping included; |S_i| = 1 by renormalisation, not by
    construction as in :func:`sib_step`. Its stationary state needs a smaller dt than SIB's:
    for one spin in a field h, alpha = 1, dt = 0.04 and kT/h = 0.5 and 2, the bias of <S.h>/h
    is 1.4e-2 and 2.2e-2 (falling linearly with dt). Two provider evaluations per step.
    Parameters and result as :func:`sib_step`.
    """
    s, normals, amplitude = _validated(spins, provider, dt, alpha, kT, normals, backend)
    predictor, corrector = _HEUN_BACKENDS[backend]

    energy, field = provider.energy_and_field(s)
    field = np.ascontiguousarray(field)
    predicted = np.empty_like(s)
    predictor(s, field, normals, amplitude, float(dt), float(alpha), predicted)
    _, field_pred = provider.energy_and_field(predicted)
    new = np.empty_like(s)
    corrector(s, field, predicted, np.ascontiguousarray(field_pred), normals, amplitude,
              float(dt), float(alpha), new)
    return StepResult(new, float(energy), field)



#: integrator schemes by config name (llgsim.run.schema ``dynamics.scheme``)
SCHEMES = {"sib": sib_step, "heun": heun_step}


def _validated(spins, provider, dt, alpha, kT, normals, backend):
    """Checked step inputs: (spins as a C-contiguous array, normals or None, noise amplitude)."""
    s = check_spins(spins, provider.n_sites)
    _check_parameters(dt, alpha, kT)
    if backend not in BACKENDS:
        raise InputError("backend", backend, f"one of {BACKENDS}")
    if normals is None:
        if kT > 0:
            raise InputError("normals", None, "an (N, 3) array of standard normal draws when kT > 0")
    else:
        normals = np.asarray(normals)
        if normals.shape != s.shape or normals.dtype != np.float64:
            raise InputError("normals", f"{normals.dtype}{normals.shape}",
                             f"float64 of shape {s.shape} (or None when kT == 0)")
        normals = np.ascontiguousarray(normals)
    return s, normals, noise_amplitude(alpha, kT, dt)


def _check_parameters(dt, alpha, kT):
    for name, value, allowed, ok in (
            ("dt", dt, "a finite time step > 0", lambda v: v > 0),
            ("alpha", alpha, "a finite damping >= 0", lambda v: v >= 0),
            ("kT", kT, "a finite temperature >= 0", lambda v: v >= 0)):
        if not (_is_real(value) and math.isfinite(value) and ok(value)):
            raise InputError(name, value, allowed)


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


# ---------------------------------------------------------------------- temperature

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
            if not (_is_real(self.duration) and math.isfinite(self.duration)
                    and self.duration > 0):
                raise InputError("schedule.duration", self.duration, "a finite time > 0")
        for name, value in temps:
            if not (_is_real(value) and math.isfinite(value)
                    and (value > 0 if positive else value >= 0)):
                raise InputError(name, value, "a finite temperature > 0 for an exponential ramp"
                                 if positive else "a finite temperature >= 0")

    def __call__(self, time: float) -> float:
        """kT at ``time`` (>= 0)."""
        if not (_is_real(time) and math.isfinite(time) and time >= 0):
            raise InputError("time", time, "a finite time >= 0")
        if self.kind == "constant":
            return float(self.kT_start)
        if time >= self.duration:
            return float(self.kT_end)
        x = time / self.duration
        if self.kind == "linear":
            return float(self.kT_start + (self.kT_end - self.kT_start) * x)
        return float(self.kT_start * (self.kT_end / self.kT_start) ** x)
