"""Fault injection: real ``llgsim run`` processes killed with SIGKILL at random moments
(creation, frame writes, checkpoints), run files cut short or overwritten at random offsets,
and disks that fill up at random sizes. After every fault, ``llgsim info`` answers within 5 s
(its summary or one line), and ``--resume`` either ends bit for bit where the uninterrupted run
ends or refuses in one line; no frame before the checkpoint of a killed run is lost, and no
temporary or lock file is left once the run is resumed.

The default run draws a few faults of each kind; ``pytest -m slow`` draws >= 50 kills and
dozens of the others and prints the counts (BENCHMARKS.md, "Fault injection").
"""

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import classical_run_toml
from llgsim.run.runfile import Trajectory

LLGSIM = str(Path(sys.executable).parent / "llgsim")
ANSWER_SECONDS = 5.0  # info must answer a damaged file within this (the bar)
CLI_START = 4.0  # starting two interpreters (the command, the probe) on a loaded 2-core machine
TOTAL = 800
PART = 400  # the damaged files are copies of the run stopped here

CONFIG = classical_run_toml(TOTAL)


def llgsim(*args, cwd, timeout=300, **kwargs):
    return subprocess.run([LLGSIM, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, its wall time, and a copy stopped at step PART (the base of the
    damage faults: a run to resume)."""
    folder = tmp_path_factory.mktemp("reference")
    (folder / "run.toml").write_text(CONFIG)
    start = time.monotonic()
    assert llgsim("run", "run.toml", cwd=folder).returncode == 0
    seconds = time.monotonic() - start
    assert llgsim("run", "run.toml", "--steps", str(PART), "--out", "part.h5",
                  cwd=folder).returncode == 0
    return folder / "run.h5", folder / "part.h5", seconds


def assert_same_run(path, reference):
    with Trajectory(path) as a, Trajectory(reference) as b:
        assert a.n_frames == b.n_frames
        for fa, fb in zip(a.frames(), b.frames()):
            assert fa[:2] == fb[:2]
            np.testing.assert_array_equal(fa[2], fb[2])
        for name in b.observable_names:
            for xa, xb in zip(a.observable(name), b.observable(name)):
                np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(a.checkpoint().spins, b.checkpoint().spins)
        assert a.checkpoint().step == b.checkpoint().step


def info_answers(folder, name="run.h5") -> bool:
    """``llgsim info`` answers within the bar; True if it read the file, False if it refused
    in one line."""
    start = time.monotonic()
    result = llgsim("info", name, cwd=folder, timeout=60)
    assert time.monotonic() - start < ANSWER_SECONDS + CLI_START, "info took too long"
    assert "Traceback" not in result.stderr
    if result.returncode == 0:
        return True
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    return False


def resume_or_refuse(folder, reference, damaged: bool = False) -> str:
    """--resume ends bit for bit like the reference ("resumed") or refuses in one line
    ("refused"). For a ``damaged`` file only what the resumed run wrote is compared (frames
    from its checkpoint on and the final checkpoint): damage to earlier frames is not undone."""
    result = llgsim("run", "run.toml", "--resume", cwd=folder)
    if result.returncode == 0:
        if not damaged:
            assert_same_run(folder / "run.h5", reference)
            return "resumed"
        start = int(result.stdout.split("(steps ")[1].split(" ->")[0])
        with Trajectory(folder / "run.h5") as a, Trajectory(reference) as b:
            for fa, fb in zip(a.frames(start=start), b.frames(start=start)):
                assert fa[:2] == fb[:2]
                np.testing.assert_array_equal(fa[2], fb[2])
            assert a.n_frames == b.n_frames
            np.testing.assert_array_equal(a.checkpoint().spins, b.checkpoint().spins)
        return "resumed from its checkpoint" if start == PART else "resumed from an older one"
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return "refused"


def no_leftovers(folder):
    assert sorted(p.name for p in folder.iterdir()) == ["run.h5", "run.toml"]


# ---------------------------------------------------------------------- kills

def kill_once(folder, reference, delay) -> str:
    """SIGKILL a run ``delay`` seconds after its start; check the file and resume it."""
    (folder / "run.toml").write_text(CONFIG)
    proc = subprocess.Popen([LLGSIM, "run", "run.toml"], cwd=folder, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    if proc.returncode == 0:
        outcome = "finished before the kill"
    elif not (folder / "run.h5").exists():
        outcome = "killed before the file appeared"
        result = llgsim("run", "run.toml", cwd=folder)  # nothing to resume: start again
        assert result.returncode == 0, result.stderr
        assert_same_run(folder / "run.h5", reference)
        no_leftovers(folder)
        return outcome
    else:
        outcome = "killed while running"
    assert info_answers(folder)
    with Trajectory(folder / "run.h5") as traj, Trajectory(reference) as ref:
        ck = traj.checkpoint()  # every frame before the checkpoint is the reference's
        for mine, theirs in zip(traj.frames(stop=ck.step), ref.frames(stop=ck.step)):
            assert mine[0] == theirs[0]
            np.testing.assert_array_equal(mine[2], theirs[2])
    assert resume_or_refuse(folder, reference) == "resumed"
    no_leftovers(folder)
    return outcome


@pytest.mark.parametrize("n_kills", [3, pytest.param(60, marks=pytest.mark.slow)])
def test_kills_at_random_moments(tmp_path, reference, n_kills):
    whole, _, seconds = reference
    rng = np.random.default_rng(n_kills)
    outcomes = Counter()
    for k in range(n_kills):
        folder = tmp_path / f"kill{k}"
        folder.mkdir()
        outcomes[kill_once(folder, whole, rng.uniform(0.05, 1.1 * seconds))] += 1
        shutil.rmtree(folder)
    print(f"\nkills: {n_kills} over a {seconds:.1f} s run: {dict(outcomes)}")
    assert sum(outcomes.values()) == n_kills


# ---------------------------------------------------------------------- damaged files

def damage(path, rng, kind):
    size = path.stat().st_size
    offset = int(rng.integers(0, size))
    if kind == "cut":
        os.truncate(path, offset)
    else:
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(rng.integers(0, 256, int(rng.integers(1, 257)), dtype=np.uint8).tobytes())


@pytest.mark.parametrize("n_cases", [2, pytest.param(30, marks=pytest.mark.slow)])
@pytest.mark.parametrize("kind", ["cut", "overwrite"])
def test_damaged_files_get_an_answer_and_never_a_wrong_resume(tmp_path, reference, kind,
                                                              n_cases):
    whole, part, _ = reference
    rng = np.random.default_rng(n_cases)
    outcomes = Counter()
    for k in range(n_cases):
        folder = tmp_path / f"{kind}{k}"
        folder.mkdir()
        (folder / "run.toml").write_text(CONFIG)
        shutil.copy(part, folder / "run.h5")
        damage(folder / "run.h5", rng, kind)
        read = info_answers(folder)
        outcomes[("info read" if read else "info refused",
                  resume_or_refuse(folder, whole, damaged=True))] += 1
        shutil.rmtree(folder)
    print(f"\n{kind}: {n_cases} files damaged at random offsets: {dict(outcomes)}")


# ---------------------------------------------------------------------- full disks

def _file_size_limit(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("n_cases", [1, pytest.param(10, marks=pytest.mark.slow)])
def test_full_disks_at_random_sizes(tmp_path, reference, n_cases):
    whole, _, _ = reference
    rng = np.random.default_rng(n_cases)
    outcomes = Counter()
    for k in range(n_cases):
        folder = tmp_path / f"full{k}"
        folder.mkdir()
        (folder / "run.toml").write_text(CONFIG)
        limit = int(rng.uniform(0.05, 0.9) * whole.stat().st_size)
        full = subprocess.run([LLGSIM, "run", "run.toml"], cwd=folder, capture_output=True,
                              text=True, timeout=300, preexec_fn=_file_size_limit(limit))
        assert full.returncode in (1, 2) and full.stderr.count("\n") == 1, full.stderr
        if not (folder / "run.h5").exists():  # the disk filled while the file was created
            outcomes["refused at creation"] += 1
            assert full.returncode == 2
            continue
        assert info_answers(folder)
        outcomes[resume_or_refuse(folder, whole)] += 1
        no_leftovers(folder)
    print(f"\nfull disks: {n_cases} limits at random sizes: {dict(outcomes)}")
