"""Test-wide setup. numba's CUDA simulator must be chosen before numba is first imported, so
CUDA kernels run (slowly, on small lattices) on machines without a GPU."""

import os

os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
