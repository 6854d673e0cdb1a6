"""Accuracy of the shipped models against exact labels: de-square-fixed-filling on the external
ZC21 snapshots, the other shipped models on ED labels computed here (docs/physics.md, section 6,
check 8).

The figure is the perpendicular ratio of llgsim.learn.evaluation: RMSE of the field component
perpendicular to S_i over the RMS of the exact one (0: perfect; 1: a model that predicts no
torque at all). Each bound is the value measured on the shipped file times 1.18-1.27, so a
retrained or damaged model that lost a regime fails, while the retraining noise recorded in
docs/training_results.md (~0.02 in the ratio) passes.
"""

from pathlib import Path

import numpy as np
import pytest

from llgsim import Lattice
from llgsim.external import read_zc21_snapshot
from llgsim.fields import MLField
from llgsim.fields.ed import ExactDiagonalization
from llgsim.learn.data_config import PerturbedSource
from llgsim.learn.evaluation import field_metrics, predict
from llgsim.learn.sources import perturbed_spins, random_record_spins
from llgsim.ml.modelfile import load_model
from llgsim.ml.pretrained import path_of
from llgsim.report.densities import kondo_model

ZC21 = Path(__file__).resolve().parents[1] / "data" / "zc21_de30"

# de-square-fixed-filling (the de-square of kT_e = 0, f = 0.485, kept for this comparison) on
# the ZC21 authors' 30 x 30 DE snapshots (never trained on), which are labelled the same way. Measured 0.3054 on
# the late quench snapshot (docs/training_results.md: 0.305; the model before the
# nearest-neighbour bond features scored 0.48, the one before the late-time rounds 0.73) and
# 0.2360 on the random one (0.236; the previous stop 0.271). Bounds 1.18x and 1.19x the
# measured values: both earlier late-time models fail, retraining noise (~0.02) passes.
# (tests/learn/test_evaluation.py holds the older, looser 0.45 / 0.3.)
ZC21_RATIO_BOUND = {"quench_c20000": 0.36, "random_c2": 0.28}


@pytest.mark.parametrize("name", sorted(ZC21_RATIO_BOUND))
def test_de_square_fixed_filling_on_external_zc21_snapshots(name):
    spins, field, _ = read_zc21_snapshot(ZC21 / f"{name}.dat")
    _, pred = predict(path_of("de-square-fixed-filling"), spins[None], Lattice.square(30))
    assert field_metrics(spins[None], field[None], pred)["ratio_perp"] < ZC21_RATIO_BOUND[name]


# sd-triangular-fixed-filling (kT_e = 0, f = 1/4; the sd-triangular of the previous stops, kept
# for comparisons) against ED labels of configurations like its training data
# (runs/sd_triangular/data_sd_triangular.toml, docs/training_results.md): random spins (the
# start of every quench) and tetrahedral states, randomly rotated, with up to 4 droplets of
# rotated tetrahedral states of random sign (radius 2-6) and Gaussian noise of width 0-0.6 (the
# late-stage stand-ins), on the training lattice (16 x 16) with the s-d parameters stored in
# the model file. The seeds (9101, 9301) are used by no data file. ED takes ~0.3 s per
# snapshot here. Measured with these seeds: ratio 0.372 (random) and 0.276 (perturbed), full
# field RMSE 0.0341 and 0.0247; other seeds gave 0.366-0.398 (random) and 0.17-0.28
# (perturbed), in line with the held-out ED quenches (0.369, docs/training_results.md).
# Bounds: 1.21x and 1.27x the measured ratios, 1.23x and 1.26x the full-field RMSEs; a model
# predicting no torque scores 1. Teeth, measured: the shipped file with the last layer of its
# site-energy network scaled by 0.7 (torques 30 % weak) scores 0.463 / 0.405 and fails both;
# scaled by 0.8 (0.414 / 0.341) it still passes.
SD_TRIANGULAR_SNAPSHOTS = 4
SD_TRIANGULAR_BOUND = {"random": {"ratio_perp": 0.45, "rmse_field": 0.042},
                       "perturbed": {"ratio_perp": 0.35, "rmse_field": 0.031}}


def on_training_lattice(name: str, kind: str):
    """(ED provider, ML provider) on the training lattice of the shipped model ``name`` (of
    lattice ``kind``), the ED one with the s-d parameters stored in the model file."""
    _, meta = load_model(path_of(name))
    trained_on = meta["metrics"]["training_lattice"]
    assert trained_on["kind"] == kind
    lattice = Lattice.from_kind(kind, trained_on["Lx"], trained_on["Ly"])
    return (ExactDiagonalization(kondo_model(meta["model_parameters"], lattice)),
            MLField.pretrained(name, lattice))


