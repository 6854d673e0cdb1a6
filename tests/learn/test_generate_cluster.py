"""``llgsim generate`` on a LocalCluster of two single-threaded worker processes
(conftest.dask_client): the dataset equals the one labelled in this process, bit for bit (same
ED arithmetic on the same spins; the client alone writes, in the serial order), also when a
worker is killed while it labels; no snapshot is written twice."""

import os
import signal
import threading
import time

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from conftest import classical_run_toml
from llgsim.learn.dataset import dataset_hash, read_dataset
from llgsim.learn.generate import generate_dataset
from llgsim.run.launch import run
from llgsim.run.schema import parse_config

WAIT_SECONDS = 120  # longest wait for a generation or a worker on the shared 2-core machine
LONG_TASK_SECONDS = 0.5  # a task running this long is the long quench (the others take ms)
#: every source kind on a 4 x 4 lattice (a solve takes ~1 ms on one thread): random and
#: perturbed snapshots (one task), a short quench, a long one (4000 steps; 800 ended before the
#: 0.5 s watch saw it once on an idle machine; a worker killed
#: while it runs dies inside it) and two trajectory frames (one task)
SOURCES = """
[lattice]
kind = "square"
Lx = 4
[model]
J = 6.0
filling = 0.485
[output]
path = "{out}"
[[random]]
seed = 5
count = 4
[[perturbed]]
state = "neel"
seed = 7
count = 2
droplets = 1
radius = [1.0, 1.5]
[[quench]]
seed = 3
kT = 0.05
dt = 0.05
steps = 12
interval = 4
[[quench]]
seed = 4
dt = 0.05
steps = 4000
interval = 2000
[[frames]]
path = "{frames}"
start = 1
"""


def write_data_config(folder, name, client=None):
    folder.mkdir(exist_ok=True)
    frames = folder / "frames.h5"
    if not frames.exists():
        text = 'backend = "reference"\n' + classical_run_toml(10, path=str(frames), frames=5)
        run(parse_config(text.replace('kind = "triangular"\nLx = 6', 'kind = "square"\nLx = 4')),
            text)
    body = SOURCES.format(out=folder / f"{name}.h5", frames=frames)
    if client is not None:
        body += f'[cluster]\nkind = "address"\naddress = "{client.scheduler.address}"\n'
    path = folder / f"{name}.toml"
    path.write_text(body)
    return path


def assert_same_dataset(path_a, path_b):
    a, b = read_dataset(path_a), read_dataset(path_b)
    for name in ("spins", "energy", "field", "density"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name, values in a.records.items():
        assert np.array_equal(values, b.records[name], equal_nan=values.dtype.kind == "f"), name
    # no snapshot twice: 4 random, 2 perturbed, 3 + 2 quench labels, 2 frames
    assert len(set(a.records["key"])) == len(a) == 4 + 2 + 3 + 2 + 2
    assert dataset_hash(path_a) == dataset_hash(path_b)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The dataset labelled in this process (no [cluster] table), with one BLAS and numba
    thread as in the workers (llgsim.cluster.WORKER_ENV): LAPACK's sums may be ordered by
    thread, and two threads on the shared 2-core machine ran the quenches 3x slower."""
    folder = tmp_path_factory.mktemp("data")
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(1):
            out = generate_dataset(write_data_config(folder, "serial"), progress=lambda _: None)
    finally:
        numba.set_num_threads(threads)
    return folder, out["path"]


def test_cluster_dataset_equals_the_serial_one(serial, dask_client):
    folder, reference = serial
    dask_client.wait_for_workers(2, timeout=WAIT_SECONDS)
    out = generate_dataset(write_data_config(folder, "cluster", dask_client),
                           progress=lambda line: None)
    assert out["added"] == out["snapshots"] == 13
    assert_same_dataset(out["path"], reference)


def test_killed_worker_changes_nothing(serial, dask_client):
    folder, reference = serial
    dask_client.wait_for_workers(2, timeout=WAIT_SECONDS)
    pids = dask_client.run(os.getpid)
    config = write_data_config(folder, "killed", dask_client)
    out = {}
    thread = threading.Thread(target=lambda: out.update(generate_dataset(
        config, progress=lambda line: None)), daemon=True)
    thread.start()
    start, victim, first_seen = time.monotonic(), None, {}
    while victim is None and thread.is_alive() and time.monotonic() - start < WAIT_SECONDS:
        now = time.monotonic()
        for address, keys in dask_client.processing().items():
            for key in keys:
                first_seen.setdefault((address, key), now)
                if victim is None and now - first_seen[address, key] > LONG_TASK_SECONDS:
                    victim = pids[address]
                    os.kill(victim, signal.SIGKILL)
        time.sleep(0.01)
    assert victim is not None, "no task ran long enough to be killed"
    thread.join(timeout=WAIT_SECONDS)
    assert out.get("snapshots") == 13, out
    assert_same_dataset(out["path"], reference)
