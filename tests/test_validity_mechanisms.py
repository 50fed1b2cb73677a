"""Mechanisms added for out-of-sample validity: contact that fades, bounded expectancy, smooth relief,
natural course, nasal bioavailability variability, and what a trial's design changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ketasim as ks
from ketasim.model.drugs import logit_fraction
from ketasim.model.namespace import NUMPY
from ketasim.model.symptoms import RELIEF_SMOOTHING, combine_relief, contact_benefit_after
from ketasim.trials.design import active_probability, care_until_h, expectancy_factor, starts_new_antidepressant
from ketasim.trials.population import PopulationSettings, draw_candidates, population_values
from ketasim.trials.trial_spec import load_trial

CALIBRATION = Path(__file__).resolve().parents[1] / "src" / "ketasim" / "data" / "calibration"


def test_one_placebo_pill_does_not_improve_a_patient_for_a_year() -> None:
    regimen = ks.Regimen.of(ks.dose("placebo", "oral", "0 mg", at="0 d"))
    table = ks.simulate(regimen, "typical-trd", days=365).set_index("time_h")["madrs"]
    baseline = table.loc[0.0]
    assert table.loc[7 * 24.0] < baseline - 0.5  # a week of care helps a little
    assert table.loc[364 * 24.0] == pytest.approx(baseline, abs=0.05)  # and fades once care stops


def test_contact_builds_while_in_care() -> None:
    regimen = ks.Regimen.of(ks.dose("placebo", "oral", "0 mg", every="1 d"))
    table = ks.simulate(regimen, "typical-trd", days=56).set_index("time_h")["madrs"]
    assert table.loc[0.0] > table.loc[28 * 24.0] > table.loc[55 * 24.0]
    p = {"contact_time_d": 10.0}
    assert contact_benefit_after(NUMPY, np.array([0.0, 1e9]), p).tolist() == pytest.approx([0.0, 1.0])


def test_session_expectancy_stays_within_0_1_under_frequent_dosing() -> None:
    every_hour = ks.Regimen.of(ks.dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", every="1 h", until="3 d"))
    table = ks.simulate(every_hour, "typical-trd", days=3, engine="fast")
    assert table["expectancy"].between(0.0, 1.0).all()
    assert table["expectancy"].max() > 0.5  # it does rise, towards its bound


def test_relief_combination_is_smooth_where_the_reliefs_cross() -> None:
    expectancy = 0.3
    drug = np.linspace(0.2, 0.4, 2001)
    total = combine_relief(NUMPY, drug, np.full_like(drug, expectancy), 0.8)
    slope = np.diff(total) / np.diff(drug)
    assert np.max(np.abs(np.diff(slope))) < 0.01  # no jump in the slope at drug = expectancy
    far = combine_relief(NUMPY, np.array([0.9]), np.array([0.1]), 1.0)[0]
    assert 0.9 - RELIEF_SMOOTHING / 2 - 1e-4 < far < 0.9  # the larger one alone when fully overlapping (smoothed)
    equal = combine_relief(NUMPY, np.array([0.0, 0.4]), np.array([0.0, 0.4]), 1.0)
    np.testing.assert_allclose(equal, [0.0, 0.4], atol=1e-12)  # exact where they are equal: baseline unchanged
    assert RELIEF_SMOOTHING <= 0.02


def test_natural_course_widens_the_spread_without_moving_day_0() -> None:
    base = ks.typical_patient("typical-trd")
    worse = ks.simulate("escitalopram-10mg-daily", base.with_(natural_course=0.3), days=56).set_index("time_h")["madrs"]
    better = ks.simulate("escitalopram-10mg-daily", base.with_(natural_course=-0.3), days=56).set_index("time_h")["madrs"]
    assert worse.loc[0.0] == better.loc[0.0]
    assert worse.loc[55 * 24.0] - better.loc[55 * 24.0] > 5.0


def nasal_fraction(typical: float, patient: dict[str, np.ndarray]) -> np.ndarray:
    return logit_fraction(typical, patient.get("esk_nasal_logit", 0.0))


def test_nasal_fraction_varies_on_the_logit_scale() -> None:
    pop = population_values()
    patients = draw_candidates(3, 0, np.arange(4000), pop, PopulationSettings())
    fraction = nasal_fraction(0.54, patients)
    assert 0.0 < fraction.min() and fraction.max() < 1.0
    logit = np.log(fraction / (1.0 - fraction))
    assert np.std(logit) == pytest.approx(pop["esk_nasal_fraction_sd_logit"], rel=0.05)
    assert nasal_fraction(0.54, {"esk_nasal_logit": np.zeros(1)})[0] == pytest.approx(0.54)


def test_design_open_label_and_chance_of_active_drug() -> None:
    assert active_probability(load_trial(CALIBRATION / "sustain-2-adults.toml")) == 1.0  # open label
    assert active_probability(load_trial(CALIBRATION / "transform-2.toml")) == 0.5
    assert active_probability(load_trial(CALIBRATION / "takahashi-2021.toml")) == 0.75  # 3 of 4 arms active
    assert active_probability(load_trial(CALIBRATION / "murrough-2013-ajp.toml")) == 1.0  # midazolam is felt
    transform = load_trial(CALIBRATION / "transform-2.toml")
    assert expectancy_factor(transform, 0.7) == 1.0
    assert expectancy_factor(load_trial(CALIBRATION / "sustain-2-adults.toml"), 0.5) == pytest.approx(2**0.5)


def test_care_window_and_new_antidepressant() -> None:
    ketect = load_trial(CALIBRATION / "ketect-2022.toml")
    assert care_until_h(ketect, 0, 400 * 24.0) == pytest.approx((25 + 7) * 24.0)  # a week after the last infusion
    transform = load_trial(CALIBRATION / "transform-2.toml")
    assert all(starts_new_antidepressant(transform, i) for i in range(len(transform.arms)))
    correia = load_trial(CALIBRATION / "correia-melo-2020.toml")  # escitalopram is the background there
    assert not any(starts_new_antidepressant(correia, i) for i in range(len(correia.arms)))
