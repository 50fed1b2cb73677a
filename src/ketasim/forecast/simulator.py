"""The forecast's one adapter to ketasim's internals: the prior (population), and simulation of N draws.

Everything else in `ketasim.forecast` uses only this module's interface:

- `LATENT_NAMES`: the prior's latent standard-normal coordinates (one per random trait stream of
  `trials.population.draw_candidates`; the plasticity responder and suicidal-ideation uniforms are Phi of
  their latent normals).
- `traits_from_latent(z, covariates)`: patient traits (dict of (N,) arrays) from latent draws
  z (N, d) ~ N(0, I): the same transforms as `trials.population.draw_candidates`, with the known
  covariates (weight, age, sex) fixed.
- `log_screening_factor(traits, courses)`: log P(all `courses` simulated adequate monoaminergic
  courses fail | traits), the TRD screening of `trials.population.failed_courses` integrated over
  its course factor. The prior is N(0, I) times this factor (times the background condition).
- `population_draws(seed, n, covariates, courses)`: the population's own sampler (draw and
  screen, as a trial does); used to make synthetic patients with known parameters.
- `simulate_draws(regimen, traits, times_h, ...)`: MADRS, SBP, DBP, HR, CADSS (T, N) for N
  draws with the vectorised numpy fast engine, and the state at the end to continue from.

The lead's refactor of the model/engine repoints this file only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from ketasim.engines.solvers import STATUS_OK, SolverSettings, solve_fast
from ketasim.model.arm import IDX, ArmModel, initial_state, model_values
from ketasim.model.drugs import pk_variability
from ketasim.model.regimen import Dose, Regimen
from ketasim.trials import random_streams as _random
from ketasim.trials.population import (
    PopulationSettings,
    course_responds,
    draw_candidates,
    failed_courses,
    lognormal_cv,
    population_values,
    suicidal_ideation,
)
from ketasim.trials.trial import RUN_IN_H

from .records import Covariates

#: PK variability fields, as the registered drugs declare them: name -> (CV parameter name, scale); scale "log":
#: a lognormal factor (mean 1), otherwise (e.g. "logit") an additive normal shift pop[cv_name] * z
_PK_FACTORS: dict[str, tuple[str, str]] = {v.name: (v.cv_name, v.scale) for v in pk_variability()}
#: latent N(0, 1) coordinates of the prior, by the trait they drive
LATENT_NAMES: tuple[str, ...] = (
    *_PK_FACTORS, "untreated_madrs", "synapse_deficit", "plasticity_gain", "plasticity_responder",
    "monoaminergic_responsiveness", "placebo_responsiveness", "cardiovascular_sensitivity", "dissociation_sensitivity",
    "sbp0_mmhg", "dbp0_mmhg", "hr0_bpm", "natural_course", "suicidal_ideation", "si_fast_responsiveness",
)
#: the random stream name of each latent coordinate (as `draw_candidates` names them)
_STREAMS: dict[str, str] = {
    **{n: n for n in _PK_FACTORS}, "untreated_madrs": "untreated_madrs", "synapse_deficit": "synapse_deficit",
    "plasticity_gain": "plasticity_gain", "plasticity_responder": "plasticity_responder",
    "monoaminergic_responsiveness": "monoaminergic", "placebo_responsiveness": "placebo",
    "cardiovascular_sensitivity": "cardiovascular", "dissociation_sensitivity": "dissociation",
    "sbp0_mmhg": "sbp0", "dbp0_mmhg": "dbp0", "hr0_bpm": "hr0", "natural_course": "natural_course",
    "suicidal_ideation": "suicidal_ideation", "si_fast_responsiveness": "si_fast",
}
#: latent coordinates that are Phi^-1 of a uniform stream of `draw_candidates` (the others are its normal streams)
_UNIFORM_LATENTS: frozenset[str] = frozenset({"plasticity_responder", "suicidal_ideation"})
#: outputs of `simulate_draws`, (T, N) each
OUTPUTS: tuple[str, ...] = ("madrs", "sbp_mmhg", "dbp_mmhg", "hr_bpm", "cadss")
#: points of the course-factor quadrature (midpoints in probability): the screening
#: probability is exact to 1/(2 x this) per course
_COURSE_POINTS = 512


@dataclass(frozen=True)
class SimState:
    """Opaque state of N draws at `time_h` (h from the first dose), to continue a simulation from."""

    time_h: float
    pd: np.ndarray
    pk: dict


def visit_noise_sd() -> float:
    """The model's visit noise SD (MADRS points): `visit_noise_sd_madrs` of the population."""
    return float(population_values()["visit_noise_sd_madrs"])


def responder_split() -> tuple[int, float]:
    """The latent coordinate that only acts through a threshold, and the threshold: the plasticity
    responder coordinate (index in LATENT_NAMES) is a responder below ndtri(responder fraction)."""
    return LATENT_NAMES.index("plasticity_responder"), float(ndtri(population_values()["plasticity_responder_fraction"]))


