"""The physics control of the coarsening analysis: a classical easy-axis ferromagnet quenched
from random spins at T = 0 (a non-conserved Ising order parameter, Allen-Cahn L ~ t^(1/2)),
run with llgsim's own classical provider and run layer.

Square lattice, E = -sum_<ij> S_i . S_j - K sum_i (S_i . z)^2 with K = 0.1 (wall width
sqrt(J / 2K) ~ 2.2 lattice constants, wide enough not to be pinned by the lattice at T = 0),
alpha = 1, dt = 0.2 (SIB), a frame every ``frame_interval`` steps."""

from llgsim.run.launch import run
from llgsim.run.schema import parse_config


def control_toml(path, L: int, steps: int, seed: int, frame_interval: int = 1) -> str:
    return f"""
backend = "cpu"
[lattice]
kind = "square"
Lx = {L}
[provider]
kind = "classical"
heisenberg = [-1.0]
anisotropy = {{ K = 0.1, axis = [0.0, 0.0, 1.0] }}
[initial]
kind = "random"
seed = {seed}
[dynamics]
dt = 0.2
alpha = 1.0
steps = {steps}
seed = {seed + 100}
temperature = {{ kind = "constant", kT_start = 0.0 }}
[output]
path = "{path}"
frame_interval = {frame_interval}
observable_interval = {steps}
checkpoint_interval = {steps}
"""


def run_control(path, L: int, steps: int, seed: int, frame_interval: int = 1):
    """Run the control into ``path``; returns the path."""
    text = control_toml(path, L, steps, seed, frame_interval)
    run(parse_config(text), text)
    return path
