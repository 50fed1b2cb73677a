"""Virtual populations: patients drawn from documented distributions, TRD found by in-silico screening.

Every draw is keyed by (seed, arm, candidate index), so a patient's parameters never depend on
chunking or order. Treatment resistance is not drawn: candidates go through simulated adequate
monoaminergic courses, and those who fail at least `min_failed_treatments` form the TRD
population (a background treatment counts as one failed course).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

import numpy as np
from scipy.special import ndtr, ndtri

from ketasim.engines.solvers import SolverSettings, solve_fast
from ketasim.model.arm import ArmModel, initial_state
from ketasim.model.drugs import pk_variability, pk_variability_parameters
from ketasim.model.namespace import NUMPY
from ketasim.model.parameters import Parameter, with_shipped_calibration
from ketasim.model.patient import PATIENT_FIELDS
from ketasim.model.regimen import Regimen, dose
from ketasim.model.symptoms import combine_relief, contact_benefit_after
from ketasim.trials import random_streams

P = Parameter
K = TypeVar("K")
_CAL = "calibrated to data/calibration"

POPULATION_PARAMETERS: dict[str, Parameter] = {
    "weight_median_kg": P(78.0, "kg", "assumed: adult trial populations (NHANES adult median ~78 kg)", "body weight median"),
    "weight_cv": P(0.20, "1", "assumed: NHANES adult weight CV ~20%", "body weight CV"),
    "age_mean_y": P(45.0, "y", "assumed: mean age ~45 y in the calibration trials (e.g. Singh 2016, TRANSFORM-2)", "age mean"),
    "age_sd_y": P(12.0, "y", "assumed: SD ~12 y in the same trials", "age SD"),
    "female_fraction": P(0.62, "1", "assumed: ~60-65% women in TRD trials (TRANSFORM-1/2, Singh 2016)", "fraction female"),
    **pk_variability_parameters(),  # PK variability CVs, declared by the drug entries (model/drugs)
    "untreated_madrs_mean": P(31.0, "MADRS points", "assumed: trial baselines ~30-35 (Murrough 2013; Singh 2016; Daly 2018)",
                              "untreated MADRS mean, before inclusion windows"),
    "untreated_madrs_sd": P(7.0, "MADRS points", "assumed: baseline SD 5-6 inside the windows of the same trials",
                            "untreated MADRS SD"),
    "synapse_deficit_median": P(0.35, "1", "assumed: fewer synapses in MDD prefrontal cortex (Kang HJ et al. 2012, Nat Med)",
                                "median fraction of spines lost to chronic stress"),
    "synapse_deficit_cv": P(0.20, "1", "assumed", "CV of the synapse deficit"),
    "plasticity_gain_sd_log": P(0.5, "1", _CAL, "SD of log plasticity gain among plasticity responders"),
    "plasticity_responder_fraction": P(
        0.5623, "1", _CAL + "; a blunted BDNF path is common (BDNF Val66Met: Met carriers respond less to ketamine, "
        "Laje G et al. 2012, Biol Psychiatry 72:e27)", "fraction of patients with an intact fast plasticity response"),
    "plasticity_nonresponder_gain": P(0.1, "1", "assumed: blunted, not absent", "plasticity gain of the others"),
    "monoaminergic_median": P(0.4229, "1", _CAL, "median monoaminergic responsiveness in unselected MDD"),
    "monoaminergic_sd_log": P(1.155, "1", _CAL, "SD of log monoaminergic responsiveness"),
    "placebo_sd_log": P(1.27, "1", _CAL, "SD of log placebo responsiveness"),
    "natural_course_sd": P(0.25, "1", _CAL + " (SDs of MADRS change); untreated episodes both remit and worsen "
                           "(Rutherford BR et al. 2012, J Psychiatr Res 46:1311)",
                           "stationary SD of each patient's random path of log untreated severity (trials.natural_course)"),
    "natural_course_path_time_d": P(91.0, "d", "assumed: deviations of severity persist about as long as a median "
                                    "episode, 3 months (Spijker J et al. 2002, Br J Psychiatry 181:208, NEMESIS)",
                                    "time scale of the natural-course path (Ornstein-Uhlenbeck)", valid=(1, 3650)),
    "natural_remission_madrs": P(8.0, "MADRS points", "assumed: a naturally remitted episode sits below the usual "
                                 "remission cut-off (MADRS <= 10)", "untreated MADRS after a natural remission"),
    "expectancy_active_exponent": P(0.5, "1", _CAL + "; form: expectancy rises with the chance of receiving the drug "
                                    "(Rutherford BR & Roose SP 2013, Am J Psychiatry 170:723)",
                                    "exponent of (chance of active drug / 0.5) in a trial's expectancy"),
    "visit_noise_sd_madrs": P(3.0, "MADRS points", "assumed: MADRS test-retest / rater noise ~3 points", "visit noise SD"),
    "course_factor_sd_log": P(0.5, "1", "assumed: response to one monoaminergic course predicts the next only partly",
                              "SD of log drug-specific responsiveness in a screening course"),
    "course_contact_fraction": P(0.2673, "1", _CAL + "; routine care has less contact than a trial, and TRD trials "
                                 "still see large placebo responses (TRANSFORM-1/2 control arms)",
                                 "share of the trial-contact improvement present in a routine monoaminergic course"),
    "course_weeks": P(8.0, "wk", "adequate course: 8 weeks at an adequate dose (common TRD definitions)", "course length"),
    "cardiovascular_sd_log": P(0.4, "1", "assumed: spread of BP rises between cohorts (data/pharmacology.md)",
                               "SD of log cardiovascular sensitivity"),
    "dissociation_sd_log": P(0.6, "1", "assumed: CADSS SD (9.2) exceeds its mean (7.7) (van Schalkwyk 2018)",
                             "SD of log dissociation sensitivity"),
    "sbp0_mean_mmhg": P(125.0, "mmHg", "assumed: adult resting SBP", "resting SBP mean"),
    "sbp0_sd_mmhg": P(12.0, "mmHg", "assumed", "resting SBP SD"),
    "dbp0_mean_mmhg": P(78.0, "mmHg", "assumed: adult resting DBP", "resting DBP mean"),
    "dbp0_sd_mmhg": P(8.0, "mmHg", "assumed", "resting DBP SD"),
    "hr0_mean_bpm": P(72.0, "bpm", "assumed: adult resting heart rate", "resting HR mean"),
    "hr0_sd_bpm": P(10.0, "bpm", "assumed", "resting HR SD"),
    # suicidal ideation (model/suicidality.py): untreated MADRS item 10, a normal clipped to 0-6
    "si_item10_mean": P(1.5, "MADRS points", "assumed: item 10 1.61 (SD 1.37) and 1.48 (SD 1.03) at baseline in TRD "
                        "outpatients (Price RB et al. 2014, Depress Anxiety 31:335, Table 2)",
                        "mean of untreated MADRS item 10 (before clipping to 0-6)"),
    "si_item10_sd": P(1.3, "MADRS points", "assumed: same source", "SD of untreated MADRS item 10"),
    "suicidal_item10_mean": P(4.5, "MADRS points", "assumed: entry requires item 10 >= 4 (rounded), most score 4-5",
                              "mean of untreated item 10 in kind = \"suicidal\" (normal truncated to 3.5-6)"),
    "suicidal_item10_sd": P(1.0, "MADRS points", "assumed", "SD of untreated item 10 in kind = \"suicidal\""),
    "suicidal_madrs_shift": P(6.0, "MADRS points", "assumed: depressed patients at imminent suicide risk score higher "
                              "(baseline MADRS ~38-40 in Canuso 2018 vs ~31-34 in TRD trials)",
                              "untreated MADRS mean of kind = \"suicidal\" above untreated_madrs_mean"),
    # PTSD (model/ptsd.py): untreated CAPS-5 of kind = "ptsd", a normal truncated to the trial's baseline_caps5 window
    "ptsd_caps5_mean": P(42.0, "CAPS-5 points", "assumed: chronic PTSD in ketamine trials scores ~40-45 at entry "
                         "(Feder A et al. 2021, Am J Psychiatry 178:193: baseline ~42, recalled); severe PTSD is "
                         "CAPS-5 >= 35-40 (Weathers FW et al. 2018, Psychol Assess 30:383)",
                         "mean of untreated CAPS-5 in kind = \"ptsd\" (before truncation to the window)"),
    "ptsd_caps5_sd": P(9.0, "CAPS-5 points", "assumed: baseline SD ~8-10 in the same trials (recalled)",
                       "SD of untreated CAPS-5 in kind = \"ptsd\""),
    "si_fast_sd_log": P(1.707, "1", "calibrated to data/suicidality (price-2014, grunebaum-2018, abbar-2022; depression "
                        "parameters fixed); the SI response to ketamine varies between patients partly independently "
                        "of the MADRS response (r 0.23-0.44, Ballard 2014, J Psychiatr Res 58:161)",
                        "SD of log fast SI responsiveness"),
}


@lru_cache(maxsize=1)
def calibrated_population() -> dict[str, Parameter]:
    """Population parameters with the shipped calibration applied."""
    return with_shipped_calibration(POPULATION_PARAMETERS, "population")


def population_values(overrides: dict[str, float] | None = None) -> dict[str, float]:
    values = {k: p.value for k, p in calibrated_population().items()}
    values.update(overrides or {})
    return values


def lognormal_cv(z: np.ndarray, cv: float) -> np.ndarray:
    sd = np.sqrt(np.log1p(cv**2))
    return np.exp(sd * z - 0.5 * sd**2) if cv > 0 else np.ones_like(z)


def _truncated_normal(u: np.ndarray, mean: float | np.ndarray, sd: float, lo: float, hi: float) -> np.ndarray:
    """Inverse-CDF draw from N(mean, sd) truncated to [lo, hi] (no rejection, so no extra draws)."""
    a, b = ndtr((lo - mean) / sd), ndtr((hi - mean) / sd)
    return mean + sd * ndtri(a + u * (b - a))


#: population kinds: "mdd" (unselected major depression), "trd" (after failed courses, found by screening),
#: "suicidal" (major depression with active suicidal ideation at entry: MADRS item 10 >= 4),
#: "bipolar" (bipolar I/II depression; docs/indications.md: drawn as "mdd", no parameter of its own, because
#: no data show ketamine's path to differ: its effect does not depend on the lithium or valproate level, Xu AJ
#: et al. 2015, Neural Plast 2015:858251; what differs is the trial: a mood-stabiliser background, which the
#: trial file gives, and optionally screened failed courses as in "trd")
#: "ptsd" (chronic PTSD: untreated CAPS-5 drawn inside the trial's baseline_caps5 window, everything else as "mdd";
#: every other kind has no PTSD, untreated_caps5 = 0)
POPULATION_KINDS: tuple[str, ...] = ("mdd", "trd", "suicidal", "bipolar", "ptsd")
#: kinds whose patients may be screened for failed courses (`min_failed_treatments`), and its default
SCREENED_KINDS: dict[str, int] = {"trd": 2, "bipolar": 0}


@dataclass(frozen=True)
class PopulationSettings:
    """What a trial's [population] asks for, in ketasim's units."""

    kind: str = "mdd"
    min_failed_treatments: int = 0
    baseline_madrs: tuple[float, float] = (0.0, 60.0)
    weight_kg: tuple[float, float] = (45.0, 140.0)
    age_y: tuple[float, float] = (18.0, 65.0)
    baseline_caps5: tuple[float, float] = (0.0, 80.0)  #: kind = "ptsd": window of the untreated CAPS-5 (points)


def draw_candidates(seed: int, arm: int, index: np.ndarray, pop: dict[str, float],
                    settings: PopulationSettings) -> dict[str, np.ndarray]:
    """Patient parameters (dict of arrays) for candidate numbers `index` of one arm."""
    def z(name: str) -> np.ndarray:
        return random_streams.normal(seed, arm, index, name)

    def u(name: str) -> np.ndarray:
        return random_streams.uniform(seed, arm, index, name)

    log_w, sd_w = np.log(pop["weight_median_kg"]), np.sqrt(np.log1p(pop["weight_cv"] ** 2))
    madrs_shift = pop["suicidal_madrs_shift"] if settings.kind == "suicidal" else 0.0
    lo_w, hi_w = settings.weight_kg
    weight = np.exp(_truncated_normal(u("weight_kg"), log_w, sd_w, np.log(lo_w), np.log(hi_w)))
    age = _truncated_normal(u("age_y"), pop["age_mean_y"], pop["age_sd_y"], *settings.age_y)
    out = {
        "weight_kg": weight,
        "age_y": age,
        "female": (u("female") < pop["female_fraction"]).astype(float),
        **{v.name: lognormal_cv(z(v.name), pop[v.cv_name]) if v.scale == "log" else pop[v.cv_name] * z(v.name)
           for v in pk_variability()},
        "untreated_madrs": np.clip(pop["untreated_madrs_mean"] + madrs_shift + pop["untreated_madrs_sd"] * z("untreated_madrs"),
                                   6.0, 60.0),
        "synapse_deficit": np.clip(pop["synapse_deficit_median"] * lognormal_cv(z("synapse_deficit"), pop["synapse_deficit_cv"]),
                                   0.05, 0.9),
        "plasticity_gain": np.exp(pop["plasticity_gain_sd_log"] * z("plasticity_gain")) * np.where(
            u("plasticity_responder") < pop["plasticity_responder_fraction"], 1.0, pop["plasticity_nonresponder_gain"]),
        "monoaminergic_responsiveness": pop["monoaminergic_median"] * np.exp(pop["monoaminergic_sd_log"] * z("monoaminergic")),
        "placebo_responsiveness": np.exp(pop["placebo_sd_log"] * z("placebo")),
        "natural_course": np.zeros(index.size),  # in trials the course is a random path (trials.natural_course)
        "cardiovascular_sensitivity": np.exp(pop["cardiovascular_sd_log"] * z("cardiovascular")),
        "dissociation_sensitivity": np.exp(pop["dissociation_sd_log"] * z("dissociation")),
        "sbp0_mmhg": pop["sbp0_mean_mmhg"] + pop["sbp0_sd_mmhg"] * z("sbp0"),
        "dbp0_mmhg": pop["dbp0_mean_mmhg"] + pop["dbp0_sd_mmhg"] * z("dbp0"),
        "hr0_bpm": pop["hr0_mean_bpm"] + pop["hr0_sd_bpm"] * z("hr0"),
        "suicidal_ideation": suicidal_ideation(u("suicidal_ideation"), pop, settings.kind),
        "si_fast_responsiveness": np.exp(pop["si_fast_sd_log"] * z("si_fast")),
        "untreated_caps5": untreated_caps5(u("untreated_caps5"), pop, settings),
    }
    assert set(out) == set(PATIENT_FIELDS)
    return out


def suicidal_ideation(u: np.ndarray, pop: dict[str, float], kind: str) -> np.ndarray:
    """Untreated MADRS item 10 (0-6, continuous) from uniforms `u`.

    "mdd" / "trd": N(si_item10_mean, si_item10_sd) clipped to 0-6 (a third or so score 0-1);
    "suicidal": N(suicidal_item10_mean, suicidal_item10_sd) truncated to 3.5-6 (item 10 >= 4 once rounded).
    """
    if kind == "suicidal":
        return _truncated_normal(u, pop["suicidal_item10_mean"], pop["suicidal_item10_sd"], 3.5, 6.0)
    return np.clip(pop["si_item10_mean"] + pop["si_item10_sd"] * ndtri(np.clip(u, 1e-12, 1.0 - 1e-12)), 0.0, 6.0)


def untreated_caps5(u: np.ndarray, pop: dict[str, float], settings: PopulationSettings) -> np.ndarray:
    """Untreated CAPS-5 (0-80 points) from uniforms `u`: for kind = "ptsd" N(ptsd_caps5_mean, ptsd_caps5_sd)
    truncated to the trial's baseline_caps5 window (drawn inside it: no rejection); 0 (no PTSD) otherwise."""
    if settings.kind != "ptsd":
        return np.zeros_like(u)
    lo, hi = settings.baseline_caps5
    return _truncated_normal(u, pop["ptsd_caps5_mean"], pop["ptsd_caps5_sd"], lo, hi)


