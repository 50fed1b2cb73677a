"""Bipolar depression: kind = "bipolar", lithium and valproate (PK only), "responded at any visit", Diazgranados 2010."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ketasim as ks
from ketasim.errors import KetasimInputError
from ketasim.model.drugs import DRUGS
from ketasim.trials.endpoints import METRICS, VisitValues, visit_summary
from ketasim.trials.outcomes import responders
from ketasim.trials.population import POPULATION_KINDS, SCREENED_KINDS
from ketasim.trials.summary import summarise_arm
from ketasim.trials.validate import check_targets, format_table, indication, section_scores, shipped_calibration_dir

DIAZGRANADOS = shipped_calibration_dir() / "diazgranados-2010.toml"

BIPOLAR = """\
name = "bipolar test"
seed = 3
patients_per_arm = 40

[population]
kind = "bipolar"
baseline_madrs = [20, 60]
background = [ { drug = "valproate", route = "oral", amount = "500 mg", every = "12 h" } ]

[[arms]]
name = "ketamine"
doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = "0 d" } ]

[[arms]]
name = "saline"
doses = [ { drug = "saline", route = "iv", amount = "0 mg", infusion = "40 min", at = "0 d" } ]

[endpoints]
visits = ["7 d", "1 d", "40 min"]
response = "50%"
remission = 10
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trial.toml"
    path.write_text(text)
    return path


# ---- the population kind ---------------------------------------------------------------------------------

def test_bipolar_is_a_population_kind_with_optional_screening(tmp_path: Path) -> None:
    assert "bipolar" in POPULATION_KINDS and SCREENED_KINDS["bipolar"] == 0
    spec = ks.load_trial(_write(tmp_path, BIPOLAR))
    assert spec.population.kind == "bipolar" and spec.population.min_failed_treatments == 0
    text = BIPOLAR.replace('kind = "bipolar"\n', 'kind = "bipolar"\nmin_failed_treatments = 2\n')
    screened = ks.load_trial(_write(tmp_path, text))
    assert screened.population.min_failed_treatments == 2


@pytest.mark.parametrize(("replace", "fragments"), [
    ('kind = "bipolar"', ('kind = "manic"', "population.kind", "'bipolar'")),
    ('kind = "bipolar"', ('kind = "bipolar"\nmin_failed_treatments = 0', "population.min_failed_treatments", ">= 1")),
    ('kind = "bipolar"', ('kind = "mdd"\nmin_failed_treatments = 1', "population.min_failed_treatments", '"bipolar"')),
])
def test_bad_population_is_one_clear_error(tmp_path: Path, replace: str, fragments: tuple[str, ...]) -> None:
    new, *expected = fragments
    with pytest.raises(KetasimInputError) as info:
        ks.load_trial(_write(tmp_path, BIPOLAR.replace(replace, new)))
    message = str(info.value)
    assert "\n" not in message and "trial.toml: " in message
    for fragment in expected:
        assert fragment in message, message


# ---- lithium and valproate: PK, no antidepressant action ------------------------------------------------

@pytest.mark.parametrize(("drug", "daily_mg", "low", "high"), [
    # steady-state trough/peak window of the usual maintenance dose: lithium 0.4-1.2 mEq/L (6,941 ng/mL per mEq/L),
    # valproate 40-125 ug/mL (labels: therapeutic 0.6-1.2 mEq/L and 50-125 ug/mL)
    ("lithium", 1200.0, 0.4 * 6941.0, 1.2 * 6941.0),
    ("valproate", 1000.0, 40_000.0, 125_000.0),
])
def test_mood_stabiliser_reaches_its_therapeutic_level_and_does_nothing_else(drug: str, daily_mg: float, low: float,
                                                                          high: float) -> None:
    assert DRUGS[drug].action == "inert"  # no receptor target: no antidepressant action of its own
    regimen = ks.Regimen.of(ks.dose(drug, "oral", f"{daily_mg / 2:g} mg", every="12 h"))
    table = ks.simulate(regimen, ks.typical_patient("typical-trd"), days=10, engine="fast")
    last_day = table[table["time_h"] >= 9 * 24.0]
    level = last_day[f"plasma_{drug}_ng_ml"]
    assert low < level.min() < level.max() < high
    # the same schedule of an oral placebo: the same MADRS course (the care and contact of the schedule, no more)
    placebo = ks.simulate(ks.Regimen.of(ks.dose("placebo", "oral", f"{daily_mg / 2:g} mg", every="12 h")),
                          ks.typical_patient("typical-trd"), days=10, engine="fast")
    assert np.allclose(table["madrs"].to_numpy(), placebo["madrs"].to_numpy(), atol=1e-6)
    assert table["madrs"].iloc[-1] < table["madrs"].iloc[0] - 0.5  # the course moves: the match is not trivial


