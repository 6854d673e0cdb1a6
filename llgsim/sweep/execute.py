"""A sweep on a Dask cluster: one task per point, each run in a worker process.

The client submits every point of a sweep (llgsim.sweep.schema) as a task of
:func:`run_point`, which runs the point's run file in the worker process and returns a small
status (nothing else passes through the scheduler); the client alone writes the manifest
(llgsim.sweep.manifest). A task reports its start on a Dask event topic, so the manifest shows
which points run.

Resume. A task first reads the checkpoint of its run file (llgsim.run.probe): a file at its last
step is done and left untouched, a file with an earlier checkpoint is resumed from it (bit for
bit, llgsim.run.launch), and without a file the run starts. So running a sweep again skips the
finished points and resumes the interrupted ones, and a point whose worker died is resumed by
the worker Dask hands it to next (Dask retries such a task up to
``distributed.scheduler.allowed-failures`` times, 3 by default).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Callable

from .manifest import Manifest, ManifestRow
from .schema import Sweep


def run_sweep(sweep: Sweep, client, progress: Callable[[str], None] = print) -> list[ManifestRow]:
    """Run every point of ``sweep`` on the cluster of the dask.distributed ``client``, keeping
    ``sweep.manifest_path`` up to date; return the final manifest rows.

    progress : called with one line per point as it ends ("[k/P] name: what happened").
    """
    from distributed import as_completed

    manifest = Manifest(sweep.manifest_path, [
        ManifestRow(p.name, "pending", p.overrides, sweep.run_path(p)) for p in sweep.points])
    topic = f"llgsim-sweep-{uuid.uuid4().hex}"  # this sweep's events only
    client.subscribe_topic(topic, lambda event: manifest.start(event[1]))
    try:
        futures = {client.submit(run_point, sweep.base_text, sweep.run_overrides(p), topic,
                                 p.name, pure=False): p for p in sweep.points}
        for k, future in enumerate(as_completed(futures), start=1):
            point = futures[future]
            try:
                status, text = future.result()
            except Exception as exc:  # noqa: BLE001 (a task Dask gave up on: KilledWorker, ...)
                lines = str(exc).strip().splitlines()
                status, text = "failed", f"{type(exc).__name__}: {lines[0] if lines else ''}"
            manifest.finish(point.name, status, text if status == "failed" else "")
            progress(f"[{k}/{len(futures)}] {point.name}: {status} ({text})")
    finally:
        client.unsubscribe_topic(topic)
    return manifest.rows


def run_point(config_text: str, overrides: dict, topic: str, name: str) -> tuple[str, str]:
    """Run (or resume, or skip when finished) the run config ``config_text`` with
    ``overrides`` in this worker process; report the start as event ``name`` on ``topic``.
    Returns ("done", what was run) or ("failed", the one-line reason)."""
    from distributed import get_worker

    from ..errors import InputError
    from ..run.driver import SimulationError
    from ..run.launch import run
    from ..run.probe import probe
    from ..run.runfile import RunFileError
    from ..run.schema import parse_config

    get_worker().log_event(topic, name)
    try:
        cfg = parse_config(config_text, overrides)
        path = Path(cfg.output.path)
        if path.exists():
            found = probe(path, "output.path")
            ck = found["checkpoint"]
            if ck is not None and ck["step"] >= cfg.dynamics.total_steps:
                _check_same_run(cfg, found, path)
                return "done", f"finished before, step {ck['step']}"
        outcome = run(cfg, config_text, resume=path.exists(), overrides=overrides)
    except (InputError, SimulationError, RunFileError) as exc:
        return "failed", str(exc)
    return "done", f"steps {outcome.start_step} -> {outcome.end_step}"


def _check_same_run(cfg, found: dict, path: Path) -> None:
    """Refuse to count the finished run file ``path`` (its llgsim.run.probe summary
    ``found``) as the run of ``cfg`` when it was made with other physics: the rule of a
    resume (llgsim.run.schema.resumable_difference)."""
    from ..errors import InputError
    from ..run.schema import lookup, parse_config, resumable_difference

    stored = parse_config(found["config"], found["provenance"].get("overrides", {}))
    key = resumable_difference(cfg, stored)
    if key is not None:
        raise InputError(key, lookup(cfg, key), f"the value stored in the finished run file "
                         f"{path} ({lookup(stored, key)!r}; use a new out_dir for new physics)")
