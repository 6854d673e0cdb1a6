"""Dataset generation: ED labels, quench snapshots, trajectory frames, resumable appends."""

import h5py
import numpy as np
import pytest

from llgsim import Lattice
from llgsim.dynamics import sib_step
from llgsim.errors import InputError
from llgsim.fields.ed import ExactDiagonalization
from llgsim.run.runfile import Checkpoint, TrajectoryWriter
from llgsim.kernels.philox import THERMAL_STREAM, fill_normals_reference
from llgsim.learn.data_config import parse_data_config
from llgsim.learn.dataset import dataset_hash, read_dataset
from llgsim.learn.generate import generate_dataset
from llgsim.model import KondoModel
from llgsim.states import random_spins

TOL_EXACT = 1e-12  # same ED call on the same spins: identical up to round-off

HEADER = """
[lattice]
kind = "square"
Lx = 6

[model]
J = 6.0
filling = 0.485

[output]
path = "{out}"
"""
RANDOM = """
[[random]]
seed = 5
count = 2
"""
QUENCH = """
[[quench]]
seed = 3
kT = 0.05
alpha = 0.5
dt = 0.05
steps = {steps}
interval = 2
"""


def write_config(tmp_path, name, body, out="data.h5"):
    path = tmp_path / name
    path.write_text(HEADER.format(out=tmp_path / out) + body)
    return path


def ed_6x6():
    return ExactDiagonalization(KondoModel(Lattice.square(6), J=6.0, filling=0.485))


def test_labels_are_ed_of_the_stored_spins(tmp_path):
    cfg = write_config(tmp_path, "a.toml", RANDOM + QUENCH.format(steps=5))
    result = generate_dataset(cfg, progress=lambda line: None)
    assert result["snapshots"] == result["added"] == 2 + 3
    snaps = read_dataset(tmp_path / "data.h5")
    ed = ed_6x6()
    for k in range(len(snaps)):
        sol = ed.solve(snaps.spins[k])
        np.testing.assert_allclose(snaps.field[k], sol.field, atol=TOL_EXACT)
        np.testing.assert_allclose(snaps.density[k], sol.density, atol=TOL_EXACT)
        assert abs(snaps.energy[k] - sol.energy) < TOL_EXACT * abs(sol.energy)
    assert list(snaps.records["kind"]) == ["random"] * 2 + ["quench"] * 3
    assert list(snaps.records["step"][2:]) == [0, 2, 4]
    np.testing.assert_allclose(snaps.records["time"][2:], [0.0, 0.1, 0.2])
    np.testing.assert_array_equal(snaps.records["kT"][2:], 0.05)
    assert snaps.model["J"] == 6.0 and snaps.lattice == {"kind": "square", "Lx": 6, "Ly": 6}


def quench_normals(seed, step, n_sites):
    """The noise normals of quench step ``step``: counter-based, keyed by the quench seed and
    the step (the numpy reference of llgsim.kernels.philox)."""
    out = np.empty((n_sites, 3))
    fill_normals_reference(seed, step, THERMAL_STREAM, out)
    return out


def test_quench_snapshots_follow_the_ed_driven_sib_trajectory(tmp_path):
    cfg = write_config(tmp_path, "a.toml", QUENCH.format(steps=3))
    generate_dataset(cfg, progress=lambda line: None)
    snaps = read_dataset(tmp_path / "data.h5")
    lat, ed = Lattice.square(6), ed_6x6()
    spins = random_spins(lat, 3)
    for step in range(2):
        spins = sib_step(spins, ed, 0.05, 0.5, 0.05, quench_normals(3, step, lat.n_sites)).spins
    np.testing.assert_allclose(snaps.spins[1], spins, atol=TOL_EXACT)


