"""Sweeps on a LocalCluster of two single-threaded worker processes (conftest.dask_client):
every point equals the same run done alone, bit for bit; the manifest parses at every moment;
a second run skips finished points; a worker killed mid-sweep loses no finished run and the
sweep completes, its interrupted point resumed from its checkpoint.

The runs are small classical ones on the reference backend (a few hundred steps of a 6 x 6
lattice, under a second each): the runs alone are computed here on the same backend, so equal
means equal bytes (the noise is keyed by (seed, step), the same arithmetic runs in both)."""

import hashlib
import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import classical_run_toml
from llgsim.cli import app
from llgsim.run.launch import run
from llgsim.run.ownership import lock_path
from llgsim.run.runfile import Trajectory
from llgsim.run.schema import parse_config
from llgsim.sweep.execute import run_sweep
from llgsim.sweep.manifest import STATUSES, read_manifest
from llgsim.sweep.schema import load_sweep

POLL_SECONDS = 0.01  # manifest reads while a sweep runs: many per point (each takes ~0.5 s)
KILL_AFTER = 100  # the killed run is past its second checkpoint (every 50 steps) of 600
WAIT_SECONDS = 120  # longest wait for a sweep or a worker on the shared 2-core test machine


def base_toml(steps):
    return 'backend = "reference"\n' + classical_run_toml(steps, path="unused.h5", frames=25,
                                                          observables=10, checkpoints=50)


def write_sweep(folder, client, steps, axes):
    folder.mkdir(exist_ok=True)
    (folder / "run.toml").write_text(base_toml(steps))
    lines = [f'"{key}" = {json.dumps(values)}' for key, values in axes.items()]
    (folder / "sweep.toml").write_text(
        'base = "run.toml"\nout_dir = "out"\n[axes]\n' + "\n".join(lines) + "\n[cluster]\n"
        f'kind = "address"\naddress = "{client.scheduler.address}"\n')
    return folder / "sweep.toml"