def traits_from_latent(z: np.ndarray, covariates: Covariates) -> dict[str, np.ndarray]:
    """Patient traits (dict of (N,) arrays) from latent draws z (N, len(LATENT_NAMES))."""
    pop = population_values()
    col = {name: z[:, i] for i, name in enumerate(LATENT_NAMES)}
    n = z.shape[0]
    responder = ndtr(col["plasticity_responder"]) < pop["plasticity_responder_fraction"]
    return {
        "weight_kg": np.full(n, covariates.weight_kg),
        "age_y": np.full(n, covariates.age_y),
        "female": np.full(n, covariates.female),
        **{name: lognormal_cv(col[name], pop[cv_name]) if scale == "log" else pop[cv_name] * col[name]
           for name, (cv_name, scale) in _PK_FACTORS.items()},
        "untreated_madrs": np.clip(pop["untreated_madrs_mean"] + pop["untreated_madrs_sd"] * col["untreated_madrs"],
                                   6.0, 60.0),
        "synapse_deficit": np.clip(pop["synapse_deficit_median"] * lognormal_cv(col["synapse_deficit"],
                                                                                 pop["synapse_deficit_cv"]), 0.05, 0.9),
        "plasticity_gain": np.exp(pop["plasticity_gain_sd_log"] * col["plasticity_gain"])
        * np.where(responder, 1.0, pop["plasticity_nonresponder_gain"]),
        "monoaminergic_responsiveness": pop["monoaminergic_median"]
        * np.exp(pop["monoaminergic_sd_log"] * col["monoaminergic_responsiveness"]),
        "placebo_responsiveness": np.exp(pop["placebo_sd_log"] * col["placebo_responsiveness"]),
        # one patient's course as one latent drift (the slowest mode of the trials' random path,
        # trials.natural_course, whose stationary SD on the log scale is natural_course_sd)
        "natural_course": pop["natural_course_sd"] * col["natural_course"],
        "cardiovascular_sensitivity": np.exp(pop["cardiovascular_sd_log"] * col["cardiovascular_sensitivity"]),
        "dissociation_sensitivity": np.exp(pop["dissociation_sd_log"] * col["dissociation_sensitivity"]),
        "sbp0_mmhg": pop["sbp0_mean_mmhg"] + pop["sbp0_sd_mmhg"] * col["sbp0_mmhg"],
        "dbp0_mmhg": pop["dbp0_mean_mmhg"] + pop["dbp0_sd_mmhg"] * col["dbp0_mmhg"],
        "hr0_bpm": pop["hr0_mean_bpm"] + pop["hr0_sd_bpm"] * col["hr0_bpm"],
        # a single patient's forecast has no trial kind: the "mdd" / "trd" prior of item 10 (not the "suicidal" one)
        "suicidal_ideation": suicidal_ideation(ndtr(col["suicidal_ideation"]), pop, "mdd"),
        "si_fast_responsiveness": np.exp(pop["si_fast_sd_log"] * col["si_fast_responsiveness"]),
        "untreated_caps5": np.zeros(n),  # a forecast is of depression: no PTSD (kind = "ptsd" is for trials)
    }


def latent_of_candidates(seed: int, arm: int, index: np.ndarray) -> np.ndarray:
    """The latent draws (N, d) that `draw_candidates(seed, arm, index, ...)` uses (for checks)."""
    cols = []
    for name in LATENT_NAMES:
        stream = _STREAMS[name]
        if name in _UNIFORM_LATENTS:
            cols.append(ndtri(_random.uniform(seed, arm, index, stream)))
        else:
            cols.append(_random.normal(seed, arm, index, stream))
    return np.stack(cols, axis=1)


def log_screening_factor(traits: dict[str, np.ndarray], courses: int) -> np.ndarray:
    """log P(all `courses` screening courses fail | traits), (N,); 0 when courses is 0."""
    n = traits["weight_kg"].size
    if courses <= 0:
        return np.zeros(n)
    pop, params = population_values(), model_values()
    z = ndtri((np.arange(_COURSE_POINTS) + 0.5) / _COURSE_POINTS)
    factor = np.exp(pop["course_factor_sd_log"] * z)[None, :]
    responds = course_responds(traits["monoaminergic_responsiveness"][:, None] * factor,
                               traits["placebo_responsiveness"][:, None], params, pop["course_weeks"],
                               pop["course_contact_fraction"])
    p_fail = 1.0 - responds.mean(axis=1)
    with np.errstate(divide="ignore"):
        return courses * np.log(p_fail)


