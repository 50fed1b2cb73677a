"""Suicidal ideation: the crisis patient after one infusion, the scales' ranges, the suicidal population."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ketasim as ks
from ketasim.model import mechanism, suicidality
from ketasim.model.arm import model_values
from ketasim.model.namespace import NUMPY
from ketasim.model.patient import PATIENT_FIELDS
from ketasim.trials.endpoints import VISIT_METRICS, VisitValues
from ketasim.trials.population import POPULATION_KINDS, PopulationSettings, draw_candidates, population_values
from ketasim.trials.trial_spec import POPULATION_KINDS as SPEC_KINDS


def _course(regimen: str, days: float = 21.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = ks.simulate(regimen, "acute-suicidal-crisis", days=days, engine="fast",
                        times_h=np.arange(0.0, days * 24.0 + 1e-9, 0.5))
    return table["time_h"].to_numpy(), table["madrs_item10"].to_numpy(), table["madrs"].to_numpy()


@pytest.fixture(scope="module")
def courses() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return {r: _course(r) for r in ("ketamine-iv-single", "midazolam-iv-single")}


def test_item10_falls_within_4_h_after_ketamine_and_far_less_after_midazolam(courses: dict) -> None:
    drops = {}
    for regimen, (t, item10, _) in courses.items():
        within = t <= 4.0
        drops[regimen] = item10[0] - item10[within].min()
    assert drops["ketamine-iv-single"] >= 1.0
    assert drops["midazolam-iv-single"] < 0.5 * drops["ketamine-iv-single"]


def _back_to_half_h(t: np.ndarray, benefit: np.ndarray) -> float:
    """Time (h) after the peak benefit when it first falls to half of the peak."""
    peak = int(np.argmax(benefit))
    below = np.nonzero(benefit[peak:] <= 0.5 * benefit[peak])[0]
    return float(t[peak + below[0]]) if below.size else float("inf")


def test_si_benefit_fades_sooner_than_the_madrs_benefit(courses: dict) -> None:
    """Benefit of ketamine over midazolam (same care), in item 10 and in the MADRS total."""
    t, item10_k, madrs_k = courses["ketamine-iv-single"]
    _, item10_m, madrs_m = courses["midazolam-iv-single"]
    si_half = _back_to_half_h(t, item10_m - item10_k)
    madrs_half = _back_to_half_h(t, madrs_m - madrs_k)
    assert si_half < madrs_half
    assert si_half < 7 * 24.0  # Su 2023: SI benefit to about day 5


def test_item10_is_consistent_with_the_total(courses: dict) -> None:
    for _, item10, madrs in courses.values():
        assert np.all((item10 >= 0.0) & (item10 <= 6.0) & (item10 <= madrs + 1e-12))


_FRACTION = st.floats(0.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(madrs=st.floats(0.0, 60.0), untreated=st.floats(0.0, 60.0), si0=st.floats(0.0, 6.0), fast=_FRACTION,
       care=_FRACTION, placebo=st.floats(0.0, 1e3), mood_weight=st.floats(0.0, 1.0), care_max=st.floats(0.0, 5.0),
       exponent=st.floats(0.2, 5.0))
def test_si_outputs_stay_within_their_scales(madrs: float, untreated: float, si0: float, fast: float, care: float,
                                             placebo: float, mood_weight: float, care_max: float, exponent: float) -> None:
    p = model_values({"si_mood_weight": mood_weight, "si_care_relief_max": care_max, "ssi_exponent": exponent})
    patient = {"untreated_madrs": np.array([untreated]), "suicidal_ideation": np.array([si0]),
               "placebo_responsiveness": np.array([placebo])}
    item10 = suicidality.item10(NUMPY, np.array([madrs]), np.array([fast]), np.array([care]), patient, p)
    ssi = suicidality.ssi(NUMPY, item10, p)
    assert 0.0 <= item10[0] <= min(6.0, madrs)
    assert 0.0 <= ssi[0] <= 38.0


@settings(max_examples=25, deadline=None)
@given(states=st.lists(st.floats(-5.0, 5.0), min_size=mechanism.N_STATES, max_size=mechanism.N_STATES),
       seed=st.integers(0, 2**31 - 1), kind=st.sampled_from(POPULATION_KINDS), time_h=st.floats(0.0, 2000.0))
def test_every_si_output_of_the_mechanism_is_within_its_scale(states: list[float], seed: int, kind: str,
                                                               time_h: float) -> None:
    """Any state (even outside its usual range) and any drawn patient: item 10 in 0-6 and <= MADRS, SSI in 0-38."""
    patient = draw_candidates(seed, 0, np.arange(4), population_values(), PopulationSettings(kind))
    y = tuple(np.full(4, s) for s in states)
    occ = mechanism.Occupancy(np.zeros(4), np.zeros(4), np.zeros(4))
    out = mechanism.observables(NUMPY, time_h, y, occ, patient, model_values())
    assert np.all((out["madrs_item10"] >= 0.0) & (out["madrs_item10"] <= 6.0))
    assert np.all(out["madrs_item10"] <= out["madrs"] + 1e-12)
    assert np.all((out["ssi"] >= 0.0) & (out["ssi"] <= 38.0))


def test_si_states_stay_within_0_1_under_frequent_dosing() -> None:
    every_hour = ks.Regimen.of(ks.dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", every="2 h", until="2 d"))
    table = ks.simulate(every_hour, "acute-suicidal-crisis", days=3, engine="fast")
    assert table["madrs_item10"].between(0.0, 6.0).all() and table["ssi"].between(0.0, 38.0).all()


def test_the_suicidal_population_enters_with_active_suicidal_ideation() -> None:
    pop = population_values()
    index = np.arange(4000)
    suicidal = draw_candidates(7, 0, index, pop, PopulationSettings("suicidal"))
    assert set(suicidal) == set(PATIENT_FIELDS)
    assert np.round(suicidal["suicidal_ideation"]).min() >= 4.0 and suicidal["suicidal_ideation"].max() <= 6.0
    assert suicidal["suicidal_ideation"].mean() == pytest.approx(4.6, abs=0.2)
    p = model_values()
    assert suicidality.ssi(NUMPY, suicidal["suicidal_ideation"], p).min() >= 4.0  # SSI >= 4 at entry
    mdd = draw_candidates(7, 0, index, pop, PopulationSettings("mdd"))
    assert mdd["suicidal_ideation"].mean() == pytest.approx(1.6, abs=0.15)  # Price 2014 baselines 1.48-1.61
    assert suicidal["untreated_madrs"].mean() > mdd["untreated_madrs"].mean() + 4.0
    # the SI draws are their own streams: the depression draws do not move
    assert np.array_equal(mdd["plasticity_gain"], suicidal["plasticity_gain"])


def test_the_trial_file_and_the_population_know_the_same_kinds() -> None:
    assert tuple(SPEC_KINDS) == tuple(POPULATION_KINDS)


def test_ssi_response_and_remission() -> None:
    metrics = {m.name: m for m in VISIT_METRICS}
    baselines = {"madrs": np.full(4, 30.0), "madrs_item10": np.full(4, 4.0), "ssi": np.array([20.0, 20.0, 6.0, 0.0])}
    outputs = {"madrs": np.full(4, 20.0), "madrs_item10": np.array([1.0, 3.0, 2.0, 0.0]),
               "ssi": np.array([10.0, 10.1, 2.0, 0.0])}
    values = VisitValues(baselines, outputs, 0.5, 10.0)
    assert metrics["ssi_response_rate"].estimate(values).value == pytest.approx(2 / 4)  # no baseline SI: no response
    assert metrics["ssi_remission_rate"].estimate(values).value == pytest.approx(2 / 4)
    assert metrics["item10_change_mean"].estimate(values).value == pytest.approx(-2.5)
    assert metrics["ssi_mean"].estimate(values).value == pytest.approx(22.1 / 4)


def test_the_si_trial_files_are_shipped_and_parse() -> None:
    from pathlib import Path

    from ketasim.trials.trial_spec import load_trial

    folder = Path(__file__).resolve().parents[1] / "src" / "ketasim" / "data" / "calibration"
    specs = [load_trial(folder / f"{name}.toml") for name in ("price-2014", "grunebaum-2018", "abbar-2022", "canuso-2018")]
    assert sum(len(s.published) for s in specs) == 11
    assert {s.population.kind for s in specs} == {"trd", "suicidal"}
