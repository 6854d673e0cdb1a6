"""Models with a chemical-potential input (docs/physics.md 1.3): mu-scan labels, site densities,
folding mu into the biases, training, and the canonical (fixed-filling) ML field.

References: ED at fixed mu and its own mu derivative (central differences of Omega), central
differences of the network's site energies in mu, central differences of the canonical energy
F(S) = Omega(S, mu*(S)) + mu* N_e in the spins (the field it must equal, with the terms in
dmu*/dS cancelling), and the plain model the same weights make at a fixed mu.
"""

import numpy as np
import pytest
import torch

from llgsim import InputError, KondoModel, Lattice
from llgsim.fields import ExactDiagonalization, MLField
from llgsim.learn.dataset import read_dataset
from llgsim.learn.generate import generate_dataset
from llgsim.learn.training import train_model
from llgsim.ml.descriptor import Descriptor, DescriptorSettings
from llgsim.ml.modelfile import read_metadata
from llgsim.ml.network import BehlerParrinello
from llgsim.states import random_spins
from llgsim.testing import finite_difference_field

# TOL_EXACT: the same diagonalization reused (eigh is deterministic), different occupations
#   only through the same formulas: float64 round-off of sums over 72 states.
TOL_EXACT = 1e-12
# TOL_FD_MU: central differences of Omega in mu with step 1e-4 at kT_e = 0.5: truncation
#   ~ step^2 |d^3 Omega / d mu^3| ~ 1e-8 N / kT_e^2 ~ 1e-6 (72 sites), round-off ~ 1e-16 |Omega|
#   / step ~ 1e-10.
TOL_FD_MU = 1e-5
# TOL_FD: central differences in the spins or mu with step 1e-5 of float64 networks
#   (tests/ml/test_mlfield.py: observed 4e-11 .. 1e-10), plus the canonical solve's mu
#   tolerance (1e-10) times N_e ~ 1e-8 in F.
TOL_FD = 1e-7

MU = [-4.4, -4.0, -3.6]
MODEL = """
[lattice]
kind = "square"
Lx = 6

[model]
J = 6.0
mu = -4.0
kT = 0.5

[output]
path = "{out}"
"""
DATA = "mu_scan = [-4.4, -4.0, -3.6]\n" + MODEL + """
[[snapshots]]
path = "{source}"
stride = {stride}
"""
SOURCE = MODEL + """
[[random]]
seed = 3
count = 6
"""
TRAIN = """
[data]
paths = ["{data}"]
validation_fraction = 0.34

[network]
hidden = [8]
seed = 1
init = "{init}"

[network.mu_input]
reference = -4.0
scale = 0.5

[loss]
w_field = 1.0
w_torque = 1.0
w_energy = 1.0
w_density = 10.0

[optimizer]
lr = 0.01
batch_snapshots = 2
max_epochs = 3
dtype = "float64"

[output]
model = "{model}"
checkpoint = "{checkpoint}"
"""


def quiet(line):
    pass


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """(source dataset, mu-scan dataset) of 6 random 6 x 6 states."""
    d = tmp_path_factory.mktemp("scan")
    (d / "source.toml").write_text(SOURCE.format(out=d / "source.h5"))
    generate_dataset(d / "source.toml", progress=quiet)
    (d / "scan.toml").write_text(DATA.format(out=d / "scan.h5", source=d / "source.h5",
                                             stride=1))
    generate_dataset(d / "scan.toml", progress=quiet)
    return d / "source.h5", d / "scan.h5"


