"""SBML export: the document is valid, names the CSV columns, and libRoadRunner reproduces `simulate`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketasim import SolverSettings, preset, simulate
from ketasim.apps.cli import main
from ketasim.interchange.sbml import OUTPUT_IDS, consistency_messages, export_sbml, patient_parameter_values, sbml_document
from ketasim.model.arm import ArmModel, model_values
from ketasim.model.drugs import SESSION_ROUTES
from ketasim.model.patient import PATIENT_FIELDS, Patient, stack_patients, typical_patient
from ketasim.model.regimen import Regimen, dose
from ketasim.simulation import output_times_h

libsbml = pytest.importorskip("libsbml")
roadrunner = pytest.importorskip("roadrunner")

REFERENCE = SolverSettings(rtol=1e-9, atol=1e-11)
#: relative agreement asked of libRoadRunner vs the reference engine; floors for values near zero
RTOL = 1e-3
FLOOR = {"madrs": 1e-6, "plasma": 1e-6}


def _runner(sbml: str) -> roadrunner.RoadRunner:
    """RoadRunner with tight CVODE tolerances; absolute tolerance as a vector so roadrunner does not rescale it."""
    rr = roadrunner.RoadRunner(sbml)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = [1e-12] * len(rr.integrator.getAbsoluteToleranceVector())
    rr.integrator.maximum_num_steps = 1_000_000
    return rr


def _session_times(regimen: Regimen, days: float) -> np.ndarray:
    return np.array(sorted({e.time_h for e in regimen.events(days * 24.0) if e.route in SESSION_ROUTES}))


def _max_rel(a: np.ndarray, b: np.ndarray, floor: float) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def _compare(regimen: Regimen, patient: Patient, days: float, rr: roadrunner.RoadRunner) -> dict[str, float]:
    """Max relative difference of madrs and each plasma column, libRoadRunner vs simulate(reference)."""
    times = output_times_h(regimen, days)
    table = simulate(regimen, patient, days, engine="reference", settings=REFERENCE, times_h=times)
    plasma = [c for c in table.columns if c.startswith("plasma_")]
    result = rr.simulate(times=times, selections=["time", "madrs", *plasma])
    got = pd.DataFrame(np.asarray(result), columns=["time_h", "madrs", *plasma])
    np.testing.assert_allclose(got["time_h"], times, rtol=0, atol=1e-9)
    # at a session start SBML reports the value after the expectancy jump, ketasim the value before it
    keep = ~np.isin(np.round(times, 9), np.round(_session_times(regimen, days), 9))
    diffs = {"madrs": _max_rel(got["madrs"].to_numpy()[keep], table["madrs"].to_numpy()[keep], FLOOR["madrs"])}
    for column in plasma:
        diffs[column] = _max_rel(got[column].to_numpy(), table[column].to_numpy(), FLOOR["plasma"])
    return diffs


@pytest.mark.parametrize(("name", "days", "plasma"), [
    ("ketamine-iv-single", 2.0, {"plasma_ketamine_ng_ml", "plasma_norketamine_ng_ml"}),
    ("esketamine-label", 10.0, {"plasma_esketamine_ng_ml", "plasma_noresketamine_ng_ml", "plasma_escitalopram_ng_ml"}),
    ("escitalopram-10mg-daily", 14.0, {"plasma_escitalopram_ng_ml"}),
])
def test_roadrunner_matches_reference(name: str, days: float, plasma: set[str]) -> None:
    regimen, patient = preset(name), typical_patient("typical-trd")
    diffs = _compare(regimen, patient, days, _runner(export_sbml(regimen, patient, days)))
    assert set(diffs) == {"madrs"} | plasma
    assert max(diffs.values()) < RTOL, diffs


@pytest.mark.parametrize(("route", "amount"), [("im", "0.5 mg/kg"), ("sc", "0.5 mg/kg"), ("intranasal", "50 mg"),
                                               ("oral", "70 mg"), ("sublingual", "70 mg"), ("oral_er", "120 mg")])
def test_roadrunner_matches_reference_for_each_ketamine_route(route: str, amount: str) -> None:
    """Routes of racemic ketamine (first-pass norketamine, zero-order release, IM/SC sessions) export exactly."""
    regimen = Regimen.of(dose("ketamine", route, amount, at=["0 d", "1 d"]))
    patient = typical_patient("typical-trd")
    diffs = _compare(regimen, patient, 2.0, _runner(export_sbml(regimen, patient, 2.0)))
    assert set(diffs) == {"madrs", "plasma_ketamine_ng_ml", "plasma_norketamine_ng_ml"}
    assert max(diffs.values()) < RTOL, diffs


def test_session_start_reports_the_jump() -> None:
    """Just after a session starts the expectancy jump is there in both (SBML: at the event time)."""
    regimen = preset("ketamine-iv-single")
    rr = _runner(export_sbml(regimen, "typical-trd", 1.0))
    result = rr.simulate(times=[0.0, 1e-6], selections=["expectancy"])
    table = simulate(regimen, "typical-trd", 1.0, settings=REFERENCE, times_h=np.array([0.0, 1e-6]))
    assert table["expectancy"].iloc[0] == 0.0
    assert result[0, 0] == pytest.approx(table["expectancy"].iloc[1], rel=1e-6)


def test_one_model_serves_other_patients() -> None:
    """Exported for one patient, re-parameterised with `patient_parameter_values` for another."""
    regimen = Regimen.of(dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at=["0 d", "2 d"]),
                         dose("escitalopram", "oral", "10 mg", every="1 d"))
    other = typical_patient("typical-mdd").with_(weight_kg=95.0, cl_factor=0.7, ssri_cl_factor=1.6,
                                                 plasticity_gain=1.4, synapse_deficit=0.28)
    days = 4.0
    model = ArmModel(regimen, stack_patients([typical_patient("typical-trd"), other]), model_values(), 0.0, days * 24)
    rr = _runner(export_sbml(regimen, "typical-trd", days))
    for key, value in patient_parameter_values(model, 1).items():
        rr.setValue(key, value)
    rr.reset()  # re-runs the initial assignment (spine density) and the dose events at time 0 with the new values
    assert rr.getValue("spine_density") == pytest.approx(1.0 - other.synapse_deficit)
    diffs = _compare(regimen, other, days, rr)
    assert max(diffs.values()) < RTOL, diffs


def test_consistency_and_output_ids() -> None:
    doc = sbml_document("esketamine-label", "typical-trd", 7.0)
    errors, warnings = consistency_messages(doc)
    assert errors == []
    assert warnings == []  # units included: every parameter has a unit, and the rules agree with them
    model = doc.getModel()
    ids = {model.getParameter(i).getId() for i in range(model.getNumParameters())}
    columns = simulate("esketamine-label", "typical-trd", 1.0).columns[1:]
    assert set(OUTPUT_IDS) <= ids
    assert set(columns) <= ids
    assert set(PATIENT_FIELDS) <= ids and set(model_values()) <= ids
    for column in columns:
        assert model.getRule(column) is not None, column
    for i in range(model.getNumParameters()):
        assert model.getParameter(i).isSetUnits(), model.getParameter(i).getId()
    assert model.getTimeUnits() == "hour"
    assert doc.getLevel() == 3 and doc.getVersion() == 2


def test_every_mechanism_parameter_is_used() -> None:
    """A parameter added to a layer module but not to the SBML equations fails here (as would a changed formula
    in the agreement tests above)."""
    model = sbml_document("esketamine-label", "typical-trd", 3.0).getModel()
    used: set[str] = set()
    maths = [model.getRule(i).getMath() for i in range(model.getNumRules())]
    maths += [a.getMath() for e in model.getListOfEvents() for a in e.getListOfEventAssignments()]
    maths += [model.getInitialAssignment(i).getMath() for i in range(model.getNumInitialAssignments())]
    while maths:
        node = maths.pop()
        if node.isName():
            used.add(node.getName())
        maths += [node.getChild(i) for i in range(node.getNumChildren())]
    assert set(model_values()) - used == set()


def test_inert_regimen_exports() -> None:
    """A saline-only regimen has no PK, but its sessions still lift expectancy."""
    regimen = Regimen.of(dose("saline", "iv", "0 mg", infusion="40 min", at=["0 d", "1 d"]))
    text = export_sbml(regimen, "typical-trd", 2.0)
    errors, _ = consistency_messages(libsbml.readSBMLFromString(text))
    assert errors == []
    diffs = _compare(regimen, typical_patient("typical-trd"), 2.0, _runner(text))
    assert diffs["madrs"] < RTOL


def test_cli_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model.xml"
    assert main(["export-sbml", "--regimen", "ketamine-iv-single", "--days", "2", "-o", str(out)]) == 0
    assert "0 errors" in capsys.readouterr().out
    assert out.read_text() == export_sbml("ketamine-iv-single", "typical-trd", 2.0)
    trial = tmp_path / "trial.toml"
    trial.write_text("""
