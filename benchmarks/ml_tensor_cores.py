"""What a tensor-core MLP would cost the ML field in accuracy, measured without a GPU: the
shipped models' fields with every GEMM of the tiled networks (llgsim.fields.ml_tiles) fed
operands rounded to TF32 or BF16 and accumulated in float32, against the float64 field.

    python benchmarks/ml_tensor_cores.py [--size 48] [--seeds 1 2 3]

A tensor core multiplies TF32 (float32 range, 10 stored mantissa bits) or BF16 (7 bits) operands
exactly and adds the products in float32 (NVIDIA, "A100 Tensor Core GPU Architecture", 2020;
cuBLAS's CUBLAS_COMPUTE_32F_FAST_TF32 and _FAST_16BF). The script emulates that on the CPU: each
operand of ``xp.matmul`` in the tiles is rounded to nearest-even in the dropped mantissa bits
and the product runs in float32 (numpy's float32 GEMM: the float32 accumulation of a real
tensor core, up to the order of its sums). The output layer (64 -> 1, a matrix-vector product,
kept in float32 on a GPU too) and everything outside the GEMMs (descriptor, activations,
gather) stay float32. The rows give the field error relative to the RMS field, and that of the
perpendicular part (what drives the dynamics) relative to the RMS perpendicular field, over
random spins and ordered states with 0.3 rad of noise, for float32, TF32 and BF16, beside which
the models' own perpendicular-field error (docs/training_results.md: ~0.2 of the perpendicular
field on held-out frames) sets what is negligible.
"""

from __future__ import annotations

import argparse
import datetime

import numpy as np

from llgsim import Lattice
from llgsim.fields.ml import MLField
from llgsim.learn.evaluation import perpendicular
from llgsim.states import ordered_state, random_spins
from machine import cpu_model, load_average  # benchmarks/machine.py

#: stored mantissa bits of the tensor-core input formats (float32 has 23)
FORMATS = {"tf32": 10, "bf16": 7}
MODELS = {"de-square": ("square", "neel"), "sd-triangular": ("triangular", "tetrahedral")}


def rounded(x: np.ndarray, bits: int) -> np.ndarray:
    """float32 ``x`` rounded to nearest (ties to even) with ``bits`` stored mantissa bits."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    drop = np.uint32(23 - bits)
    u = x.view(np.uint32)
    bias = (np.uint32(1) << (drop - np.uint32(1))) - np.uint32(1) + ((u >> drop) & np.uint32(1))
    return ((u + bias) & ~((np.uint32(1) << drop) - np.uint32(1))).view(np.float32)


class TensorCoreNumpy:
    """numpy with ``matmul`` taking operands rounded to ``bits`` mantissa bits (module
    docstring); every other attribute is numpy's."""

    def __init__(self, bits: int):
        self.bits = bits

    def matmul(self, a, b, out=None):
        return np.matmul(rounded(a, self.bits), rounded(b, self.bits), out=out)

    def __getattr__(self, name):
        return getattr(np, name)


def states(ordered: str, lattice: Lattice, seeds) -> list:
    """Random spins and the ordered state with 0.3 rad of Gaussian noise, per seed."""
    out = []
    for seed in seeds:
        out.append(random_spins(lattice, seed))
        rng = np.random.default_rng(seed)
        s = ordered_state(ordered, lattice) + 0.3 * rng.standard_normal((lattice.n_sites, 3))
        out.append(s / np.linalg.norm(s, axis=1, keepdims=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=48, help="L of the L x L lattices")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    now = datetime.datetime.now(datetime.timezone.utc)
    print(f"# ml_tensor_cores, {now:%Y-%m-%d %H:%M} UTC; {cpu_model()}, load {load_average()}")
    print("\n| model | precision | states | RMS field | rel. RMS error | rel. max error | "
          "RMS perp. field | rel. RMS perp. error |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (kind, ordered) in MODELS.items():
        lattice = Lattice.from_kind(kind, args.size)
        exact = MLField.pretrained(name, lattice, "float64", "cpu")
        configs = states(ordered, lattice, args.seeds)
        want = [exact.energy_and_field(s)[1] for s in configs]
        scale = np.sqrt(np.mean(np.concatenate(want) ** 2))
        perp_scale = np.sqrt(np.mean(np.concatenate([perpendicular(s, w) for w, s in
                                                     zip(want, configs)]) ** 2))
        for precision in ("float32", *FORMATS):
            field = MLField.pretrained(name, lattice, "float32", "cpu")
            if precision in FORMATS:
                field._tiles.xp = TensorCoreNumpy(FORMATS[precision])
            err = [field.energy_and_field(s.astype(np.float32))[1] - w
                   for s, w in zip(configs, want)]
            perp = np.concatenate([perpendicular(s, e) for e, s in zip(err, configs)])
            err = np.concatenate(err)
            rms = np.sqrt(np.mean(err ** 2)) / scale
            print(f"| {name} | {precision} | {len(configs)} | {scale:.3f} | {rms:.2e} | "
                  f"{np.abs(err).max() / scale:.2e} | {perp_scale:.3f} | "
                  f"{np.sqrt(np.mean(perp ** 2)) / perp_scale:.2e} |")


if __name__ == "__main__":
    main()