def in_thread(function, *args):
    """Start ``function(*args)`` in a thread; the returned dict gets its "result" or "error"."""
    out = {}

    def target():
        try:
            out["result"] = function(*args)
        except BaseException as exc:  # noqa: BLE001 (re-raised by the test)
            out["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, out


def sweep_on(client, path):
    return run_sweep(load_sweep(path), client, progress=lambda line: None)


def assert_same_run(path_a, path_b):
    """Bitwise equality of frames, observables and checkpoint (spins, step, time)."""
    with Trajectory(path_a) as a, Trajectory(path_b) as b:
        assert a.n_frames == b.n_frames > 1
        for fa, fb in zip(a.frames(), b.frames()):
            assert fa[:2] == fb[:2] and np.array_equal(fa[2], fb[2])
        assert a.observable_names == b.observable_names
        for name in a.observable_names:
            for xa, xb in zip(a.observable(name), b.observable(name)):
                assert np.array_equal(xa, xb)
        ca, cb = a.checkpoint(), b.checkpoint()
        assert (ca.step, ca.time) == (cb.step, cb.time) and np.array_equal(ca.spins, cb.spins)


def assert_runs_alone_agree(sweep_path, steps, tmp_path):
    for row in read_manifest(sweep_path.parent / "out" / "manifest.csv"):
        alone = tmp_path / f"alone-{row.name}.h5"
        text = base_toml(steps)
        run(parse_config(text, {**row.overrides, "output.path": str(alone)}), text)
        assert_same_run(row.path, alone)


def lock_holder(path):
    """The process id in the lock file of the run file ``path`` (llgsim.run.ownership), or None
    while there is none or it is being written."""
    try:
        return json.loads(lock_path(path).read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def checkpoint_step(path):
    """The checkpoint step of a run file another process writes (read in SWMR mode), or -1
    before the file appears at its path."""
    try:
        with Trajectory(path) as traj:
            return traj.checkpoint().step
    except OSError:
        return -1


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def finished_sweep(dask_client, tmp_path_factory):
    """An 8-point sweep (4 seeds x 2 temperatures, 300 steps) run to the end while the manifest
    is read in a loop: (sweep file, statuses seen, number of reads)."""
    dask_client.wait_for_workers(2, timeout=WAIT_SECONDS)
    path = write_sweep(tmp_path_factory.mktemp("sweep"), dask_client, 300,
                       {"dynamics.seed": [1, 2, 3, 4], "dynamics.temperature.kT_start": [0.1, 0.3]})
    manifest = path.parent / "out" / "manifest.csv"
    thread, out = in_thread(sweep_on, dask_client, path)
    seen, reads, start = set(), 0, time.monotonic()
    while thread.is_alive() and time.monotonic() - start < WAIT_SECONDS:
        if manifest.exists():
            rows = read_manifest(manifest)  # raises on a torn or partial file
            assert len(rows) == 8 and {r.status for r in rows} <= set(STATUSES)
            seen |= {r.status for r in rows}
            reads += 1
        time.sleep(POLL_SECONDS)
    thread.join(timeout=1)
    assert "result" in out, out
    return path, seen, reads


def test_sweep_completes_and_every_point_equals_its_run_alone(finished_sweep, tmp_path):
    path, _, _ = finished_sweep
    rows = read_manifest(path.parent / "out" / "manifest.csv")
    assert [r.status for r in rows] == ["done"] * 8 and all(r.path.exists() for r in rows)
    assert len({digest(r.path) for r in rows}) == 8
    assert_runs_alone_agree(path, 300, tmp_path)


def test_manifest_parses_at_every_read_during_the_sweep(finished_sweep):
    _, seen, reads = finished_sweep
    assert reads > 50 and {"pending", "running", "done"} <= seen


def test_running_again_skips_finished_points_without_touching_them(finished_sweep):
    path, _, _ = finished_sweep
    rows = read_manifest(path.parent / "out" / "manifest.csv")
    before = {r.name: (r.path.stat().st_mtime_ns, digest(r.path)) for r in rows}
    result = CliRunner().invoke(app, ["sweep", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.count("done (finished before, step 300)") == 8
    assert {r.name: (r.path.stat().st_mtime_ns, digest(r.path)) for r in rows} == before


def test_killed_worker_loses_no_finished_run_and_the_sweep_completes(dask_client, tmp_path):
    dask_client.wait_for_workers(2, timeout=WAIT_SECONDS)
    steps = 600  # about a second a point; the kill waits for a checkpoint inside a run
    path = write_sweep(tmp_path / "kill", dask_client, steps, {"dynamics.seed": [1, 2, 3, 4]})
    manifest = path.parent / "out" / "manifest.csv"
    workers = set(dask_client.run(os.getpid).values())
    thread, out = in_thread(sweep_on, dask_client, path)
    victim, finished, start = None, {}, time.monotonic()
    while victim is None and thread.is_alive() and time.monotonic() - start < WAIT_SECONDS:
        rows = read_manifest(manifest) if manifest.exists() else []
        finished = {r.name: digest(r.path) for r in rows if r.status == "done"}
        running = [r.path for r in rows if r.status == "running" and lock_holder(r.path) in workers]
        if finished and running and checkpoint_step(running[0]) >= KILL_AFTER:
            victim = lock_holder(running[0])
            os.kill(victim, signal.SIGKILL)
        time.sleep(POLL_SECONDS)
    assert victim is not None, "no point was running next to a finished one"
    thread.join(timeout=WAIT_SECONDS)
    assert "result" in out, out
    rows = read_manifest(manifest)
    if any(r.status != "done" for r in rows):  # Dask gave up on the point: run the sweep again
        rows = sweep_on(dask_client, path)
    assert [r.status for r in rows] == ["done"] * 4
    assert {name: digest(p) for name, p in ((r.name, r.path) for r in rows)
            if name in finished} == finished
    assert_runs_alone_agree(path, steps, tmp_path)


def test_a_finished_run_of_other_physics_fails_the_point(finished_sweep):
    path, _, _ = finished_sweep
    (path.parent / "other.toml").write_text(base_toml(300).replace("alpha = 0.1", "alpha = 0.2"))
    (path.parent / "other-sweep.toml").write_text(path.read_text().replace("run.toml",
                                                                           "other.toml"))
    result = CliRunner().invoke(app, ["sweep", str(path.parent / "other-sweep.toml")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: 8 points failed (first: seed=1_kT_start=0.1: "
                                    "dynamics.alpha = 0.2: expected the value stored in the "
                                    "finished run file"), result.stderr
    rows = read_manifest(path.parent / "out" / "manifest.csv")
    assert [r.status for r in rows] == ["failed"] * 8 and "alpha" in rows[0].error
