"""JAX engine: a smaller last chunk is padded to the compiled chunk size, so an arm compiles once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")

import ketasim as ks
from ketasim.engines import jax_engine as ej
from ketasim.engines.solvers import SolverStatus
from ketasim.model.arm import N_STATES, ArmModel, initial_state, model_values
from ketasim.model.patient import stack_patients
from ketasim.trials.trial import run_trial
from ketasim.trials.trial_spec import load_trial

TIMES = np.array([0.0, 1.0, 24.0, 48.0])
REGIMEN = ks.Regimen.of(ks.dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at="0 d"),
                        ks.dose("escitalopram", "oral", "10 mg", every="1 d"))
PATIENTS = [ks.Patient(), ks.Patient(weight_kg=92.0, cl_factor=1.3, plasticity_gain=1.6),
            ks.Patient(synapse_deficit=0.25, monoaminergic_responsiveness=0.5),
            ks.Patient(dissociation_sensitivity=2.5, v_factor=0.8), ks.Patient(ssri_cl_factor=0.6)]

TRIAL = """\
name = "jax padding"
seed = 4
patients_per_arm = 6

[population]
kind = "mdd"
baseline_madrs = [20, 60]

[[arms]]
name = "ketamine"
doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = "0 d" } ]

[[arms]]
name = "escitalopram"
doses = [ { drug = "escitalopram", route = "oral", amount = "10 mg", every = "1 d", from = "0 d", until = "2 d" } ]

[endpoints]
visits = ["1 d", "2 d"]
response = "50%"
remission = 12
"""


def _model(n: int) -> ArmModel:
    return ArmModel(REGIMEN, stack_patients(PATIENTS[:n]), model_values(), 0.0, 48.0)


def test_padding_changes_no_number_and_reuses_the_compiled_shape() -> None:
    small = _model(3)
    y0 = initial_state(small.patient)
    y0[2, 0] = np.nan  # a failing patient stays failed, and padding does not hide it
    plain = ej.solve_fast_jax(small, TIMES, y0, device="cpu")
    padded = ej.solve_fast_jax(small, TIMES, y0, device="cpu", pad_to=5)
    assert ej.last_timing["patients"] == 3 and ej.last_timing["padded_to"] == 5
    assert padded.states.shape == plain.states.shape == (TIMES.size, 3, y0.shape[1])
    np.testing.assert_array_equal(padded.states, plain.states)
    np.testing.assert_array_equal(padded.steps, plain.steps)
    np.testing.assert_array_equal(padded.status, plain.status)
    assert plain.status.tolist() == [SolverStatus.OK, SolverStatus.OK, SolverStatus.NON_FINITE]
    # five real patients have the padded call's shapes: nothing new to compile
    full = _model(5)
    ej.solve_fast_jax(full, TIMES, initial_state(full.patient), device="cpu")
    assert not ej.last_timing["compiled"]


def test_a_trial_compiles_once_per_arm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "trial.toml"
    path.write_text(TRIAL)
    monkeypatch.setattr(ej, "COMPILED", {})
    shapes = []
    compiled = ej.compiled_advance

    def counting(args: tuple, device: object) -> tuple:
        function, seconds = compiled(args, device)  # type: ignore[arg-type]
        if seconds > 0.0:
            shapes.append(args[0].shape)
        return function, seconds

    monkeypatch.setattr(ej, "compiled_advance", counting)
    result = run_trial(load_trial(path), engine="jax", chunk_size=4, show_progress=False)  # chunks of 4 and 2
    assert sorted(shapes) == [(4, N_STATES), (4, N_STATES)]  # one per arm (different PK systems), none for the chunks of 2
    assert all(arm.baseline.size == 6 and np.all(arm.status == 0) for arm in result.arms.values())
    assert all(np.all(np.isfinite(arm.visits)) for arm in result.arms.values())
