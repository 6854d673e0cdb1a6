"""The [cluster] table: a local cluster of single-threaded worker processes in the worker
environment, the batch script of a Slurm cluster (written, not submitted: no Slurm here), and
one-line refusals of a scheduler that does not answer."""

import os

import dask
import pytest

from llgsim.cluster import WORKER_ENV, connect, jobqueue_cluster, parse_cluster
from llgsim.errors import InputError


def test_local_cluster_has_single_threaded_worker_processes_in_the_worker_environment():
    with connect(parse_cluster({"workers": 1})) as client:
        assert list(client.nthreads().values()) == [1]
        env = client.run(lambda: {name: os.environ.get(name) for name in WORKER_ENV})
        pid = client.run(os.getpid)
    assert list(env.values()) == [WORKER_ENV]
    assert list(pid.values()) != [os.getpid()]


def test_slurm_jobs_run_one_thread_per_process_in_the_working_directory():
    table = parse_cluster({"kind": "slurm", "jobs": 2, "cores": 4, "memory": "8GB",
                           "walltime": "01:00:00", "account": "phys",
                           "job_script_prologue": ["source .venv/bin/activate"]})
    assert table.jobs == 2
    with jobqueue_cluster(table) as cluster:
        script = cluster.job_script()
    assert "#SBATCH -A phys" in script and "#SBATCH -t 01:00:00" in script
    assert "--nthreads 1" in script and "--nworkers 4" in script
    lines = script.splitlines()
    first = lines.index("source .venv/bin/activate")
    assert lines[first + 1:first + 1 + len(WORKER_ENV)] == [
        f"export {name}={value}" for name, value in WORKER_ENV.items()]
    assert lines[first + 1 + len(WORKER_ENV)] == f"cd {os.getcwd()}"


def test_a_scheduler_that_does_not_answer_is_one_line():
    # nothing listens on port 9 (discard) of loopback; 2 s instead of distributed's 30 s
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        with pytest.raises(InputError, match=r"^cluster.address = 'tcp://127.0.0.1:9': "
                                             r"expected the address of a running Dask scheduler"):
            with connect(parse_cluster({"kind": "address", "address": "tcp://127.0.0.1:9"})):
                pass