def population_draws(seed: int, n: int, covariates: Covariates | None, courses: int) -> dict[str, np.ndarray]:
    """n patients of the population as a trial draws them: drawn, then screened by `courses` failed courses,
    with the forecast's own summary of their course: one latent drift, N(0, natural_course_sd) (a trial gives
    each patient a random path instead, `trials.natural_course`, which the forecast's model does not have).

    With `covariates`, weight, age and sex are set to them (they are independent of the rest).
    """
    pop, params = population_values(), model_values()
    settings = PopulationSettings("trd" if courses else "mdd", courses)
    kept: list[dict[str, np.ndarray]] = []
    found, start = 0, 0
    while found < n:
        index = np.arange(start, start + 4 * n, dtype=np.int64)
        draws = draw_candidates(seed, 0, index, pop, settings)
        if courses:
            ok = failed_courses(seed, 0, index, draws, courses, pop, params) >= courses
            draws = {k: v[ok] for k, v in draws.items()}
        kept.append(draws)
        found += draws["weight_kg"].size
        start += index.size
    out = {k: np.concatenate([d[k] for d in kept])[:n] for k in kept[0]}
    out["natural_course"] = pop["natural_course_sd"] * _random.normal(seed, 0, np.arange(n), "forecast_course")
    if covariates is not None:
        out.update(weight_kg=np.full(n, covariates.weight_kg), age_y=np.full(n, covariates.age_y),
                   female=np.full(n, covariates.female))
    return out


def _background_run_in(background: Regimen) -> Regimen:
    """Repeated background doses moved to start RUN_IN_H before the first dose (steady state at time 0)."""
    doses = []
    for d in background.doses:
        if d.every_h is None:
            doses.append(d)
        else:
            doses.append(Dose(d.drug, d.route, d.amount, (), d.every_h, -RUN_IN_H, d.until_h, d.infusion_h))
    return Regimen(tuple(doses), "background")


def initial_states(traits: dict[str, np.ndarray], background: Regimen | None,
                   settings: SolverSettings = SolverSettings()) -> tuple[SimState, np.ndarray]:
    """State of N draws at the first dose (time 0): untreated, or after a background run-in to steady state.

    Also returns whether each draw is admissible: solved, and with a background, not a responder
    to it (true MADRS at time 0 above half the untreated score: the background is a failed course).
    """
    n = traits["weight_kg"].size
    if background is None:
        return SimState(0.0, initial_state(traits), {}), np.ones(n, dtype=bool)
    run = _background_run_in(background)
    model = ArmModel(run, traits, model_values(), -RUN_IN_H, 0.0)
    sol = solve_fast(model, np.array([0.0]), initial_state(traits), settings)
    pd = np.nan_to_num(sol.states[0])
    pd[:, IDX["session_expectancy"]] = 0.0
    madrs = np.nan_to_num(model.outputs(np.array([0.0]), sol.states)["madrs"][0])
    ok = (sol.status == STATUS_OK) & (madrs > 0.5 * traits["untreated_madrs"])
    return SimState(0.0, pd, model.pk_end_state()), ok


def simulate_draws(regimen: Regimen, traits: dict[str, np.ndarray], times_h: np.ndarray, *, start: SimState,
                   end_h: float | None = None, settings: SolverSettings = SolverSettings()
                   ) -> tuple[dict[str, np.ndarray], SimState]:
    """Simulate N draws from `start` (state at start.time_h) on `regimen`; outputs at `times_h` (h, sorted).

    Doses of `regimen` before start.time_h are ignored (they are in `start`); a dose at exactly an
    output time acts after it (the output is the pre-dose value). Returns outputs (T, N) named
    OUTPUTS (MADRS without visit noise, mmHg, bpm, CADSS points), "status" (N,) (0 ok), and the
    state at `end_h` (default: the last output time). Failed draws have NaN outputs.
    """
    times = np.asarray(times_h, dtype=float)
    end = float(times[-1]) if end_h is None else float(end_h)
    grid = np.unique(np.concatenate([times, [end]]))
    model = ArmModel(regimen, traits, model_values(), start.time_h, end, start.pk or None)
    sol = solve_fast(model, grid, start.pd, settings)
    at = np.searchsorted(grid, times)
    out = model.outputs(times, sol.states[at])
    result = {name: out[name] for name in OUTPUTS}
    result["status"] = sol.status
    return result, SimState(end, np.nan_to_num(sol.states[-1]), model.pk_end_state())


def take_state(state: SimState, index: np.ndarray) -> SimState:
    """The state of draws `index` only."""
    return SimState(state.time_h, state.pd[index], {k: v[index] for k, v in state.pk.items()})


def noise(seed: int, stream: str, draws: np.ndarray, times_h: np.ndarray, sd: float) -> np.ndarray:
    """Counter-based N(0, sd) noise (T, N) for draws numbered `draws` at `times_h` (same key, same number)."""
    minutes = np.round(np.asarray(times_h) * 60.0).astype(np.int64) + (1 << 40)
    return sd * _random.normal(seed, 1, np.asarray(draws)[None, :], stream, minutes[:, None].astype(np.uint64))
