"""Memantine: PK against its label and SmPC, NMDA occupancy at 20 mg/day, CLI and the Zarate 2006 example file.

Published checks (not fitted): t1/2 60-80 h and Tmax 3-7 h (Namenda label); steady-state plasma 70-150 ng/mL
(0.5-1 uM) at 20 mg/day (Ebixa SmPC sec. 5.2).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from ketasim import Regimen, dose, simulate
from ketasim.apps.cli import main
from ketasim.model.drugs import MEMANTINE_PARAMETERS, build_memantine, ki_mg_l
from ketasim.model.patient import Patient, stack_patients
from ketasim.trials.trial import run_trial
from ketasim.trials.trial_spec import load_trial

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


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
    # brain concentration ~ CSF/plasma x plasma (0.52 x ~120 ng/mL ~ 0.35 uM) against Ki 1 uM: about a quarter
    assert 0.15 <= occupancy.min() <= occupancy.max() <= 0.35
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


def test_zarate_2006_file_is_a_prediction_not_a_calibration_target() -> None:
    spec = load_trial(EXAMPLES / "zarate-2006-memantine.toml")
    assert not spec.published
    calibration = resources.files("ketasim") / "data" / "calibration"
    assert not any("memantine" in f.read_text() for f in calibration.iterdir() if f.name.endswith(".toml"))
    result = run_trial(spec, patients_per_arm=20)
    assert set(result.arms) == {"memantine", "placebo"}


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
