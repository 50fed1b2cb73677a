"""Every layout of a patient's observations: baseline only, before the first dose, at a dose time,
duplicates, out of order, far after the doses (issue: `forecast` crashed on a baseline-only patient)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ketasim
from ketasim import KetasimInputError
from ketasim.engines.solvers import SolverSettings, solve_fast
from ketasim.forecast.patient_file import patient_from_text
from ketasim.forecast.posterior import evaluate
from ketasim.forecast.simulator import LATENT_NAMES, Covariates, population_draws
from ketasim.model.arm import ArmModel, initial_state, model_values
from ketasim.model.regimen import preset

PATIENT = """
[patient]
weight_kg = 80
age = 45
sex = "female"
failed_treatments = 3
background = [ { drug = "escitalopram", route = "oral", amount = "20 mg", every = "1 d" } ]
doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min",
            at = ["0 d", "2 d", "4 d", "7 d", "9 d", "11 d"] } ]
observations = [ OBSERVATIONS ]
"""


def record(observations: str):
    return patient_from_text(PATIENT.replace("OBSERVATIONS", observations), "patient.toml")[0]


def test_an_empty_window_is_one_zero_length_segment_that_gives_no_dose():
    """ArmModel over [t, t]: one segment, in care, no dose or session inside; the engine returns y0."""
    traits = population_draws(4, 3, Covariates(80.0), 0)
    regimen = preset("ketamine-iv-single")
    model = ArmModel(regimen, traits, model_values(), 0.0, 0.0)
    assert list(model.boundaries) == [0.0, 0.0]
    assert model.in_care.shape == (1,) and model.sessions == ()
    y0 = initial_state(traits)
    sol = solve_fast(model, np.array([0.0]), y0, SolverSettings())
    np.testing.assert_array_equal(sol.states[0], y0)
    later = ArmModel(regimen, traits, model_values(), 0.0, 1.0)
    pre_dose = later.outputs(np.array([0.0]), y0[None])["madrs"]
    np.testing.assert_allclose(model.outputs(np.array([0.0]), y0[None])["madrs"], pre_dose)


@pytest.mark.parametrize("observations", [
    '{ at = "0 d", madrs = 34 }',                                  # baseline only
    '{ at = "2 d", madrs = 30 }',                                  # one observation, at a later dose time
    '{ at = "7 d", madrs = 17 }, { at = "0 d", madrs = 34 }',      # out of order
    '{ at = "0 d", madrs = 34 }, { at = "400 d", madrs = 20 }',   # long after the last dose
])
def test_each_layout_evaluates_to_finite_likelihoods(observations: str):
    rec = record(observations)
    times = [o.time_h for o in rec.observations]
    assert times == sorted(times)
    z = np.random.default_rng(0).standard_normal((16, len(LATENT_NAMES)))
    ev = evaluate(rec, z)
    assert np.isfinite(ev.log_lik).mean() > 0.5
    assert np.all(np.isfinite(ev.state.pd))


def test_out_of_order_observations_read_as_sorted():
    assert record('{ at = "7 d", madrs = 17 }, { at = "0 d", madrs = 34 }') == \
        record('{ at = "0 d", madrs = 34 }, { at = "7 d", madrs = 17 }')


@pytest.mark.parametrize(("observations", "words"), [
    ('{ at = "-1 d", madrs = 34 }', "observations[0].at: '-1 d' is before the first dose"),
    ('{ at = "0 d", madrs = 34 }, { at = "0 d", madrs = 33 }', "two madrs observations at 0 min"),
    ('{ at = "0 d", sbp = 130 }', "no MADRS observation"),
])
def test_impossible_layouts_are_one_clear_error(observations: str, words: str):
    with pytest.raises(KetasimInputError, match=words.replace("[", r"\[").replace("]", r"\]")):
        record(observations)


def test_baseline_only_forecast_gives_bands_and_a_plan(tmp_path: Path):
    path = tmp_path / "patient.toml"
    path.write_text(PATIENT.replace("OBSERVATIONS", '{ at = "0 d", madrs = 34 }'))
    result = ketasim.forecast(path, draws=300, seed=1)
    bands = result.forecast
    assert len(bands) > 0 and np.all(np.isfinite(bands.select_dtypes("number").to_numpy()))
    low, mid, high = (bands[c].to_numpy() for c in ("madrs_p05", "madrs_p50", "madrs_p95"))
    assert np.all(low <= mid) and np.all(mid <= high)
    assert len(result.plan) == 4
