"""Determinism: a patient's numbers depend on (seed, arm, candidate index) only, never on chunking or engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ketasim.engines.solvers import SolverSettings, solve_fast, solve_reference
from ketasim.model.arm import ArmModel, initial_state, model_values
from ketasim.model.regimen import Regimen, dose
from ketasim.trials.population import PopulationSettings, draw_candidates, population_values, visit_noise
from ketasim.trials.trial import clear_run_in_cache, run_trial
from ketasim.trials.trial_spec import load_trial

# TRD on a steady-state escitalopram background (the run-in path), one arm to keep it quick
TRD_BACKGROUND = """\
name = "invariance: ketamine on escitalopram in TRD"
seed = 11
patients_per_arm = 20

[population]
kind = "trd"
min_failed_treatments = 2
baseline_madrs = [22, 60]
background = [ { drug = "escitalopram", route = "oral", amount = "20 mg", every = "1 d" } ]

[[arms]]
name = "ketamine"
doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = "0 d" } ]

[endpoints]
visits = ["1 d", "3 d"]
response = "50%"
remission = 10
vitals = true

[endpoints.relapse]
at = "1 d"
madrs_at_least = 22
until = "7 d"
"""

MDD = """\
name = "invariance: esketamine plus escitalopram in MDD"
seed = 5
patients_per_arm = 25

[population]
kind = "mdd"
baseline_madrs = [20, 60]

[[arms]]
name = "esketamine + escitalopram"
doses = [
  { drug = "esketamine", route = "intranasal", amount = "56 mg", every = "3.5 d", from = "0 d", until = "7 d" },
  { drug = "escitalopram", route = "oral", amount = "10 mg", every = "1 d", from = "0 d", until = "14 d" },
]

[[arms]]
name = "placebo"
doses = [ { drug = "placebo", route = "oral", amount = "0 mg", every = "1 d", from = "0 d", until = "14 d" } ]

[endpoints]
visits = ["4 h", "1 d", "14 d"]
response = "50%"
remission = 12
"""


@pytest.mark.parametrize("text", [pytest.param(TRD_BACKGROUND, id="trd-background", marks=pytest.mark.slow),
                                  pytest.param(MDD, id="mdd")])
def test_json_does_not_depend_on_chunk_size(tmp_path: Path, text: str) -> None:
    path = tmp_path / "trial.toml"
    path.write_text(text)
    spec = load_trial(path)
    runs = {}
    for chunk_size in (7, 50, 1000):
        clear_run_in_cache()  # each chunking recomputes the run-ins itself
        runs[chunk_size] = run_trial(spec, chunk_size=chunk_size, show_progress=False)
    clear_run_in_cache()
    expected = json.dumps(runs[1000].to_json(), sort_keys=True)
    for chunk_size, result in runs.items():
        assert json.dumps(result.to_json(), sort_keys=True) == expected, f"chunk_size={chunk_size}"
        for name, arm in runs[1000].arms.items():
            other = result.arms[name]
            assert np.array_equal(other.candidate_index, arm.candidate_index)
            assert other.candidates_screened == arm.candidates_screened
            assert np.array_equal(other.baseline, arm.baseline), f"{name}, chunk_size={chunk_size}"
            assert np.array_equal(other.visits, arm.visits), f"{name}, chunk_size={chunk_size}"


def test_patient_depends_only_on_seed_arm_and_index() -> None:
    pop, settings = population_values(), PopulationSettings(kind="trd", min_failed_treatments=2)
    everyone = draw_candidates(3, 1, np.arange(10), pop, settings)
    two = draw_candidates(3, 1, np.array([5, 6]), pop, settings)
    assert two.keys() == everyone.keys()
    for name, values in two.items():
        assert np.array_equal(values, everyone[name][5:7]), name
    times = np.array([0.0, 24.0, 72.0])
    noise = visit_noise(3, 1, np.arange(10), times, 2.0)
    assert np.array_equal(visit_noise(3, 1, np.array([5, 6]), times, 2.0), noise[:, 5:7])
    # another seed or another arm: other patients
    for seed, arm in ((4, 1), (3, 0)):
        other = draw_candidates(seed, arm, np.arange(10), pop, settings)
        for name in ("weight_kg", "cl_factor", "untreated_madrs", "plasticity_gain"):
            assert not np.any(other[name] == everyone[name]), (seed, arm, name)


def test_fast_engine_matches_reference() -> None:
    patients = draw_candidates(3, 0, np.arange(5), population_values(), PopulationSettings())
    regimen = Regimen.of(dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at=["0 d", "3 d"]),
                         dose("escitalopram", "oral", "10 mg", every="1 d", from_="0 d", until="7 d"))
    times = np.array([0.0, 2.0, 4.0, 24.0, 73.0, 100.0, 168.0])
    model = ArmModel(regimen, patients, model_values(), 0.0, 168.0)
    y0 = initial_state(patients)
    fast = solve_fast(model, times, y0, SolverSettings())
    reference = solve_reference(model, times, y0, SolverSettings())
    assert np.all(fast.status == 0) and np.all(reference.status == 0)
    madrs_fast = model.outputs(times, fast.states)["madrs"]
    madrs_reference = model.outputs(times, reference.states)["madrs"]
    assert np.all(np.isfinite(madrs_fast))
    np.testing.assert_allclose(madrs_fast, madrs_reference, rtol=1e-4, atol=0.0)
    # the ketamine sessions move MADRS, so the comparison is not between two flat lines
    assert np.ptp(madrs_reference, axis=0).max() > 1.0