name = "two arms"
seed = 1
patients_per_arm = 10
[population]
kind = "trd"
min_failed_treatments = 2
baseline_madrs = [20, 60]
background = [ { drug = "escitalopram", route = "oral", amount = "10 mg", every = "1 d" } ]
[[arms]]
name = "ketamine"
doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = ["0 d", "3 d"] } ]
[[arms]]
name = "saline"
doses = [ { drug = "saline", route = "iv", amount = "0 mg", infusion = "40 min", at = ["0 d", "3 d"] } ]
[endpoints]
visits = ["1 d", "7 d"]
response = "50%"
remission = 10
""")
    assert main(["export-sbml", "--trial", str(trial), "--arm", "ketamine", "--days", "7", "-o", str(out)]) == 0
    text = out.read_text()
    assert "ketamine_iv_s_ketamine_central_mg" in text and "escitalopram_oral_gut_depot_mg" in text
    capsys.readouterr()


@pytest.mark.parametrize("argv", [
    ["export-sbml", "--regimen", "no-such-preset", "-o", "x.xml"],
    ["export-sbml", "--regimen", "ketamine-iv-single", "--days", "0", "-o", "x.xml"],
    ["export-sbml", "--regimen", "ketamine-iv-single", "--arm", "a", "-o", "x.xml"],
    ["export-sbml", "--regimen", "ketamine-iv-single", "-o", "/no/such/folder/x.xml"],
    ["export-sbml", "--trial", "no-such-trial.toml", "--arm", "a", "-o", "x.xml"],
    ["export-sbml", "--regimen", "ketamine-iv-single"],
])
def test_cli_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ketasim: error: ")