def configurations(lattice, kind: str, random_seed: int, source: PerturbedSource):
    """(S, N, 3): ``source.count`` random configurations (``kind`` "random", from the seed
    sequence of ``random_seed``) or perturbed ones of ``source`` ("perturbed")."""
    return np.stack([random_record_spins(lattice, random_seed, k) if kind == "random"
                     else perturbed_spins(lattice, source, k) for k in range(source.count)])


def metrics_against_ed(ed, ml, spins) -> dict:
    """The evaluation figures of the ML fields of ``spins`` (S, N, 3) against ED's."""
    exact = np.stack([ed.energy_and_field(s)[1] for s in spins])
    pred = np.stack([ml.energy_and_field(s)[1] for s in spins])
    return field_metrics(spins, exact, pred)


@pytest.fixture(scope="module")
def sd_triangular_fixed_filling():
    ed, ml = on_training_lattice("sd-triangular-fixed-filling", "triangular")
    assert (ml.lattice.Lx, ml.lattice.Ly) == (16, 16)
    return ed, ml


@pytest.mark.parametrize("kind", sorted(SD_TRIANGULAR_BOUND))
def test_sd_triangular_fixed_filling_against_ed(sd_triangular_fixed_filling, kind):
    ed, ml = sd_triangular_fixed_filling
    lattice = ml.lattice
    source = PerturbedSource(state="tetrahedral", droplet_state="tetrahedral", seed=9301,
                             count=SD_TRIANGULAR_SNAPSHOTS, noise=[0.0, 0.6], droplets=4,
                             radius=[2.0, 6.0])
    spins = configurations(lattice, kind, 9101, source)
    metrics = metrics_against_ed(ed, ml, spins)
    for figure, bound in SD_TRIANGULAR_BOUND[kind].items():
        assert metrics[figure] < bound, (figure, metrics[figure])


# The grand-canonical models against ED labels at their own settings (mu, kT_e from the model
# file, checked against docs/physics.md 1.3) on their training lattices, for configurations like
# their training data: random spins (seed random_seed) and the perturbed source's textures. The
# seeds are used by no data file.
#
# de-square (mu = -4.6317, kT_e = 0.05, 20 x 20; runs/de_square/data_de_square_gc.toml): Neel
# states with ferromagnetic droplets (radius 1-4, noise 0-0.5); ED ~0.5 s per snapshot. Measured
# with these seeds: ratio 0.231 (random) and 0.036 (perturbed), full-field RMSE 0.0841 and
# 0.0310; seeds 9202-9203 / 9402-9403 gave 0.218-0.230 (random) and 0.059-0.090 (perturbed: a
# few droplets' walls carry most of the torque, so the figure moves with the seed). Bounds:
# 1.17x and 1.39x the measured ratios (the perturbed one leaves room for retraining noise of
# ~0.01 on a small figure), 1.19x the full-field RMSEs. Teeth, measured: de-square-fixed-filling
# (the same network trained on kT_e = 0 fixed-filling labels) scores 2.04 / 0.35 in the ratio
# and 0.86 / 0.16 in the full field and fails all four.
#
# sd-triangular (mu = -2.4198, kT_e = 0.05, descriptor range R = 8.72, 24 x 24;
# runs/sd_triangular/data_sd_triangular_gc.toml): tetrahedral states with up to 6 domains of the
# other chirality (radius 2-7, noise 0-0.6); ED ~1.4 s per snapshot. Measured with these seeds:
# ratio 0.289 (random) and 0.166 (perturbed), full-field RMSE 0.0232 and 0.0141; seeds 9103-9104
# / 9303-9304 gave 0.267-0.280 and 0.115-0.149 (the held-out ML quench frames: 0.271 at
# t = 5-20, 0.298 at t = 50-200, docs/training_results.md). Bounds: 1.14x the measured ratios,
# 1.16x and 1.21x the full-field RMSEs. Teeth, measured: sd-triangular-fixed-filling scores
# 0.348 / 0.210 in the ratio and 0.031 / 0.020 in the full field here and fails all four.
GRAND_CANONICAL_SNAPSHOTS = 3
GRAND_CANONICAL = {
    "de-square": {"lattice": "square", "mu": -4.6317, "kT": 0.05, "random_seed": 9201,
                  "perturbed": PerturbedSource(state="neel", droplet_state="ferromagnetic",
                                               seed=9401, count=GRAND_CANONICAL_SNAPSHOTS,
                                               noise=[0.0, 0.5], droplets=6, radius=[1.0, 4.0]),
                  "bound": {"random": {"ratio_perp": 0.27, "rmse_field": 0.10},
                            "perturbed": {"ratio_perp": 0.05, "rmse_field": 0.037}}},
    "sd-triangular": {"lattice": "triangular", "mu": -2.4198, "kT": 0.05, "random_seed": 9102,
                      "perturbed": PerturbedSource(state="tetrahedral",
                                                   droplet_state="tetrahedral", seed=9302,
                                                   count=GRAND_CANONICAL_SNAPSHOTS,
                                                   noise=[0.0, 0.6], droplets=6,
                                                   radius=[2.0, 7.0]),
                      "bound": {"random": {"ratio_perp": 0.33, "rmse_field": 0.027},
                                "perturbed": {"ratio_perp": 0.19, "rmse_field": 0.017}}}}


