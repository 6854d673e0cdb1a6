"""Do ED labels depend on the lattice size? The same local configuration in 30 x 30 ... 64 x 64.

    python benchmarks/label_convergence.py de       [--sizes 30 48 64] [--kT 0.02 0.05 0.1]
    python benchmarks/label_convergence.py triangle [--sizes 30 48 64] [--kT 0.02 0.05 0.1]
    python benchmarks/label_convergence.py de --outside random --sizes 30 40 48
    python benchmarks/label_convergence.py triangle --outside clean --sizes 30 48
    python benchmarks/label_convergence.py de --radius 7 --sizes 20 30 48 --kT 0.05

A model trained on L x L labels is used on lattices of 10^6 sites, so its labels must be those
of the bulk: the field at a site must not depend on how large the lattice around its
neighbourhood is. The test builds one local configuration, the spins within RADIUS of a centre
site (de: a ferromagnetic droplet of radius 4 in a Neel background, Gaussian noise of width 0.2
on every spin; triangle: a disc of opposite chirality in the tetrahedral state, same noise), and
embeds it in L x L lattices whose outside is the background with independent noise (seed per L;
an insulator at the label mu), with ``--outside clean`` the background without noise (then the
lattices differ in their size alone), or with ``--outside random`` random spins (a paramagnetic
metal at mu, the early-time case). With a noisy outside the change measures both the size and
the influence of spins beyond RADIUS (a locality effect); the clean outside separates the size.
ED of each lattice gives, for every label setting, the fields at the sites within NEAR of the
centre; the table gives the RMS change of H_perp between each size and the largest, over the
RMS of H_perp on those sites (the ratio the accuracy bars are set on), and the full-field RMS
change. One diagonalization per lattice serves every (mu, kT).

Label settings: fixed mu at the value of docs/physics.md "Grand-canonical labels" (de: the
coexistence of the ferromagnet and the half-filled Neel state, llgsim.bulk.coexistence; triangle:
the middle of the tetrahedral gap at f = 1/4) for each kT_e, and for contrast the fixed filling
at kT_e = 0 (f = 0.485 / 0.25) that the first shipped models learnt.
"""

from __future__ import annotations

import argparse
import datetime
import time

import numpy as np
import scipy.linalg

from llgsim import bulk, states
from llgsim.fields.ed import occupations, onsite_spin_and_density
from llgsim.lattice import Lattice
from llgsim.model import KondoModel

from machine import cpu_model, load_average  # benchmarks/machine.py

#: the local configuration: the spins within this distance of the centre (lattice constants;
#: ``--radius``, at most (L_min - 1) / 2 so that it fits in the smallest lattice)
RADIUS = 10.0
#: the compared sites: within this distance of the centre
NEAR = 3.01
#: Gaussian noise per spin component, before normalising
NOISE = 0.2
SYSTEMS = {"de": dict(kind="square", J=6.0, filling=0.485, background="neel",
                      droplet="ferromagnetic", droplet_radius=4.0),
           "triangle": dict(kind="triangular", J=2.0, filling=0.25, background="tetrahedral",
                            droplet="tetrahedral_minus", droplet_radius=5.0)}


def label_mus(system: str, kTs) -> dict:
    """{kT_e: the fixed chemical potential of the grand-canonical labels} (module docstring);
    the bands of the ordered states do not depend on kT_e and are computed once."""
    s = SYSTEMS[system]
    if system == "de":
        fm = bulk.bands("square", states.ferromagnetic(Lattice.square(1, 1)), (1, 1), s["J"], nq=256)
        neel = bulk.bands("square", states.neel(Lattice.square(2, 2)), (2, 2), s["J"], nq=128)
        return {kT: bulk.coexistence(fm, neel, kT, -s["J"] + 0.1, -2.1) for kT in kTs}
    tetra = bulk.bands("triangular", states.tetrahedral(Lattice.triangular(2, 2)), (2, 2), s["J"],
                       nq=128)
    mu = bulk.gap_midpoint(tetra, s["filling"])[0]
    return {kT: mu for kT in kTs}


def texture(system: str, lattice: Lattice, name: str) -> np.ndarray:
    if name == "tetrahedral_minus":
        return states.tetrahedral(lattice, chirality=-1)
    return states.ordered_state(name, lattice)


