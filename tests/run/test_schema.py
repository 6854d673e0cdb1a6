"""Config validation and building: every refusal is one InputError naming the key path, value
and rule."""

import os
import subprocess
import sys

import numpy as np
import pytest

from llgsim.errors import InputError
from llgsim.run.build import build
from llgsim.run.schema import load_config, parse_config, resumable_difference
from llgsim.states import random_spins

BASE = """
[lattice]
kind = "square"
Lx = 4

[model]
J = 6.0
filling = 0.485

[provider]
kind = "ed"

[initial]
kind = "random"
seed = 1

[dynamics]
dt = 0.01
alpha = 0.5
steps = 10
seed = 2

[output]
path = "run.h5"
"""


def edit(old, new, text=BASE):
    assert old in text
    return text.replace(old, new, 1)


def refusal(text) -> str:
    with pytest.raises(InputError) as info:
        build(parse_config(text))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_and_building():
    cfg = parse_config(BASE)
    assert cfg.dynamics.total_steps == 10 and (cfg.backend, cfg.dtype) == ("auto", "float64")
    assert cfg.output.frame_precision == "float32" and cfg.output.compression == "lzf"
    built = build(cfg)
    assert built.lattice.Lx == built.lattice.Ly == 4
    assert built.provider.describe()["name"] == "ed"
    assert built.provider.backend is built.backend and built.backend.name == "cpu"
    np.testing.assert_array_equal(built.initial, random_spins(built.lattice, 1))
    assert built.schedule(5.0) == 0.0


def test_end_time_rounds_to_the_nearest_step():
    cfg = parse_config(edit("steps = 10", "end_time = 0.3"))
    assert cfg.dynamics.total_steps == 30  # 0.3 / 0.01 = 29.999999999999996


@pytest.mark.parametrize("old, new, expected", [
    ("J = 6.0", "J = 6.0\nJay = 1.0", "model.Jay = 1.0: expected no such key"),
    ("[output]", "[outputs]\nx = 1\n[output]", "outputs = {'x': 1}: expected no such key"),
    ("dt = 0.01", 'dt = "0.01"', "dynamics.dt = '0.01': expected a valid number"),
    ("Lx = 4", "Lx = 4.5", "lattice.Lx = 4.5: expected a valid integer"),
    ("dt = 0.01", "dt = 0.0", "dynamics.dt = 0.0: expected greater than 0"),
    ("dt = 0.01", "dt = -1e-3", "dynamics.dt = -0.001: expected greater than 0"),
    ("dt = 0.01", "dt = nan", "dynamics.dt = nan: expected a finite number"),
    ("alpha = 0.5", "alpha = -0.1", "dynamics.alpha = -0.1: expected greater than or equal to 0"),
    ("seed = 2\n", "", "dynamics.seed = <missing>: expected a value: this key is required"),
    ('kind = "ed"', 'kind = "dft"', "provider.kind = 'dft': expected one of ['classical', 'ed', 'kpm', 'ml', 'sum']"),
    ('kind = "ed"', 'kind = "classical"\nfield = [0.0, 1.0]',
     "provider.field = [0.0, 1.0]: expected a list of at least 3 items"),
    ('kind = "ed"', 'kind = "sum"\nterms = [{kind = "ed"}, {kind = "classical", J = 1.0}]',
     "provider.terms[1].J = 1.0: expected no such key"),
    ('kind = "ed"', 'kind = "ml"\npath = "no/such/model.safetensors"',
     "provider.path = 'no/such/model.safetensors': expected an existing model file"),
    ("steps = 10", "steps = 10\nend_time = 1.0", "dynamics.steps/end_time"),
    ("filling = 0.485", "filling = 0.485\nmu = 0.0", "model.filling/mu"),
    ('kind = "random"\nseed = 1', 'kind = "ordered"\nstate = "skyrmion"',
     "initial.state = 'skyrmion': expected one of"),
    ("J = 6.0", "J = 6.0\n[model]", "config = 'TOML text': expected valid TOML"),
])
def test_refusals_name_key_value_and_rule(old, new, expected):
    message = refusal(edit(old, new))
    assert message.startswith(expected), message


