"""Derivatives of one arm's smoothed endpoints in mechanism parameters, for gradient-based fitting.

`arm_endpoint_gradient` runs one trial arm the way a fit evaluates it (`trials.calibration_set` with
expected_rates: response and remission as their expectation over the visit noise,
Phi((threshold - true MADRS) / visit_noise_sd), smooth in the parameters) and returns the mean MADRS
change and the expected response and remission rates at the arm's visits together with their
derivatives, by forward-mode differentiation (`jax.jvp`) through the JAX engine's adaptive solve
(`engines.jax_engine.solve_fast_jax_tangents`) and the MADRS.

What is held fixed: who enters the arm. Screening and enrolment (the candidates drawn, the failed
screening courses, the baseline window) are done once, at `screening_params`, as a fit holds them
between nearby evaluations; they are steps in the parameters, not derivatives. What moves: every
solve after enrolment, and for a file with background treatment also its run-in to day 0 (the PD
state at day 0 and the observed baseline MADRS), differentiated as well. Population parameters
(placebo_sd_log, natural_course_sd, ...) act through the patient draws and are not differentiated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ketasim.engines.solvers import STATUS_OK, SolverSettings
from ketasim.errors import KetasimInputError
from ketasim.model.arm import IDX, initial_state, model_values
from ketasim.trials.design import multicentre_factor
from ketasim.trials.natural_course import course_log_severity
from ketasim.trials.population import population_values, visit_noise
from ketasim.trials.trial import (
    RUN_IN_TIMES,
    ArmJob,
    RunInRequest,
    auto_chunk_size,
    expected_rates,
    first_dose_h,
    output_times,
    prepare_steps,
    run_in_model,
    run_in_rows,
    select_patients,
    stack_run_ins,
    trial_model,
)
from ketasim.trials.trial_spec import TrialSpec
from ketasim.trials.validate import TargetCheck, indication

__all__ = ["GRADIENT_METRICS", "EndpointGradient", "arm_endpoint_gradient", "target_gradients"]

#: the endpoints differentiated: mean MADRS change (points) and expected response and remission rates (0-1)
GRADIENT_METRICS: tuple[str, ...] = ("change_mean", "response_rate", "remission_rate")


@dataclass(frozen=True)
class EndpointGradient:
    """One arm's smoothed endpoints at its visits and their derivatives in mechanism parameters.

    values: metric (GRADIENT_METRICS) -> (V,) at the visits `visits` (the file's keys, in its order);
    gradient: metric -> (V, k), d value / d parameter for the parameters `names` (per unit of each,
    e.g. MADRS points per unit of drug_relief_max); params: the values of `names` at which they were taken;
    n: patients counted (solved). `log_gradient(metric)` gives d value / d log(parameter).
    """

    arm: str
    visits: tuple[str, ...]
    names: tuple[str, ...]
    params: dict[str, float]
    values: dict[str, np.ndarray]
    gradient: dict[str, np.ndarray]
    n: int

    def log_gradient(self, metric: str) -> np.ndarray:
        """d value / d log(parameter) (V, k): the gradient on the log scale the fit works on."""
        return self.gradient[metric] * np.array([self.params[name] for name in self.names])[None, :]


def arm_endpoint_gradient(spec: TrialSpec, arm_index: int, n_patients: int, names: tuple[str, ...] | list[str], *,
                          params: dict[str, float] | None = None, pop: dict[str, float] | None = None,
                          screening_params: dict[str, float] | None = None, settings: SolverSettings = SolverSettings(),
                          daily: bool = True, device: str = "auto") -> EndpointGradient:
    """Smoothed endpoints of arm `arm_index` with `n_patients` patients and their derivatives in params[names].

    params, pop: the mechanism and population values (None: the calibrated ones); screening_params: the
    mechanism values screening and enrolment are done at (None: params), so that evaluations at nearby
    params share the same patients; settings, daily: as `CalibrationSet` (the fit uses FIT_SETTINGS and
    daily=False); device: the JAX device ("cpu", "gpu" or "auto"). The values equal those of
    `CalibrationSet(..., expected_rates=True)` with the same patients, to the JAX engine's round-off. No
    names: the values alone (`engines.jax_engine.solve_fast_jax`), empty derivatives. Needs jax (`pip install 'ketasim[fast]'`).
    """
    try:
        from ketasim.engines.jax_engine import madrs_tangents, solve_fast_jax_tangents
    except ImportError as err:
        raise KetasimInputError(f"arm_endpoint_gradient needs jax ({err}); install it with: pip install 'ketasim[fast]'") \
            from None
    names = tuple(names)
    params = model_values() if params is None else params
    pop = population_values() if pop is None else pop
    unknown = [name for name in names if name not in params]
    if unknown:
        raise KetasimInputError(f"arm_endpoint_gradient: names must be mechanism parameters, got {unknown!r}")
    times = output_times(spec, first_dose_h(spec, arm_index), False, daily)
    screen = ArmJob(spec, arm_index, "fast", params if screening_params is None else screening_params, pop, settings,
                    times, keep_patients=False)
    index, _ = select_patients(screen, n_patients, auto_chunk_size(spec, arm_index, times))
    steps = prepare_steps(screen, index)
    run_in: RunInRequest | None = None
    try:
        run_in = next(steps)
        base = run_in_model(screen, run_in.background, run_in.patients)
        steps.send(stack_run_ins(run_in_rows(base, screen.solve(base, RUN_IN_TIMES, initial_state(run_in.patients))),
                                 run_in.patients))
        raise RuntimeError("screening asked for a second run-in")
    except StopIteration as done:
        enrolled = done.value
    if not enrolled.mask.all():
        raise RuntimeError("arm_endpoint_gradient: a selected candidate does not pass screening")
    job = ArmJob(spec, arm_index, "jax", params, pop, settings, times, keep_patients=False)
    k, n = len(names), index.size
    sd = pop["visit_noise_sd_madrs"]
    y0, dy0 = enrolled.y0, None
    baseline, d_baseline = enrolled.baseline, np.zeros((k, n))
    if run_in is not None:  # the PD state and the observed baseline at day 0 move with the parameters
        model = run_in_model(job, run_in.background, run_in.patients)
        sol, tangents = solve_fast_jax_tangents(model, RUN_IN_TIMES, initial_state(run_in.patients), names,
                                                settings=settings, device=device)
        y0, dy0 = np.nan_to_num(sol.states[0]), np.nan_to_num(tangents[:, 0])
        y0[:, IDX["session_expectancy"]] = 0.0  # as trials.trial.run_in_rows
        dy0[..., IDX["session_expectancy"]] = 0.0
        true, d_true = madrs_tangents(model, RUN_IN_TIMES, sol.states, tangents, names)
        noisy = true[0] + visit_noise(spec.seed, arm_index, index, np.array([job.origin_h]), sd)[0]
        baseline = np.clip(noisy, 0.0, 60.0)
        d_baseline = np.where((noisy > 0.0) & (noisy < 60.0), d_true[:, 0], 0.0)
    model = trial_model(job, enrolled)
    sol, tangents = solve_fast_jax_tangents(model, times.all_h, y0, names, dy0, settings, device)
    course = course_log_severity(spec.seed, arm_index, index, times.all_h, job.origin_h,
                                 enrolled.patients["untreated_madrs"], spec.population.kind, pop)
    true, d_true = madrs_tangents(model, times.all_h, sol.states, tangents, names, course,
                                  multicentre_factor(spec, pop["placebo_sd_log"]))
    true, d_true = true[times.visits], d_true[:, times.visits]  # (V, N), (k, V, N)
    good = sol.status == STATUS_OK
    # observed MADRS (with the visit noise, 0-60) minus the observed baseline, as the trial's change
    noisy = true + visit_noise(spec.seed, arm_index, index, times.all_h[times.visits], sd)
    d_observed = np.where((noisy > 0.0) & (noisy < 60.0), d_true, 0.0)
    values = {"change_mean": (np.clip(noisy, 0.0, 60.0) - baseline)[:, good].mean(axis=1)}
    gradient = {"change_mean": (d_observed - d_baseline[:, None, :])[..., good].mean(axis=2)}
    # the expected rates (trials.trial.expected_rates) and their derivatives: d Phi(z) = phi(z) dz
    ep = spec.endpoints
    chances = expected_rates(true, baseline, ep.response_fraction, ep.remission_at_most, sd)
    width = max(sd, 1e-6)
    thresholds = {"response_rate": ((1.0 - ep.response_fraction) * baseline[None, :],
                                    (1.0 - ep.response_fraction) * d_baseline[:, None, :]),
                  "remission_rate": (ep.remission_at_most, 0.0)}
    for metric, chance in (("response_rate", chances["response_probability"]),
                           ("remission_rate", chances["remission_probability"])):
        threshold, d_threshold = thresholds[metric]
        density = np.exp(-0.5 * ((threshold - true) / width) ** 2) / np.sqrt(2.0 * np.pi) / width
        values[metric] = chance[:, good].mean(axis=1)
        gradient[metric] = (density[None] * (d_threshold - d_true))[..., good].mean(axis=2)
    return EndpointGradient(spec.arms[arm_index].name, tuple(ep.visit_keys), names, {name: params[name] for name in names},
                            values, {metric: g.T for metric, g in gradient.items()}, int(good.sum()))


def target_gradients(spec: TrialSpec, label: str, arms: Mapping[str, EndpointGradient]
                     ) -> list[tuple[TargetCheck, np.ndarray]]:
    """The [[published]] targets of `spec` (file `label`) that these arms' gradients reach: a GRADIENT_METRICS
    metric at a visit, of arms all in `arms` (by name). Each as its TargetCheck (simulated: the arms pooled by
    patient count, minus the `versus` arms', as `validate.simulated_metric`; no interval) and
    d simulated / d log(parameter) (k,). The others (change_sd, relapse, vitals, SI, ...) are left out."""
    def pooled(names: tuple[str, ...], metric: str, visit: str) -> tuple[float, np.ndarray]:
        total = sum(arms[a].n for a in names)
        rows = [(arms[a].n, arms[a].visits.index(visit), arms[a]) for a in names]
        return (sum(n * g.values[metric][v] for n, v, g in rows) / total,
                sum(n * g.log_gradient(metric)[v] for n, v, g in rows) / total)

    out = []
    for t in spec.published:
        if t.metric not in GRADIENT_METRICS or t.visit is None or any(a not in arms for a in (*t.arms, *t.versus)):
            continue
        value, gradient = pooled(t.arms, t.metric, t.visit)
        if t.versus:
            other, d_other = pooled(t.versus, t.metric, t.visit)
            value, gradient = value - other, gradient - d_other
        check = TargetCheck(label, list(t.arms) if t.pooled else t.arms[0], t.visit, t.metric, t.value, float(value),
                            t.tolerance, t.source, (list(t.versus) if t.versus_pooled else t.versus[0]) if t.versus
                            else None, None, indication(spec))
        out.append((check, gradient))
    return out
