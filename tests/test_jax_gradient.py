"""Forward-mode derivatives of an arm's smoothed endpoints (trials.gradient, engines.jax_engine): they agree with
central finite differences of the same endpoints (patients held), and the values are the calibration path's."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("jax")

from ketasim.errors import KetasimInputError
from ketasim.model.arm import model_values
from ketasim.trials.calibrate import robust_loss, robust_loss_gradient
from ketasim.trials.calibration_set import CalibrationSet
from ketasim.trials.gradient import GRADIENT_METRICS, EndpointGradient, arm_endpoint_gradient, target_gradients
from ketasim.trials.trial_spec import load_trial, parse_trial
from ketasim.trials.validate import shipped_calibration_dir

#: one parameter read only by the MADRS, two in the vector field (slow spine turnover, fast interneuron silencing)
NAMES = ("drug_relief_max", "spine_turnover_time_d", "interneuron_occupancy50")
PATIENTS = 8
#: relative step in log(parameter) of the central differences
LOG_STEP = 1e-4
#: agreement: within 3% of the difference quotient or an absolute floor (points per log unit, rate per log unit);
#: the derivative holds the step grid the controller chose, which the difference quotient moves (~1% at rtol 1e-6)
RELATIVE, FLOOR = 0.03, {"change_mean": 0.02, "response_rate": 1e-3, "remission_rate": 1e-3}


@pytest.fixture(scope="module")
def spec():
    return load_trial(shipped_calibration_dir() / "murrough-2013-ajp.toml")


@pytest.fixture(scope="module")
def gradient(spec) -> EndpointGradient:
    return arm_endpoint_gradient(spec, 0, PATIENTS, NAMES, device="cpu")


def test_gradient_agrees_with_central_finite_differences(spec, gradient: EndpointGradient) -> None:
    base = model_values()
    moved = 0
    for i, name in enumerate(NAMES):
        ends = []
        for sign in (1.0, -1.0):
            params = {**base, name: base[name] * np.exp(sign * LOG_STEP)}
            ends.append(arm_endpoint_gradient(spec, 0, PATIENTS, NAMES, params=params, screening_params=base,
                                              device="cpu"))
        for metric in GRADIENT_METRICS:
            quotient = (ends[0].values[metric] - ends[1].values[metric]) / (2.0 * LOG_STEP)
            derivative = gradient.log_gradient(metric)[:, i]
            assert np.all(np.abs(derivative - quotient) <= RELATIVE * np.abs(quotient) + FLOOR[metric]), \
                (name, metric, derivative, quotient)
            moved += int(np.any(np.abs(quotient) > 10 * FLOOR[metric]))
    assert moved >= 6  # the comparison is not between zeros


def test_values_equal_the_calibration_path_on_jax(spec, gradient: EndpointGradient) -> None:
    """The fit's evaluation of the same arm (CalibrationSet, expected rates, the compiled JAX batch engine)."""
    with CalibrationSet([("murrough", spec)], PATIENTS, engine="jax", expected_rates=True) as prepared:
        summary = prepared.results()["murrough"].arms[gradient.arm].summary
    assert gradient.n == summary["n"] == PATIENTS
    for metric in GRADIENT_METRICS:
        expected = [summary["visits"][visit][metric] for visit in gradient.visits]
        np.testing.assert_allclose(gradient.values[metric], expected, rtol=1e-9, atol=1e-12)
    assert gradient.gradient["change_mean"].shape == (len(gradient.visits), len(NAMES))
    np.testing.assert_allclose(gradient.log_gradient("change_mean")[:, 0],
                               gradient.gradient["change_mean"][:, 0] * model_values()["drug_relief_max"])


def test_population_and_unknown_parameters_are_refused(spec) -> None:
    for names in (("placebo_sd_log",), ("no_such_parameter",)):
        with pytest.raises(KetasimInputError):
            arm_endpoint_gradient(spec, 0, PATIENTS, names, device="cpu")


def _published(**fields: object) -> dict:
    return {"visit": "1 d", "metric": "change_mean", "value": -10.0, "tolerance": 3.0, "source": "test", **fields}


