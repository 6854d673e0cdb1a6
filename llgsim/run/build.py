"""One build path: a validated run config -> the run it describes.

:func:`build` makes everything once, in data-flow order: backend, lattice, model, provider (from
the registry, on the backend), stepper (the provider's fused step or the generic SIB/Heun step),
temperature schedule, initial spins and the observables, and returns them frozen in a
:class:`Run`. Nothing reads the config again afterwards (llgsim.run.launch drives the run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .schema import RunConfig
from .tables import named


@dataclass(frozen=True)
class Run:
    """What a config describes, built.

    config   : the RunConfig.
    backend  : llgsim.backend.Backend of spins, fields and kernels.
    lattice, model (KondoModel or None), provider (FieldProvider on ``backend``).
    stepper  : llgsim.fields.base.Stepper advancing spins on ``backend``.
    schedule : llgsim.dynamics.TemperatureSchedule, kT(t).
    initial  : (N, 3) float64 host array of the initial spins.
    observables : (shapes, compute) of llgsim.analysis.observables_for(lattice).
    memory_bytes : estimated memory of the run (provider, stepper buffers, host copies).
    """

    config: RunConfig
    backend: object
    lattice: object
    model: object
    provider: object
    stepper: object
    schedule: object
    initial: np.ndarray
    observables: tuple
    memory_bytes: int

    def observers(self, writer, saved_step: int) -> list:
        """The run-file observers (frames, observables, checkpoints) writing to ``writer``,
        whose checkpoint holds step ``saved_step``."""
        from .recorders import Checkpointer, FrameRecorder, ObservableRecorder

        out = self.config.output
        shapes, compute = self.observables
        return [FrameRecorder(writer, out.frame_interval),
                ObservableRecorder(writer, compute, out.observable_interval),
                Checkpointer(writer, out.checkpoint_interval, out.checkpoint_seconds, saved_step)]


def build(cfg: RunConfig) -> Run:
    """Build the run of a validated config (module docstring). Refusals of constructors are
    one-line InputErrors named after the config key (e.g. ``provider.colors``)."""
    from ..analysis.observables import observables_for
    from ..backend import get_backend
    from ..dynamics import TemperatureSchedule, make_stepper
    from .providers import build_provider

    backend = get_backend(cfg.backend, cfg.dtype)
    lattice = named("lattice", cfg.lattice.build)
    model = None if cfg.model is None else cfg.model.build(lattice)
    provider = build_provider(cfg.provider, lattice, model, backend)
    memory = check_memory(cfg, provider, backend)
    dyn = cfg.dynamics
    stepper = named("dynamics", lambda: make_stepper(dyn.scheme, provider, dyn.dt, dyn.alpha,
                                                      dyn.seed))
    t = dyn.temperature
    schedule = named("dynamics.temperature",
                     lambda: TemperatureSchedule(t.kind, t.kT_start, t.kT_end, t.duration))
    initial = named("initial", lambda: initial_spins(cfg.initial, lattice))
    return Run(cfg, backend, lattice, model, provider, stepper, schedule, initial,
               observables_for(lattice), memory)


#: spin-sized (N, 3) arrays a run holds beside its provider: the spins and the stepper's five
#: buffers on the backend, and the host copy of a sample with its float64 checkpoint
_SPIN_ARRAYS = 7


def check_memory(cfg: RunConfig, provider, backend) -> int:
    """The estimated memory of the run (bytes); a one-line refusal when it exceeds
    ``max_memory_gb`` (default: the memory available on the machine now)."""
    from .providers import terms

    n = provider.n_sites
    need = provider.memory_bytes() + _SPIN_ARRAYS * 3 * n * 8
    limit = (cfg.max_memory_gb * 1e9 if cfg.max_memory_gb is not None
             else backend.available_memory())
    if need > limit:
        where = ("max_memory_gb" if cfg.max_memory_gb is not None
                 else "the memory available on this machine")
        key = "provider"
        if cfg.provider.kind == "sum":
            sizes = [p.memory_bytes() for p in provider.providers]
            key = terms(cfg.provider)[int(np.argmax(sizes))][0]
        raise InputError(key, cfg.provider.kind if key == "provider" else "the largest term",
                         f"a run that fits in {limit / 1e9:.3g} GB ({where}); this one needs "
                         f"{need / 1e9:.3g} GB: a smaller lattice, KPM order or color count, "
                         "or a larger max_memory_gb (top-level key)")
    return need


def initial_spins(initial, lattice) -> np.ndarray:
    """(N, 3) float64 initial spins from an [initial] table."""
    from .. import states
    from ..model import check_spins
    from .runfile import read_frame

    if initial.kind == "random":
        return states.random_spins(lattice, initial.seed)
    if initial.kind == "ordered":
        return states.ordered_state(initial.state, lattice)
    spins = read_frame(initial.path, initial.frame, key="initial")
    try:
        return check_spins(np.asarray(spins, dtype=np.float64), lattice.n_sites)
    except InputError as exc:
        raise InputError("initial.path", initial.path,
                         f"a frame for this lattice ({exc})") from None
