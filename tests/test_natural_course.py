"""The natural course of the illness: a random path of untreated severity per patient (trials.natural_course)."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from ketasim.trials import natural_course as nc
from ketasim.trials.population import population_values

DAY = 24.0


def _pop(**change: float) -> dict[str, float]:
    return population_values() | change


def test_path_is_zero_at_and_before_baseline_and_keyed_by_patient() -> None:
    times = np.array([-5.0, 0.0, 2.0, 7 * DAY, 56 * DAY]) + 3.0
    idx = np.arange(50)
    untreated = np.full(50, 30.0)
    path = nc.course_log_severity(1, 0, idx, times, 3.0, untreated, "trd", _pop())
    assert path.shape == (5, 50)
    assert np.all(path[:2] == 0.0)
    assert np.std(path[-1]) > 0.05
    # a patient's path does not depend on who else is in the chunk, nor on the other output times
    alone = nc.course_log_severity(1, 0, idx[7:8], times[[0, 4]], 3.0, untreated[7:8], "trd", _pop())
    assert alone[1, 0] == pytest.approx(path[4, 7])
    # another seed, another path
    other = nc.course_log_severity(2, 0, idx, times, 3.0, untreated, "trd", _pop())
    assert not np.allclose(other[-1], path[-1])


def test_spread_grows_with_time_to_the_stationary_sd() -> None:
    """Var x(t) = sd^2 (1 - exp(-2 t / tau)) for the Ornstein-Uhlenbeck part (no remission: kind without one)."""
    sd, tau = 0.4, 60.0
    pop = _pop(natural_course_sd=sd, natural_course_path_time_d=tau)
    days = np.array([7.0, 28.0, 365.0])
    path = nc.course_log_severity(3, 1, np.arange(20_000), days * DAY, 0.0, np.full(20_000, 30.0), "none", pop)
    expected = sd * np.sqrt(1.0 - np.exp(-2.0 * days / tau))
    assert np.std(path, axis=1) == pytest.approx(expected, rel=0.03)
    assert np.abs(path.mean(axis=1)).max() < 0.02
    # fluctuation, not a drift: a year apart, values are nearly independent
    year = nc.course_log_severity(3, 1, np.arange(20_000), np.array([365.0, 730.0]) * DAY, 0.0,
                                  np.full(20_000, 30.0), "none", pop)
    assert abs(np.corrcoef(year)[0, 1] - np.exp(-365.0 / tau)) < 0.03


def test_natural_remission_follows_the_hazard_of_the_kind() -> None:
    pop = _pop(natural_course_sd=0.0)
    n = 40_000
    untreated = np.full(n, 32.0)
    year = np.array([365.0 * DAY])
    mdd = nc.course_log_severity(5, 0, np.arange(n), year, 0.0, untreated, "mdd", pop)[0]
    trd = nc.course_log_severity(5, 0, np.arange(n), year, 0.0, untreated, "trd", pop)[0]
    remitted_mdd = np.mean(mdd < 0)
    remitted_trd = np.mean(trd < 0)
    # Whiteford 2013: ~53% of untreated episodes remit within a year; Dunner 2006: 3.6% of TRD
    assert remitted_mdd == pytest.approx(1.0 - np.exp(-365.0 * nc.NATURAL_REMISSION_PER_DAY["mdd"]), abs=0.01)
    assert 0.45 < remitted_mdd < 0.65
    assert 0.02 < remitted_trd < 0.06
    # after remission the untreated severity sits at natural_remission_madrs
    assert 32.0 * np.exp(mdd[mdd < 0]) == pytest.approx(pop["natural_remission_madrs"])


def test_trial_madrs_follows_the_path() -> None:
    """The path reaches the trial's visits: more spread of change in a long placebo arm with a larger SD."""
    from ketasim.trials.trial import run_trial
    from ketasim.trials.trial_spec import parse_trial

    text = """
name = "placebo, 12 weeks"
seed = 11
patients_per_arm = 300
[population]
kind = "trd"
min_failed_treatments = 2
baseline_madrs = [22, 60]
[[arms]]
name = "saline"
doses = [ { drug = "saline", route = "iv", amount = "0 mg", infusion = "40 min", at = ["0 d"] } ]
[endpoints]
visits = ["84 d"]
response = "50%"
remission = 10
"""
    spec = parse_trial(tomllib.loads(text), "inline.toml")
    sds = []
    for sd in (0.0, 0.5):
        result = run_trial(spec, patients_per_arm=300, pop=population_values() | {"natural_course_sd": sd},
                           show_progress=False)
        sds.append(result.arms["saline"].summary["visits"]["84 d"]["change_sd"])
    assert sds[1] > sds[0] + 2.0


def test_multicentre_design_raises_contact_improvement_by_furukawas_relative_risk() -> None:
    """[design] multicentre = true: the contact improvement (x a lognormal responsiveness) shifted so that a
    response threshold crossed by 37.5% / 1.32 of single-centre patients is crossed by 37.5% (Furukawa 2016: RR 1.32)."""
    from scipy.stats import norm

    from ketasim.trials.design import MULTICENTRE_PLACEBO_RR, multicentre_factor
    from ketasim.trials.trial_spec import parse_trial

    base = {"name": "x", "seed": 1, "patients_per_arm": 10, "population": {"kind": "mdd", "baseline_madrs": [20, 60]},
            "arms": [{"name": "a", "doses": [{"drug": "placebo", "route": "oral", "amount": "0 mg", "at": ["0 d"]}]}],
            "endpoints": {"visits": ["7 d"], "response": "50%", "remission": 10}}
    single = parse_trial(base, "single.toml")
    multi = parse_trial(base | {"design": {"multicentre": True}}, "multi.toml")
    assert multicentre_factor(single, 1.3) == 1.0
    factor = multicentre_factor(multi, 1.3)
    p_single = 0.375 / MULTICENTRE_PLACEBO_RR
    threshold = norm.ppf(1.0 - p_single) * 1.3  # log responsiveness needed, single centre
    assert 1.0 - norm.cdf((threshold - np.log(factor)) / 1.3) == pytest.approx(0.375, abs=1e-9)
    with pytest.raises(Exception, match=r"design\.multicentre"):
        parse_trial(base | {"design": {"multicentre": "yes"}}, "bad.toml")


def test_expected_rates_are_the_chance_over_the_visit_noise() -> None:
    """The fit's smooth rates: P(true + noise <= threshold), the same expectation as counting noisy scores."""
    from ketasim.trials.trial import expected_rates

    rng = np.random.default_rng(0)
    true = rng.uniform(5.0, 30.0, size=(2, 400))
    baseline = rng.uniform(25.0, 40.0, size=400)
    chances = expected_rates(true, baseline, 0.5, 10.0, 3.0)
    noisy = true[None] + 3.0 * rng.standard_normal((2000, *true.shape))
    assert chances["response_probability"].mean() == pytest.approx((noisy <= 0.5 * baseline).mean(), abs=0.005)
    assert chances["remission_probability"].mean() == pytest.approx((noisy <= 10.0).mean(), abs=0.005)
    # without noise it is the 0/1 count
    sharp = expected_rates(true, baseline, 0.5, 10.0, 0.0)
    assert np.array_equal(sharp["remission_probability"], (true <= 10.0).astype(float))
