"""The compiled batched engine (engines.jax_batch): the fast engine's numbers to round-off for many
arms at once, deterministic, a failing patient gets its status, and the calibration set runs on it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

import ketasim as ks
from ketasim.engines import jax_batch
from ketasim.engines.fast import solve_fast
from ketasim.engines.jax_batch import solve_jax_batch
from ketasim.engines.solvers import STATUS_OK, SolverSettings, SolverStatus
from ketasim.model.arm import ArmModel, initial_state, model_values
from ketasim.model.patient import stack_patients
from ketasim.trials.calibrate import _split, shipped_values
from ketasim.trials.calibration_set import FIT_SETTINGS, CalibrationSet
from ketasim.trials.trial_spec import load_trial
from ketasim.trials.validate import shipped_calibration_dir


def _patients() -> dict[str, np.ndarray]:
    return stack_patients([
        ks.Patient(),
        ks.Patient(weight_kg=92.0, cl_factor=1.3, v_factor=0.8, plasticity_gain=1.6),
        ks.Patient(synapse_deficit=0.25, monoaminergic_responsiveness=0.5, ssri_cl_factor=0.6),
    ])


@pytest.fixture(scope="module")
def problems() -> list[tuple[ArmModel, np.ndarray, np.ndarray]]:
    """Arms with different regimens, PK systems, segments and output times (and one without doses)."""
    regimens = [
        ks.Regimen.of(ks.dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at="0 d"),
                      ks.dose("escitalopram", "oral", "10 mg", every="1 d")),
        ks.Regimen.of(ks.dose("esketamine", "intranasal", "56 mg", at="0 d"),
                      ks.dose("esketamine", "intranasal", "84 mg", at="3 d")),
        ks.Regimen.of(),
    ]
    times = [np.array([0.0, 0.5, 1.0, 3.0, 24.0, 48.0, 96.0, 120.0]), np.array([0.0, 2.0, 24.0, 72.0, 74.0, 168.0]),
             np.array([0.0, 100.0])]
    patients = _patients()
    out = []
    for regimen, t in zip(regimens, times, strict=True):
        model = ArmModel(regimen, patients, model_values(), 0.0, float(t[-1]))
        out.append((model, t, initial_state(patients)))
    return out


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    """Largest relative difference; values below 1e-3 of the peak count against that."""
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-3 * np.max(np.abs(b)))))


def test_agrees_with_the_fast_engine_arm_by_arm(problems: list) -> None:
    got = solve_jax_batch(*zip(*problems, strict=True))
    for (model, times, y0), sol in zip(problems, got, strict=True):
        want = solve_fast(model, times, y0)
        assert np.all(sol.status == STATUS_OK)
        np.testing.assert_array_equal(sol.times_h, want.times_h)
        # the same method and steps; only XLA's round-off differs
        np.testing.assert_array_equal(sol.steps, want.steps)
        assert _relative(sol.states, want.states) < 1e-7
    assert jax_batch.last_timing["loops"] and jax_batch.last_timing["patients"] == 9


def test_deterministic_and_compiled_once(problems: list) -> None:
    first = solve_jax_batch(*zip(*problems, strict=True))
    again = solve_jax_batch(*zip(*problems, strict=True))
    assert not jax_batch.last_timing["compiled"]  # same shapes: the compiled loop is reused
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.states, b.states)
        np.testing.assert_array_equal(a.steps, b.steps)


def test_a_failing_patient_gets_a_status_and_the_others_do_not_move(problems: list) -> None:
    models, times, y0 = (list(x) for x in zip(*problems, strict=True))
    bad = y0[0].copy()
    bad[1, 0] = np.nan
    got = solve_jax_batch(models, times, [bad, *y0[1:]], SolverSettings())
    assert got[0].status[1] == SolverStatus.NON_FINITE and np.all(np.isnan(got[0].states[:, 1]))
    plain = solve_jax_batch(models, times, y0)
    np.testing.assert_array_equal(got[0].states[:, [0, 2]], plain[0].states[:, [0, 2]])
    for a, b in zip(got[1:], plain[1:], strict=True):
        np.testing.assert_array_equal(a.states, b.states)
    steps = solve_jax_batch(models[:1], times[:1], y0[:1], SolverSettings(max_steps=5))[0]
    assert steps.status.tolist() == [SolverStatus.MAX_STEPS] * 3


def test_calibration_set_on_the_jax_engine_matches_the_numpy_one() -> None:
    specs = [(name, load_trial(shipped_calibration_dir() / name)) for name in ("singh-2016.toml",)]
    model, pop = _split(shipped_values())
    numpy_checks = CalibrationSet(specs, 6, FIT_SETTINGS, daily=False).checks(model, pop)
    jax_checks = CalibrationSet(specs, 6, FIT_SETTINGS, daily=False, engine="jax").checks(model, pop)
    assert len(jax_checks) == len(numpy_checks)
    for a, b in zip(numpy_checks, jax_checks, strict=True):
        assert (a.file, a.arm, a.visit, a.metric) == (b.file, b.arm, b.visit, b.metric)
        assert b.simulated == pytest.approx(a.simulated, rel=1e-6, abs=1e-9)
