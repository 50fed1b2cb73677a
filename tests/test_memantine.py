"""Memantine: PK against its label and SmPC, NMDA occupancy at 20 mg/day, CLI, and the negative control: its null
(Zarate 2006) follows from its block at rest under physiological Mg2+ (compound file), not from its name.

Published checks (not fitted): t1/2 60-80 h and Tmax 3-7 h (Namenda label); steady-state plasma 70-150 ng/mL
(0.5-1 uM) at 20 mg/day (Ebixa SmPC sec. 5.2).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from ketasim import Regimen, dose, simulate
from ketasim.apps.cli import main
from ketasim.model import mechanism
from ketasim.model.arm import ArmModel, model_values
from ketasim.model.drugs import (
    MEMANTINE_PARAMETERS,
    build_memantine,
    ki_mg_l,
    register_compound_file,
    shipped_compound_text,
    unregister,
)
from ketasim.model.namespace import NUMPY
from ketasim.model.patient import TYPICAL_PATIENTS, Patient, stack_patients
from ketasim.trials.trial_spec import load_trial
from ketasim.trials.validate import shipped_calibration_dir, shipped_negative_controls_dir, trial_files, validate

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
NEGATIVE_CONTROLS = shipped_negative_controls_dir()


@pytest.fixture(scope="module")
def steady_state() -> dict[str, np.ndarray]:
    """A typical 70 kg patient on 20 mg once daily for 28 days, outputs every 15 min on day 27."""
    table = simulate(Regimen.of(dose("memantine", "oral", "20 mg", every="1 d")), Patient(), days=28.0,
                     times_h=np.arange(27 * 24.0, 28 * 24.0 + 1e-9, 0.25))
    return {c: table[c].to_numpy() for c in ("time_h", "plasma_memantine_ng_ml", "nmda_occupancy", "madrs")}


def test_half_life_and_tmax_match_the_label() -> None:
    system = build_memantine(stack_patients([Patient()]))
    slowest = -np.max(np.linalg.eigvals(system.rate_matrix[0]).real)
    assert 60.0 <= np.log(2.0) / slowest <= 80.0
    table = simulate(Regimen.of(dose("memantine", "oral", "20 mg", at="0 d")), Patient(), days=1.0,
                     times_h=np.arange(0.0, 24.0, 0.1))
    tmax = table["time_h"].to_numpy()[np.argmax(table["plasma_memantine_ng_ml"].to_numpy())]
    assert 3.0 <= tmax <= 7.0


def test_steady_state_trough_and_peak_in_the_published_range(steady_state: dict[str, np.ndarray]) -> None:
    plasma = steady_state["plasma_memantine_ng_ml"]
    trough, peak = plasma[0], plasma.max()
    assert 70.0 <= trough < peak <= 150.0
    assert peak / trough < 1.4  # long half-life: little swing over a day


def test_nmda_occupancy_at_20_mg_per_day(steady_state: dict[str, np.ndarray]) -> None:
    p = {k: v.value for k, v in MEMANTINE_PARAMETERS.items()}
    occupancy = steady_state["nmda_occupancy"]
    # brain concentration ~ CSF/plasma x plasma (0.52 x ~120 ng/mL ~ 0.35 uM) against the in vivo Ki 2.9 uM (in vitro
    # 1 uM x 2.9, the scale of the ketamine family): about a tenth
    assert 0.07 <= occupancy.min() <= occupancy.max() <= 0.15
    brain = p["species.memantine.effect_site.partition"] * steady_state["plasma_memantine_ng_ml"] * 1e-3
    ratio = brain / ki_mg_l(p["species.memantine.nmda.ki"], p["molar_mass_g_mol"])
    np.testing.assert_allclose(occupancy.mean(), np.mean(ratio / (1.0 + ratio)), rtol=0.05)


def test_cli_prints_parameters_with_sources_and_simulates_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drugs", "memantine"]) == 0
    out = capsys.readouterr().out
    assert "NONMEM CMT: oral 13" in out and "species.memantine.nmda.ki" in out and "Parsons CG" in out and "Namenda label" in out
    assert main(["simulate", "--regimen", str(EXAMPLES / "memantine-20mg-daily.toml"), "--patient", "typical-mdd",
                 "--days", "3"]) == 0
    assert "regimen: memantine-20mg-daily" in capsys.readouterr().out


def test_zarate_2006_is_a_negative_control_never_a_calibration_file() -> None:
    """The Zarate 2006 file sits with the validation-only files, carries its null as a target, and no file the
    calibration reads mentions memantine."""
    path = NEGATIVE_CONTROLS / "zarate-2006-memantine.toml"
    assert trial_files([shipped_negative_controls_dir()]) == [path]
    spec = load_trial(path)
    (target,) = spec.published
    assert (target.arms, target.versus, target.visit, target.metric, target.value) == \
        (("memantine",), ("placebo",), "8 wk", "change_mean", 0.0)
    assert 0.0 < target.tolerance <= 3.0
    calibration = trial_files([shipped_calibration_dir()])
    assert calibration and path not in calibration
    assert not any("memantine" in f.read_text() for f in calibration)


def test_negative_control_comes_out_null() -> None:
    """`validate` on the negative control: memantine minus placebo at week 8 within its tolerance of 0."""
    (check,) = validate([NEGATIVE_CONTROLS], patients_per_arm=150, show_progress=False)
    assert check.passed, check


def test_validate_scores_negative_controls_in_their_own_table(capsys: pytest.CaptureFixture[str]) -> None:
    """`validate --negative-controls`: a "negative_controls" object in --json and its own table in text, apart
    from the calibration targets."""
    murrough = shipped_calibration_dir() / "murrough-2013-ajp.toml"
    argv = ["validate", str(murrough), "--patients-per-arm", "5", "--negative-controls", str(NEGATIVE_CONTROLS)]
    assert main([*argv, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {t["file"] for t in document["targets"]} == {"murrough-2013-ajp.toml"}
    controls = document["negative_controls"]
    assert controls["total"] == 1 and controls["passed"] == sum(t["pass"] for t in controls["targets"])
    (target,) = controls["targets"]
    assert (target["file"], target["versus"], target["published"]) == ("zarate-2006-memantine.toml", "placebo", 0.0)
    assert main(argv) == 0
    out = capsys.readouterr().out
    calibration, controls_text = out.split("negative controls (validation only", 1)
    assert "murrough" in calibration and "zarate" not in calibration
    assert "zarate-2006-memantine.toml" in controls_text and "of 1 negative-control targets within tolerance" in out


def _memantine_variant(tmp_path: Path, name: str, block_at_rest: float | None) -> Path:
    """memantine's shipped file renamed to `name`, its block at rest set (None: as shipped)."""
    text = shipped_compound_text("memantine").replace('name = "memantine"', f'name = "{name}"')
    text = "\n".join(line for line in text.splitlines() if not line.startswith("cmt = "))
    if block_at_rest is not None:
        text = re.sub(r"nmda\.block_at_rest_physiological_mg = \{ value = [0-9.]+",
                      f"nmda.block_at_rest_physiological_mg = {{ value = {block_at_rest}", text)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def _day56_effect(drug: str) -> float:
    """MADRS at day 56 of a typical MDD patient on `drug` 20 mg/day minus on placebo."""
    patient, days = TYPICAL_PATIENTS["typical-mdd"], 56.0
    times = np.array([0.0, days * 24.0])
    on = simulate(Regimen.of(dose(drug, "oral", "20 mg", every="1 d")), patient, days, times_h=times, engine="fast")
    off = simulate(Regimen.of(dose("placebo", "oral", "0 mg", every="1 d")), patient, days, times_h=times,
                   engine="fast")
    return float(on["madrs"].iloc[-1] - off["madrs"].iloc[-1])


