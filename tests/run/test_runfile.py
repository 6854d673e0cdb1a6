"""Run files: H5MD layout, round trips, checkpoint slots, resume truncation, crash recovery."""

import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from llgsim.errors import InputError
from llgsim.run.runfile import (Checkpoint, Trajectory, TrajectoryWriter, open_for_resume,
                                read_frame)

N = 12


def new_file(path, frame_dtype="float32", compression="lzf"):
    """A run file of N sites whose first checkpoint is :func:`checkpoint` (0)."""
    return TrajectoryWriter.create(
        path, n_sites=N, positions=np.zeros((N, 2)), box=np.eye(2) * 4,
        observables={"energy": (), "magnetization": (3,)}, frame_dtype=frame_dtype,
        compression=compression, config_text="# config\n", provenance={"seed": 3},
        checkpoint=checkpoint(0))


def spins(k):
    v = np.random.default_rng(k).standard_normal((N, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def checkpoint(step):
    return Checkpoint(spins(1000 + step), step, 0.1 * step)


def write_steps(writer, steps):
    for s in steps:
        writer.write_frame(s, 0.1 * s, spins(s))
        writer.write_observables(s, 0.1 * s, {"energy": -s, "magnetization": [s, 0, 1]})


def test_h5md_layout(tmp_path):
    path = tmp_path / "run.h5"
    writer = new_file(path)
    write_steps(writer, [0, 5])
    writer.close()
    with h5py.File(path, "r") as f:
        assert list(f["h5md"].attrs["version"]) == [1, 1]
        assert f["h5md/creator"].attrs["name"] == "llgsim"
        assert "version" in f["h5md/creator"].attrs and "name" in f["h5md/author"].attrs
        value = f["particles/all/spins/value"]
        assert value.shape == (2, N, 3) and value.dtype == np.float32
        assert value.chunks == (1, N, 3) and value.compression == "lzf" and value.shuffle
        assert list(f["particles/all/spins/step"]) == [0, 5]
        assert list(f["observables/energy/value"]) == [0, -5]
        assert f["observables/magnetization/value"].shape == (2, 3)
        assert f["parameters"].attrs["config"] == "# config\n"
        assert f["parameters"].attrs["seed"] == 3
        assert f["parameters"].attrs["run_file_version"] == 2
        assert f["checkpoint/slot"][()] == 0 and f["checkpoint/step"][0] == 0  # from creation


def test_run_file_appears_only_in_swmr_mode(tmp_path, monkeypatch):
    """HDF5 cannot start SWMR writing while a reader holds the file (seen in CI: a test polling
    a starting run killed it, about 1 start in 300 under a tight polling loop), so the file must
    not be at its path before SWMR writing starts (nor before its first checkpoint is in); no
    temporary or lock file is left behind, and an existing path is refused in one line."""
    path = tmp_path / "run.h5"
    seen = []
    start = TrajectoryWriter.__init__

    def spy(self, file, lock):
        seen.append(path.exists())
        start(self, file, lock)
        seen.append(file.swmr_mode)

    monkeypatch.setattr(TrajectoryWriter, "__init__", spy)
    new_file(path).close()
    assert seen == [False, True]
    with pytest.raises(InputError, match="^output.path = .*: expected a file that does not exist"):
        new_file(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]
    with Trajectory(path) as traj:
        assert traj.n_frames == 0 and traj.checkpoint().step == 0


def test_round_trip_frame_by_frame(tmp_path):
    path = tmp_path / "run.h5"
    writer = new_file(path, frame_dtype="float64", compression="none")
    write_steps(writer, range(0, 30, 3))
    writer.close()
    with Trajectory(path) as traj:
        assert traj.n_frames == 10 and traj.observable_names == ["energy", "magnetization"]
        frames = traj.frames(stride=4)
        assert next(frames)[0] == 0  # a generator: frames are read when asked for
        for step, time, s in frames:
            np.testing.assert_array_equal(s, spins(step))
            assert time == pytest.approx(0.1 * step, abs=1e-12)
        assert traj.frame(-1)[0] == 27
        assert traj.checkpoint().step == 0
    np.testing.assert_array_equal(read_frame(path, 2), spins(6))
    with pytest.raises(InputError,
                       match=r"^initial.frame = 10: expected a frame index in \[-10, 10\)"):
        read_frame(path, 10, key="initial")


def test_resume_refuses_a_run_file_of_the_old_noise_generator(tmp_path):
    """Version-1 files stored numpy PCG64 states; their runs cannot continue with the
    counter-based noise: one line says what to do instead."""
    path = tmp_path / "old.h5"
    writer = new_file(path)
    writer.write_checkpoint(checkpoint(4))
    writer.close()
    with h5py.File(path, "r+") as f:
        del f["parameters"].attrs["run_file_version"]
    with pytest.raises(InputError, match='start a new run from its last frame with .initial. '
                                         'kind = "file"'):
        open_for_resume(path)


def test_checkpoint_slots_alternate_and_resume_truncates(tmp_path):
    path = tmp_path / "run.h5"
    writer = new_file(path)
    write_steps(writer, [0, 2, 4])
    writer.write_checkpoint(checkpoint(4))
    write_steps(writer, [6])
    writer.write_checkpoint(checkpoint(7))
    write_steps(writer, [8, 10])
    writer.close()
    with h5py.File(path, "r") as f:  # slot 0: step 0 at creation, then 4 in 1, 7 in 0
        assert f["checkpoint/slot"][()] == 0 and list(f["checkpoint/step"]) == [7, 4]
    writer, ck, text = open_for_resume(path)
    writer.close()
    assert (ck.step, ck.time, text) == (7, 0.1 * 7, "# config\n")
    np.testing.assert_array_equal(ck.spins, spins(1007))
    with Trajectory(path) as traj:
        assert [f[0] for f in traj.frames()] == [0, 2, 4, 6]
        assert list(traj.observable("energy")[0]) == [0, 2, 4, 6]


def test_resume_needs_a_checkpoint(tmp_path):
    """Files of this version always have one (written before the file appears); one without
    (written otherwise) gets a line that says what to do."""
    new_file(tmp_path / "run.h5").close()
    with h5py.File(tmp_path / "run.h5", "r+") as f:
        f["checkpoint/slot"][()] = -1
    with pytest.raises(InputError, match="^output.path = .*: expected a run file with a "
                                         "checkpoint to resume .this one has no intact one; delete it"):
        open_for_resume(tmp_path / "run.h5")
    with pytest.raises(InputError, match="^output.path = .*: expected an existing run file"):
        open_for_resume(tmp_path / "none.h5")
    (tmp_path / "text.h5").write_text("not HDF5")
    with pytest.raises(InputError, match="^output.path = .*: expected a readable llgsim run file"):
        open_for_resume(tmp_path / "text.h5")


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_runfile import checkpoint, new_file, write_steps
    writer = new_file({path!r})
    write_steps(writer, range(0, 40, 2))
    writer.write_checkpoint(checkpoint(40))
    write_steps(writer, range(40, 60, 2))   # after the checkpoint, never flushed
    writer._file["checkpoint/spins"][0] = float("nan")  # a torn write into the free slot
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_file_of_a_killed_writer_opens_and_resumes(tmp_path):
    """SIGKILL leaves HDF5's "open for writing" flags: the reader still opens the file (SWMR),
    frames before the checkpoint are intact, and resume rebuilds it into a clean file."""
    path = tmp_path / "run.h5"
    script = KILLED_WRITER.format(tests=os.path.dirname(__file__), path=str(path))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with pytest.raises(OSError):
        h5py.File(path, "r")  # plain non-SWMR open is refused while the flags are set
    with Trajectory(path) as traj:
        assert traj.checkpoint().step == 40
        for step, _, s in traj.frames(stop=20):
            np.testing.assert_array_equal(s, spins(step).astype(np.float32))
    writer, ck, _ = open_for_resume(path)
    writer.close()
    assert ck.step == 40 and np.isfinite(ck.spins).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]  # no rebuild, lock files
    with h5py.File(path, "r") as f:  # flags cleared: plain h5py opens it again
        assert list(f["particles/all/spins/step"]) == list(range(0, 40, 2))
        assert f["particles/all/spins/value"].compression == "lzf"
        assert f["parameters"].attrs["config"] == "# config\n"