@pytest.mark.parametrize("kind", ["random", "perturbed"])
@pytest.mark.parametrize("name", sorted(GRAND_CANONICAL))
def test_grand_canonical_model_against_ed(name, kind):
    case = GRAND_CANONICAL[name]
    ed, ml = on_training_lattice(name, case["lattice"])
    assert ed.model.mu == case["mu"] and ed.model.kT == case["kT"]
    spins = configurations(ml.lattice, kind, case["random_seed"], case["perturbed"])
    metrics = metrics_against_ed(ed, ml, spins)
    for figure, bound in case["bound"][kind].items():
        assert metrics[figure] < bound, (figure, metrics[figure])


# de-square-canonical (the chemical potential an input, run at fixed filling f = 0.485, kT_e =
# 0.05, docs/physics.md 1.3) against ED at the same filling on its training lattice (20 x 20),
# for random spins (where a quench starts; mu_ED = -3.75 .. -3.82) and Neel states with
# ferromagnetic droplets (mu_ED = -4.60 .. -3.69): the canonical field on the cpu kernels, and
# the chemical potential mu* the model solves for against ED's Fermi level ("mu": the largest
# |mu* - mu_ED|). Seeds used by no data file; ED ~1 s per snapshot. Measured (round 4 of
# docs/training_results.md): ratio 0.190 (random) and 0.108 (perturbed), full-field RMSE 0.0567
# and 0.0588, |mu* - mu_ED| up to 0.022 and 0.107 (a Neel background is gapped, so a small error
# in the site densities moves mu* far). Bounds: 1.13-1.16x the ratios and RMSEs and 1.2-1.4x
# the mu errors, room for round-off between BLAS builds. Teeth, measured: the grand-canonical
# de-square (fixed mu_c) scores 1.54 / 0.51 in the ratio and 0.87 / 0.34 in the full field and
# fails all; the round-1 model (0.224 / 0.163, mu 0.014 / 0.142) fails both ratios and the
# perturbed mu, the round-2 model (0.211 / 0.127, mu 0.012 / 0.195) the perturbed ratio and mu;
# round 3 (0.212 / 0.118, mu 0.025 / 0.068) passes: on these static cases it is as good, its
# late dynamics is not (training_results.md, round 4).
CANONICAL_BOUND = {"random": {"ratio_perp": 0.215, "rmse_field": 0.065, "mu": 0.03},
                   "perturbed": {"ratio_perp": 0.125, "rmse_field": 0.068, "mu": 0.13}}


@pytest.mark.parametrize("kind", sorted(CANONICAL_BOUND))
def test_canonical_model_against_ed_at_fixed_filling(kind):
    from llgsim.model import KondoModel

    lattice = Lattice.square(20)
    ed = ExactDiagonalization(KondoModel(lattice, J=6.0, filling=0.485, kT=0.05))
    ml = MLField.pretrained("de-square-canonical", lattice, backend="cpu", filling=0.485)
    source = PerturbedSource(state="neel", droplet_state="ferromagnetic", seed=9405,
                             count=GRAND_CANONICAL_SNAPSHOTS, noise=[0.0, 0.5], droplets=6,
                             radius=[1.0, 4.0])
    spins = configurations(lattice, kind, 9205, source)
    exact, pred, dmu = [], [], []
    for s in spins:
        sol = ed.solve(s)
        exact.append(sol.field)
        pred.append(ml.energy_and_field(s)[1])
        dmu.append(ml.mu - sol.mu)
    metrics = field_metrics(spins, np.stack(exact), np.stack(pred))
    metrics["mu"] = float(np.max(np.abs(dmu)))
    for figure, bound in CANONICAL_BOUND[kind].items():
        assert metrics[figure] < bound, (figure, metrics[figure])
