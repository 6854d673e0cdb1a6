"""Site densities of run frames computed after the fact (llgsim.report.densities): by the run's
own ED solver, by KPM of the trained electron model for ML runs, refused for classical runs;
and the paths that use them (charge order parameter, density split of <S_i . S_j>_nn, density
maps and movies).

Tolerance tiers:
TOL_EXACT = 1e-12  the same solver on the same stored frame (only summation order may differ)
TOL_F32   = 1e-5   densities of a float32 frame against those of its float64 spins: rounding
                   the spins (relative 6e-8) moves h by J x 6e-8 = 4e-7, which first-order
                   perturbation theory through the Fermi function at kT = 0.05 (smallest
                   level spacing ~ 0.05 at 8 x 8) amplifies to ~1e-6 in n_i
TOL_KPM     KPM (M = 500, 6 x 6 colors, single precision) against ED on the puddle frame
                   below, the Chebyshev truncation and probing error of docs/analysis.md, per
                   model: de-square-fixed-filling (f = 0.485, kT_e = 0) measured 4.6e-3 at most
                   and 1.2e-3 RMS (bounds 1e-2, 3e-3); de-square (mu = -4.6317, kT_e = 0.05)
                   1.15e-2 at most and 2.4e-3 RMS (bounds 2e-2, 4e-3). The probing error
                   dominates: M = 1600 (8 a / kT_e) changes the figures by < 10 %
"""

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from llgsim import Lattice
from llgsim.cli import app
from llgsim.fields import KPM, ExactDiagonalization
from llgsim.ml.modelfile import read_metadata
from llgsim.ml.pretrained import path_of
from llgsim.model import KondoModel
from llgsim.report.analyze import analyze_run
from llgsim.report.densities import ML_KPM_ORDER, density_solver, ml_colors
from llgsim.report.runs import open_run
from llgsim.run.launch import run
from llgsim.run.runfile import Trajectory
from llgsim.run.schema import parse_config
from test_report_cli import write_frames

TOL_EXACT = 1e-12
TOL_F32 = 1e-5
TOL_KPM = {"de-square-fixed-filling": (1e-2, 3e-3), "de-square": (2e-2, 4e-3)}

ED_RUN = """
backend = "cpu"
[lattice]
kind = "square"
Lx = 8
[model]
J = 6.0
filling = 0.485
kT = 0.05
[provider]
kind = "ed"
[initial]
kind = "random"
seed = 3
[dynamics]
dt = 0.05
alpha = 0.3
steps = 8
seed = 9
[output]
path = "{path}"
frame_interval = 1
observable_interval = 8
checkpoint_interval = 8
"""


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def ed_run(tmp_path_factory):
    """An 8 x 8 double-exchange run driven by ED (J = 6, f = 0.485, kT = 0.05): 9 float32
    frames, t = 0 ... 0.4."""
    path = tmp_path_factory.mktemp("ed") / "ed.h5"
    text = ED_RUN.format(path=path)
    run(parse_config(text), text)
    return path


def ed_model(lattice):
    return KondoModel(lattice, hopping=(1.0,), J=6.0, filling=0.485, kT=0.05)


def test_ed_run_densities_are_the_solvers_densities_of_the_stored_frames(ed_run):
    traj, lat = open_run(ed_run)
    with traj:
        solver = density_solver(traj, lat, "--densities", True)
        ed = ExactDiagonalization(ed_model(lat))
        assert solver.origin == "ED of the run's model"
        for _, _, spins in traj.frames(stride=4):
            n = solver(spins)
            np.testing.assert_allclose(n, ed.site_density(spins.astype(np.float64)),
                                       atol=TOL_EXACT, rtol=0)
            assert n.sum() == pytest.approx(2 * lat.n_sites * 0.485, abs=1e-9)  # fixed N_e
            assert np.ptp(n) > 0.05  # random spins: a real density pattern, not a constant
        last = traj.frame(-1)[2]
        checkpoint = traj.checkpoint()  # float64 spins at the step of the last frame
    assert checkpoint.step == 8
    np.testing.assert_allclose(solver(last), ed.site_density(checkpoint.spins), atol=TOL_F32,
                               rtol=0)


