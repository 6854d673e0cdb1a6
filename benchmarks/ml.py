"""Cost of one ML field evaluation (descriptor + MLP forward + autograd field) in torch on the CPU,
for llgsim's models and for the peer design of docs/physics.md, section 3.3, with machine and date.

    python benchmarks/ml.py                  # L = 30 and 100, float64 and float32
    python benchmarks/ml.py --sizes 30 --repeats 3 --threads 1

Designs (all with random weights; the cost does not depend on their values):
* llgsim square / triangular: default descriptor (llgsim.ml.descriptor) and a 64-64 SiLU MLP,
  through the MLField provider on the "reference" backend (the torch model; energy_and_field:
  numpy in, numpy out). The hand-written kernels of the "cpu" and "cuda" backends are timed by
  ``llgsim bench``.
* peer (ZC21 design, REPO-DE): 88 neighbours within radius sqrt 26 on the square lattice,
  554 features = 88 centre bond products + 378 neighbour-neighbour bond products + 88 plaquette
  chiralities, MLP 554-1024-512-256-128-64-1 ReLU. Which 378 pairs and 88 triangles the
  original code takes is not reproduced here: this script takes the shortest pairs and the
  triangles nearest the centre, which gives the same gathers, products and network cost.

Multiply-adds per site per field evaluation count the MLP only, forward plus the input-gradient
backward pass (2 x sum of in x out), as for the peer figures below. The machine is shared with
other jobs: times are the best of a few repeats and can still be inflated by neighbours.

Peer figures measured on the same machine kind (2-vCPU Intel Xeon, 2026-11-25; torch 2.13 CPU,
2 threads, descriptor + forward + autograd field), printed after the table:
* the peer design (ZC21, 554 features, MLP 554-1024-512-256-128-64-1 ReLU, 2.53 M multiply-adds
  per site): 60 (30x30) ... 117 (200x200) us per site in float64, 41 ... 55 in float32;
* a small model (100 invariants of 24 neighbours, MLP 100-64-64-1 SiLU, 22 k multiply-adds):
  6.3 (100x100) ... 12 (500x500) us per site in float64, 4.5 ... 6.6 in float32.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from llgsim.ml.descriptor import Descriptor
from llgsim.fields.ml import MLField
from llgsim.lattice import Lattice
from llgsim.ml.network import BehlerParrinello
from llgsim.states import random_spins
from machine import cpu_model, load_average  # benchmarks/machine.py

SIZES = (30, 100)
HIDDEN = (64, 64)
PEER_RADIUS2 = 26
PEER_LAYOUT = (554, 1024, 512, 256, 128, 64, 1)
PEER_PAIRS, PEER_TRIANGLES = 378, 88
#: peer figures measured on the same machine kind (2-vCPU Intel Xeon, 2026-11-25), us per site
#: per field evaluation, float64 / float32 (module docstring)
PEER_FIGURES = ("peer design (ZC21 layout) 60 (30x30) ... 117 (200x200) / 41 ... 55; small model "
                "(100 invariants, 100-64-64-1 SiLU) 6.3 (100x100) ... 12 (500x500) / 4.5 ... 6.6")


class PeerDesign:
    """The ZC21-style square-lattice force field: raw bond products and chiralities (not
    point-group symmetrised), plain ReLU MLP, field by autograd."""

    def __init__(self, lattice: Lattice, dtype):
        r = np.arange(-6, 7)
        box = np.stack(np.meshgrid(r, r, indexing="ij"), -1).reshape(-1, 2)
        d2 = (box ** 2).sum(1)
        neighbours = box[(d2 > 0) & (d2 <= PEER_RADIUS2)]
        offsets = np.concatenate([[[0, 0]], neighbours[np.argsort((neighbours ** 2).sum(1),
                                                                    kind="stable")]])
        centre_pairs = [(0, k) for k in range(1, len(offsets))]
        pairs = sorted(itertools.combinations(range(1, len(offsets)), 2),
                       key=lambda p: (((offsets[p[0]] - offsets[p[1]]) ** 2).sum(),
                                      max(p)))[:PEER_PAIRS]
        where = {tuple(o): k for k, o in enumerate(offsets)}
        triangles = []
        for x, y in itertools.product(range(-6, 6), repeat=2):
            corners = [(x, y), (x + 1, y), (x + 1, y + 1), (x, y + 1)]
            for skip in corners:
                tri = [where.get(c) for c in corners if c != skip]
                if None not in tri:
                    centroid = offsets[tri].mean(0)
                    triangles.append(((centroid ** 2).sum(), tri))
        triangles = [t for _, t in sorted(triangles)[:PEER_TRIANGLES]]
        self.pairs = torch.tensor(centre_pairs + pairs)
        self.triangles = torch.tensor(triangles)
        self.neighbours = torch.from_numpy(lattice.neighbour_table(offsets))
        layers = []
        for k, (a, b) in enumerate(zip(PEER_LAYOUT[:-1], PEER_LAYOUT[1:])):
            layers.append(torch.nn.Linear(a, b, dtype=dtype))
            if k < len(PEER_LAYOUT) - 2:
                layers.append(torch.nn.ReLU())
        self.mlp = torch.nn.Sequential(*layers).requires_grad_(False)
        self.dtype = dtype
        assert len(self.pairs) + len(self.triangles) == PEER_LAYOUT[0]

    def energy_and_field(self, spins: np.ndarray):
        s = torch.from_numpy(spins).to(self.dtype).requires_grad_(True)
        local = s[self.neighbours]
        bonds = (local[:, self.pairs[:, 0]] * local[:, self.pairs[:, 1]]).sum(-1)
        t = self.triangles
        a, b, c = (local[:, t[:, k]] for k in range(3))
        chis = (a * torch.linalg.cross(b, c)).sum(-1)
        energy = self.mlp(torch.cat([bonds, chis], 1)).sum()
        (grad,) = torch.autograd.grad(energy, s)
        return float(energy.detach()), (-grad).numpy()


def llgsim_model(kind: str, lattice: Lattice, dtype: str, folder: Path) -> MLField:
    path = folder / f"{kind}.safetensors"
    if not path.exists():
        model = BehlerParrinello(Descriptor(Lattice.from_kind(kind, 10)), hidden=HIDDEN)
        model.save(path, {}, training_data_hash="", metrics={})
    return MLField(path, lattice, dtype=dtype, backend="reference")


def seconds_per_evaluation(provider, spins, repeats: int) -> tuple[float, float]:
    """(wall, process CPU) seconds of one field evaluation, each the best of ``repeats`` after
    one warm-up. CPU time sums all threads; on a busy shared machine it is the steadier figure."""
    provider.energy_and_field(spins)  # warm-up: table conversion, allocator
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        provider.energy_and_field(spins)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def mlp_cost(layout) -> tuple[int, int]:
    """(parameters, multiply-adds per site per field evaluation = 2 x forward)."""
    pairs = list(zip(layout[:-1], layout[1:]))
    return sum(a * b + b for a, b in pairs), 2 * sum(a * b for a, b in pairs)


def machine() -> str:
    return (f"{cpu_model()}, {os.cpu_count()} cores, load average {load_average()} at start "
            f"(shared machine); torch {torch.__version__}, {torch.get_num_threads()} torch threads")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    now = datetime.datetime.now(datetime.timezone.utc)
    print(f"# ML field evaluation cost, {now:%Y-%m-%d %H:%M} UTC")
    print(f"# {machine()}")
    print("| design | features | neighbours | MLP layout | parameters | MACs/site/field | L | "
          "wall us/site f64 | wall us/site f32 | CPU us/site f64 | CPU us/site f32 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for design in ("llgsim square", "llgsim triangular", "peer ZC21 square"):
            kind = "triangular" if "triangular" in design else "square"
            for L in args.sizes:
                lattice = Lattice.from_kind(kind, L)
                spins = random_spins(lattice, L)
                us = {}
                for dtype in ("float64", "float32"):
                    if design.startswith("peer"):
                        provider = PeerDesign(lattice, getattr(torch, dtype))
                        layout, n_nb = PEER_LAYOUT, len(provider.neighbours[0]) - 1
                    else:
                        provider = llgsim_model(kind, lattice, dtype, Path(tmp))
                        layout = provider.model.layout
                        n_nb = len(provider.model.descriptor.tables.offsets) - 1
                    wall, cpu = seconds_per_evaluation(provider, spins, args.repeats)
                    us[dtype] = (1e6 * wall / lattice.n_sites, 1e6 * cpu / lattice.n_sites)
                params, macs = mlp_cost(layout)
                print(f"| {design} | {layout[0]} | {n_nb} | {'-'.join(map(str, layout))} | "
                      f"{params:,} | {macs:,} | {L} | {us['float64'][0]:.1f} | "
                      f"{us['float32'][0]:.1f} | {us['float64'][1]:.1f} | {us['float32'][1]:.1f} |",
                      flush=True)
    print("# peer figures measured on the same machine kind (2-vCPU Intel Xeon, 2026-11-25), "
          f"torch 2.13 CPU, 2 threads, wall us/site f64 / f32: {PEER_FIGURES}")
    print(f"# load average {load_average()} at end")


if __name__ == "__main__":
    main()
