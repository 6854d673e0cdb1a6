"""The manifest of a sweep: ``out_dir/manifest.csv``, one row per point, in the sweep's order.

Columns:

* ``name``: the point's name (llgsim.sweep.schema);
* ``status``: ``pending``, ``running``, ``done`` (its run file reached its last step) or
  ``failed``;
* ``overrides``: JSON object of the point's values, dotted key path -> value;
* ``path``: its run file, relative to the manifest's folder;
* ``error``: why the point failed (one line; empty otherwise).

Only the client of a sweep writes the manifest, and always whole: to a temporary file beside it,
then ``os.replace``, so a reader at any moment finds a complete manifest, old or new.
"""

from __future__ import annotations

import csv
import json
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InputError

COLUMNS = ("name", "status", "overrides", "path", "error")
STATUSES = ("pending", "running", "done", "failed")


@dataclass(frozen=True)
class ManifestRow:
    """One point: name, status, overrides (dict), path of its run file (absolute when read by
    :func:`read_manifest`), error (empty unless failed)."""

    name: str
    status: str
    overrides: dict
    path: Path
    error: str = ""


class Manifest:
    """The manifest of a running sweep, held by its client. Every change rewrites the file;
    changes may come from several threads (Dask reports task starts on its own thread)."""

    def __init__(self, path, rows):
        self.path = Path(path)
        self._rows = {row.name: row for row in rows}
        self._lock = threading.Lock()
        with self._lock:
            self._write()

    @property
    def rows(self) -> list[ManifestRow]:
        with self._lock:
            return list(self._rows.values())

    def start(self, name: str) -> None:
        """Point ``name`` runs (a pending point only: a report of a start may arrive after the
        point's result)."""
        with self._lock:
            if self._rows[name].status == "pending":
                self._rows[name] = replace(self._rows[name], status="running")
                self._write()

    def finish(self, name: str, status: str, error: str = "") -> None:
        """Point ``name`` ended: ``status`` "done" or "failed" (with the one-line ``error``)."""
        with self._lock:
            self._rows[name] = replace(self._rows[name], status=status, error=error)
            self._write()

    def _write(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(COLUMNS)
            for row in self._rows.values():
                out.writerow([row.name, row.status, json.dumps(row.overrides),
                              os.path.relpath(row.path, self.path.parent), row.error])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def read_manifest(path) -> list[ManifestRow]:
    """The rows of the sweep manifest at ``path``, run file paths made absolute; a file that is
    not a manifest is one InputError."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            table = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError("manifest", str(path), f"a readable sweep manifest ({exc})") from None
    if not table or tuple(table[0]) != COLUMNS:
        raise InputError("manifest", str(path), f"a sweep manifest (CSV with the columns "
                         f"{', '.join(COLUMNS)})")
    rows = []
    for k, cells in enumerate(table[1:], start=2):
        try:
            name, status, overrides, run, error = cells
            row = ManifestRow(name, status, json.loads(overrides), path.absolute().parent / run,
                              error)
        except ValueError:
            row = None
        if row is None or row.status not in STATUSES or not isinstance(row.overrides, dict):
            raise InputError("manifest", str(path), f"a sweep manifest (line {k} is not a "
                             f"row of {', '.join(COLUMNS)} with a status of {STATUSES})")
        rows.append(row)
    return rows


def done_run_paths(path) -> list[Path]:
    """The run files of the points that are done, in the sweep's order, from the manifest at
    ``path`` (e.g. the seeds to average)."""
    return [row.path for row in read_manifest(path) if row.status == "done"]
