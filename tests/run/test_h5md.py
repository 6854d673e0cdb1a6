"""A third-party H5MD reader (pyh5md) reads llgsim's run files: the same spins, observables and
box as llgsim's own reader and as the run that wrote them."""

import numpy as np
import pyh5md

from llgsim.run.launch import run
from llgsim.run.runfile import Trajectory
from llgsim.run.schema import parse_config

CONFIG = """
[lattice]
kind = "triangular"
Lx = 4
Ly = 6
[provider]
kind = "classical"
heisenberg = [1.0]
[initial]
kind = "random"
seed = 2
[dynamics]
dt = 0.05
alpha = 0.2
steps = 12
seed = 1
[output]
path = "run.h5"
frame_interval = 4
observable_interval = 3
"""


def test_pyh5md_reads_spins_observables_and_box(tmp_path):
    path = tmp_path / "run.h5"
    run(parse_config(CONFIG, {"output.path": str(path)}), CONFIG)
    with Trajectory(path) as traj:
        frames = list(traj.frames())
        energy = traj.observable("energy")
        magnetization = traj.observable("magnetization")
    with pyh5md.File(str(path), "r") as f:
        assert list(f["h5md"].attrs["version"]) == [1, 1]
        spins = pyh5md.element(f["particles/all"], "spins")
        assert list(spins.step[:]) == [0, 4, 8, 12] == [s for s, _, _ in frames]
        np.testing.assert_array_equal(spins.time[:], [t for _, t, _ in frames])
        for k, (_, _, expected) in enumerate(frames):
            np.testing.assert_array_equal(spins.value[k], expected)
        e = pyh5md.element(f["observables"], "energy")
        np.testing.assert_array_equal(e.step[:], energy[0])
        np.testing.assert_array_equal(e.value[:], energy[2])
        m = pyh5md.element(f["observables"], "magnetization")
        np.testing.assert_array_equal(m.value[:], magnetization[2])
        box = f["particles/all/box"]
        assert box.attrs["dimension"] == 2 and list(box.attrs["boundary"]) == [b"periodic"] * 2
        edges = pyh5md.element(box, "edges")
        # Lx a1 and Ly a2 of the triangular lattice (docs/conventions.md)
        np.testing.assert_allclose(edges.value[()], [[4.0, 0.0], [3.0, 6 * np.sqrt(3) / 2]],
                                   rtol=0, atol=1e-14)
