"""Opening run files for analysis: probe, rebuild the lattice from the provenance, refuse what
cannot be analysed in one line."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..lattice import Lattice
from ..run.probe import probe
from ..run.runfile import Trajectory


def open_run(path, key: str = "RUN") -> tuple[Trajectory, Lattice]:
    """(Trajectory, Lattice) of the run file at ``path``. The file is probed first (a damaged
    one fails within seconds, llgsim.run.probe); the lattice is rebuilt from the provenance
    attribute "lattice" (Lattice.describe()). A file without frames is refused."""
    if not Path(path).is_file():
        raise InputError(key, str(path), "an existing llgsim run file")
    summary = probe(path, key)
    if not summary["frames"]["count"]:
        raise InputError(key, str(path), "a run file with at least one frame")
    lat = summary["provenance"]["lattice"]
    return Trajectory(path), Lattice.from_kind(lat["kind"], lat["Lx"], lat["Ly"])
