"""Bounded inspection of a run file: every read of a damaged file ends within seconds.

HDF5 can hang for hours (deaf to Ctrl-C) or crash on a file that was cut short or overwritten
in places. :func:`probe` therefore reads a run file's metadata in a child process with a time
limit: the provenance, the checkpoint, the length and the ends of every time series, and the
chunk index of every dataset (each chunk must lie inside the file), which is all the metadata a
later read will touch. A file that passes can then be read in-process (the chunk data left to
read can only fail to decompress, which h5py reports as an error). The child is
``python -m llgsim.run.probe PATH``, which prints the summary as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys

from ..errors import InputError

#: seconds a probe may take: a healthy file of any size answers in well under a second
TIMEOUT = 3.0


def probe(path, key: str = "file", timeout: float = TIMEOUT) -> dict:
    """The :func:`summary` of the run file at ``path``, read by a child process within
    ``timeout`` seconds; any failure (not a run file, cut short, damaged, hung, crashed) is one
    InputError naming ``key``."""
    from .runfile import recorded_size

    try:
        size, recorded = recorded_size(path)
    except OSError as exc:
        raise InputError(key, str(path), f"a readable llgsim run file ({exc.strerror})") from None
    damaged = "the file is damaged" if recorded is None or size >= recorded else (
        f"it holds {size} of the {recorded} bytes its header records: cut short")
    try:
        proc = subprocess.run([sys.executable, "-m", "llgsim.run.probe", str(path)],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InputError(key, str(path), f"a readable llgsim run file (HDF5 did not answer "
                         f"within {timeout:g} s reading it; {damaged})") from None
    if proc.returncode < 0:
        raise InputError(key, str(path), f"a readable llgsim run file (HDF5 crashed reading it, "
                         f"signal {-proc.returncode}; {damaged})")
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise InputError(key, str(path), "a readable llgsim run file (the reader failed: "
                         f"{proc.stderr.strip().splitlines()[-1:] or 'no output'})") from None
    if "error" in result:
        raise InputError(key, str(path), result["error"])
    return result


def summary(path) -> dict:
    """What a run file holds (JSON-serialisable): provenance, config text, checkpoint (step,
    time) or None, frames (count, first and last step, dtype) and per observable the entries and
    the last value. Raises InputError (not a run file) or what HDF5 raises."""
    import numpy as np

    from .runfile import Trajectory

    with Trajectory(path) as traj:
        traj.check_storage()
        ck = traj.checkpoint()
        n = traj.n_frames
        frames = {"count": n}
        if n:
            (first, _, _), (last, _, spins) = traj.frame(0), traj.frame(-1)
            frames.update(first=first, last=last, dtype=str(spins.dtype))
        observables = {}
        for name in traj.observable_names:
            steps, _, values = traj.observable(name)
            observables[name] = {"entries": len(steps),
                                 "last": (np.asarray(values[-1]).tolist(), int(steps[-1]))
                                 if len(steps) else None}
        return {"provenance": _jsonable(traj.provenance), "config": traj.config_text,
                "checkpoint": None if ck is None else {"step": ck.step, "time": ck.time},
                "frames": frames, "observables": observables}


def _jsonable(value):
    import numpy as np

    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _main(path: str) -> None:
    try:
        result = summary(path)
    except InputError as exc:
        result = {"error": exc.allowed}
    except Exception as exc:  # noqa: BLE001 (HDF5 raises OSError, KeyError, ValueError, ...)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        result = {"error": f"a readable llgsim run file ({type(exc).__name__}: {first[:160]})"}
    print(json.dumps(result))


if __name__ == "__main__":
    _main(sys.argv[1])
