"""The solvers: the two engines agree, tolerances are honoured, bad patients get a status."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ketasim as ks
from ketasim.engines.solvers import SolverSettings, SolverStatus, failure_counts, solve_fast, solve_reference
from ketasim.model.arm import ArmModel, initial_state, model_values
from ketasim.model.patient import stack_patients


def test_tighter_tolerance_moves_madrs_little() -> None:
    times = np.arange(0.0, 14 * 24.0 + 1e-9, 6.0)
    loose = ks.simulate("ketamine-iv-6x", "typical-trd", days=14, times_h=times)
    tight = ks.simulate("ketamine-iv-6x", "typical-trd", days=14, times_h=times,
                        settings=SolverSettings().tightened(10.0))
    assert np.max(np.abs(loose["madrs"] - tight["madrs"])) < 0.05


def test_fast_and_reference_engines_agree() -> None:
    regimen = ks.preset("ketamine-iv-6x") + ks.Regimen.of(ks.dose("escitalopram", "oral", "10 mg", every="1 d"))
    times = np.array([0.0, 2.0, 24.0, 100.0, 240.0, 330.0])
    ref = ks.simulate(regimen, "typical-trd", days=14, times_h=times, engine="reference")
    fast = ks.simulate(regimen, "typical-trd", days=14, times_h=times, engine="fast")
    for column in ("madrs", "spine_density", "plasma_ketamine_ng_ml", "sert_occupancy"):
        scale = np.maximum(np.abs(ref[column].to_numpy()), 1e-3)
        assert np.max(np.abs(ref[column].to_numpy() - fast[column].to_numpy()) / scale) < 1e-4, column


def test_output_times_do_not_change_the_reference_solution() -> None:
    coarse = ks.simulate("ketamine-iv-single", "typical-trd", days=3, times_h=np.array([0.0, 24.0, 72.0]))
    fine = ks.simulate("ketamine-iv-single", "typical-trd", days=3, times_h=np.arange(0.0, 72.01, 0.5))
    np.testing.assert_allclose(coarse["madrs"].iloc[[1, 2]].to_numpy(),
                               fine.set_index("time_h").loc[[24.0, 72.0], "madrs"].to_numpy(), rtol=1e-12)


def test_a_failing_patient_gets_a_status_not_an_exception() -> None:
    patients = stack_patients([ks.Patient(), ks.Patient()])
    model = ArmModel(ks.preset("ketamine-iv-single"), patients, model_values(), 0.0, 48.0)
    y0 = initial_state(patients)
    y0[1, 0] = np.nan  # a corrupt state for the second patient only
    for solver in (solve_fast, solve_reference):
        sol = solver(model, np.array([0.0, 24.0, 48.0]), y0, SolverSettings())
        assert sol.status[1] in (SolverStatus.NON_FINITE, SolverStatus.INTEGRATOR_FAILED)
        assert sol.status[0] == SolverStatus.OK and np.all(np.isfinite(sol.states[:, 0]))
        assert np.all(np.isnan(sol.states[:, 1]))
    assert solve_fast(model, np.array([0.0, 48.0]), y0, SolverSettings()).status[1] == SolverStatus.NON_FINITE


def test_a_spent_step_budget_is_named() -> None:
    patients = stack_patients([ks.Patient(), ks.Patient()])
    model = ArmModel(ks.preset("ketamine-iv-single"), patients, model_values(), 0.0, 48.0)
    sol = solve_fast(model, np.array([0.0, 48.0]), initial_state(patients), SolverSettings(max_steps=5))
    assert sol.status.tolist() == [SolverStatus.MAX_STEPS] * 2
    assert failure_counts(sol.status) == {"max_steps": 2}


_drug_route = st.sampled_from([("ketamine", "iv", "mg/kg", 2.0), ("esketamine", "intranasal", "mg", 112.0),
                               ("escitalopram", "oral", "mg", 40.0), ("midazolam", "iv", "mg/kg", 0.1),
                               ("arketamine", "iv", "mg/kg", 2.0), ("sertraline", "oral", "mg", 200.0)])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_drug_route, st.floats(0.0, 1.0), st.floats(0.0, 6.0), st.booleans()),
                min_size=1, max_size=4))
def test_occupancy_bounded_and_no_state_negative(lines: list) -> None:
    doses = []
    for (drug, route, unit, top), fraction, day, infused in lines:
        amount = f"{fraction * top:.4f} {unit}"
        infusion = "40 min" if infused and route == "iv" else None
        doses.append(ks.dose(drug, route, amount, at=f"{day:.3f} d", infusion=infusion))
    table = ks.simulate(ks.Regimen.of(*doses), "typical-trd", days=8, engine="fast",
                        times_h=np.arange(0.0, 8 * 24.0 + 1e-9, 2.0))
    for column in ("nmda_occupancy", "sert_occupancy"):
        assert table[column].between(0.0, 1.0).all()
    numeric = table.drop(columns=["time_h"])
    assert (numeric >= -1e-9).all().all()
    assert table["madrs"].between(0.0, 60.0).all()
