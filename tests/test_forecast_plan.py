"""The forecast end to end: JSON contract, plan table behaviour, the posterior moving toward a synthetic patient's truth."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

import ketasim as ks
from ketasim.apps.cli import main
from ketasim.forecast import simulator as sim
from ketasim.forecast.patient_file import Observation, PatientRecord
from ketasim.forecast.planner import recommend

PATIENT = """\
[patient]
weight_kg = 80
failed_treatments = 2
doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = ["0 d", "2 d", "4 d"] } ]
observations = [ { at = "0 d", madrs = 33 }, { at = "1 d", madrs = 21 }, { at = "3 d", madrs = 17 },
                 { at = "5 d", madrs = 14, sbp = 128 } ]

[plan]
horizon = "6 wk"
relapse_madrs = 22
acceptable_risk = 0.3
intervals = ["1 wk", "2 wk", "3 wk", "4 wk"]
"""


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> ks.Forecast:
    path = tmp_path_factory.mktemp("fc") / "patient.toml"
    path.write_text(PATIENT)
    return ks.forecast(path, draws=900, seed=3)


def test_tables_and_disclaimer(result: ks.Forecast) -> None:
    assert "it informs, it does not prescribe" in result.disclaimer
    f = result.forecast
    assert list(f.columns) == ["time_h", "madrs_p05", "madrs_p25", "madrs_p50", "madrs_p75", "madrs_p95"]
    assert f["time_h"].iloc[0] == 120.0 and f["time_h"].iloc[-1] == 120.0 + 6 * 168.0
    assert np.allclose(np.diff(f["time_h"]), 24.0)
    bands = f.drop(columns="time_h").to_numpy()
    assert np.all(np.diff(bands, axis=1) >= 0) and np.all((bands >= 0) & (bands <= 60))
    assert result.posterior["ess"] > 30 and result.posterior["r_hat"] is None
    assert 0 <= result.posterior["pareto_khat"] < 0.7
    by_week = [row["probability"] for row in result.relapse_summary["by_week"]]
    assert len(by_week) == 6 and np.all(np.diff(by_week) >= 0)


def test_plan_risks_monotone_and_recommendation(result: ks.Forecast) -> None:
    table = result.plan
    assert list(table["interval"]) == ["1 wk", "2 wk", "3 wk", "4 wk"]
    assert table["sessions"].tolist() == [6, 3, 2, 1]  # after the last dose (4 d), by 5 d + 6 wk
    risks = table["relapse_risk"].to_numpy()
    assert np.all(np.diff(risks) >= -1e-12), risks
    assert risks[0] < risks[-1]
    # the recommendation is the longest interval under the acceptable risk, and moves with it
    for acceptable in (0.0, *risks, 1.0):
        chosen = table.loc[recommend(table, acceptable), "interval_h"]
        allowed = table.loc[table["relapse_risk"] <= acceptable, "interval_h"]
        assert (chosen.tolist() == [allowed.max()]) if len(allowed) else chosen.empty
    looser = [table.loc[recommend(table, a), "interval_h"].max() for a in sorted(set(risks))]
    assert np.all(np.diff(looser) >= 0)
    assert table["recommended"].sum() <= 1
    assert result.recommended_interval == (table.loc[table["recommended"], "interval"].iloc[0]
                                           if table["recommended"].any() else None)
    assert np.all((table["p_sbp_over_180"] >= 0) & (table["p_sbp_over_180"] <= 1))
    assert np.all(table["sbp_peak_mean_mmhg"] > 100)


def test_posterior_moves_toward_the_truth() -> None:
    """A synthetic patient with a strong plasticity response and one with a blunted one are told apart."""
    regimen = ks.Regimen.of(ks.dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at="0 d"))
    traits = sim.population_draws(4, 400, sim.Covariates(80.0), 2)
    gain = traits["plasticity_gain"]
    order = np.argsort(gain)
    chosen = [int(order[int(0.9 * gain.size)]), int(order[int(0.1 * gain.size)])]  # 90th and 10th percentile
    patient = {k: v[chosen] for k, v in traits.items()}
    start, _ = sim.initial_states(patient, None)
    days = np.array([0.0, 1.0, 3.0, 7.0])
    out, _ = sim.simulate_draws(regimen, patient, 24.0 * days, start=start)
    noise = sim.noise(4, "visits", np.arange(2), 24.0 * days, sim.visit_noise_sd())
    observed = np.clip(out["madrs"] + noise, 0, 60)
    medians = []
    for j in range(2):
        observations = tuple(Observation(24.0 * d, "madrs", float(v)) for d, v in zip(days, observed[:, j], strict=True))
        record = PatientRecord("synthetic", sim.Covariates(80.0), 2, None, regimen, observations)
        result = ks.forecast(record, {"horizon": "2 wk", "intervals": ["1 wk"]}, draws=600, seed=j)
        medians.append(result.posterior_table.set_index("trait").loc["plasticity_gain"])
    strong, blunted = medians
    assert strong["posterior_p50"] > blunted["posterior_p50"]
    # each posterior moves from the prior toward its own truth
    assert strong["prior_p50"] < strong["posterior_p50"] and gain[chosen[0]] > strong["prior_p50"]
    assert blunted["posterior_p50"] < blunted["prior_p50"] and gain[chosen[1]] < blunted["prior_p50"]
    assert abs(np.log(strong["posterior_p50"] / gain[chosen[0]])) < abs(np.log(strong["prior_p50"] / gain[chosen[0]]))
    assert abs(np.log(blunted["posterior_p50"] / gain[chosen[1]])) < abs(np.log(blunted["prior_p50"] / gain[chosen[1]]))


def test_cli_json_contract_and_out_files(tmp_path: Path) -> None:
    path = tmp_path / "patient.toml"
    path.write_text(PATIENT.replace('horizon = "6 wk"', 'horizon = "2 wk"'))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["forecast", str(path), "--json", "--draws", "600", "--seed", "1", "--out", str(tmp_path / "o")])
    assert code == 0, err.getvalue()
    data = json.loads(out.getvalue())
    assert {"posterior", "forecast", "relapse", "plan", "disclaimer"} <= set(data)
    assert "it informs, it does not prescribe" in data["disclaimer"]
    assert {"method", "ess", "pareto_khat", "r_hat"} <= set(data["posterior"])
    assert set(data["forecast"][0]) == {"time_h", "madrs_p05", "madrs_p25", "madrs_p50", "madrs_p75", "madrs_p95"}
    assert len(data["forecast"]) == 15
    assert {"interval", "sessions", "relapse_risk", "recommended"} <= set(data["plan"][0])
    assert "posterior: round 1/" in err.getvalue()
    written = {p.name for p in (tmp_path / "o").iterdir()}
    assert {"forecast.csv", "plan.csv", "relapse.csv", "posterior.csv", "forecast.json", "forecast.png"} <= written
    assert "does not prescribe" in (tmp_path / "o" / "plan.csv").read_text().splitlines()[0]


def test_sessions_follow_the_last_dose_after_the_last_observation() -> None:
    from ketasim.forecast.patient_file import Plan
    from ketasim.forecast.planner import _sessions

    doses = ks.Regimen.of(ks.dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at=["0 d", "2 d", "11 d"]))
    record = PatientRecord("x", sim.Covariates(70.0), 0, None, doses, (Observation(168.0, "madrs", 20.0),))
    plan = Plan(horizon_h=8 * 168.0)  # T_obs 7 d, T_end 63 d
    assert _sessions(record, plan, 168.0) == [24.0 * d for d in (18, 25, 32, 39, 46, 53, 60)]
    assert _sessions(record, plan, 4 * 168.0) == [24.0 * 39]
    late = PatientRecord("x", sim.Covariates(70.0), 0, None, doses, (Observation(24.0 * 30, "madrs", 20.0),))
    assert _sessions(late, Plan(horizon_h=23 * 24.0), 2 * 168.0) == [24.0 * 39]  # 25 d is past; 53 d is T_end (excluded)