def test_scan_rows_are_ed_at_each_mu(scan):
    source, path = scan
    spins = read_dataset(source).spins
    snaps = read_dataset(path)
    assert len(snaps) == 3 * len(spins) and snaps.model["mu"] == MU
    lattice = Lattice.square(6)
    for row in range(0, len(snaps), 4):
        mu = MU[row % 3]
        np.testing.assert_array_equal(snaps.spins[row], spins[row // 3])
        sol = ExactDiagonalization(KondoModel(lattice, J=6.0, mu=mu, kT=0.5)).solve(
            snaps.spins[row])
        assert snaps.mu[row] == mu
        np.testing.assert_allclose(snaps.field[row], sol.field, rtol=0, atol=TOL_EXACT)
        np.testing.assert_allclose(snaps.density[row], sol.density, rtol=0, atol=TOL_EXACT)
        assert abs(snaps.energy[row] - sol.energy) < TOL_EXACT * abs(sol.energy)


def test_scan_density_is_minus_the_mu_derivative_of_omega():
    """sum_i n_i = -dOmega/dmu: the relation the network's site densities are trained on."""
    lattice = Lattice.square(6)
    ed = ExactDiagonalization(KondoModel(lattice, J=6.0, mu=-4.0, kT=0.5))
    spins = random_spins(lattice, 2)
    h = 1e-4
    lo, mid, hi = ed.solve_scan(spins, [-4.1 - h, -4.1, -4.1 + h])
    assert abs(mid.density.sum() + (hi.energy - lo.energy) / (2 * h)) < TOL_FD_MU


def test_scan_resumes_without_duplicates(scan, tmp_path):
    source, _ = scan
    cfg = tmp_path / "scan.toml"
    cfg.write_text(DATA.format(out=tmp_path / "scan.h5", source=source, stride=2))
    first = generate_dataset(cfg, progress=quiet)
    again = generate_dataset(cfg, progress=quiet)
    assert first["added"] == 9 and again["added"] == 0 and again["snapshots"] == 9


@pytest.mark.parametrize("body, key", [
    ("mu_scan = [-4.0]\n" + SOURCE.replace("mu = -4.0", "filling = 0.4"), "mu_scan"),
    ("mu_scan = [-4.0]\n" + SOURCE + "\n[[quench]]\nseed = 1\nsteps = 2\ninterval = 1\n",
     "mu_scan"),
])
def test_bad_scan_configs_name_the_key(tmp_path, body, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(body.format(out=tmp_path / "x.h5"))
    with pytest.raises(InputError, match=key):
        generate_dataset(cfg, progress=quiet)


def mu_model(seed=0):
    """A float64 6 x 6 square model with a mu input and nonzero mu weights (tests/conftest.py)."""
    from conftest import mu_input_model

    return mu_input_model(6, seed)


def test_site_densities_are_minus_the_mu_derivative_of_site_energies():
    model = mu_model()
    spins = torch.from_numpy(random_spins(model.descriptor.lattice, 4))
    h = 1e-5
    with torch.no_grad():
        fd = -(model.site_energies(spins, mu=-3.9 + h) - model.site_energies(spins, mu=-3.9 - h)
               ) / (2 * h)
    np.testing.assert_allclose(model.site_densities(spins, -3.9).numpy(), fd.numpy(), rtol=0,
                               atol=TOL_FD)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("mu") / "mu.safetensors"
    mu_model().save(path, {"J": 6.0, "mu": MU}, "test", {})
    return path


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_fixed_mu_equals_the_network_at_that_mu(model_file, backend):
    """mu folded into the first-layer biases (every backend) gives the network's own field."""
    lattice = Lattice.square(6)
    spins = random_spins(lattice, 5)
    model = mu_model()
    e_ref, h_ref = model.energy_and_field(torch.from_numpy(spins), -3.7)
    e, h = MLField(model_file, lattice, backend=backend, mu=-3.7).energy_and_field(spins)
    assert abs(e - float(e_ref)) < TOL_EXACT * abs(float(e_ref)) * 10
    np.testing.assert_allclose(h, h_ref.numpy(), rtol=0, atol=TOL_EXACT)


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_canonical_field_is_the_gradient_of_the_free_energy(model_file, backend):
    """At fixed filling the field is -dF/dS with F = Omega(mu*) + mu* N_e and mu*(S) solved
    anew for every displaced configuration: the terms in dmu*/dS cancel (physics.md 1.3). The
    cpu backend solves mu* with its own density pass (cuda, whose kernels are the same source,
    is checked against the reference below: the simulator takes minutes for the 18 solves)."""
    lattice = Lattice.square(6)
    spins = random_spins(lattice, 6)
    model = mu_model()
    # a filling the model reaches: its own electron count at mu = -3.8
    count = float(model.site_densities(torch.from_numpy(spins), -3.8).sum())
    ml = MLField(model_file, lattice, backend=backend, filling=count / (2 * 36))
    _, field = ml.energy_and_field(spins)
    n = float(model.site_densities(torch.from_numpy(spins), ml.mu).sum())
    assert abs(n - count) < 1e-8
    sites = [0, 7, 20]
    np.testing.assert_allclose(field[sites], finite_difference_field(ml, spins, sites), rtol=0,
                               atol=TOL_FD)


@pytest.mark.parametrize("backend", ["cpu", "cuda"])
def test_canonical_backends_equal_the_reference(model_file, backend):
    """mu*, energy and field of the tiled backends are the torch reference's up to round-off
    (TOL_EXACT for the field, as the fixed-mu test; mu* to the solve's own tolerance 1e-10
    plus round-off), and a second evaluation repeats the first bit for bit."""
    lattice = Lattice.square(6)
    spins = random_spins(lattice, 8)
    filling = float(mu_model().site_densities(torch.from_numpy(spins), -3.9).sum()) / 72
    reference = MLField(model_file, lattice, backend="reference", filling=filling)
    tiled = MLField(model_file, lattice, backend=backend, filling=filling)
    e_ref, h_ref = reference.energy_and_field(spins)
    e, h = tiled.energy_and_field(spins)
    assert abs(tiled.mu - reference.mu) < 1e-9
    assert abs(e - e_ref) < 1e-9 * abs(e_ref)
    np.testing.assert_allclose(h, h_ref, rtol=0, atol=TOL_EXACT)
    assert tiled.chemical_potential(spins) == tiled.mu
    e2, h2 = tiled.energy_and_field(spins)
    assert e2 == e and np.array_equal(h2, h)


def test_canonical_fused_step_equals_the_generic_step_and_the_reference(model_file):
    """A canonical model's fused cpu step solves mu* at the start and at the midpoint as the
    generic step does through the provider: spins and energies bitwise equal over three noisy
    SIB steps; against the torch reference driven by the same noise they agree to round-off
    (ROUND_OFF: 3 steps of a map with Lipschitz constant ~1 on float64 fields equal to ~1e-13,
    with mu* equal to its tolerance 1e-10 times dH/dmu ~ 1)."""
    from llgsim.dynamics import GenericStepper, make_stepper
    from llgsim.fields.ml_step import FusedMLStepper

    round_off = 1e-9
    lattice = Lattice.square(6)
    start = random_spins(lattice, 9)
    filling = float(mu_model().site_densities(torch.from_numpy(start), -3.9).sum()) / 72
    runs = {}
    for name in ("fused", "generic", "reference"):
        ml = MLField(model_file, lattice, backend="reference" if name == "reference" else "cpu",
                     filling=filling)
        stepper = (GenericStepper if name == "generic" else make_stepper)("sib", ml, dt=0.05,
                                                                         alpha=0.3, seed=7)
        assert isinstance(stepper, FusedMLStepper) == (name == "fused")
        s, energies = start.copy(), []
        for step in range(3):
            s, e = stepper.advance(s, step, 0.1, True)
            energies.append(e)
        runs[name] = (s, energies, ml.mu)
    assert np.abs(runs["fused"][0] - start).max() > 1e-2  # the spins moved
    np.testing.assert_array_equal(runs["fused"][0], runs["generic"][0])
    assert runs["fused"][1:] == runs["generic"][1:]
    np.testing.assert_allclose(runs["fused"][0], runs["reference"][0], rtol=0, atol=round_off)
    assert abs(runs["fused"][2] - runs["reference"][2]) < round_off


def test_canonical_mu_does_not_depend_on_the_guess():
    """mu* is bracketed on a fixed grid, so it is a function of the spins alone: a run that
    restarts from a checkpoint (guess: the reference mu) repeats the uninterrupted run (guess:
    the previous mu*) bit for bit."""
    from llgsim.fields.ml import reference_density
    from llgsim.ml.chemical_potential import solve_mu

    model = mu_model()
    spins = torch.from_numpy(random_spins(model.descriptor.lattice, 7))
    count = float(model.site_densities(spins, -3.83).sum())
    density = reference_density(model, spins)
    roots = {solve_mu(density, count, guess, -4.0, 36) for guess in (-4.0, -3.9, -3.831, -3.5)}
    assert len(roots) == 1
    assert abs(float(model.site_densities(spins, roots.pop()).sum()) - count) < 1e-8


def test_mu_and_filling_are_checked(model_file, tmp_path):
    lattice = Lattice.square(6)
    for kwargs, key in (({}, "mu/filling"), ({"mu": -4.0, "filling": 0.4}, "mu/filling"),
                        ({"filling": 1.5}, "filling")):
        with pytest.raises(InputError, match=key):
            MLField(model_file, lattice, backend="reference", **kwargs)
    plain = tmp_path / "plain.safetensors"
    BehlerParrinello(Descriptor(lattice, DescriptorSettings.default("square")), (8,)).save(
        plain, {"J": 6.0}, "test", {})
    with pytest.raises(InputError, match="mu/filling"):
        MLField(plain, lattice, backend="reference", mu=-4.0)


def test_training_with_mu_input_from_a_plain_model(scan, tmp_path):
    """A plain model file seeds the weights (mu weights zero: at the reference mu the start is
    that model exactly); training on the scan fits the site densities too."""
    _, data = scan
    lattice = Lattice.square(6)
    plain = tmp_path / "plain.safetensors"
    BehlerParrinello(Descriptor(lattice, DescriptorSettings.default("square")), (8,),
                     seed=4).save(plain, {"J": 6.0}, "test", {})
    cfg = tmp_path / "train.toml"
    cfg.write_text(TRAIN.format(data=data, init=plain, model=tmp_path / "m.safetensors",
                                checkpoint=tmp_path / "m.ckpt"))
    lines = []
    result = train_model(cfg, progress=lines.append)
    assert any("weights and normalisation from" in line for line in lines)
    meta = read_metadata(result["model"])
    assert meta["network"]["mu_input"] == {"reference": -4.0, "scale": 0.5}
    assert "rmse_density" in result["metrics"]["validation"]
    spins = random_spins(lattice, 9)
    e, h = MLField(result["model"], lattice, backend="cpu", mu=-4.0).energy_and_field(spins)
    assert np.isfinite(e) and np.all(np.isfinite(h))


def test_training_starts_from_a_model_with_the_same_mu_input(model_file):
    """A model with a mu input seeds a new one with the same mu input completely, mu weights
    included (a further round of training); another mu input is refused with one line."""
    from llgsim.learn.training import _start_from

    lattice = Lattice.square(6)
    source = mu_model()
    same = BehlerParrinello(source.descriptor, (8,), seed=9, mu_input=source.mu_input)
    _start_from(same, model_file, lattice, torch.float64)
    for key, value in source.state_dict().items():
        torch.testing.assert_close(same.state_dict()[key], value, rtol=0, atol=0)
    other = BehlerParrinello(source.descriptor, (8,), mu_input={"reference": -3.0, "scale": 0.5})
    with pytest.raises(InputError, match="network.init"):
        _start_from(other, model_file, lattice, torch.float64)


def test_scans_at_other_mu_join_into_one_training_set(scan, tmp_path):
    """Datasets of one model labelled at different chemical potentials train together: every
    row keeps its mu, the joined model lists every mu; another J is refused."""
    from llgsim.learn.training import load_snapshots

    source, data = scan
    for name, text in (("low", DATA.replace("mu_scan = [-4.4, -4.0, -3.6]", "mu_scan = [-4.8]")),
                       ("other", DATA.replace("J = 6.0", "J = 5.0"))):
        (tmp_path / f"{name}.toml").write_text(text.format(out=tmp_path / f"{name}.h5",
                                                           source=source, stride=2))
        generate_dataset(tmp_path / f"{name}.toml", progress=quiet)
    joined, _ = load_snapshots([data, tmp_path / "low.h5"])
    assert joined.model["mu"] == [-4.8, -4.4, -4.0, -3.6]
    assert len(joined) == 18 + 3
    np.testing.assert_array_equal(joined.mu[18:], -4.8)
    with pytest.raises(InputError, match="data.paths"):
        load_snapshots([data, tmp_path / "other.h5"])


def test_plain_training_refuses_labels_at_several_mu(scan, tmp_path):
    _, data = scan
    cfg = tmp_path / "train.toml"
    body = TRAIN.replace('init = "{init}"\n', "").replace(
        "[network.mu_input]\nreference = -4.0\nscale = 0.5\n", "").replace(
        "w_density = 10.0\n", "")
    cfg.write_text(body.format(data=data, model=tmp_path / "m.safetensors",
                               checkpoint=tmp_path / "m.ckpt"))
    with pytest.raises(InputError, match="mu_input"):
        train_model(cfg, progress=quiet)


def test_evaluate_runs_a_mu_model_at_each_rows_mu(scan, tmp_path):
    """`llgsim evaluate` of a model with a mu input on a mu scan: each row's figures are those
    of the torch network at that row's mu (not at the model's reference), and a dataset at
    another J is still refused."""
    from llgsim.learn.evaluation import evaluate_model

    snaps = read_dataset(scan[1])
    params = {k: v for k, v in snaps.model.items() if k != "lattice"}
    path = tmp_path / "m.safetensors"
    model = mu_model()
    model.save(path, params | {"mu": [-4.8, -4.0]}, "test", {})  # other training mu
    result = evaluate_model(path, scan[1])
    pred = np.stack([model.energy_and_field(torch.from_numpy(s), float(m))[1].numpy()
                     for s, m in zip(snaps.spins, snaps.mu)])
    assert len(set(snaps.mu)) == 3
    expected = np.sqrt(np.mean(np.sum((pred - snaps.field) ** 2, -1)))
    assert abs(result["rmse_field"] - expected) < TOL_EXACT * expected
    model.save(path, params | {"J": 5.0}, "test", {})
    with pytest.raises(InputError, match="dataset"):
        evaluate_model(path, scan[1])
