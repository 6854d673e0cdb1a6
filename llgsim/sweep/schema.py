"""The sweep file: its schema and its expansion into points (pure: file -> list of points).

A sweep file (docs/sweeps.md) names a base run config, an output folder and axes over dotted
keys of the run config::

    base = "run.toml"            # relative to the sweep file
    out_dir = "out/seeds"        # relative to the sweep file
    zip = false                  # false: every combination; true: the i-th values together
    [axes]
    "dynamics.seed" = [1, 2, 3, 4]
    "dynamics.temperature.kT_start" = [0.1, 0.2]
    [cluster]                    # llgsim.cluster
    kind = "local"

A point is one value per axis; its run config is the base with those keys replaced (as the
command line's --steps replaces dynamics.steps) and ``output.path`` set to
``out_dir/<point name>.h5``. Every point is validated here, so a sweep that starts has no bad
point.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cluster import parse_cluster
from ..errors import InputError
from ..run.schema import flatten, parse_config
from ..run.tables import Table, load_toml, read_config_text, validate

#: the longest point name (file names of most filesystems may have 255 bytes)
MAX_NAME = 200


class SweepTable(Table):
    base: str
    out_dir: str
    zip: bool = False
    axes: dict[str, list[Any]]
    cluster: Any = None  # a [cluster] table (llgsim.cluster.parse_cluster)


@dataclass(frozen=True)
class Point:
    """One run of a sweep: ``name`` (its run file is ``<name>.h5``) and ``overrides``, dotted
    key path -> value, one per axis, in the order of the axes."""

    name: str
    overrides: dict


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: the base config (path, TOML text), the output folder (absolute),
    the points in order and the [cluster] table."""

    path: Path
    base_path: Path
    base_text: str
    out_dir: Path
    points: tuple[Point, ...]
    cluster: Any

    def run_path(self, point: Point) -> Path:
        """The run file of ``point``."""
        return self.out_dir / f"{point.name}.h5"

    def run_overrides(self, point: Point) -> dict:
        """The overrides that make the base config the run config of ``point``."""
        return {**point.overrides, "output.path": str(self.run_path(point))}

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / "manifest.csv"


def load_sweep(path) -> Sweep:
    """Read and validate the sweep file at ``path`` and every point of it; errors are one-line
    InputErrors naming the key (a point's run config error also names the base and the point)."""
    path = Path(path)
    text = read_config_text(path)
    try:
        table = validate(SweepTable, load_toml(text))
    except InputError as exc:
        allowed = exc.allowed.replace("running.md", "sweeps.md")
        raise InputError(exc.name, exc.value, allowed) from None
    cluster = parse_cluster(table.cluster)
    folder = path.absolute().parent
    base_path = folder / table.base
    try:
        base_text = read_config_text(base_path)
    except InputError as exc:
        raise InputError("base", table.base, exc.allowed) from None
    out_dir = Path(os.path.normpath(folder / table.out_dir))  # "runs/x/../../out" -> "out"
    sweep = Sweep(path, base_path, base_text, out_dir,
                  expand(table.axes, table.zip), cluster)
    for point in sweep.points:
        _check_point(sweep, point, table.axes)
    return sweep


def expand(axes: dict, zipped: bool) -> tuple[Point, ...]:
    """The points of ``axes`` (dotted key -> list of values): every combination, the first axis
    varying slowest, or with ``zipped`` the i-th values of all axes together."""
    if not axes:
        raise InputError("axes", {}, 'at least one axis, e.g. "dynamics.seed" = [1, 2, 3]')
    for key, values in axes.items():
        if not values:
            raise InputError(f"axes.{key}", values, "a list of at least one value")
        if key == "output.path":
            raise InputError(f"axes.{key}", values, "another key: each point's run file is "
                             "out_dir/<point name>.h5")
    keys = list(axes)
    if zipped:
        lengths = {len(v) for v in axes.values()}
        if len(lengths) > 1:
            key = next(k for k in keys if len(axes[k]) != len(axes[keys[0]]))
            raise InputError(f"axes.{key}", axes[key], f"{len(axes[keys[0]])} values, as many "
                             f"as axes.{keys[0]} (zip = true takes the i-th value of each axis)")
        combos = zip(*axes.values())
    else:
        combos = itertools.product(*axes.values())
    labels = _labels(keys)
    points = tuple(_point(dict(zip(keys, combo)), labels) for combo in combos)
    twice = next((n for n, count in Counter(p.name for p in points).items() if count > 1), None)
    if twice is not None:
        raise InputError("axes", axes, f"distinct points (two points are named {twice!r}: "
                         "an axis repeats a value)")
    return points


def _labels(keys: list[str]) -> dict:
    """The label of each axis in point names: the last part of its key (seed for
    dynamics.seed), or the whole key where two axes share the last part."""
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return {key: short if last.count(short) == 1 else key for key, short in zip(keys, last)}


def _point(overrides: dict, labels: dict) -> Point:
    """The point of these overrides, named ``label=value_label=value`` (labels: :func:`_labels`,
    values: :func:`_value_text`); names too long for a file end in a hash of the overrides."""
    name = "_".join(f"{labels[key]}={_value_text(value)}" for key, value in overrides.items())
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(json.dumps(overrides).encode()).hexdigest()[:16]
        name = f"{name[:MAX_NAME - 17]}~{digest}"
    return Point(name, overrides)


def _value_text(value) -> str:
    """A value as it appears in a point name: strings as they are, other values as JSON, with
    characters other than letters, digits and ``. , + -`` replaced by ``_``, in which case a
    short hash of the value keeps the name unique."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    safe = re.sub(r"[^A-Za-z0-9.,+-]", "_", text)
    if safe != text:
        safe += "~" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return safe


def _check_point(sweep: Sweep, point: Point, axes: dict) -> None:
    """Validate the run config of ``point``: a key the run config does not have is named as
    its axis; any other refusal names the key and adds the base and the point."""
    try:
        parse_config(sweep.base_text, sweep.run_overrides(point))
    except InputError as exc:
        if exc.name in axes and exc.allowed.startswith("no such key"):
            written = sorted(flatten(load_toml(sweep.base_text)))
            close = difflib.get_close_matches(exc.name, written, n=1)
            hint = f"did you mean {close[0]}?" if close else "see docs/running.md"
            raise InputError(f"axes.{exc.name}", axes[exc.name], f"a key of the run config "
                             f"{sweep.base_path.name} ({hint})") from None
        raise InputError(exc.name, exc.value, f"{exc.allowed} (base {sweep.base_path.name}, "
                         f"point {point.name})") from None