def embedded(system: str, L: int, outside: str = "background", radius: float = RADIUS
             ) -> tuple[Lattice, np.ndarray, np.ndarray]:
    """(lattice, spins, mask of the compared sites): the local configuration (seed 0, the same
    for every L, placed around the centre site) in the L x L background (noise seed L) or, for
    ``outside = "random"``, in random spins (seed L)."""
    s = SYSTEMS[system]
    lat = Lattice.from_kind(s["kind"], L)
    centre = lat.index(2 * (L // 4), 2 * (L // 4))  # even: the same sublattice for every L
    dist = np.linalg.norm(lat.minimum_image(lat.positions() - lat.positions()[centre]), axis=1)
    inside = dist <= radius + 1e-9  # a margin: sites at exactly RADIUS round either way
    local_rng, outside_rng = np.random.default_rng(0), np.random.default_rng(L)
    spins = texture(system, lat, s["background"])
    spins = np.where((dist <= s["droplet_radius"] + 1e-9)[:, None], texture(system, lat, s["droplet"]),
                     spins)
    # the local noise is drawn per offset from the centre (so it is the same for every L)
    offsets = lat.coordinates()[inside] - lat.coordinates()[centre]
    order = np.lexsort((offsets[:, 1], offsets[:, 0]))
    local = np.empty((int(inside.sum()), 3))
    local[order] = local_rng.standard_normal((len(order), 3))
    noise = outside_rng.standard_normal(spins.shape)
    noise[inside] = local
    if outside == "clean":
        noise[~inside] = 0.0
    spins = spins + NOISE * noise
    if outside == "random":
        spins[~inside] = outside_rng.standard_normal((int((~inside).sum()), 3))
    return lat, spins / np.linalg.norm(spins, axis=1, keepdims=True), dist <= NEAR


def fields(system: str, L: int, settings, outside: str, radius: float
           ) -> tuple[np.ndarray, dict]:
    """(spins of the compared sites, {setting: their fields}) from one diagonalization."""
    s = SYSTEMS[system]
    lat, spins, near = embedded(system, L, outside, radius)
    model = KondoModel(lat, (1.0,), J=s["J"], mu=0.0)
    eps, vec = scipy.linalg.eigh(model.dense_hamiltonian(spins), driver="evr", overwrite_a=True,
                                 check_finite=False)
    out = {}
    for name, mu, kT in settings:
        if mu is None:
            occ, _ = occupations(eps, kT, n_electrons=2 * s["filling"] * lat.n_sites)
        else:
            occ, _ = occupations(eps, kT, mu=mu)
        spin, density = onsite_spin_and_density(vec, occ)
        out[name] = (s["J"] * spin[near], float(density.mean()))
    # compared sites in a fixed order: by offset from the centre
    return spins[near], out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("system", choices=sorted(SYSTEMS))
    ap.add_argument("--sizes", type=int, nargs="+", default=[30, 48, 64])
    ap.add_argument("--kT", type=float, nargs="+", default=[0.02, 0.05, 0.1])
    ap.add_argument("--outside", choices=["background", "clean", "random"],
                    default="background")
    ap.add_argument("--radius", type=float, default=RADIUS)
    args = ap.parse_args()
    if not 0 < args.radius <= (min(args.sizes) - 1) / 2:
        ap.error(f"--radius {args.radius}: must lie in (0, {(min(args.sizes) - 1) / 2}] for "
                 f"the smallest lattice {min(args.sizes)}")
    s = SYSTEMS[args.system]
    mus = label_mus(args.system, args.kT)
    settings = [(f"mu={mus[kT]:.4f}, kT_e={kT}", mus[kT], kT) for kT in args.kT]
    settings.append((f"f={s['filling']}, kT_e=0", None, 0.0))
    results, seconds = {}, {}
    for L in args.sizes:
        t0 = time.perf_counter()
        results[L] = fields(args.system, L, settings, args.outside, args.radius)
        seconds[L] = time.perf_counter() - t0
    ref = args.sizes[-1]
    spins_ref = results[ref][0]
    print(f"# label convergence, {args.system}, outside {args.outside}: "
          f"{datetime.date.today()}, {cpu_model()}, "
          f"load {load_average()}; local radius {args.radius}, compared sites within {NEAR} "
          f"({len(spins_ref)}); ED seconds per size " +
          ", ".join(f"{L}: {seconds[L]:.0f}" for L in args.sizes))
    print("| labels | L | rms H_perp | dH_perp / rms H_perp vs L = %d | rms dH (full) "
          "| mean density |" % ref)
    print("|---|---|---|---|---|---|")
    for name, _, _ in settings:
        h_ref, _ = results[ref][1][name]
        perp_ref = h_ref - np.sum(h_ref * spins_ref, 1)[:, None] * spins_ref
        scale = np.sqrt(np.mean(np.sum(perp_ref ** 2, 1)))
        for L in args.sizes:
            spins, got = results[L]
            assert np.allclose(spins, spins_ref)  # the same local configuration
            h, dens = got[name]
            d = h - h_ref
            d_perp = d - np.sum(d * spins, 1)[:, None] * spins
            print(f"| {name} | {L} | {scale:.4f} | "
                  f"{np.sqrt(np.mean(np.sum(d_perp ** 2, 1))) / scale:.2e} | "
                  f"{np.sqrt(np.mean(np.sum(d ** 2, 1))):.2e} | {dens:.4f} |")


if __name__ == "__main__":
    main()