# ---- responded at any visit ------------------------------------------------------------------------------

def test_response_any_visit_counts_each_patient_once_over_the_visits_so_far() -> None:
    baseline = np.full(5, 30.0)
    first = np.array([10.0, 30.0, 30.0, np.nan, 30.0])  # patient 0 responds at the first visit only
    second = np.array([20.0, 12.0, 30.0, 30.0, np.nan])  # patient 1 at the second; patient 4 not assessed
    one = visit_summary(VisitValues({"madrs": baseline}, {"madrs": first}, 0.5, 10.0))
    two = visit_summary(VisitValues({"madrs": baseline}, {"madrs": second}, 0.5, 10.0, ({"madrs": first},)))
    assert one["response_any_visit_rate"] == one["response_rate"] == 0.25
    assert two["response_rate"] == 0.25  # patient 1 of the 4 assessed
    assert two["response_any_visit_rate"] == 0.5  # patients 0 and 1 of the 4 assessed at the second visit
    assert METRICS["response_any_visit_rate"].is_fraction and METRICS["response_any_visit_rate"].at_visit


def test_response_any_visit_follows_time_not_the_order_of_the_file(tmp_path: Path) -> None:
    spec = ks.load_trial(_write(tmp_path, BIPOLAR))
    result = ks.run_trial(spec, patients_per_arm=30, show_progress=False)
    arm = result.arms["ketamine"]
    visits = arm.summary["visits"]
    by_time = ["40 min", "1 d", "7 d"]
    rates = [visits[k]["response_any_visit_rate"] for k in by_time]
    assert rates == sorted(rates)  # never falls over time
    for key in by_time:
        assert visits[key]["response_any_visit_rate"] >= visits[key]["response_rate"]
    # at 7 d: responded at 40 min, 1 d or 7 d, counted from the per-patient values
    madrs = {k: arm.visit_values["madrs"][spec.endpoints.visit_keys.index(k)] for k in by_time}
    hits = np.zeros(arm.baseline.size, dtype=bool)
    for key in by_time:
        hits |= responders(arm.baseline, madrs[key], 0.5)
    assert visits["7 d"]["response_any_visit_rate"] == pytest.approx(hits.mean())
    assert summarise_arm(arm, spec.endpoints) == arm.summary


# ---- Diazgranados 2010 and validate's sections ----------------------------------------------------------

def test_diazgranados_runs_in_its_own_validate_section() -> None:
    spec = ks.load_trial(DIAZGRANADOS)
    assert indication(spec) == "bipolar depression"
    assert spec.population.background is not None and spec.population.background.doses[0].drug == "lithium"
    assert {t.metric for t in spec.published} == {"response_any_visit_rate"}
    result = ks.run_trial(spec, patients_per_arm=40, show_progress=False)
    checks = check_targets(spec, result, DIAZGRANADOS.name)
    assert all(c.indication == "bipolar depression" and c.to_json()["indication"] == "bipolar depression" for c in checks)
    ket, sal = (c.simulated for c in checks)
    assert ket > sal  # ketamine's response at some visit beats saline's
    murrough = ks.load_trial(shipped_calibration_dir() / "murrough-2013-ajp.toml")
    depression = check_targets(murrough, ks.run_trial(murrough, patients_per_arm=20, show_progress=False), "murrough.toml")
    table = format_table(checks + depression).splitlines()
    section = table.index("bipolar depression:")
    assert all("murrough" in line for line in table[2:section - 1])  # depression rows first, then the section
    assert any("diazgranados" in line for line in table[section:])
    assert table[-2].endswith("of 2 bipolar depression targets within tolerance")
    assert table[-1].endswith(f"of {len(checks) + len(depression)} targets within tolerance")
    scores = section_scores(checks + depression)
    assert [s["indication"] for s in scores] == ["depression", "bipolar depression"]
    assert [s["total"] for s in scores] == [len(depression), 2]


def test_validate_cli_reports_each_indication(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from ketasim.apps.cli import main

    murrough = shipped_calibration_dir() / "murrough-2013-ajp.toml"
    argv = ["validate", str(DIAZGRANADOS), str(murrough), "--patients-per-arm", "4", "--workers", "1"]
    assert main([*argv, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [s["indication"] for s in document["indications"]] == ["depression", "bipolar depression"]
    assert sum(s["total"] for s in document["indications"]) == document["total"] == 4
    assert {t["indication"] for t in document["targets"] if t["file"] == DIAZGRANADOS.name} == {"bipolar depression"}
    assert main(argv) == 0
    assert "bipolar depression:" in capsys.readouterr().out
