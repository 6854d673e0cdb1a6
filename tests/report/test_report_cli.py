"""``llgsim analyze | plot | movie`` on small run files: outputs, JSON, one-line refusals, and
bounded memory on a file far larger than one frame."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from control import run_control
from llgsim import Lattice
from llgsim.cli import app
from llgsim.run.runfile import Checkpoint, TrajectoryWriter
from llgsim.states import random_spins, tetrahedral


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two seeds of a small Allen-Cahn control (48 x 48, t up to 6: L_wall reaches 6 = box/8)."""
    folder = tmp_path_factory.mktemp("runs")
    return [run_control(folder / f"s{seed}.h5", L=48, steps=30, seed=seed) for seed in (1, 2)]


def write_frames(path, lattice, frames, dtype="float32"):
    """A run file holding ``frames`` (iterable of (N, 3) spins) written by the run-file writer
    itself (no dynamics: the analysis reads only frames and provenance)."""
    first = None
    writer = None
    for k, spins in enumerate(frames):
        if writer is None:
            first = np.asarray(spins, dtype=np.float64)
            writer = TrajectoryWriter.create(
                path, n_sites=lattice.n_sites, positions=lattice.positions(), box=lattice.box,
                observables={}, frame_dtype=dtype, compression="none", config_text="",
                provenance={"lattice": json.dumps(lattice.describe()), "provider": "{}",
                            "overrides": "{}", "seed": 0, "llgsim_version": "test"},
                checkpoint=Checkpoint(first, 0, 0.0))
        writer.write_frame(k, 0.1 * k, spins)
    writer.close()
    return path


def test_analyze_json_has_the_summary_and_writes_tables_and_figures(runs, tmp_path):
    out = tmp_path / "report"
    result = invoke("analyze", *runs, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    for key in ("order_parameter", "times", "length", "growth_exponent"):
        assert key in summary
    assert set(summary["growth_exponent"]) >= {"value", "error", "t_min", "t_max"}
    assert summary["order_parameter"] == "spin"
    assert len(summary["times"]) == len(summary["length"]) == 31
    for name in ("lengths.csv", "structure_factor.csv", "domain_sizes.csv", "length.png",
                 "collapse.png", "domains.png", "summary.json"):
        assert (out / name).stat().st_size > 0
    header = (out / "lengths.csv").read_text().splitlines()[0]
    assert "L_wall,L_wall_error" in header


def test_analyze_writes_beside_the_run_by_default(runs):
    result = invoke("analyze", runs[0])
    assert result.exit_code == 0, result.output
    assert "n = " in result.output
    assert (runs[0].parent / "s1.analysis" / "length.png").exists()


@pytest.mark.parametrize("args, field", [
    (["--order-parameter", "charge"], "--order-parameter = 'charge'"),
    (["--order-parameter", "chirality"], "--order-parameter = 'chirality'"),
    (["--order-parameter", "magnetic"], "--order-parameter = 'magnetic'"),
    (["--method", "fourier"], "--method = 'fourier'"),
    (["--t-min", "100", "--t-max", "200"], "time window"),
])
def test_bad_input_is_one_line_and_exit_2(runs, args, field):
    result = invoke("analyze", runs[0], *args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and field in lines[0], lines


def test_missing_or_foreign_files_are_one_line(tmp_path):
    bogus = tmp_path / "bogus.h5"
    bogus.write_bytes(b"not hdf5")
    for path in (tmp_path / "missing.h5", bogus):
        for command in (["analyze", path], ["plot", path], ["movie", path, "--out",
                                                              tmp_path / "m.gif"]):
            result = invoke(*command)
            assert result.exit_code == 2 and result.output.startswith("error: "), result.output
            assert len(result.output.strip().splitlines()) == 1


def test_seeds_with_different_frames_are_refused(runs, tmp_path):
    other = run_control(tmp_path / "short.h5", L=48, steps=10, seed=3)
    result = invoke("analyze", runs[0], other)
    assert result.exit_code == 2 and "frame times" in result.output


def test_plot_and_movies_of_a_chiral_state(tmp_path):
    lat = Lattice.triangular(12)
    run = write_frames(tmp_path / "tetra.h5", lat,
                       [tetrahedral(lat, 1), tetrahedral(lat, -1), random_spins(lat, 1)])
    result = invoke("plot", run, "--frame", "1", "--out", tmp_path / "f.png")
    assert result.exit_code == 0 and (tmp_path / "f.png").stat().st_size > 0
    assert invoke("plot", run, "--frame", "7").exit_code == 2
    for suffix in ("gif", "mp4"):
        result = invoke("movie", run, "--quantity", "chirality", "--out", tmp_path / f"m.{suffix}")
        assert result.exit_code == 0, result.output
        assert (tmp_path / f"m.{suffix}").stat().st_size > 1000
    head = (tmp_path / "m.mp4").read_bytes()[:12]
    assert head[4:8] == b"ftyp"  # an MP4 container
    for bad, field in ((["--quantity", "density"], "density"), (["--out", tmp_path / "m.avi"],
                                                                 "m.avi")):
        args = ["movie", run, "--out", tmp_path / "m.gif", *bad]
        result = invoke(*args)
        assert result.exit_code == 2 and field in result.output


MEMORY_SCRIPT = """
import sys
from llgsim.report.analyze import analyze_run
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
analyze_run(sys.argv[2])  # warm-up on a one-frame file: imports, FFT plans, tables
before = hwm()
analyze_run(sys.argv[1])
print(before, hwm())
"""


def test_analysis_streams_frames_with_bounded_memory(tmp_path):
    """A 128 x 128 float32 run of 300 frames (59 MB of frames): the peak resident memory of the
    analysis grows by less than a tenth of the file over a warm-up on a one-frame file of the
    same lattice. Reading the whole trajectory would need the file size again (and float64
    copies twice that); one frame and its FFTs take ~3 MB; the per-frame results (S(k) rows,
    lengths, histograms) ~0.3 MB. Run in a child process so the peak is the analysis's own."""
    lat = Lattice.square(128)
    rng = np.random.default_rng(0)
    big = write_frames(tmp_path / "big.h5", lat,
                       (random_spins(lat, rng) for _ in range(300)))
    small = write_frames(tmp_path / "small.h5", lat, [random_spins(lat, 1)])
    size = os.path.getsize(big)
    assert size > 50e6
    proc = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(big), str(small)],
                          capture_output=True, text=True, check=True)
    before, after = map(int, proc.stdout.split())
    assert after - before < size / 10, (before, after, size)


def test_a_sweep_manifest_stands_for_its_finished_runs(runs, tmp_path):
    """Seeds of a sweep: the manifest gives the finished run files (a failed point is left out),
    and the analysis equals that of the files named one by one (the same numbers: same code on
    the same frames)."""
    from llgsim.sweep.manifest import Manifest, ManifestRow

    manifest = Manifest(tmp_path / "manifest.csv", [
        ManifestRow("seed=1", "done", {"dynamics.seed": 1}, runs[0]),
        ManifestRow("seed=2", "done", {"dynamics.seed": 2}, runs[1]),
        ManifestRow("seed=3", "failed", {"dynamics.seed": 3}, tmp_path / "missing.h5", "killed")])
    by_files = invoke("analyze", *runs, "--out", tmp_path / "a", "--json")
    by_manifest = invoke("analyze", manifest.path, "--out", tmp_path / "b", "--json")
    assert by_manifest.exit_code == 0, by_manifest.output
    a, b = json.loads(by_files.output), json.loads(by_manifest.output)
    assert a["length"] == b["length"] and a["growth_exponent"] == b["growth_exponent"]