def test_the_block_at_rest_not_the_name_decides(tmp_path: Path) -> None:
    """memantine is null through its compound file's block at rest under Mg2+: a copy under another name is
    null too, and the same copy with ketamine's block at rest (1) becomes a strong antidepressant."""
    shipped = _day56_effect("memantine")
    assert abs(shipped) < 1.5
    renamed = register_compound_file(_memantine_variant(tmp_path, "memantine_copy", None))
    blocks_at_rest = register_compound_file(_memantine_variant(tmp_path, "memantine_like_ketamine", 1.0))
    try:
        assert _day56_effect(renamed.name) == pytest.approx(shipped, abs=1e-9)
        assert _day56_effect(blocks_at_rest.name) < -5.0
    finally:
        unregister(renamed.name)
        unregister(blocks_at_rest.name)


def test_the_nmda_layers_read_the_block_under_mg_not_the_binding() -> None:
    """The circuit and dissociation read `Occupancy.nmda_block`: binding without block at rest does nothing."""
    params = model_values()
    patient = {k: np.ones(1) for k in mechanism.PD_PATIENT_FIELDS}
    y = [np.zeros(1)] * mechanism.N_STATES
    bound = np.full(1, 0.5)
    blocked = mechanism.signals(NUMPY, mechanism.Occupancy(bound, np.zeros(1), np.zeros(1)), y, patient, params)
    spared = mechanism.signals(NUMPY, mechanism.Occupancy(bound, np.zeros(1), np.zeros(1), 0.0, np.zeros(1)), y,
                               patient, params)
    assert blocked["interneuron_silencing"][0] > 0.3 and blocked["dissociation"][0] > 0.0
    assert spared["interneuron_silencing"][0] == 0.0 and spared["dissociation"][0] == 0.0


