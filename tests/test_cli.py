"""Command line: one-line refusals with exit status 2, run + info, and crash safety of real
``llgsim run`` processes stopped by SIGINT or killed by SIGKILL."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import classical_run_toml
from llgsim.cli import app
from llgsim.run.schema import parse_config
from llgsim.run.runfile import Trajectory
from llgsim.run.launch import run

ROOT = Path(__file__).resolve().parents[1]
LLGSIM = str(Path(sys.executable).parent / "llgsim")

GOOD = classical_run_toml(1000, path="unused.h5")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def write_config(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("old, new, expected", [
    ("alpha = 0.1", "alpha = 0.1\nalfa = 0.2", "dynamics.alfa = 0.2: expected no such key"),
    ("Lx = 6", 'Lx = "6"', "lattice.Lx = '6': expected a valid integer"),
    ("dt = 0.05", "dt = 0.0", "dynamics.dt = 0.0: expected greater than 0"),
    ("alpha = 0.1", "alpha = -0.5", "dynamics.alpha = -0.5: expected greater than or equal to 0"),
    ('kind = "classical"\nheisenberg = [1.0]\nfield = [0.0, 0.0, 0.2]',
     'kind = "ml"\npath = "missing.safetensors"',
     "provider.path = 'missing.safetensors': expected an existing model file"),
    ('kind = "random"\nseed = 4', 'kind = "file"\npath = "BAD"\nframe = 3',
     "initial.path = '{bad}': expected a readable llgsim run file"),
], ids=["unknown-key", "wrong-type", "dt", "alpha", "model-file", "hdf5-frame"])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_bad_input_is_one_line_with_status_2(tmp_path, command, old, new, expected):
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n truncated")
    config = write_config(tmp_path, GOOD.replace(old, new.replace("BAD", str(bad))))
    result = invoke(command, config, "--out", tmp_path / "x.h5") if command == "run" \
        else invoke(command, config)
    assert result.exit_code == 2
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: " + expected.format(bad=bad)), result.stderr


def test_info_refuses_a_file_that_is_not_a_run_file(tmp_path):
    result = invoke("info", ROOT / "runs" / "quickstart.toml")
    assert result.exit_code == 2 and result.stderr.startswith("error: file = ")


def test_quickstart_run_then_info(tmp_path):
    """The README's job, shortened: run, then info shows frames and observables."""
    out = tmp_path / "quickstart.h5"
    assert invoke("validate", ROOT / "runs" / "quickstart.toml").exit_code == 0
    result = invoke("run", ROOT / "runs" / "quickstart.toml", "--steps", 10, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert f"trajectory: {out} (steps 0 -> 10)" in result.stdout
    result = invoke("info", out)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "lattice:     square 48x48 (2304 sites)" in lines
    assert "checkpoint:  step 10, time 0.1" in lines
    assert "run length:  10 steps (as created; --resume --steps may extend it)" in lines
    assert "frames:      1 (steps 0 .. 0, float32)" in lines
    for name in ("energy", "magnetization", "staggered_magnetization"):
        assert any(line.split()[:2] == [name, "2"] and "at step 10" in line for line in lines)


@pytest.mark.parametrize("args, expected", [
    (("generate", "missing.toml"), "error: config = 'missing.toml': expected a readable TOML file"),
    (("train", "missing.toml"), "error: config = 'missing.toml': expected a readable TOML file"),
    (("evaluate", "missing.safetensors", "missing.h5"), "error: "),
], ids=["generate", "train", "evaluate"])
def test_ml_commands_refuse_missing_files_in_one_line(args, expected):
    result = invoke(*args)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(expected), result.stderr


def test_non_finite_run_exits_1_in_one_line_keeping_its_checkpoint(tmp_path, monkeypatch):
    """A provider that turns NaN at its 60th call: exit 1, one line naming step and site,
    and the file keeps the last checkpoint before it (interval 7)."""
    import llgsim.run.providers

    build = llgsim.run.providers.build_provider

    class NaNAfter:
        def __init__(self, provider):
            self.provider, self.calls = provider, 0
            self.n_sites, self.backend = provider.n_sites, provider.backend

        def evaluate(self, spins, field, energy):
            e = self.provider.evaluate(spins, field, energy)
            self.calls += 1
            if self.calls > 60:
                field[3] = np.nan
            return e

        def describe(self):
            return self.provider.describe()

        def memory_bytes(self):
            return 0

        def stepper(self, *args):
            return None

    monkeypatch.setattr(llgsim.run.providers, "build_provider",
                        lambda *a, **k: NaNAfter(build(*a, **k)))
    out = tmp_path / "nan.h5"
    result = invoke("run", write_config(tmp_path, GOOD), "--out", out)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: step 31: non-finite spin at site ")
    assert "keeps its last good checkpoint" in result.stderr
    with Trajectory(out) as traj:
        assert traj.checkpoint().step == 28


# ---------------------------------------------------------------------- real processes

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run of GOOD (in-process; same code, backend and dtype)."""
    path = tmp_path_factory.mktemp("reference") / "whole.h5"
    run(parse_config(GOOD, {"output.path": str(path)}), GOOD)
    return path


def start_run(tmp_path, out, steps=None):
    config = write_config(tmp_path, GOOD)
    extra = [] if steps is None else ["--steps", str(steps)]
    proc = subprocess.Popen([LLGSIM, "run", str(config), "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return config, proc


def wait_for_checkpoint(proc, out, step, timeout=120.0):
    """Poll the run file (SWMR readers may open it while it is written) until its checkpoint
    reaches ``step``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()
        if out.exists():
            try:
                with Trajectory(out) as traj:
                    ck = traj.checkpoint()
                    if ck is not None and ck.step >= step:
                        return
            except (OSError, KeyError):
                pass  # still being created
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint at step {step} within {timeout} s")


def assert_same_run(path_a, path_b):
    with Trajectory(path_a) as a, Trajectory(path_b) as b:
        assert a.n_frames == b.n_frames
        for fa, fb in zip(a.frames(), b.frames()):
            assert fa[:2] == fb[:2]
            np.testing.assert_array_equal(fa[2], fb[2])
        for name in a.observable_names:
            for xa, xb in zip(a.observable(name), b.observable(name)):
                np.testing.assert_array_equal(xa, xb)
        ca, cb = a.checkpoint(), b.checkpoint()
        assert ca.step == cb.step
        np.testing.assert_array_equal(ca.spins, cb.spins)


def resume(config, out, *extra):
    proc = subprocess.run([LLGSIM, "run", str(config), "--out", str(out), "--resume", *extra],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"trajectory: {out} (steps " in proc.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_checkpoint_and_exit_128_plus_signal(tmp_path, reference, signum):
    """The run is started 100x longer than the reference (it cannot end before the signal on
    any machine), signalled once its checkpoint passes step 100, and resumed to the
    reference's length."""
    out = tmp_path / "run.h5"
    config, proc = start_run(tmp_path, out, steps=100000)
    wait_for_checkpoint(proc, out, 100)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert err.startswith(f"{signal.Signals(signum).name}: stopped at step ") and "--resume" in err
    with Trajectory(out) as traj:
        stopped = traj.checkpoint().step
        assert 100 <= stopped < 1000 and traj.frame(-1)[0] == stopped - 1
    resume(config, out, "--steps", "1000")
    assert_same_run(reference, out)


@pytest.mark.parametrize("kill_after", [7, 150, pytest.param(500, marks=pytest.mark.slow)])
def test_sigkill_keeps_earlier_frames_and_resume_matches(tmp_path, reference, kill_after):
    """SIGKILL a real run (frames every step, checkpoints every 7 steps, so the kill lands in
    a write or a flush) once its checkpoint passes ``kill_after``: the file opens, every frame
    before the checkpoint equals the uninterrupted run's, and --resume ends identically. The run
    is started 100x longer than the reference, so it is still running when killed."""
    out = tmp_path / "run.h5"
    config, proc = start_run(tmp_path, out, steps=100000)
    wait_for_checkpoint(proc, out, kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with Trajectory(out) as traj, Trajectory(reference) as ref:
        ck = traj.checkpoint()
        assert ck.step >= kill_after
        for (step, _, spins), (ref_step, _, ref_spins) in zip(traj.frames(stop=ck.step),
                                                              ref.frames(stop=ck.step)):
            assert step == ref_step
            np.testing.assert_array_equal(spins, ref_spins)
    resume(config, out, "--steps", "1000")
    assert_same_run(reference, out)