def test_schedule_refusal_is_named_after_the_config_key():
    text = edit("[dynamics]", '[dynamics]\ntemperature = {kind = "linear", kT_start = 0.1}')
    with pytest.raises(InputError, match=r"^dynamics\.temperature\.duration = None"):
        build(parse_config(text))


def test_odd_lattice_refuses_the_neel_start():
    text = edit("Lx = 4", "Lx = 3", edit('kind = "random"\nseed = 1',
                                         'kind = "ordered"\nstate = "neel"'))
    assert refusal(text).startswith("lattice.Lx = 3: expected a multiple of 2")


def test_electron_providers_need_the_model_table():
    text = BASE.replace("[model]\nJ = 6.0\nfilling = 0.485\n", "")
    assert refusal(text).startswith("model = <missing>: expected a [model] table")


def test_unreadable_initial_frame(tmp_path):
    bad = tmp_path / "frames.h5"
    bad.write_bytes(b"not an HDF5 file")
    text = edit('kind = "random"\nseed = 1', f'kind = "file"\npath = "{bad}"\nframe = 0')
    expected = f"initial.path = '{bad}': expected a readable llgsim run file"
    assert refusal(text).startswith(expected)


def test_missing_config_file(tmp_path):
    with pytest.raises(InputError, match="^config = .*: expected a readable TOML file"):
        load_config(tmp_path / "nope.toml")


def test_overrides_replace_steps_and_path():
    cfg = parse_config(edit("steps = 10", "end_time = 1.0"),
                       {"dynamics.steps": 7, "output.path": "other.h5", "backend": "reference"})
    assert cfg.dynamics.total_steps == 7 and cfg.output.path == "other.h5"
    assert cfg.backend == "reference"


def test_moved_key_names_its_replacement():
    message = refusal(edit("seed = 2", 'seed = 2\nbackend = "cpu"'))
    assert message == ("dynamics.backend = 'cpu': expected no such key: it moved to the "
                       "top-level key backend (before the first [table])")


def test_cuda_backend_builds_where_cuda_runs_and_is_refused_in_one_line_elsewhere():
    """Under numba's CUDA simulator (this test process) a "cuda" config builds on the simulated
    device; without the simulator and without a GPU (CI's child process) it is refused."""
    built = build(parse_config('backend = "cuda"\n' + BASE))
    assert built.stepper.backend.name == "cuda" and built.stepper.backend.simulated
    code = ("import sys\nfrom llgsim.backend import gpu_device\n"
            "from llgsim.errors import InputError\nfrom llgsim.run.build import build\n"
            "from llgsim.run.schema import parse_config\n"
            "if gpu_device() is not None: print('gpu'); raise SystemExit\n"
            "try:\n    build(parse_config(sys.stdin.read()))\n"
            "except InputError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], input='backend = "cuda"\n' + BASE,
                         env={**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}, capture_output=True,
                         text=True, check=True).stdout.strip()
    if out == "gpu":
        pytest.skip("a real GPU is present: nothing to refuse")
    assert out.startswith("backend = 'cuda': expected 'cpu', 'reference' or 'auto'")
    assert "\n" not in out


def test_resumable_difference_ignores_run_length_only():
    a = parse_config(BASE)
    assert resumable_difference(a, parse_config(edit("steps = 10", "steps = 20"))) is None
    assert resumable_difference(a, parse_config(edit("alpha = 0.5", "alpha = 0.4"))) == \
        "dynamics.alpha"
    assert resumable_difference(a, parse_config('backend = "reference"\n' + BASE)) is None
    assert resumable_difference(a, parse_config('dtype = "float32"\n' + BASE)) == "dtype"
