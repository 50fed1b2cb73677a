"""Virtual populations and trials: screening, determinism, endpoints."""

from __future__ import annotations

import numpy as np

from ketasim.trials.endpoints import VisitValues, visit_summary
from ketasim.trials.outcomes import relapse_summary, responders, wilson_interval
from ketasim.trials.population import PopulationSettings, draw_candidates, population_values
from ketasim.trials.trial import run_trial
from ketasim.trials.trial_spec import parse_trial


def _spec(kind: str = "trd", background: bool = False, n: int = 30) -> object:
    population = {"kind": kind, "baseline_madrs": [22, 60]}
    if kind == "trd":
        population["min_failed_treatments"] = 2
    if background:
        population["background"] = [{"drug": "escitalopram", "route": "oral", "amount": "20 mg", "every": "1 d"}]
    data = {
        "name": "test", "seed": 7, "patients_per_arm": n, "population": population,
        "arms": [{"name": "ketamine", "doses": [{"drug": "ketamine", "route": "iv", "amount": "0.5 mg/kg",
                                                 "infusion": "40 min", "at": "0 d"}]},
                 {"name": "saline", "doses": [{"drug": "saline", "route": "iv", "amount": "0 mg",
                                               "infusion": "40 min", "at": "0 d"}]}],
        "endpoints": {"visits": ["1 d", "7 d"], "response": "50%", "remission": 10},
    }
    return parse_trial(data, "test.toml")


def test_trd_is_screened_not_drawn() -> None:
    result = run_trial(_spec("trd", n=300), show_progress=False)
    mdd = run_trial(_spec("mdd", n=300), show_progress=False)
    trd_arm, mdd_arm = result.arms["ketamine"], mdd.arms["ketamine"]
    # many candidates respond to one of the adequate courses: more are screened per TRD patient
    # than the baseline window alone rejects in unselected MDD
    def ratio(arm: object) -> float:
        return arm.summary["candidates_screened"] / arm.summary["n"]

    # (1.18 vs 1.13 candidates per enrolled patient with the stage-3 calibration, 1.21 vs 1.13 with stage 2's,
    # 1.25x and more before: each fit shrank the non-specific improvement that screening courses share; a
    # finding, docs/validation.md; the screening must still reject more than the baseline window alone)
    assert ratio(trd_arm) >= 1.02 * ratio(mdd_arm)
    # those who failed two courses respond less to the monoaminergic path and to non-specific care
    for name in ("monoaminergic_responsiveness", "placebo_responsiveness"):
        assert np.median(trd_arm.patients[name]) < np.median(mdd_arm.patients[name])


def test_baseline_window_is_respected_with_background() -> None:
    result = run_trial(_spec("trd", background=True), show_progress=False)
    for arm in result.arms.values():
        assert np.all((arm.baseline >= 22) & (arm.baseline <= 60))


def test_ketamine_beats_saline_at_one_day() -> None:
    result = run_trial(_spec("trd", n=60), show_progress=False).to_json()
    ket = result["arms"]["ketamine"]["visits"]["1 d"]["change_mean"]
    sal = result["arms"]["saline"]["visits"]["1 d"]["change_mean"]
    assert ket < sal - 3.0


def test_patient_draws_depend_only_on_their_key() -> None:
    pop, settings = population_values(), PopulationSettings()
    whole = draw_candidates(3, 1, np.arange(10), pop, settings)
    part = draw_candidates(3, 1, np.array([5, 6]), pop, settings)
    for name in whole:
        np.testing.assert_array_equal(whole[name][[5, 6]], part[name])
    other_arm = draw_candidates(3, 2, np.arange(10), pop, settings)
    assert not np.allclose(whole["untreated_madrs"], other_arm["untreated_madrs"])
    assert np.all((whole["weight_kg"] >= 45) & (whole["weight_kg"] <= 140))


def test_endpoint_statistics() -> None:
    baseline = np.array([30.0, 30.0, 30.0, 30.0])
    madrs = np.array([10.0, 15.0, 16.0, 30.0])
    s = visit_summary(VisitValues({"madrs": baseline}, {"madrs": madrs}, 0.5, 10.0))
    assert s["response_rate"] == 0.5 and s["remission_rate"] == 0.25
    assert s["change_mean"] == np.mean(madrs - baseline)
    assert list(responders(baseline, madrs, 0.5)) == [True, True, False, False]
    lo, hi = wilson_interval(5, 10)
    assert lo < 0.5 < hi and 0.0 <= lo and hi <= 1.0
    # relapse: 3 responders; days after `at` for each assessment column
    assessments = np.array([[12.0, 25.0, 10.0, 40.0], [23.0, 10.0, 10.0, 40.0]])
    r = relapse_summary(baseline, madrs, assessments, np.array([1.0, 2.0]), "responders", 0.5, 10.0, 22.0)
    assert r["count"] == 2 and r["rate"] == 1.0 and r["median_days"] == 1.0


def test_age_window_like_weight() -> None:
    """population.age is an inclusion window: every enrolled patient's age lies in it."""
    older = parse_trial({**_as_data(), "population": {"kind": "mdd", "baseline_madrs": [22, 60], "age": [65, 90]}},
                        "older.toml")
    assert older.population.age == (65.0, 90.0)
    result = run_trial(older, show_progress=False)
    for arm in result.arms.values():
        assert np.all((arm.patients["age_y"] >= 65.0) & (arm.patients["age_y"] <= 90.0))


def _as_data() -> dict:
    """A one-arm trial file as a dict, without its population table."""
    return {"name": "test", "seed": 7, "patients_per_arm": 20,
            "arms": [{"name": "saline", "doses": [{"drug": "saline", "route": "iv", "amount": "0 mg",
                                                  "infusion": "40 min", "at": "0 d"}]}],
            "endpoints": {"visits": ["1 d"], "response": "50%", "remission": 10}}