def visit_noise(seed: int, arm: int, index: np.ndarray, times_h: np.ndarray, sd: float) -> np.ndarray:
    """Visit noise (T, N), MADRS points, keyed by the assessment time in minutes (same time, same draw)."""
    minutes = np.round(np.asarray(times_h) * 60.0).astype(np.int64) + (1 << 40)
    return sd * random_streams.normal(seed, arm, index[None, :], "visit_noise", minutes[:, None].astype(np.uint64))


# ---- in-silico screening -----------------------------------------------------------------------

_COURSE_GRID = np.geomspace(1e-3, 1e3, 31)


@lru_cache(maxsize=8)
def _course_remaining_table(model_items: tuple[tuple[str, float], ...], weeks: float) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of untreated MADRS left after an adequate course, against effective responsiveness.

    Simulated once per parameter set: a typical patient (no expectancy) on escitalopram 20 mg
    daily for `weeks` weeks, one virtual patient per grid value of monoaminergic responsiveness.
    """
    params = dict(model_items)
    n = len(_COURSE_GRID)
    patient = {name: np.full(n, 1.0) for name in PATIENT_FIELDS}
    patient.update(weight_kg=np.full(n, 70.0), age_y=np.full(n, 45.0), untreated_madrs=np.full(n, 30.0),
                   synapse_deficit=np.full(n, 0.35), placebo_responsiveness=np.zeros(n),
                   monoaminergic_responsiveness=_COURSE_GRID.copy(), sbp0_mmhg=np.full(n, 125.0),
                   dbp0_mmhg=np.full(n, 78.0), hr0_bpm=np.full(n, 72.0))
    end = weeks * 168.0
    course = Regimen.of(dose("escitalopram", "oral", "20 mg", every="1 d"))
    model = ArmModel(course, patient, params, 0.0, end)
    sol = solve_fast(model, np.array([0.0, end]), initial_state(patient), SolverSettings(rtol=1e-5, atol=1e-7))
    madrs = model.outputs(np.array([0.0, end]), sol.states)["madrs"]
    return _COURSE_GRID, madrs[1] / madrs[0]


def course_responds(responsiveness: np.ndarray, placebo: np.ndarray, params: dict[str, float],
                    weeks: float, contact_share: float = 1.0) -> np.ndarray:
    """Whether one adequate monoaminergic course gives a response (>= 50% MADRS reduction).

    As in the clinic, a response counts whatever its cause: the drug's own relief (monoaminergic
    path, simulated) combined with the non-specific improvement of `weeks` weeks of care
    (`contact_share` of what a trial gives).
    """
    grid, remaining = _course_remaining_table(tuple(sorted(params.items())), weeks)
    drug = 1.0 - np.interp(np.log(np.maximum(responsiveness, 1e-12)), np.log(grid), remaining)
    contact = contact_benefit_after(NUMPY, weeks * 168.0, params)
    expect = np.clip(placebo * contact_share * params["contact_improvement_max"] * contact, 0.0,
                     params["expectancy_fraction_max"])
    return combine_relief(NUMPY, drug, expect, params["expectancy_overlap"]) >= 0.5


#: the course number of an antidepressant newly started in a trial arm (its own draw, after any screening course)
NEW_COURSE = 1000


def course_factor(seed: int, arm: int, index: np.ndarray, course: int, pop: dict[str, float]) -> np.ndarray:
    """Drug-specific responsiveness factor (lognormal, median 1) of course number `course`, per candidate."""
    return np.exp(pop["course_factor_sd_log"] * random_streams.normal(seed, arm, index, "course", course))


def failed_courses(seed: int, arm: int, index: np.ndarray, patients: dict[str, np.ndarray], courses: int,
                   pop: dict[str, float], params: dict[str, float]) -> np.ndarray:
    """Number of failed courses out of `courses` simulated adequate courses, per candidate."""
    failed = np.zeros(len(index), dtype=int)
    for c in range(courses):
        factor = course_factor(seed, arm, index, c, pop)
        responds = course_responds(patients["monoaminergic_responsiveness"] * factor, patients["placebo_responsiveness"],
                                   params, pop["course_weeks"], pop["course_contact_fraction"])
        failed += ~responds
    return failed


def take(patients: dict[K, np.ndarray], mask: np.ndarray | slice) -> dict[K, np.ndarray]:
    """The patients (rows of every array) selected by `mask`."""
    return {k: v[mask] for k, v in patients.items()}
