"""The JAX engine: same numbers as the numpy fast engine and the reference, statuses, device choice."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

import ketasim as ks
from ketasim.engines import jax_engine as ej
from ketasim.engines.solvers import ENGINES, STATUS_OK, SolverSettings, SolverStatus, solve_fast, solve_reference
from ketasim.errors import KetasimInputError
from ketasim.model.arm import STATE_NAMES, ArmModel, initial_state, model_values
from ketasim.model.patient import stack_patients

TIMES = np.array([0.0, 0.5, 1.0, 3.0, 24.0, 48.0, 96.0, 120.0])
TIGHT = SolverSettings(rtol=1e-8, atol=1e-10)


@pytest.fixture(scope="module")
def model() -> ArmModel:
    regimen = ks.Regimen.of(ks.dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at="0 d"),
                            ks.dose("escitalopram", "oral", "10 mg", every="1 d"))
    patients = stack_patients([
        ks.Patient(),
        ks.Patient(weight_kg=92.0, cl_factor=1.3, v_factor=0.8, plasticity_gain=1.6),
        ks.Patient(synapse_deficit=0.25, monoaminergic_responsiveness=0.5, ssri_cl_factor=0.6),
        ks.Patient(dissociation_sensitivity=2.5, placebo_responsiveness=1.8, untreated_madrs=40.0),
    ])
    return ArmModel(regimen, patients, model_values(), 0.0, 120.0)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    """Largest relative difference; values below 1e-3 of the peak (a state near zero) count against that."""
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-3 * np.max(np.abs(b)))))


def test_jax_matches_numpy_fast_step_for_step(model: ArmModel) -> None:
    y0 = initial_state(model.patient)
    fast = solve_fast(model, TIMES, y0)
    jax_sol = ej.solve_fast_jax(model, TIMES, y0, device="cpu")
    np.testing.assert_array_equal(jax_sol.steps, fast.steps)
    assert np.all(jax_sol.status == STATUS_OK)
    assert _relative(jax_sol.states, fast.states) < 1e-8
    assert set(ej.last_timing) >= {"compile_s", "run_s", "device"}


def test_jax_agrees_with_fast_and_reference(model: ArmModel) -> None:
    # at the default rtol=1e-6 the fast engines drift ~1e-4 relative from a converged solution on the
    # slow monoaminergic states, so the agreement with the reference is checked at tight tolerances
    y0 = initial_state(model.patient)
    jax_sol = ej.solve_fast_jax(model, TIMES, y0, TIGHT, device="cpu")
    assert not ej.last_timing["compiled"]  # same shapes as the previous test: no new compile
    madrs_jax = model.outputs(TIMES, jax_sol.states)["madrs"]
    for solver in (solve_fast, solve_reference):
        other = solver(model, TIMES, y0, TIGHT)
        assert _relative(model.outputs(TIMES, other.states)["madrs"], madrs_jax) < 1e-4, solver.__name__
        for i, name in enumerate(STATE_NAMES):
            assert _relative(jax_sol.states[..., i], other.states[..., i]) < 1e-4, (solver.__name__, name)


def test_a_failing_patient_gets_a_status(model: ArmModel) -> None:
    y0 = initial_state(model.patient)
    y0[2, 0] = np.nan
    sol = ej.solve_fast_jax(model, TIMES, y0, device="cpu")
    assert sol.status[2] == SolverStatus.NON_FINITE and np.all(np.isnan(sol.states[:, 2]))
    ok = [0, 1, 3]
    assert np.all(sol.status[ok] == STATUS_OK) and np.all(np.isfinite(sol.states[:, ok]))


def test_jax_rhs_equals_the_numpy_rhs(model: ArmModel) -> None:
    rng = np.random.default_rng(3)
    y = rng.uniform(-0.1, 1.2, (model.n_patients, len(STATE_NAMES)))
    for k in (0, 1, 3):
        t = rng.uniform(model.boundaries[k], model.boundaries[k + 1], model.n_patients)
        np.testing.assert_allclose(ej.rhs_jax(model, t, y, k), model.rhs(t, y, k), rtol=1e-12, atol=1e-15)


def test_gpu_without_a_gpu_is_an_input_error(model: ArmModel) -> None:
    if ej.pick_device("auto").platform != "cpu":
        pytest.skip("a GPU is present")
    with pytest.raises(KetasimInputError, match="no GPU"):
        ej.solve_fast_jax(model, TIMES, initial_state(model.patient), device="gpu")
    with pytest.raises(KetasimInputError, match="device must be"):
        ej.pick_device("tpu")


def test_registered_as_an_engine() -> None:
    assert "jax" in ENGINES and ENGINES["fast"] is solve_fast