def test_resume_appends_without_rewriting(tmp_path):
    short = write_config(tmp_path, "short.toml", RANDOM + QUENCH.format(steps=3))
    long = write_config(tmp_path, "long.toml", RANDOM + QUENCH.format(steps=7))
    generate_dataset(short, progress=lambda line: None)
    first = read_dataset(tmp_path / "data.h5")
    result = generate_dataset(long, progress=lambda line: None)
    assert result["added"] == 2 and result["snapshots"] == 6
    extended = read_dataset(tmp_path / "data.h5")
    np.testing.assert_array_equal(extended.spins[:4], first.spins)
    np.testing.assert_array_equal(extended.field[:4], first.field)
    assert generate_dataset(long, progress=lambda line: None)["added"] == 0
    # the resumed quench continues exactly: same snapshots as one uninterrupted run
    fresh = write_config(tmp_path, "fresh.toml", RANDOM + QUENCH.format(steps=7), out="fresh.h5")
    generate_dataset(fresh, progress=lambda line: None)
    np.testing.assert_allclose(read_dataset(tmp_path / "fresh.h5").spins, extended.spins,
                               atol=TOL_EXACT)


def test_unfinished_snapshot_is_dropped_and_hash_tracks_content(tmp_path):
    cfg = write_config(tmp_path, "a.toml", RANDOM)
    generate_dataset(cfg, progress=lambda line: None)
    path = tmp_path / "data.h5"
    digest = dataset_hash(path)
    with h5py.File(path, "a") as f:  # a run killed after writing arrays, before the key
        f["spins"].resize(3, axis=0)
        f["field"].resize(3, axis=0)
    assert dataset_hash(path) == digest
    assert generate_dataset(cfg, progress=lambda line: None)["added"] == 0
    with h5py.File(path, "r") as f:
        assert len(f["spins"]) == len(f["field"]) == 2
    with h5py.File(path, "a") as f:
        f["field"][0, 0, 0] += 1e-9
    assert dataset_hash(path) != digest


def test_frames_of_a_trajectory_are_labelled(tmp_path):
    lat = Lattice.square(6)
    traj = tmp_path / "traj.h5"
    writer = TrajectoryWriter.create(
        traj, n_sites=lat.n_sites, positions=lat.positions(), box=np.eye(2) * 6,
        observables={}, frame_dtype="float32", compression="none", config_text="",
        provenance={}, checkpoint=Checkpoint(random_spins(lat, 0), 0, 0.0))
    frames = [random_spins(lat, k) for k in range(4)]
    for k, s in enumerate(frames):
        writer.write_frame(10 * k, 0.1 * k, s)
    writer.close()
    body = f'\n[[frames]]\npath = "{traj}"\nstart = 1\nstride = 2\n'
    generate_dataset(write_config(tmp_path, "f.toml", body), progress=lambda line: None)
    snaps = read_dataset(tmp_path / "data.h5")
    assert list(snaps.records["frame"]) == [1, 3] and list(snaps.records["step"]) == [10, 30]
    np.testing.assert_array_equal(snaps.spins[1], frames[3].astype(np.float32))
    np.testing.assert_allclose(snaps.field[1], ed_6x6().solve(snaps.spins[1]).field,
                               atol=TOL_EXACT)


@pytest.mark.parametrize("body, key", [
    (QUENCH.format(steps=0), "quench[0].steps"),
    (RANDOM.replace("count = 2", "count = 2\ncolour = 1"), "random[0].colour"),
    ("", "sources"),
])
def test_bad_configs_name_the_key(body, key):
    with pytest.raises(InputError, match=key.replace("[", r"\[").replace("]", r"\]")):
        parse_data_config(HEADER.format(out="x.h5") + body)


def test_other_model_refuses_to_append(tmp_path):
    generate_dataset(write_config(tmp_path, "a.toml", RANDOM), progress=lambda line: None)
    other = write_config(tmp_path, "b.toml", RANDOM).read_text().replace("J = 6.0", "J = 5.0")
    (tmp_path / "b.toml").write_text(other)
    with pytest.raises(InputError, match="model"):
        generate_dataset(tmp_path / "b.toml", progress=lambda line: None)


