"""Trajectory files: HDF5 in the H5MD 1.1 layout, with the run's latest checkpoint inside.

One file is the whole run: spin frames, scalar observables, the run config and provenance, and
a full-precision checkpoint. docs/file_format.md documents the schema; plain h5py reads it.

Crash safety. The writer uses HDF5's single-writer/multiple-reader mode (SWMR, libver "latest"):
every group, dataset and attribute is created before SWMR starts (under a temporary name: the
file appears at its path only in SWMR mode, since a reader there would stop SWMR from
starting), after which the writer only resizes, writes and flushes, so the file on disk is
consistent at every instant, also when the process is killed. The checkpoint has two slots; a
new checkpoint goes to the slot not in use, is flushed, and only then is the one-integer record
``checkpoint/slot`` switched to it and flushed again, so a kill at any moment leaves the
previous checkpoint valid; a new file appears at its path with its first checkpoint already
in it. A file whose writer was killed keeps HDF5's "open for writing" flags: it opens read-only
in SWMR mode (which :class:`Trajectory` always uses), and :func:`open_for_resume` rebuilds it
into a fresh file (temporary file + atomic ``os.replace``) before appending.

Ownership. A writer (new or resumed) first takes the run file's lock (llgsim.run.ownership):
a second writer is refused with one line naming the holder, and a file is repaired, and stale
temporary files of a killed writer (``.<name>.new``, ``.<name>.rebuild``) removed, only by a
writer holding the lock, that is, when the previous writer is provably gone.

Failures. HDF5 can hang for hours on a file cut short (its chunk index lies partly beyond
the end), so commands read unknown files first through llgsim.run.probe, which gives up after
a few seconds. Filesystem errors while writing (full disk, quota, vanished storage) raise
:class:`RunFileError`, after which the file keeps its last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError
from .ownership import RunFileLock

H5MD_VERSION = (1, 1)
SPINS = "particles/all/spins"
OBSERVABLES = "observables"
CHECKPOINT = "checkpoint"
PARAMETERS = "parameters"
_SERIES_CHUNK = 1024  # entries per chunk of step/time/scalar-value datasets
_COPY_BYTES = 1 << 26  # block size when a recovery copies a time series
_JSON_ATTRS = ("lattice", "provider", "overrides")  # /parameters attributes holding JSON
#: 2: counter-based noise, checkpoints without generator state (1: numpy PCG64 state stored)
RUN_FILE_VERSION = 2


class RunFileError(RuntimeError):
    """Writing the run file failed (filesystem error); the message is one line and the file
    keeps its last complete checkpoint."""


@dataclass(frozen=True)
class Checkpoint:
    """Exact run state at the start of step ``step``. The noise is keyed by (seed, step)
    (llgsim.kernels.philox), so spins and step are the whole state.

    spins : (N, 3) float64.
    step  : int, steps completed.
    time  : float, simulated time (hbar / t_1).
    """

    spins: np.ndarray
    step: int
    time: float


# ---------------------------------------------------------------------- writing

class TrajectoryWriter:
    """Appends frames, observables and checkpoints to a run file in SWMR mode.

    Build with :meth:`create` (new file) or :func:`open_for_resume`. Frames are (N, 3) arrays
    stored in the file's frame dtype, one frame per chunk; observables are float64 values of
    the shape declared at creation.
    """

    def __init__(self, file: h5py.File, lock: RunFileLock):
        self._file, self._lock = file, lock
        self._failed = False
        self._file.swmr_mode = True
        # dataset handles of every series, (value, time, step) in the order _append writes them
        self._series = {name: tuple(file[f"{name}/{d}"] for d in ("value", "time", "step"))
                        for name in _series_groups(file)}

    @classmethod
    def create(cls, path, *, n_sites: int, positions: np.ndarray, box: np.ndarray,
               observables: dict[str, tuple], frame_dtype: str, compression: str,
               config_text: str, provenance: dict, checkpoint: Checkpoint,
               overwrite: bool = False) -> "TrajectoryWriter":
        """Create the file at ``path`` (which must not exist, unless ``overwrite``) with every
        dataset and attribute and its first ``checkpoint``, as the owner of its lock.

        positions   : (N, 2) float64 site positions (lattice constants).
        box         : (2, 2) float64 periodic box edge vectors as rows.
        observables : name -> shape of one value (() for a scalar).
        frame_dtype : "float32" or "float64"; compression: "lzf" (with shuffle) or "none".
        provenance  : str -> str or number, written as attributes of /parameters.

        The file is built under a temporary name beside ``path`` and linked to ``path`` only
        once SWMR writing has started and the checkpoint is in: HDF5 refuses to start SWMR
        writing while a reader has the file open, so a reader polling ``path`` (``llgsim
        info``, a monitoring script) could otherwise kill a starting run, and a file that
        appears always resumes. Filesystem errors are InputErrors (nothing was run yet).
        """
        path = Path(path)
        lock = RunFileLock(path)
        tmp = path.with_name(f".{path.name}.new")
        try:
            if path.exists():
                if not overwrite:
                    raise InputError("output.path", str(path), "a file that does not exist yet "
                                     "(use --resume to continue it or --overwrite to replace it)")
                path.unlink()
            tmp.unlink(missing_ok=True)  # left by a writer killed while creating the file
            f = h5py.File(tmp, "w", libver="latest")
        except OSError as exc:
            lock.release()
            raise InputError("output.path", str(path),
                             f"a writable location ({_reason(exc)})") from None
        except BaseException:
            lock.release()
            raise
        try:
            h5md = f.create_group("h5md")
            h5md.attrs["version"] = np.array(H5MD_VERSION, dtype=np.int32)
            from .. import __version__

            f.create_group("h5md/author").attrs["name"] = "llgsim user"
            creator = f.create_group("h5md/creator")
            creator.attrs["name"], creator.attrs["version"] = "llgsim", __version__
            group = f.create_group("particles/all")
            boxg = group.create_group("box")
            boxg.attrs["dimension"] = np.int32(2)
            boxg.attrs["boundary"] = np.array([b"periodic", b"periodic"])
            boxg.create_dataset("edges", data=np.asarray(box, dtype=np.float64))
            group.create_dataset("position", data=np.asarray(positions, dtype=np.float64))
            filters = {"compression": "lzf", "shuffle": True} if compression == "lzf" else {}
            _create_series(f.create_group(SPINS), (n_sites, 3), frame_dtype, (1, n_sites, 3),
                           filters)
            for name, shape in observables.items():
                _create_series(f.create_group(f"{OBSERVABLES}/{name}"), tuple(shape), "float64",
                               (_SERIES_CHUNK, *shape), {})
            ck = f.create_group(CHECKPOINT)
            ck.create_dataset("slot", data=np.int64(-1))
            ck.create_dataset("spins", shape=(2, n_sites, 3), dtype=np.float64)
            ck.create_dataset("step", shape=(2,), dtype=np.int64)
            ck.create_dataset("time", shape=(2,), dtype=np.float64)
            ck.create_dataset("digest", shape=(2, 32), dtype=np.uint8)
            params = f.create_group(PARAMETERS)
            params.attrs["config"] = config_text
            params.attrs["run_file_version"] = RUN_FILE_VERSION
            for key, value in provenance.items():
                params.attrs[key] = value
            f.flush()
            writer = cls(f, lock)
            writer.write_checkpoint(checkpoint)
            os.link(tmp, path)  # atomic, and refuses an existing path as mode "x" would
            return writer
        except BaseException as exc:
            _close_quietly(f)
            lock.release()
            if isinstance(exc, (OSError, RunFileError)):
                raise InputError("output.path", str(path),
                                 f"a writable location ({_reason(exc)})") from None
            raise
        finally:
            tmp.unlink(missing_ok=True)

    def write_frame(self, step: int, time: float, spins: np.ndarray) -> None:
        """Append one (N, 3) frame."""
        with self._failures(step):
            _append(self._series[SPINS], step, time, spins)

    def write_observables(self, step: int, time: float, values: dict) -> None:
        """Append one entry to each named observable series."""
        with self._failures(step):
            for name, value in values.items():
                _append(self._series[f"{OBSERVABLES}/{name}"], step, time, value)

    def write_checkpoint(self, ck: Checkpoint) -> None:
        """Store ``ck`` in the free slot, then switch the slot record (module docstring)."""
        with self._failures(ck.step):
            group = self._file[CHECKPOINT]
            slot = 1 - int(group["slot"][()]) if group["slot"][()] >= 0 else 0
            self._file.flush()  # frames and observables before the checkpoint that covers them
            group["spins"][slot] = np.asarray(ck.spins, dtype=np.float64)
            group["step"][slot] = ck.step
            group["time"][slot] = ck.time
            group["digest"][slot] = checkpoint_digest(ck.spins, ck.step, ck.time)
            self._file.flush()
            group["slot"][()] = slot
            self._file.flush()

    @contextmanager
    def _failures(self, step: int):
        """Turn a filesystem error into a one-line RunFileError."""
        try:
            yield
        except (OSError, RuntimeError) as exc:  # h5py reports failed writes as either
            self._failed = True
            raise RunFileError(f"step {step}: cannot write {self._lock.path} "
                               f"({_reason(exc)})") from None

    @property
    def overrides(self) -> dict:
        """The config overrides recorded at creation (dotted key path -> value): with the stored
        config text they make the config the file was run with."""
        return json.loads(self._file[PARAMETERS].attrs.get("overrides", "{}"))

    def close(self) -> None:
        """Close the file and give up its lock. After a failed write the HDF5 file is left
        unclosed (closing flushes the failed writes again, and HDF5 has crashed doing so): the
        process should end without its exit handlers (the command line does)."""
        try:
            if not self._failed:
                self._file.close()
        finally:
            self._lock.release()


def _create_series(group, value_shape, dtype, chunks, filters) -> None:
    """H5MD time series: step (T,) int64, time (T,) float64, value (T, *value_shape)."""
    group.create_dataset("step", shape=(0,), maxshape=(None,), dtype=np.int64,
                         chunks=(_SERIES_CHUNK,))
    group.create_dataset("time", shape=(0,), maxshape=(None,), dtype=np.float64,
                         chunks=(_SERIES_CHUNK,))
    group.create_dataset("value", shape=(0, *value_shape), maxshape=(None, *value_shape),
                         dtype=dtype, chunks=chunks, **filters)


def _append(datasets, step, time, value) -> None:
    """Append one entry to the (value, time, step) datasets of a series."""
    n = datasets[0].shape[0]
    for ds, item in zip(datasets, (value, time, step)):
        ds.resize(n + 1, axis=0)
        ds[n] = item


def _series_length(group) -> int:
    """Entries present in all of step, time and value (a killed writer may leave them unequal)."""
    return min(group[name].shape[0] for name in ("step", "time", "value"))


def _series_groups(f: h5py.File) -> list[str]:
    return [SPINS] + [f"{OBSERVABLES}/{name}" for name in f.get(OBSERVABLES, {})]


def _entries_before(group, step: int) -> int:
    """Length of the leading run of entries with increasing steps below ``step`` (entries past
    the checkpoint of a killed writer may hold unwritten fill values, so do not bisect)."""
    steps = group["step"][:_series_length(group)]
    ok = steps < step
    ok[1:] &= np.diff(steps) > 0
    return int(ok.size if ok.all() else np.argmin(ok))


def checkpoint_digest(spins, step: int, time: float) -> np.ndarray:
    """sha256 (32 uint8) of a checkpoint: float64 spins bytes, step and time."""
    h = hashlib.sha256(np.ascontiguousarray(spins, dtype="<f8").tobytes())
    h.update(np.array([step], dtype="<i8").tobytes() + np.array([time], dtype="<f8").tobytes())
    return np.frombuffer(h.digest(), dtype=np.uint8)


def _valid_slot(f: h5py.File) -> tuple[int, Checkpoint] | None:
    """(slot, checkpoint) of the current slot, or of the other slot (older, valid) when the
    current one fails its digest (damaged on disk); None before the first checkpoint or when
    neither slot is intact."""
    group = f[CHECKPOINT]
    slot = int(group["slot"][()])
    if slot not in (0, 1):
        return None
    for s in (slot, 1 - slot):
        ck = Checkpoint(group["spins"][s], int(group["step"][s]), float(group["time"][s]))
        if "digest" not in group:  # written before digests (0.1.0): the slot record is all
            return s, ck
        if np.array_equal(group["digest"][s], checkpoint_digest(ck.spins, ck.step, ck.time)):
            return s, ck
    return None


def _checkpoint(f: h5py.File) -> Checkpoint | None:
    found = _valid_slot(f)
    return None if found is None else found[1]


def open_for_resume(path) -> tuple[TrajectoryWriter, Checkpoint, str]:
    """Open a run file to continue it from its checkpoint, as the owner of its lock.

    Series entries at or after the checkpoint step are dropped (the resumed run writes them
    again, identically). A file left behind by a killed writer is first rebuilt from its valid
    part. Returns (writer, checkpoint, stored config text). Every refusal is one InputError:
    a file another process writes is refused before it is read (a reader could meet it half
    written); a damaged one within seconds, never a hang (llgsim.run.probe, run in a child).
    """
    from .probe import probe

    path = Path(path)
    if not path.exists():
        raise InputError("output.path", str(path), "an existing run file to resume")
    lock = RunFileLock(path)
    try:
        probe(path, "output.path")
        for stale in (path.with_name(f".{path.name}.new"), _rebuild_path(path)):
            stale.unlink(missing_ok=True)  # left by a killed writer: the lock proves it gone
        try:
            f = h5py.File(path, "r+", libver="latest")
        except OSError:  # flagged open by a killed SWMR writer (it is gone: we hold the lock)
            try:
                _rebuild(path)
                f = h5py.File(path, "r+", libver="latest")
            except (OSError, KeyError, RuntimeError, ValueError) as exc:
                raise InputError("output.path", str(path),
                                 f"a readable llgsim run file ({_reason(exc)})") from None
    except BaseException:
        lock.release()
        raise
    try:
        if f[PARAMETERS].attrs.get("run_file_version") != RUN_FILE_VERSION:
            raise InputError("output.path", str(path), "a run file of this llgsim version (its "
                             "noise generator changed; start a new run from its last frame with "
                             '[initial] kind = "file")')
        found = _valid_slot(f) if CHECKPOINT in f else None
        if found is None:
            raise InputError("output.path", str(path), "a run file with a checkpoint to resume "
                             "(this one has no intact one; delete it and start the run again)")
        slot, ck = found
        f[CHECKPOINT]["slot"][()] = slot  # the next checkpoint goes to the other (damaged) slot
        for name in _series_groups(f):
            n = _entries_before(f[name], ck.step)
            for ds in f[name].values():
                ds.resize(n, axis=0)
        config_text = str(f[PARAMETERS].attrs["config"])
        return TrajectoryWriter(f, lock), ck, config_text
    except BaseException as exc:
        _close_quietly(f)
        lock.release()
        if isinstance(exc, (OSError, KeyError, ValueError)) and not isinstance(exc, InputError):
            raise InputError("output.path", str(path),
                             f"a readable llgsim run file ({_reason(exc)})") from None
        raise


def _rebuild_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.rebuild")


def _rebuild(path: Path) -> None:
    """Copy the valid part of a crashed run file (everything, with each time series cut before
    the checkpoint step) to a temporary file, then atomically replace the original."""
    tmp = _rebuild_path(path)
    try:
        with h5py.File(path, "r", libver="latest", swmr=True) as src, \
                h5py.File(tmp, "w", libver="latest") as dst:
            ck = _checkpoint(src)
            cut = {name: (_entries_before(src[name], ck.step) if ck else 0)
                   for name in _series_groups(src)}
            _copy_attrs(src, dst)

            def visit(name, obj):
                if isinstance(obj, h5py.Group):
                    _copy_attrs(obj, dst.require_group(name))
                    return
                series = name.rsplit("/", 1)[0]
                n = cut.get(series, obj.shape[0] if obj.shape else None)
                shape = obj.shape if n is None else (n, *obj.shape[1:])
                out = dst.create_dataset(name, shape=shape, dtype=obj.dtype, chunks=obj.chunks,
                                         maxshape=obj.maxshape, compression=obj.compression,
                                         shuffle=obj.shuffle)
                if n is None:
                    out[()] = obj[()]
                else:
                    row = obj.dtype.itemsize * int(np.prod(shape[1:]))
                    block = max(1, _COPY_BYTES // max(1, row))
                    for start in range(0, n, block):
                        out[start:start + block] = obj[start:min(n, start + block)]
                _copy_attrs(obj, out)

            src.visititems(visit)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def recorded_size(path) -> tuple[int, int | None]:
    """(size of the file in bytes, end-of-file address its HDF5 superblock records or None).

    Superblocks of version 2 and 3 (libver "latest") hold, after the signature, version,
    offset size O, length size and flags, the base, extension and end-of-file addresses of O
    bytes each. A file shorter than its recorded end was cut short, or its last writes failed
    (a full disk: HDF5 reserves space before it writes it); which one, only reading can tell."""
    with open(path, "rb") as f:
        head = f.read(48)
        size = os.fstat(f.fileno()).st_size
    version, offsets = (head[8], head[9]) if len(head) >= 10 else (None, None)
    if head[:8] != b"\x89HDF\r\n\x1a\n" or version not in (2, 3) or offsets not in (4, 8):
        return size, None
    base = int.from_bytes(head[12:12 + offsets], "little")
    return size, base + int.from_bytes(head[12 + 2 * offsets:12 + 3 * offsets], "little")


def _reason(exc: BaseException) -> str:
    """The reason of a filesystem or HDF5 error in a few words (HDF5 wraps the operating
    system's message in its own)."""
    text = str(exc)
    match = re.search(r"error message = '([^']*)'", text)
    if match:
        return match.group(1)
    if isinstance(exc, OSError) and exc.errno and exc.strerror:
        return exc.strerror
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 160 else first[:157] + "..."


def _close_quietly(f: h5py.File) -> None:
    """Close a file after a failure; a second error from HDF5 must not hide the first."""
    try:
        f.close()
    except Exception:  # noqa: BLE001 (HDF5 raises many kinds after a failed write)
        pass


def _copy_attrs(src, dst) -> None:
    for key, value in src.attrs.items():
        dst.attrs[key] = value


# ---------------------------------------------------------------------- reading

class Trajectory:
    """Read-only view of a run file (also of one still being written or left by a killed run).

        with Trajectory("out/run.h5") as traj:
            for step, time, spins in traj.frames():
                ...
    """

    def __init__(self, path):
        self.path = Path(path)
        self._file = h5py.File(self.path, "r", libver="latest", swmr=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def config_text(self) -> str:
        """The run config (TOML text) the file was created with."""
        return str(self._file[PARAMETERS].attrs["config"])

    @property
    def provenance(self) -> dict:
        """Attributes of /parameters other than the config; JSON strings decoded."""
        out = {}
        for key, value in self._file[PARAMETERS].attrs.items():
            if key != "config":
                out[key] = (json.loads(value) if key in _JSON_ATTRS
                            else value.item() if isinstance(value, np.generic) else value)
        return out

    @property
    def n_frames(self) -> int:
        return _series_length(self._file[SPINS])

    def frame(self, index: int) -> tuple[int, float, np.ndarray]:
        """(step, time, spins (N, 3) in the stored dtype) of frame ``index`` (negative counts
        from the end)."""
        n = self.n_frames
        if not -n <= index < n:
            raise IndexError(f"frame {index} of {n}")
        index %= n
        group = self._file[SPINS]
        return int(group["step"][index]), float(group["time"][index]), group["value"][index]

    def frames(self, start: int = 0, stop: int | None = None, stride: int = 1):
        """Yield (step, time, spins) frame by frame, reading one frame at a time."""
        for index in range(*slice(start, stop, stride).indices(self.n_frames)):
            yield self.frame(index)

    @property
    def observable_names(self) -> list[str]:
        return sorted(self._file.get(OBSERVABLES, {}))

    def observable(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(step (T,) int64, time (T,) float64, value (T, ...) float64) of one observable."""
        group = self._file[f"{OBSERVABLES}/{name}"]
        n = _series_length(group)
        return group["step"][:n], group["time"][:n], group["value"][:n]

    def checkpoint(self) -> Checkpoint | None:
        """The latest complete checkpoint, or None before the first one."""
        return _checkpoint(self._file)

    def check_storage(self) -> None:
        """Walk the chunk index of every dataset and check that each chunk lies inside the file
        (ValueError otherwise): this reads all the metadata that any later read touches."""
        size = os.path.getsize(self.path)

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.chunks is not None:
                ends = []
                obj.id.chunk_iter(lambda info: ends.append(info.byte_offset + info.size))
                if ends and max(ends) > size:
                    raise ValueError(f"a chunk of {name} lies beyond the end of the file")

        self._file.visititems(visit)


def read_frame(path, index: int, key: str = "file") -> np.ndarray:
    """Spins of frame ``index`` of the trajectory at ``path``; any failure is an InputError
    naming ``key``.path or ``key``.frame. The file is probed first (llgsim.run.probe), so a
    damaged one fails within seconds."""
    from .probe import probe

    if not Path(path).is_file():
        raise InputError(f"{key}.path", str(path), "an existing llgsim trajectory file")
    probe(path, f"{key}.path")
    try:
        with Trajectory(path) as traj:
            n = traj.n_frames
            if not -n <= index < n:
                raise InputError(f"{key}.frame", index, f"a frame index in [{-n}, {n}) for {path}")
            return np.asarray(traj.frame(index)[2])
    except InputError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as exc:  # h5py raises all of these
        raise InputError(f"{key}.path", str(path),
                         f"a readable llgsim run file ({type(exc).__name__}: {exc})") from None
