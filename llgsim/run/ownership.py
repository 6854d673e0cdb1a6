"""One writer per run file: an exclusive advisory lock that a second writer meets with one line.

The writer of ``run.h5`` holds ``flock(LOCK_EX)`` on the hidden file ``.run.h5.lock`` beside
it for as long as it writes, and records there who it is (process id, host, start time,
command). The operating system drops the lock when the process ends, however it ends, so a lock
that can be taken proves that the previous writer is gone: only then may a file be repaired
(llgsim.run.runfile) or its stale temporary files removed. The lock file is removed when the
writer closes; a writer that takes the lock checks that the lock file it locked is still the
one at the path (another writer may have removed and recreated it in between) and otherwise
tries again. Lustre, GPFS, NFS (with its lock manager) and local filesystems support flock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from ..errors import InputError


def lock_path(path) -> Path:
    """The lock file of the run file at ``path``: ``.<name>.lock`` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


class RunFileLock:
    """Exclusive ownership of the run file at ``path`` (module docstring).

    ``RunFileLock(path)`` takes the lock or raises an InputError naming the holder;
    :meth:`release` gives it up (also removing the lock file).
    """

    def __init__(self, path, key: str = "output.path"):
        self.path = Path(path)
        self._lock = lock_path(self.path)
        while True:
            try:
                fd = os.open(self._lock, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise InputError(key, str(self.path), f"a run file in a writable folder "
                                 f"({exc.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_record(fd)
                os.close(fd)
                raise InputError(key, str(self.path), f"a run file no other process writes "
                                 f"(held by {holder}; wait for it to end or stop it)") from None
            try:
                same = os.stat(self._lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the lock file was replaced while we locked it: take the new one
        self._fd = fd
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)

    def release(self) -> None:
        """Remove the lock file and give up the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            os.unlink(self._lock)
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None


def _read_record(fd: int) -> str:
    """The holder of a lock file as "process P on host H since T" (or "another process")."""
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode())
        return (f"process {record['pid']} on host {record['host']} since {record['started']}: "
                f"{record['command']}")
    except (OSError, ValueError, KeyError):
        return "another process"