def test_charge_order_parameter_and_density_movie_run_end_to_end(ed_run, tmp_path):
    out = tmp_path / "charge"
    result = invoke("analyze", ed_run, "--order-parameter", "charge", "--t-min", "0.01",
                    "--t-max", "1", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["order_parameter"] == "charge"
    assert summary["densities"] == "ED of the run's model"
    rows = list(csv.DictReader(open(out / "lengths.csv")))
    assert len(rows) == 9
    for row in rows:  # hole-rich sites exist, and every site is on one side of the mean
        assert 0 < float(row["low_density_fraction"]) < 1
        assert -1 <= float(row["nn_low_density"]) <= 1
        assert -1 <= float(row["nn_high_density"]) <= 1
    result = invoke("movie", ed_run, "--quantity", "density", "--stride", "8", "--out",
                    tmp_path / "n.gif")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "n.gif").read_bytes()[:6] == b"GIF89a"
    result = invoke("plot", ed_run, "--density", "--out", tmp_path / "n.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "n.png").stat().st_size > 1000


def test_density_split_of_correlations_matches_ed(ed_run):
    """The per-frame density split of <S_i . S_j>_nn from analyze_run matches the one computed
    by hand from ED densities of the stored frame."""
    from llgsim.analysis.correlations import correlation_by_density, nearest_neighbours

    series = analyze_run(ed_run, "spin", stride=8, densities=True)
    assert series.times.size == 2 and series.densities == "ED of the run's model"
    with Trajectory(ed_run) as traj:
        spins = traj.frame(8)[2]
    lat = Lattice.square(8)
    n = ExactDiagonalization(ed_model(lat)).site_density(spins.astype(np.float64))
    split = correlation_by_density(spins, nearest_neighbours(lat), n, n.mean())
    assert series.nn_low_density[-1] == pytest.approx(split["low"], abs=TOL_EXACT)
    assert series.nn_high_density[-1] == pytest.approx(split["high"], abs=TOL_EXACT)
    assert series.low_density_fraction[-1] == split["n_low"] / lat.n_sites


def test_classical_runs_have_no_densities(tmp_path):
    from control import run_control

    path = run_control(tmp_path / "classical.h5", L=8, steps=2, seed=1)
    for args in (["analyze", path, "--order-parameter", "charge"],
                 ["analyze", path, "--densities"],
                 ["movie", path, "--quantity", "density", "--out", tmp_path / "m.gif"],
                 ["plot", path, "--density"]):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
        assert "classical provider, which has no electrons" in lines[0]


def puddle_frame(lattice, seed=0):
    """A tilted Neel state with a 6 x 6 ferromagnetic puddle in the middle: the holes of double
    exchange gather in the puddle (n = 0.88 there, 0.999 outside, by ED at J = 6, f = 0.485)."""
    x, y = lattice.coordinates().T
    s = np.zeros((lattice.n_sites, 3))
    s[:, 2] = np.where((x + y) % 2 == 0, 1.0, -1.0)
    puddle = (abs(x - 5.5) < 3) & (abs(y - 5.5) < 3)
    s[puddle, 2] = 1.0
    s += 0.3 * np.random.default_rng(seed).normal(size=s.shape)
    return s / np.linalg.norm(s, axis=1)[:, None], puddle


@pytest.mark.parametrize("name", sorted(TOL_KPM))
def test_ml_run_densities_come_from_kpm_of_the_trained_electron_model(tmp_path, name):
    """A run file of a shipped double-exchange model on 12 x 12 (provenance as llgsim run
    writes it): the densities are KPM's (M = 500, 6 x 6 colors) at the model file's parameters
    (fixed mu or fixed filling), and agree with ED at those parameters within the KPM error."""
    lat = Lattice.square(12)
    meta = read_metadata(path_of(name))
    frame, puddle = puddle_frame(lat)
    path = tmp_path / "ml.h5"
    write_frames(path, lat, [frame, frame[::-1].copy()])
    with_provider(path, {"name": "ml", "model": name,  # as MLField.describe() writes it
                         "content_hash": meta["content_hash"], "dtype": "float64"})
    p = meta["model_parameters"]
    model = KondoModel(lat, hopping=tuple(p["hopping"]), J=p["J"], filling=p.get("filling"),
                       mu=p.get("mu"), kT=p["kT"])
    traj, _ = open_run(path)
    with traj:
        solver = density_solver(traj, lat, "--densities", True)
        stored = traj.frame(0)[2]
    assert ml_colors(lat, "x", 0) == 6 and ML_KPM_ORDER == 500
    assert name in solver.origin
    n = solver(stored)
    kpm = KPM(model, order=500, colors=6).solve(stored.astype(np.float64)).density
    np.testing.assert_allclose(n, kpm, atol=TOL_EXACT, rtol=0)
    exact = ExactDiagonalization(model).site_density(stored.astype(np.float64))
    tol_max, tol_rms = TOL_KPM[name]
    assert np.abs(n - exact).max() < tol_max
    assert np.sqrt(np.mean((n - exact) ** 2)) < tol_rms
    assert n[puddle].mean() < n[~puddle].mean() - 0.1  # holes in the ferromagnetic puddle


def test_ml_densities_refuse_lattices_without_a_color_grid():
    with pytest.raises(ValueError, match="13x13 has 1"):
        ml_colors(Lattice.square(13), "--densities", True)


def with_provider(path, description: dict):
    """Replace the provider description in a run file's provenance (as llgsim run writes it)."""
    import h5py

    with h5py.File(path, "a") as f:
        f["parameters"].attrs["provider"] = json.dumps(description)
    return path


def test_kpm_runs_and_provider_sums_use_the_runs_own_solver(tmp_path):
    """The stored descriptions of a KPM provider and of an ED + classical sum rebuild the
    run's solver: the same densities as that solver on the stored frame."""
    from llgsim.fields import ClassicalSpins, SumOfProviders

    lat = Lattice.square(8)
    model = ed_model(lat)
    frame = puddle_frame(lat)[0]
    kpm = KPM(model, order=60, colors=4, seed=3, precision="double")
    ed_sum = SumOfProviders([ExactDiagonalization(model), ClassicalSpins(lat, heisenberg=(0.1,))])
    for k, (provider, reference) in enumerate(((kpm, kpm), (ed_sum, ed_sum.providers[0]))):
        path = with_provider(write_frames(tmp_path / f"r{k}.h5", lat, [frame]),
                             provider.describe())
        traj, _ = open_run(path)
        with traj:
            n = density_solver(traj, lat, "--densities", True)(traj.frame(0)[2])
        expected = reference.solve(frame.astype(np.float32).astype(np.float64)).density
        np.testing.assert_allclose(n, expected, atol=TOL_EXACT, rtol=0)


def test_a_changed_ml_model_file_is_refused(tmp_path):
    lat = Lattice.square(12)
    path = with_provider(write_frames(tmp_path / "ml.h5", lat, [puddle_frame(lat)[0]]),
                         {"name": "ml", "model": "de-square", "content_hash": "0" * 64})
    result = invoke("analyze", path, "--order-parameter", "charge")
    assert result.exit_code == 2 and "has changed since" in result.output, result.output
