"""The mechanism is written once: the tables drive the engines, and a change reaches every back-end."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.engines.solvers import solve_fast
from ketasim.interchange.sbml import sbml_document
from ketasim.model import mechanism
from ketasim.model.arm import ArmModel, initial_state, model_values
from ketasim.model.patient import stack_patients

REGIMEN = ks.Regimen.of(ks.dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at="0 d"),
                        ks.dose("escitalopram", "oral", "10 mg", every="1 d"))


def _model() -> ArmModel:
    patients = stack_patients([ks.Patient(), ks.Patient(weight_kg=90.0, plasticity_gain=1.4)])
    return ArmModel(REGIMEN, patients, model_values(), 0.0, 48.0)


def test_state_table_drives_decay_and_initial_state() -> None:
    model = _model()
    p = model.params
    for i, state in enumerate(mechanism.STATES):
        if state.time_constant is None:
            assert model.decay[i] == 0.0
        else:
            hours = p[state.time_constant] * (24.0 if state.time_constant.endswith("_d") else 1.0)
            assert model.decay[i] == pytest.approx(-1.0 / hours, rel=1e-15), state.name
        assert state.unit and state.layer and state.panel and state.description
    y0 = initial_state(model.patient)
    assert y0.shape == (2, len(mechanism.STATES))
    np.testing.assert_array_equal(y0[:, mechanism.IDX["spine_density"]], 1.0 - model.patient["synapse_deficit"])


def test_output_table_is_the_simulate_columns() -> None:
    table = ks.simulate("ketamine-iv-single", "typical-trd", days=1)
    names = [c for c in table.columns if c != "time_h" and not c.startswith("plasma_")]
    assert names == list(mechanism.OUTPUT_NAMES)


def _shifted_rates(original):
    def rates(xp, y, occ, sig, patient, p):
        out = list(original(xp, y, occ, sig, patient, p))
        out[mechanism.IDX["bdnf_excess"]] = out[mechanism.IDX["bdnf_excess"]] + 0.125
        return tuple(out)
    return rates


def _bdnf_formula() -> str:
    import libsbml

    document = sbml_document(REGIMEN, "typical-trd", 2.0)  # kept alive while its rules are read
    return libsbml.formulaToL3String(document.getModel().getRule("bdnf_excess").getMath())


def test_a_change_to_the_mechanism_reaches_every_back_end(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _model()
    t = np.array([1.0, 2.0])
    y = initial_state(model.patient)
    k = 1
    before_numpy = model.rhs(t, y, k)
    formula_before = _bdnf_formula()
    monkeypatch.setattr(mechanism, "rates", _shifted_rates(mechanism.rates))
    after_numpy = model.rhs(t, y, k)
    bdnf = mechanism.IDX["bdnf_excess"]
    np.testing.assert_allclose(after_numpy[:, bdnf] - before_numpy[:, bdnf], 0.125, rtol=1e-12)
    others = [i for i in range(len(mechanism.STATES)) if i != bdnf]
    np.testing.assert_array_equal(after_numpy[:, others], before_numpy[:, others])
    assert "0.125" in _bdnf_formula()
    assert "0.125" not in formula_before
    jax_engine = pytest.importorskip("ketasim.engines.jax_engine")
    np.testing.assert_allclose(jax_engine.rhs_jax(model, t, y, k), after_numpy, rtol=1e-12, atol=1e-15)


def test_fast_engine_runs_the_same_vector_field_as_the_reference_rhs() -> None:
    model = _model()
    y0 = initial_state(model.patient)
    sol = solve_fast(model, np.array([0.0, 24.0, 48.0]), y0)
    assert np.all(sol.status == 0)
    out = model.outputs(sol.times_h, sol.states)
    assert set(mechanism.OUTPUT_NAMES) <= set(out)


def test_the_plasticity_gain_acts_at_bdnf_release_and_every_layer_below_carries_it() -> None:
    """The patient's plasticity gain scales activity-dependent BDNF release (Val66Met, Haile 2014): BDNF, mTOR,
    proteins and the spines formed scale with it, glutamate does not; a patient without gain has no BDNF rise."""
    runs = {g: ks.simulate("ketamine-iv-single", ks.Patient(plasticity_gain=g), days=2, engine="fast")
            for g in (0.0, 1.0, 2.0)}
    at_1h = runs[1.0]["time_h"].sub(1.0).abs().idxmin()
    np.testing.assert_allclose(runs[2.0]["glutamate"], runs[1.0]["glutamate"], rtol=1e-6)
    for output in ("bdnf", "mtor"):
        excess = {g: runs[g][output].iloc[at_1h] - 1.0 for g in runs}
        assert excess[1.0] > 0.01
        assert excess[2.0] == pytest.approx(2.0 * excess[1.0], rel=1e-4)
        assert abs(excess[0.0]) < 1e-9
    spines0 = runs[1.0]["spine_density"].iloc[0]
    assert runs[2.0]["spine_density"].iloc[-1] - spines0 > runs[1.0]["spine_density"].iloc[-1] - spines0 > 0.001
    assert runs[0.0]["spine_density"].iloc[-1] <= spines0 + 1e-9
