"""Test-wide setup and shared helpers.

numba's CUDA simulator must be chosen before numba is first imported, so CUDA kernels run
(slowly, on small lattices) on machines without a GPU. Small random-weight ML models written to
model files serve the tests in tests/ml and tests/learn.
"""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import pytest

from llgsim import Lattice

SD_PARAMETERS = {"hopping": [1.0], "J": 6.0, "filling": 0.485, "kT": 0.0}


def write_random_model(path, kind, L=10, hidden=(16, 16), seed=0, activation="silu"):
    """Save a BehlerParrinello model with random weights and non-trivial normalisation."""
    import numpy as np

    from llgsim.ml.descriptor import Descriptor
    from llgsim.ml.network import BehlerParrinello

    descriptor = Descriptor(Lattice.from_kind(kind, L))
    rng = np.random.default_rng(seed)
    n = descriptor.n_features
    model = BehlerParrinello(descriptor, hidden=hidden, activation=activation,
                             feature_mean=rng.normal(0, 0.1, n),
                             feature_std=rng.uniform(0.5, 2.0, n), seed=seed)
    model.save(path, SD_PARAMETERS, training_data_hash="0" * 64, metrics={"note": "random"})
    return path


def mu_input_model(L=6, seed=0):
    """A float64 L x L square BehlerParrinello model with a chemical-potential input (reference
    -4.0, scale 0.5) and nonzero mu weights in both networks: random site energies whose
    densities -d omega_i / d mu vary with mu."""
    import torch

    from llgsim.ml.descriptor import Descriptor, DescriptorSettings
    from llgsim.ml.network import BehlerParrinello

    desc = Descriptor(Lattice.square(L), DescriptorSettings.default("square"))
    model = BehlerParrinello(desc, (8,), seed=seed, mu_input={"reference": -4.0, "scale": 0.5})
    with torch.no_grad():
        model.mu_weight.copy_(torch.linspace(-1.0, 1.0, 8, dtype=torch.float64))
        model.parallel_mu_weight.copy_(torch.linspace(0.5, -0.5, 8, dtype=torch.float64))
    return model


@pytest.fixture(autouse=True)
def one_torch_thread(request):
    """One torch thread in the ML tests (tests/ml, tests/learn): the small tensors there gain
    nothing from two, and on a shared 2-core machine torch's spinning worker threads slowed them
    20x."""
    if request.path.parent.name not in ("ml", "learn"):
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def classical_run_toml(steps, kT=0.2, path="run.h5", frames=1, observables=1,
                       checkpoints=7) -> str:
    """The run config of the run-layer and CLI tests: a 6 x 6 triangular Heisenberg magnet in a
    field (classical provider, SIB, dt = 0.05, alpha = 0.1), a few ms a step."""
    return f"""
[lattice]
kind = "triangular"
Lx = 6
[provider]
kind = "classical"
heisenberg = [1.0]
field = [0.0, 0.0, 0.2]
[initial]
kind = "random"
seed = 4
[dynamics]
dt = 0.05
alpha = 0.1
steps = {steps}
seed = 11
temperature = {{ kind = "constant", kT_start = {kT} }}
[output]
path = "{path}"
frame_interval = {frames}
observable_interval = {observables}
checkpoint_interval = {checkpoints}
"""


@pytest.fixture(scope="module", params=["square", "triangular"])
def model_path(request, tmp_path_factory):
    """(lattice kind, path of a random-weight model file for it)."""
    path = tmp_path_factory.mktemp("models") / f"random-{request.param}.safetensors"
    return request.param, write_random_model(path, request.param)


@pytest.fixture(scope="session")
def sd_parameters():
    """The s-d parameters written into the random models' metadata."""
    return SD_PARAMETERS



@pytest.fixture(scope="session")
def dask_client():
    """A dask.distributed Client of a LocalCluster of two worker processes with one thread each
    on loopback, no dashboard, workers in llgsim's worker environment (llgsim.cluster): the
    cluster of the sweep and cluster data-generation tests. A test that kills a worker leaves
    its nanny to start a new one; the next test waits for two workers."""
    from distributed import Client, LocalCluster

    from llgsim.cluster import WORKER_ENV

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, env=WORKER_ENV) as cluster, Client(cluster) as client:
        yield client
