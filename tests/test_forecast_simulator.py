"""The forecast's adapter: the population's prior, seamless continuation, the visit-noise likelihood."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from ketasim.forecast import simulator as sim
from ketasim.forecast.posterior import log_likelihood, pareto_khat
from ketasim.model.arm import model_values
from ketasim.model.regimen import Regimen, dose
from ketasim.trials.population import PopulationSettings, draw_candidates, failed_courses, population_values


def test_traits_from_latent_are_the_population_draws() -> None:
    index = np.arange(400)
    z = sim.latent_of_candidates(11, 0, index)
    covariates = sim.Covariates(80.0, 50.0, 0.0)
    traits = sim.traits_from_latent(z, covariates)
    drawn = draw_candidates(11, 0, index, population_values(), PopulationSettings())
    assert set(traits) == set(drawn)
    for name, values in traits.items():
        if name in ("weight_kg", "age_y", "female", "natural_course"):
            continue
        np.testing.assert_allclose(values, drawn[name], rtol=1e-12, atol=1e-12, err_msg=name)
    # trials give each patient a random path (trials.natural_course) and no drift; the forecast summarises a
    # patient's course by one latent drift with the path's stationary SD
    assert np.all(drawn["natural_course"] == 0.0)
    column = z[:, sim.LATENT_NAMES.index("natural_course")]
    np.testing.assert_allclose(traits["natural_course"], population_values()["natural_course_sd"] * column, rtol=1e-12)
    assert np.all(traits["weight_kg"] == 80.0) and np.all(traits["female"] == 0.0)


def test_screening_factor_is_the_screening_pass_rate() -> None:
    index = np.arange(3000)
    drawn = draw_candidates(5, 0, index, population_values(), PopulationSettings("trd", 2))
    failed = failed_courses(5, 0, index, drawn, 2, population_values(), model_values())
    p = np.exp(sim.log_screening_factor(drawn, 2))
    # the integrated probability predicts the simulated screening, in total and per patient group
    assert p.mean() == pytest.approx(np.mean(failed >= 2), abs=0.02)
    low = drawn["monoaminergic_responsiveness"] < np.median(drawn["monoaminergic_responsiveness"])
    assert p[low].mean() == pytest.approx(np.mean(failed[low] >= 2), abs=0.03)
    assert np.all(sim.log_screening_factor(drawn, 0) == 0.0)


def test_continuing_from_a_state_equals_one_run() -> None:
    z = np.random.default_rng(1).standard_normal((50, len(sim.LATENT_NAMES)))
    traits = sim.traits_from_latent(z, sim.Covariates(75.0))
    regimen = Regimen.of(dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at=["0 d", "3 d"]))
    regimen = regimen + Regimen.of(dose("escitalopram", "oral", "10 mg", every="1 d"))
    start, ok = sim.initial_states(traits, Regimen.of(dose("escitalopram", "oral", "10 mg", every="1 d")))
    assert ok.dtype == bool
    days = np.arange(0.0, 15 * 24.0 + 1, 24.0)
    whole, _ = sim.simulate_draws(regimen, traits, days, start=start)
    first, state = sim.simulate_draws(regimen, traits, days[days <= 48.0], start=start, end_h=48.0)
    rest, _ = sim.simulate_draws(regimen, traits, days[days >= 48.0], start=state)
    np.testing.assert_allclose(first["madrs"], whole["madrs"][days <= 48.0], rtol=1e-12)
    np.testing.assert_allclose(rest["madrs"], whole["madrs"][days >= 48.0], atol=1e-3)
    assert np.all(whole["status"] == 0) and whole["sbp_mmhg"].shape == (days.size, 50)


def test_likelihood_is_the_visit_noise_with_censoring() -> None:
    sd = sim.visit_noise_sd()
    predicted = np.array([[20.0, 25.0], [1.0, 59.0]])
    got = log_likelihood(predicted, np.array([22.0, 0.0]), "madrs")
    expected = norm.logpdf(22.0, predicted[0], sd) + norm.logcdf((0.0 - predicted[1]) / sd)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    top = log_likelihood(predicted, np.array([22.0, 60.0]), "madrs")
    np.testing.assert_allclose(top, norm.logpdf(22.0, predicted[0], sd) + norm.logsf(60.0, predicted[1], sd), rtol=1e-10)


def test_pareto_khat_separates_light_and_heavy_tails() -> None:
    rng = np.random.default_rng(0)
    assert pareto_khat(rng.normal(0.0, 0.3, 4000)) < 0.5
    assert pareto_khat(np.log(rng.pareto(0.8, 4000) + 1.0)) > 0.7


def test_ketasim_forecast_is_the_function_and_the_package() -> None:
    import ketasim
    import ketasim.forecast.posterior as posterior_module

    assert callable(ketasim.forecast) and ketasim.forecast.simulator is sim
    assert posterior_module.infer is ketasim.forecast.posterior.infer
    with pytest.raises(ketasim.KetasimInputError, match=r"nonexistent\.toml: cannot read the patient file"):
        ketasim.forecast("nonexistent.toml", draws=10)
