"""The backend seam: choosing a backend, and the counter-based noise that every backend draws
identically (Philox-4x32-10 against the published known-answer vectors, the numpy reference
against the numba kernel bit for bit, whatever the thread count)."""

import os
import re
import subprocess
import sys

import numba
import numpy as np
import pytest
import scipy.stats

from llgsim import InputError
from llgsim.backend import SIMULATOR, get_backend
from llgsim.kernels import philox

# Known-answer vectors of Philox-4x32-10 published with Random123 (Salmon et al., SC11;
# kat_vectors of the Random123 distribution): (counter, key) -> output, 32-bit words.
KAT = [((0, 0, 0, 0), (0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
       ((0xffffffff,) * 4, (0xffffffff,) * 2, (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
       ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
        (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1))]
# Statistical tolerance: a two-sided test at this p-value fails one correct generator in 10^4.
P_MIN = 1e-4


@pytest.mark.parametrize("counter, key, expected", KAT)
def test_philox_matches_the_published_known_answers(counter, key, expected):
    words = [np.uint64(w) for w in counter + key]
    assert [int(w) for w in philox.philox4x32(*words)] == list(expected)
    reference = philox.philox4x32_reference([[w] for w in counter], key)
    assert [int(w) for w in reference[:, 0]] == list(expected)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_reference_and_cpu_normals_are_bitwise_equal(dtype):
    """Seeds and steps beyond 32 bits use both key and counter words."""
    for seed, step in ((0, 0), (7, 123), (2 ** 40 + 3, 2 ** 33 + 5)):
        out = {}
        for name in ("reference", "cpu"):
            backend = get_backend(name, dtype)
            out[name] = backend.empty((1000, 3))
            backend.normals(seed, step, out[name])
        assert out["cpu"].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(out["reference"], out["cpu"])


def test_normals_do_not_depend_on_the_thread_count():
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread on this machine: nothing to compare")
    backend = get_backend("cpu")
    out = []
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            out.append(backend.empty((20000, 3)))
            backend.normals(11, 42, out[-1])
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(out[0], out[1])


def test_normals_are_independent_standard_normals():
    """Every component of every site, for one step and across steps: Kolmogorov-Smirnov
    against N(0, 1), and no correlation between components or between consecutive steps."""
    backend = get_backend("cpu")
    a, b = backend.empty((100000, 3)), backend.empty((100000, 3))
    backend.normals(5, 0, a)
    backend.normals(5, 1, b)
    for column in (*a.T, *b.T):
        assert scipy.stats.kstest(column, "norm").pvalue > P_MIN
    for x, y in ((a[:, 0], a[:, 1]), (a[:, 1], a[:, 2]), (a[:, 0], b[:, 0])):
        assert scipy.stats.pearsonr(x, y).pvalue > P_MIN


def test_backend_names_and_refusals():
    """This test process runs numba's CUDA simulator (conftest): "cuda" is the simulated
    backend, and "auto" never picks it."""
    assert get_backend("auto").name == "cpu"
    simulated = get_backend("cuda", "float32")
    assert simulated.simulated and simulated.device == SIMULATOR and simulated.xp is np
    assert get_backend("reference", "float32").dtype == np.float32
    with pytest.raises(InputError, match="^backend = 'tpu': expected one of"):
        get_backend("tpu")
    with pytest.raises(InputError, match="^dtype = 'float16': expected one of"):
        get_backend("cpu", "float16")


def test_cuda_is_refused_in_one_line_without_a_gpu():
    """Without the simulator and without a GPU (CI), "cuda" is refused and "auto" is "cpu"."""
    code = ("from llgsim.backend import get_backend, gpu_device\n"
            "from llgsim import InputError\n"
            "if gpu_device() is not None: print('gpu'); raise SystemExit\n"
            "print(get_backend('auto').name)\n"
            "try:\n    get_backend('cuda')\nexcept InputError as e:\n    print(e)\n")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    if out == ["gpu"]:
        pytest.skip("a real GPU is present: nothing to refuse")
    assert out[0] == "cpu"
    assert re.match(r"^backend = 'cuda': expected 'cpu', 'reference' or 'auto'", out[1])


def test_openmp_threads_sleep_when_idle_unless_the_user_says_otherwise():
    """llgsim sets OMP_WAIT_POLICY=PASSIVE on import (llgsim/__init__.py: spinning OpenMP
    threads starve the tile workers) and keeps a value the user set."""
    import os
    import subprocess
    import sys

    code = "import os, llgsim; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = lambda e: subprocess.run([sys.executable, "-c", code], env=e, check=True,  # noqa: E731
                                   capture_output=True, text=True).stdout.strip()
    assert run(env) == "PASSIVE"
    assert run({**env, "OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"
