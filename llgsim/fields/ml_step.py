"""The ML field's own integrator step on the "cpu" and "cuda" backends (the Stepper protocol of
llgsim.fields.base): per step two passes of the tiled networks (llgsim.fields.ml_tiles) and two
fused passes over the sites (kernels/ml_step.py) that gather the field, draw the noise and update
the spins. Spins stay on the backend's device; the numbers are those of the generic step
(llgsim.dynamics.GenericStepper) bit for bit, with fewer passes over memory and no noise or
midpoint-field arrays.
"""

from __future__ import annotations

from ..kernels import ml_step as _kernels
from ..kernels.llg import noise_amplitude
from ..kernels.philox import split_words

SCHEMES = {"sib": _kernels.SIB, "heun": _kernels.HEUN}


class FusedMLStepper:
    """SIB or Heun steps of an MLField's tiled networks (llgsim.fields.ml_tiles.TiledNetwork)
    on their backend; the other arguments as llgsim.dynamics.GenericStepper, already checked
    there."""

    def __init__(self, scheme: str, tiles, dt: float, alpha: float, seed: int):
        self.scheme = scheme
        self.dt, self.alpha, self.seed = float(dt), float(alpha), int(seed)
        self.backend = b = tiles.backend
        self._tiles = tiles
        self._predict = b.kernel(_kernels, "predict")
        self._correct = b.kernel(_kernels, "correct")
        self._field, self._mid, self._out = (b.empty((tiles.n_sites, 3)) for _ in range(3))

    def advance(self, spins, step: int, kT: float, energy: bool):
        """(new spins, E at ``spins`` or None): one step with the noise of ``step``
        (llgsim.fields.base.Stepper)."""
        t, code = self._tiles, SCHEMES[self.scheme]
        noise = (*split_words(self.seed), *split_words(step), kT > 0,
                 noise_amplitude(self.alpha, kT, self.dt))
        if self._out is spins:
            self._out = self.backend.empty(spins.shape)
        out = self._out
        e = t.gradients(spins, energy)
        self._predict(code, spins, *t.geometry, t.g, t.parallel, *noise, self.dt, self.alpha,
                      self._field, self._mid)
        t.gradients(self._mid, False)
        self._correct(code, spins, self._mid, *t.geometry, t.g, t.parallel, self._field, *noise,
                      self.dt, self.alpha, out)
        self._out = spins
        return out, e

    @property
    def field(self):
        """The field at the start configuration of the last step."""
        return self._field

    def energy(self, spins) -> float:
        """Total energy E of ``spins``."""
        return self._tiles.evaluate(spins, self._field, True)
