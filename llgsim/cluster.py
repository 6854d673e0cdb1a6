"""Where independent tasks run: the ``[cluster]`` table and the Dask client it opens.

Sweeps (llgsim.sweep) and data generation (llgsim.learn.generate) hand independent tasks to
Dask (dask.distributed); the ``[cluster]`` table of a sweep file or data config says which
cluster runs them (docs/sweeps.md):

* ``kind = "local"`` (the default): a LocalCluster of ``workers`` processes on this machine
  (default: one per core this process may use);
* ``kind = "address"``: an existing scheduler, ``address = "tcp://host:port"``;
* ``kind = "slurm"`` or ``"pbs"``: dask-jobqueue's SLURMCluster / PBSCluster, scaled to
  ``jobs`` batch jobs; every other key of the table is passed to the cluster class (``cores``,
  ``memory``, ``walltime``, ``queue``, ``account``, ...).

Workers are processes with one thread each, and every process llgsim starts gets
:data:`WORKER_ENV`, which limits numba, OpenMP and BLAS to one thread, so that ``workers``
processes use ``workers`` cores and never oversubscribe them. Batch jobs also start in the
working directory of the client, from which the relative paths of configs are taken.
"""

from __future__ import annotations

import inspect
import os
import re
from contextlib import contextmanager
from typing import Annotated, Literal, Union

from pydantic import ConfigDict, Field

from .errors import InputError
from .run.tables import PositiveInt, Table, validate

#: environment of every worker process: one numba, OpenMP, OpenBLAS and MKL thread
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}


class LocalTable(Table):
    """A LocalCluster of ``workers`` single-threaded processes (default: one per core)."""

    kind: Literal["local"]
    workers: PositiveInt | None = None


class AddressTable(Table):
    """An existing Dask scheduler (its workers are started by whoever started it)."""

    kind: Literal["address"]
    address: str  # protocol://host:port, checked in parse_cluster


class JobqueueTable(Table):
    """dask-jobqueue's SLURMCluster or PBSCluster scaled to ``jobs`` batch jobs; the other keys
    are options of that class (checked in :func:`parse_cluster`)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)
    kind: Literal["slurm", "pbs"]
    jobs: PositiveInt

    @property
    def options(self) -> dict:
        """The keys passed to the cluster class."""
        return dict(self.model_extra)


ClusterTable = Annotated[Union[LocalTable, AddressTable, JobqueueTable],
                         Field(discriminator="kind")]

#: jobqueue constructor parameters a table may not set: Python objects and specs, n_workers
#: (use jobs), and the deprecated names of job_script_prologue, worker_extra_args,
#: job_extra_directives and job_directives_skip
_NOT_OPTIONS = {"self", "args", "kwargs", "asynchronous", "loop", "job_cls", "job_kwargs",
                "base_class_kwargs", "scheduler", "scheduler_cls", "worker", "workers",
                "security", "n_workers", "env_extra", "extra", "job_extra", "header_skip"}


class _Config(Table):
    """Where a ``[cluster]`` table sits in a file (its errors are named cluster.<key>)."""

    cluster: ClusterTable


def parse_cluster(data: dict | None):
    """Validate a ``[cluster]`` table (a dict from TOML; None, or no kind, is kind = "local")
    into a LocalTable, AddressTable or JobqueueTable; errors are one-line InputErrors naming
    cluster.<key>."""
    try:
        table = validate(_Config, {"cluster": {"kind": "local", **(data or {})}}).cluster
    except InputError as exc:
        allowed = exc.allowed.replace("running.md", "sweeps.md")
        raise InputError(exc.name, exc.value, allowed) from None
    if isinstance(table, AddressTable) and not re.fullmatch(r"[a-z]+://\S+:\d+", table.address):
        raise InputError("cluster.address", table.address, "the address of a Dask scheduler, "
                         "protocol://host:port (e.g. tcp://10.0.0.5:8786)")
    if isinstance(table, JobqueueTable):
        allowed = jobqueue_options(table.kind)
        for name, value in table.options.items():
            if name not in allowed:
                raise InputError(f"cluster.{name}", value, f"jobs or an option of dask_jobqueue's "
                                 f"{_JOBQUEUE[table.kind]} ({', '.join(sorted(allowed))})")
        prologue = table.options.get("job_script_prologue", [])
        if not (isinstance(prologue, list) and all(isinstance(x, str) for x in prologue)):
            raise InputError("cluster.job_script_prologue", prologue, "a list of shell lines")
    return table


_JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster"}


def jobqueue_options(kind: str) -> set[str]:
    """Names of the keyword arguments of dask-jobqueue's cluster class for ``kind`` ("slurm" or
    "pbs"): those of the class, its job class and their bases, less :data:`_NOT_OPTIONS`."""
    import dask_jobqueue

    cls = getattr(dask_jobqueue, _JOBQUEUE[kind])
    names = set()
    for klass in (*cls.__mro__, *cls.job_cls.__mro__):
        if "__init__" in vars(klass):
            names |= set(inspect.signature(klass.__init__).parameters)
    return names - _NOT_OPTIONS


def jobqueue_cluster(table: JobqueueTable):
    """The (unscaled) SLURMCluster or PBSCluster of ``table``: one thread per worker process
    (``processes`` defaults to ``cores``, of the table or of dask's jobqueue config),
    :data:`WORKER_ENV` exported and the client's working directory entered by every job after
    the table's own ``job_script_prologue``."""
    import shlex

    import dask_jobqueue

    import dask

    options = table.options
    cores = options.get("cores", dask.config.get(f"jobqueue.{table.kind}.cores", None))
    if cores:
        options.setdefault("processes", cores)
    options["job_script_prologue"] = [
        *options.get("job_script_prologue", []),
        *(f"export {name}={value}" for name, value in WORKER_ENV.items()),
        f"cd {shlex.quote(os.getcwd())}"]
    return getattr(dask_jobqueue, _JOBQUEUE[table.kind])(**options)


@contextmanager
def connect(table):
    """A dask.distributed Client of the cluster a validated ``[cluster]`` table describes; a
    cluster started here is closed on exit (its workers with it)."""
    from distributed import Client, LocalCluster

    if isinstance(table, AddressTable):
        try:
            client = Client(table.address)
        except OSError as exc:
            raise InputError("cluster.address", table.address, f"the address of a running Dask "
                             f"scheduler ({_first_line(exc)})") from None
        with client:
            yield client
        return
    if isinstance(table, LocalTable):
        workers = table.workers or len(os.sched_getaffinity(0))
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, env=WORKER_ENV)
    else:
        cluster = jobqueue_cluster(table)
        cluster.scale(jobs=table.jobs)
    with cluster, Client(cluster) as client:
        yield client


#: tasks kept in flight by map_in_order while a batch cluster's workers are still queued
MIN_IN_FLIGHT = 4


def map_in_order(client, function, items, *args):
    """Yield ``function(item, *args)`` for each of ``items``, computed on the cluster and
    returned in the order of ``items``. At most twice as many tasks as the cluster has worker
    threads (at least :data:`MIN_IN_FLIGHT`) are submitted or held unreturned at a time, so
    the items and results in memory stay bounded however many there are."""
    from collections import deque

    queue = deque()
    for item in items:
        queue.append(client.submit(function, item, *args, pure=False))
        if len(queue) >= max(MIN_IN_FLIGHT, 2 * sum(client.nthreads().values())):
            yield queue.popleft().result()
    while queue:
        yield queue.popleft().result()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["WORKER_ENV", "connect", "jobqueue_cluster", "map_in_order", "parse_cluster"]