@pytest.mark.parametrize("drug", ["ketamine", "esketamine", "arketamine"])
def test_ketamine_family_block_under_mg_is_its_occupancy(drug: str) -> None:
    """Block at rest 1 for every ketamine species: the Mg2+ block equals the occupancy bit for bit, so the
    calibrated ketamine, esketamine and arketamine outputs cannot move; memantine's is a twentieth or less."""
    route = "intranasal" if drug == "esketamine" else "iv"
    patients = stack_patients([Patient()])
    model = ArmModel(Regimen.of(dose(drug, route, "28 mg" if drug == "esketamine" else "0.5 mg/kg", at="0 h")),
                     patients, model_values(), 0.0, 6.0)
    for t in (0.25, 1.0, 4.0):
        at = model.occupancy(model.segment_of_output(t), t)
        assert at.nmda[0] > 0.01
        np.testing.assert_array_equal(at.nmda_block, at.nmda)
    model = ArmModel(Regimen.of(dose("memantine", "oral", "20 mg", every="1 d")), patients, model_values(), 0.0,
                     240.0)
    at = model.occupancy(model.segment_of_output(239.0), 239.0)
    assert at.nmda[0] > 0.07 and at.nmda_block[0] < at.nmda[0] / 15.0


def test_sbml_export_reproduces_memantine() -> None:
    """The SBML export needs nothing drug-specific: libRoadRunner matches the reference engine for memantine."""
    pytest.importorskip("libsbml")
    roadrunner = pytest.importorskip("roadrunner")
    from ketasim import SolverSettings
    from ketasim.interchange.sbml import export_sbml

    regimen, days = Regimen.of(dose("memantine", "oral", "20 mg", every="1 d")), 7.0
    patient = Patient(untreated_madrs=30.0, synapse_deficit=0.30)
    times = np.arange(0.0, days * 24.0 + 1e-9, 1.0)
    table = simulate(regimen, patient, days, engine="reference", settings=SolverSettings(rtol=1e-9, atol=1e-11),
                     times_h=times)
    rr = roadrunner.RoadRunner(export_sbml(regimen, patient, days))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = [1e-12] * len(rr.integrator.getAbsoluteToleranceVector())
    got = np.asarray(rr.simulate(times=times, selections=["time", "madrs", "plasma_memantine_ng_ml", "nmda_occupancy"]))
    for i, column in enumerate(("madrs", "plasma_memantine_ng_ml", "nmda_occupancy"), start=1):
        np.testing.assert_allclose(got[1:, i], table[column].to_numpy()[1:], rtol=1e-3, atol=1e-6, err_msg=column)


def test_compound_check_memantine_daily_is_null_and_ketamine_iv_acts_at_day_1() -> None:
    """Issue 28's acceptance through `compound check`'s screening card: memantine 20 mg/day oral gives no
    difference from placebo at day 28 within the Zarate 2006 negative control's tolerance (3 MADRS points),
    while ketamine 0.5 mg/kg IV gives the day-1 effect of the calibration set (ketamine minus saline or
    midazolam: -7.7 to -12.7 points in Murrough 2013 and Singh 2016's first days)."""
    from ketasim.apps.cli.compound import screening_card
    from ketasim.model.drugs import DRUGS

    memantine = screening_card(DRUGS["memantine"], "oral", "20 mg", 120)["madrs_change_vs_placebo"]
    assert abs(memantine["daily"]["28 d"]["mean"]) <= 3.0
    ketamine = screening_card(DRUGS["ketamine"], "iv", "0.5 mg/kg", 120)["madrs_change_vs_placebo"]
    assert -16.0 <= ketamine["single dose"]["1 d"]["mean"] <= -6.0
