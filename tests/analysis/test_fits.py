"""Growth-exponent fits on synthetic L = A t^n with known noise."""

import numpy as np
import pytest

from llgsim.analysis.fits import fit_power_law, growth_exponent, local_exponents
from llgsim.errors import InputError

TOL_EXACT = 1e-10  # noiseless power law: least squares on exact logs


def test_exact_power_law_is_recovered():
    t = np.geomspace(1, 1e3, 30)
    fit = fit_power_law(t, 3.0 * t ** 0.5)
    assert fit.exponent == pytest.approx(0.5, abs=TOL_EXACT)
    assert fit.amplitude == pytest.approx(3.0, rel=TOL_EXACT)
    _, n_eff, _ = local_exponents(t, 3.0 * t ** 0.5, points=8)
    np.testing.assert_allclose(n_eff, 0.5, atol=TOL_EXACT)


def test_noisy_fit_returns_n_within_its_error_bar():
    """L = 2 t^(1/2) exp(eps), eps ~ N(0, 0.05) independent: over 400 draws the pulls
    (n_fit - 1/2) / error have mean 0 and standard deviation 1 (tolerances 4 standard errors of
    the mean, 0.2, and of the standard deviation, 0.15), and 68 % +- 7 % lie within one
    error bar."""
    rng = np.random.default_rng(1)
    t = np.geomspace(1, 100, 40)
    pulls = np.array([(lambda f: (f.exponent - 0.5) / f.error)(
        fit_power_law(t, 2 * t ** 0.5 * np.exp(rng.normal(0, 0.05, t.size))))
        for _ in range(400)])
    assert abs(pulls.mean()) < 0.2
    assert abs(pulls.std() - 1) < 0.15
    assert abs(np.mean(np.abs(pulls) < 1) - 0.683) < 0.07


def test_growth_exponent_over_seeds_covers_the_truth():
    """Five seeds, each with its own amplitude drift (correlated in time, which the error of
    one fit misses): the seed error covers n = 1/3 at 3 sigma."""
    rng = np.random.default_rng(2)
    t = np.linspace(0, 200, 201)
    seeds = [1.5 * t ** (1 / 3) * np.exp(rng.normal(0, 0.03) + rng.normal(0, 0.01, t.size))
             * (1 + rng.normal(0, 0.02) * np.log1p(t) / 5) for _ in range(5)]
    g = growth_exponent(t, seeds, 5.0, 200.0)
    assert abs(g["value"] - 1 / 3) < 3 * g["error"]
    assert g["t_min"] == 5.0 and g["t_max"] == 200.0 and len(g["per_seed"]) == 5


def test_a_window_with_too_few_frames_is_refused():
    with pytest.raises(InputError, match="time window"):
        fit_power_law([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], t_min=2.5)