def test_targets_pool_and_difference_the_arm_gradients_and_the_loss_slope_is_its_derivative() -> None:
    """Synthetic arm values and gradients (no solve): pooled arms weigh by patients, `versus` subtracts, other
    metrics are left out, and robust_loss_gradient is the derivative of robust_loss (central differences)."""
    arm = {"doses": [{"drug": "ketamine", "route": "iv", "amount": "0.5 mg/kg", "infusion": "40 min", "at": "0 d"}]}
    spec = parse_trial({"name": "t", "seed": 1, "patients_per_arm": 10, "population": {"kind": "trd", "baseline_madrs": [22, 60]},
                        "arms": [{"name": "a", **arm}, {"name": "b", **arm}],
                        "endpoints": {"visits": ["1 d", "7 d"], "response": "50%", "remission": 10},
                        "published": [_published(arm="a", versus="b"), _published(arm=["a", "b"], metric="response_rate",
                                                                                  visit="7 d", value=0.4, tolerance=0.1),
                                      _published(arm="a", metric="change_sd", value=8.0)]}, "t.toml")
    params = {"drug_relief_max": 0.8, "spine_turnover_time_d": 9.0}

    def arm_gradient(name: str, n: int, shift: float) -> EndpointGradient:
        values = {m: np.array([shift - 12.0, shift + 0.3]) for m in GRADIENT_METRICS}
        gradient = {m: np.array([[shift, 1.0], [2.0, shift]]) for m in GRADIENT_METRICS}
        return EndpointGradient(name, ("1 d", "7 d"), tuple(params), params, values, gradient, n)

    arms = {"a": arm_gradient("a", 30, 1.0), "b": arm_gradient("b", 10, 3.0)}
    found = target_gradients(spec, "t.toml", arms)
    assert [(c.arm, c.versus, c.metric) for c, _ in found] == [("a", "b", "change_mean"), (["a", "b"], None, "response_rate")]
    scale = np.array(list(params.values()))
    (difference, d_difference), (pooled, d_pooled) = found
    assert difference.simulated == pytest.approx(-2.0)
    np.testing.assert_allclose(d_difference, (np.array([1.0, 1.0]) - np.array([3.0, 1.0])) * scale)
    assert pooled.simulated == pytest.approx((30 * 1.3 + 10 * 3.3) / 40)
    np.testing.assert_allclose(d_pooled, (30 * np.array([2.0, 1.0]) + 10 * np.array([2.0, 3.0])) / 40 * scale)
    checks, slopes = [c for c, _ in found], [g for _, g in found]
    total, gradient = robust_loss_gradient(checks, slopes)
    assert total == pytest.approx(robust_loss(checks))
    for i in range(len(params)):  # the targets move linearly along each slope: the loss's difference quotient
        step = 1e-6
        moved = [[replace(c, simulated=c.simulated + sign * step * g[i]) for c, g in zip(checks, slopes, strict=True)]
                 for sign in (1.0, -1.0)]
        assert gradient[i] == pytest.approx((robust_loss(moved[0]) - robust_loss(moved[1])) / (2 * step), rel=1e-6)


@pytest.mark.slow  # two more compiled shapes (the 42-day run-in and the arm): about 20 s on 2 shared cores
def test_background_run_in_is_differentiated_too() -> None:
    """Correia-Melo 2020 (escitalopram background): slower spine turnover also lifts the run-in's spines, so the
    observed baseline moves; the derivative must follow it through the run-in into the change."""
    spec = load_trial(shipped_calibration_dir() / "correia-melo-2020.toml")
    name, base = "spine_turnover_time_d", model_values()
    gradient = arm_endpoint_gradient(spec, 0, 6, (name,), device="cpu")
    ends = [arm_endpoint_gradient(spec, 0, 6, (name,), params={**base, name: base[name] * np.exp(sign * LOG_STEP)},
                                  screening_params=base, device="cpu") for sign in (1.0, -1.0)]
    for metric in GRADIENT_METRICS:
        quotient = (ends[0].values[metric] - ends[1].values[metric]) / (2.0 * LOG_STEP)
        np.testing.assert_allclose(gradient.log_gradient(metric)[:, 0], quotient, rtol=RELATIVE, atol=FLOOR[metric])
    assert abs(gradient.log_gradient("change_mean")[0, 0]) > 10 * FLOOR["change_mean"]
