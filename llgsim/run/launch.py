"""Run (or resume) what a config describes: build it, open its run file, drive it.

``llgsim run`` calls :func:`run`. A new run creates the run file with the config, provenance
(llgsim version, seed, lattice, provider, backend, device, dtype, command-line overrides, model
hashes) and a checkpoint at step 0; a resumed run continues the file from its checkpoint, bit
for bit on the same backend and dtype (the noise is keyed by (seed, step)).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .build import build
from .driver import RunState, drive
from .runfile import Checkpoint, TrajectoryWriter, open_for_resume
from .schema import lookup, parse_config, resumable_difference


@dataclass(frozen=True)
class RunOutcome:
    """path of the run file, first and last step of this invocation, and whether the run
    reached its final step (False when stopped early by ``stop``)."""

    path: Path
    start_step: int
    end_step: int
    completed: bool


def run(cfg, config_text: str, *, resume: bool = False, overwrite: bool = False, observers=(),
        stop=lambda: False, overrides: dict | None = None) -> RunOutcome:
    """Run (or resume) the simulation a validated config describes, writing cfg.output.path.

    ``overwrite`` replaces an existing run file of a new run. ``observers`` are added to the
    file recorders (e.g. a progress display). ``stop`` is polled after every step; when it
    returns True the run checkpoints and returns. ``overrides`` (dotted key path -> value, from
    the command line) is recorded in the file. A SimulationError (non-finite numbers) or a
    RunFileError (the filesystem failed) leaves the file with its last good checkpoint.
    """
    from .. import __version__

    path = Path(cfg.output.path)
    built = build(cfg)
    backend = built.backend
    if resume:
        writer, ck, stored_text = open_for_resume(path)
        try:
            stored = parse_config(stored_text, writer.overrides)  # the config as run
            key = resumable_difference(cfg, stored)
            if key is not None:
                raise InputError(key, lookup(cfg, key),
                                 f"the value stored in {path} ({lookup(stored, key)!r}) to resume")
            if cfg.dynamics.total_steps < ck.step:
                raise InputError("dynamics.steps", cfg.dynamics.total_steps,
                                 f"at least the checkpoint step {ck.step} of {path} to resume")
        except BaseException:
            writer.close()
            raise
        state = RunState(backend.asarray(ck.spins), ck.step, ck.time)
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError("output.path", str(path),
                             f"a path in a writable folder ({exc.strerror})") from None
        description = built.provider.describe()
        provenance = {"llgsim_version": __version__, "seed": cfg.dynamics.seed,
                      "lattice": json.dumps(built.lattice.describe()),
                      "provider": json.dumps(description),
                      "overrides": json.dumps(overrides or {}), **backend.describe()}
        hashes = _model_hashes(description)
        if hashes:
            provenance["model_hash"] = ",".join(hashes)
        shapes, _ = built.observables
        writer = TrajectoryWriter.create(
            path, n_sites=built.lattice.n_sites, positions=built.lattice.positions(),
            box=built.lattice.box, observables=shapes,
            frame_dtype=cfg.output.frame_precision, compression=cfg.output.compression,
            config_text=config_text, provenance=provenance,
            checkpoint=Checkpoint(built.initial, 0, 0.0), overwrite=overwrite)
        state = RunState(backend.asarray(built.initial), 0, 0.0)
    recorders = built.observers(writer, saved_step=state.step)
    start = state.step
    try:
        state = drive(state, built.stepper, dt=cfg.dynamics.dt,
                      schedule=built.schedule, total_steps=cfg.dynamics.total_steps,
                      observers=[*recorders, *observers], stop=stop)
    finally:
        writer.close()
    return RunOutcome(path, start, state.step, state.step >= cfg.dynamics.total_steps)


def _model_hashes(description: dict) -> list[str]:
    """Content hashes of the ML models inside a provider description (key "content_hash")."""
    out = [description["content_hash"]] if "content_hash" in description else []
    for term in description.get("providers", []):
        out += _model_hashes(term)
    return out
