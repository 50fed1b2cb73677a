"""PK against published numbers (data/pharmacology.md) and against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

import ketasim as ks
from ketasim.model.arm import ArmModel, model_values
from ketasim.model.drugs import build_pk, dose_inputs
from ketasim.model.patient import stack_patients
from ketasim.model.pk import segment_boundaries, solve_modal

TYPICAL = stack_patients([ks.Patient()])


def _plasma(regimen: ks.Regimen, drug: str, times_h: np.ndarray) -> np.ndarray:
    model = ArmModel(regimen, TYPICAL, model_values(), 0.0, float(times_h[-1]) + 1.0)
    out = []
    for t in times_h:
        out.append(model.plasma(model.segment_of_output(float(t)), float(t))[drug][0])
    return np.array(out)


def test_ketamine_cmax_at_end_of_infusion() -> None:
    """0.5 mg/kg over 40 min: Cmax 185 ng/mL +-25% at the end of infusion (Zanos 2018 Table 1)."""
    times = np.arange(0.0, 3.0, 1.0 / 120.0)
    conc = _plasma(ks.preset("ketamine-iv-single"), "ketamine", times)
    assert abs(times[np.argmax(conc)] - 40.0 / 60.0) <= 1.0 / 60.0
    assert 185 * 0.75 <= conc.max() <= 185 * 1.25


@pytest.mark.parametrize(("amount", "cmax"), [("56 mg", 73.0), ("84 mg", 101.0)])
def test_esketamine_spray_tmax_cmax_half_life(amount: str, cmax: float) -> None:
    """Tmax 20-45 min after the last device; Cmax within 25% of the popPK value; t1/2 7-12 h."""
    regimen = ks.Regimen.of(ks.dose("esketamine", "intranasal", amount, at="0 h"))
    devices = int(amount.split()[0]) // 28
    last_device_h = (devices - 1) * 5.0 / 60.0
    times = np.arange(0.0, 48.0, 1.0 / 120.0)
    conc = _plasma(regimen, "esketamine", times)
    tmax_after_last = (times[np.argmax(conc)] - last_device_h) * 60.0
    assert 20.0 <= tmax_after_last <= 45.0
    assert cmax * 0.75 <= conc.max() <= cmax * 1.25
    late = (times >= 24.0) & (times <= 48.0)
    slope = np.polyfit(times[late], np.log(conc[late]), 1)[0]
    assert 7.0 <= np.log(2) / -slope <= 12.0


def test_escitalopram_half_life_and_sert_occupancy() -> None:
    """t1/2 27-33 h; 10 mg/day: SERT occupancy 75-88% at day 10, 6 h after the dose (Klein 2007)."""
    single = ks.Regimen.of(ks.dose("escitalopram", "oral", "10 mg", at="0 h"))
    times = np.arange(48.0, 120.0, 1.0)
    conc = _plasma(single, "escitalopram", times)
    slope = np.polyfit(times, np.log(conc), 1)[0]
    assert 27.0 <= np.log(2) / -slope <= 33.0
    table = ks.simulate("escitalopram-10mg-daily", "typical-mdd", days=10, times_h=np.array([9 * 24.0 + 6.0]))
    assert 0.75 <= table["sert_occupancy"].iloc[0] <= 0.88


def test_modal_solution_matches_matrix_exponential() -> None:
    """Closed-form segments equal expm-propagation of the same linear system (bolus + infusion)."""
    system = build_pk("ketamine", "iv", TYPICAL)
    assert system is not None
    inputs = dose_inputs("ketamine", "iv", system, np.array([35.0]), 0.0, 40.0 / 60.0, TYPICAL)
    inputs += dose_inputs("ketamine", "iv", system, np.array([10.0]), 2.0, 0.0, TYPICAL)
    bounds = segment_boundaries(inputs, 0.0, 6.0)
    modal = solve_modal(system, inputs, bounds)
    rate = system.rate_matrix[0]
    n = rate.shape[0]
    u = np.zeros(n)
    for inp in inputs:
        if inp.duration_h > 0:
            u[inp.state_index] += inp.amount_mg[0] / inp.duration_h
    # infusion phase then free decay then the bolus: exact propagation with expm
    x_end_infusion = np.linalg.solve(rate, (expm(rate * 40 / 60) - np.eye(n)) @ u)
    x_before_bolus = expm(rate * (2.0 - 40 / 60)) @ x_end_infusion
    x_after = x_before_bolus.copy()
    for inp in inputs:
        if inp.duration_h == 0:
            x_after[inp.state_index] += inp.amount_mg[0]
    expected = expm(rate * 1.5) @ x_after
    k = int(np.searchsorted(bounds, 3.5, side="right")) - 1
    tau = 3.5 - bounds[k]
    got = modal.vectors[0] @ (modal.coefficients[k][0] * np.exp(modal.eigenvalues[0] * tau)) + modal.particular[k][0]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_one_compartment_bolus_is_exponential() -> None:
    """Midazolam bolus: C(t) = D/V exp(-CL/V t), the textbook closed form."""
    regimen = ks.Regimen.of(ks.dose("midazolam", "iv", "2 mg", at="0 h"))
    times = np.array([0.5, 1.0, 3.0, 6.0])
    conc = _plasma(regimen, "midazolam", times)
    v, cl = 77.0, 26.6
    np.testing.assert_allclose(conc, 2.0 / v * 1000.0 * np.exp(-cl / v * times), rtol=1e-9)


def test_mass_balance_ketamine_chain() -> None:
    """Dose = amount in the body + amount eliminated (integrated clearance x concentration)."""
    system = build_pk("arketamine", "iv", TYPICAL)
    assert system is not None
    inputs = dose_inputs("arketamine", "iv", system, np.array([35.0]), 0.0, 40.0 / 60.0, TYPICAL)
    end = 30.0
    bounds = segment_boundaries(inputs, 0.0, end)
    modal = solve_modal(system, inputs, bounds)
    grid = np.linspace(0.0, end, 30001)
    states = np.array([
        modal.vectors[0] @ (modal.coefficients[k][0] * np.exp(modal.eigenvalues[0] * (t - bounds[k])))
        + modal.particular[k][0]
        for t in grid
        for k in [min(int(np.searchsorted(bounds, t, side="right")) - 1, len(bounds) - 2)]
    ])
    names = system.state_names
    amounts = [i for i, nm in enumerate(names) if nm.endswith("_mg")]
    rate = system.rate_matrix[0]
    c, nc = names.index("r_ketamine_central_mg"), names.index("r_ketamine_nor_central_mg")
    # elimination leaving the amount compartments = minus the column sums over amount states
    loss_parent = -rate[amounts][:, c].sum()
    loss_nor = -rate[amounts][:, nc].sum()
    eliminated = np.trapezoid(loss_parent * states[:, c] + loss_nor * states[:, nc], grid)
    in_body = states[-1, amounts].sum()
    assert abs(in_body + eliminated - 35.0) < 35.0 * 1e-5
