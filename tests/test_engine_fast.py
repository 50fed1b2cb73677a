"""The numpy fast engine's bookkeeping: working sets, the restricted model, the integrating-factor split.

A patient's numbers must be bit-identical whoever else is solved with it (chunk size, who is
still running, how often the working set is compacted).
"""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.engines import dopri, fast
from ketasim.engines.dopri import FAST_TIME_H, fast_states
from ketasim.engines.solvers import STATUS_OK, Solution, SolverSettings, solve_fast, solve_reference
from ketasim.model.arm import ArmModel, initial_state, model_values
from ketasim.trials.population import PopulationSettings, draw_candidates, population_values, take

TIMES = np.array([0.0, 1.0, 24.0, 50.0, 96.0])
REGIMEN = ks.Regimen.of(ks.dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at=["0 d", "2 d"]),
                        ks.dose("escitalopram", "oral", "10 mg", every="1 d"))


def _model(n: int) -> tuple[ArmModel, dict[str, np.ndarray]]:
    patients = draw_candidates(2, 0, np.arange(n), population_values(), PopulationSettings())
    return ArmModel(REGIMEN, patients, model_values(), 0.0, 96.0), patients


@pytest.fixture(scope="module")
def together() -> tuple[ArmModel, Solution]:
    model, patients = _model(24)
    return model, solve_fast(model, TIMES, initial_state(patients))


def test_a_patient_is_bit_identical_whatever_its_chunk(together: tuple[ArmModel, Solution]) -> None:
    _, whole = together
    assert np.all(whole.status == STATUS_OK)
    _, patients = _model(24)
    for lo, hi in ((0, 1), (5, 8), (9, 16), (16, 24)):
        part = take(patients, slice(lo, hi))
        alone = solve_fast(ArmModel(REGIMEN, part, model_values(), 0.0, 96.0), TIMES, initial_state(part))
        assert np.array_equal(alone.states, whole.states[:, lo:hi]), (lo, hi)
        assert np.array_equal(alone.steps, whole.steps[lo:hi]), (lo, hi)


@pytest.mark.parametrize("threshold", [0.0, 1.01])
def test_compacting_the_working_set_changes_nothing(together: tuple[ArmModel, Solution],
                                                    monkeypatch: pytest.MonkeyPatch, threshold: float) -> None:
    model, whole = together
    monkeypatch.setattr(fast, "COMPACT_BELOW", threshold)  # never / at every step
    again = solve_fast(model, TIMES, initial_state(model.patient))
    assert np.array_equal(again.states, whole.states)
    assert np.array_equal(again.steps, whole.steps)


def test_restricted_model_rhs_equals_the_gathering_rhs() -> None:
    model, _ = _model(12)
    idx = np.array([1, 4, 5, 10])
    rng = np.random.default_rng(0)
    y = rng.uniform(0.0, 1.0, (idx.size, initial_state(model.patient).shape[1]))
    for k in (0, 1, 4):
        t = rng.uniform(model.boundaries[k], model.boundaries[k + 1], idx.size)
        sub = model.restricted(k, idx)
        assert np.array_equal(sub.rhs(t, y, k), model.rhs(t, y, k, idx)), k
    assert model.restricted(0, np.arange(12)) is model


def test_integrating_factor_covers_the_fast_prefix() -> None:
    fast, slow = -2.0 / FAST_TIME_H, -0.5 / FAST_TIME_H
    assert fast_states(np.array([fast, fast, slow, 0.0])) == 2
    assert fast_states(np.array([fast, slow, fast, 0.0])) == 3  # a slow state inside the prefix gets it too
    assert fast_states(np.array([slow, 0.0])) == 0
    # the model's own states: the circuit ones (minutes to hours) are in it, the monoaminergic ones are not
    decay = _model(2)[0].decay_rates()
    nf = fast_states(decay)
    assert 1 <= nf < decay.size
    assert np.all(np.abs(decay[nf:]) * FAST_TIME_H <= 1.0)


def test_fast_engine_still_agrees_with_reference_at_tight_tolerance(together: tuple[ArmModel, Solution]) -> None:
    model, _ = together
    tight = SolverSettings(rtol=1e-9, atol=1e-11)
    who = take(model.patient, slice(0, 3))
    small = ArmModel(REGIMEN, who, model_values(), 0.0, 96.0)
    fast_sol = solve_fast(small, TIMES, initial_state(who), tight)
    ref = solve_reference(small, TIMES, initial_state(who), tight)
    madrs_fast = small.outputs(TIMES, fast_sol.states)["madrs"]
    madrs_ref = small.outputs(TIMES, ref.states)["madrs"]
    np.testing.assert_allclose(madrs_fast, madrs_ref, rtol=1e-6)


@pytest.mark.parametrize("fast_time_h", [1e-9, 1e9])
def test_no_or_every_state_with_the_integrating_factor(monkeypatch: pytest.MonkeyPatch, fast_time_h: float) -> None:
    # the split is a speed choice: plain DOPRI5 everywhere (nf = 0) or the factor on every decaying
    # state (nf = all) solves the same problem
    model, patients = _model(3)
    assert fast_states(model.decay_rates(), fast_time_h) in (0, model.decay_rates().size)
    monkeypatch.setattr(dopri, "FAST_TIME_H", fast_time_h)
    tight = SolverSettings(rtol=1e-9, atol=1e-11)
    fast_sol = solve_fast(model, TIMES, initial_state(patients), tight)
    ref = solve_reference(model, TIMES, initial_state(patients), tight)
    assert np.all(fast_sol.status == STATUS_OK)
    np.testing.assert_allclose(model.outputs(TIMES, fast_sol.states)["madrs"], model.outputs(TIMES, ref.states)["madrs"],
                               rtol=1e-6)