def test_perturbed_states_are_rotated_ordered_states_with_droplets():
    from llgsim.analysis.observables import chirality
    from llgsim.learn.data_config import PerturbedSource
    from llgsim.learn.sources import perturbed_spins

    tri = Lattice.triangular(12)
    clean = PerturbedSource(state="tetrahedral", seed=1, count=1, noise=[0.0, 0.0])
    chi = chirality(perturbed_spins(tri, clean, 0), tri.triangles())
    np.testing.assert_allclose(np.abs(chi), 4 / (3 * np.sqrt(3)), atol=TOL_EXACT)
    square = Lattice.square(12)
    src = PerturbedSource(state="neel", droplet_state="ferromagnetic", seed=2, count=1,
                          noise=[0.0, 0.0], droplets=3, radius=[2.0, 3.0])
    s = perturbed_spins(square, src, 0).reshape(12, 12, 3)
    bonds = np.concatenate([np.sum(s * np.roll(s, 1, a), -1).ravel() for a in (0, 1)])
    assert np.isclose(bonds, -1.0).mean() > 0.5  # Neel background
    assert np.isclose(bonds, 1.0).sum() > 0  # ferromagnetic droplets
    np.testing.assert_array_equal(perturbed_spins(square, src, 0), s.reshape(-1, 3))


KPM_SOLVER = """
[solver]
kind = "kpm"
order = 300
colors = 3
seed = 4
"""


def kpm_6x6():
    from llgsim.fields.kpm import KPM

    return KPM(KondoModel(Lattice.square(6), J=6.0, filling=0.485), order=300, colors=3, seed=4)


def test_kpm_solver_labels_and_drives_the_quench(tmp_path):
    cfg = write_config(tmp_path, "k.toml", KPM_SOLVER + RANDOM + QUENCH.format(steps=3))
    generate_dataset(cfg, progress=lambda line: None)
    snaps = read_dataset(tmp_path / "data.h5")
    kpm, ed = kpm_6x6(), ed_6x6()
    for k in range(len(snaps)):  # the KPM of the stored spins, recomputed here
        sol = kpm.solve(snaps.spins[k])
        np.testing.assert_allclose(snaps.field[k], sol.field, atol=TOL_EXACT * 6.0)
        np.testing.assert_allclose(snaps.density[k], sol.density, atol=TOL_EXACT)
    # and not ED's: M = 300 with 3 x 3 colors on 6 x 6 differs from ED by 0.08 at most (measured),
    # far above any round-off
    assert np.abs(snaps.field[0] - ed.solve(snaps.spins[0]).field).max() > 1e-3
    lat = Lattice.square(6)
    spins = random_spins(lat, 3)
    for step in range(2):  # the quench is driven by the same KPM
        spins = sib_step(spins, kpm, 0.05, 0.5, 0.05, quench_normals(3, step, lat.n_sites)).spins
    np.testing.assert_allclose(snaps.spins[3], spins, atol=TOL_EXACT)
    with h5py.File(tmp_path / "data.h5", "r") as f:
        assert '"name": "kpm"' in f.attrs["solver"] and '"order": 300' in f.attrs["solver"]


def test_other_solver_refuses_to_append(tmp_path):
    generate_dataset(write_config(tmp_path, "a.toml", RANDOM), progress=lambda line: None)
    with pytest.raises(InputError, match="solver"):
        generate_dataset(write_config(tmp_path, "k.toml", KPM_SOLVER + RANDOM),
                         progress=lambda line: None)


def test_dataset_without_solver_record_counts_as_ed(tmp_path):
    cfg = write_config(tmp_path, "a.toml", RANDOM)
    generate_dataset(cfg, progress=lambda line: None)
    with h5py.File(tmp_path / "data.h5", "a") as f:  # a file from before the solver was recorded
        del f.attrs["solver"]
    bigger = write_config(tmp_path, "b.toml", RANDOM.replace("count = 2", "count = 3"))
    assert generate_dataset(bigger, progress=lambda line: None)["added"] == 1
    with pytest.raises(InputError, match="solver"):
        generate_dataset(write_config(tmp_path, "k.toml", KPM_SOLVER + RANDOM),
                         progress=lambda line: None)


def test_bad_solver_table_names_the_key(tmp_path):
    bad = write_config(tmp_path, "k.toml", KPM_SOLVER.replace("colors = 3", "colors = 4") + RANDOM)
    with pytest.raises(InputError, match=r"solver\.colors"):
        generate_dataset(bad, progress=lambda line: None)
    with pytest.raises(InputError, match=r"solver"):
        parse_data_config(HEADER.format(out="x.h5") + '[solver]\nkind = "lanczos"\n' + RANDOM)
