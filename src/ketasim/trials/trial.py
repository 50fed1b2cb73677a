"""Virtual clinical trials: screen a population per arm, simulate it in chunks, reduce to endpoints.

Per patient only what the endpoints need is kept (a SolvedChunk): baseline, the registry's visit
values, relapse assessments and the first session's vitals (plus a daily MADRS course when asked for
plots). The summaries are computed by the endpoint registry (:mod:`ketasim.trials.endpoints`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
from scipy.special import ndtr

from ketasim.checks.limits import HEARTBEAT_AFTER_S, MAX_PATIENTS_PER_ARM, check_memory, trial_estimate
from ketasim.checks.plausibility import report
from ketasim.engines.solvers import ENGINES, STATUS_OK, Solution, SolverSettings
from ketasim.errors import KetasimInputError
from ketasim.model.arm import IDX, ArmModel, initial_state, model_values
from ketasim.model.regimen import Dose, Regimen
from ketasim.trials.design import care_until_h, expectancy_factor, multicentre_factor, starts_new_antidepressant
from ketasim.trials.endpoints import VISIT_OUTPUTS, VITALS_METRICS, VisitOutput
from ketasim.trials.natural_course import course_log_severity
from ketasim.trials.population import (
    NEW_COURSE,
    SCREENED_KINDS,
    PopulationSettings,
    course_factor,
    draw_candidates,
    failed_courses,
    population_values,
    take,
    visit_noise,
)
from ketasim.trials.results import ArmResult, SolvedChunk, TrialResult
from ketasim.trials.summary import summarise_arm
from ketasim.trials.trial_checks import trial_flags, trial_horizon_h
from ketasim.trials.trial_spec import TrialSpec

__all__ = ["ArmJob", "ArmResult", "ChunkSink", "Mapper", "OutputTimes", "SolvedChunk", "TrialResult", "auto_chunk_size",
           "clear_run_in_cache", "first_dose_h", "in_process", "output_times", "run_trial", "screen_chunk", "select_patients",
           "simulate_arm", "solve_chunk"]

#: background treatment starts this long before day 0, so it is at steady state: 6 weeks is over
#: four time constants of the slowest state it drives (spine turnover, at most 9 d)
RUN_IN_H = 42.0 * 24.0
VITALS_WINDOW_H = 4.0
VITALS_STEP_H = 5.0 / 60.0


def _background_regimen(background: Regimen | None) -> Regimen | None:
    """Background doses moved to start RUN_IN_H before day 0 and continue through the trial."""
    if background is None:
        return None
    doses = []
    for d in background.doses:
        if d.every_h is not None:
            doses.append(Dose(d.drug, d.route, d.amount, (), d.every_h, -RUN_IN_H, d.until_h, d.infusion_h))
        else:
            doses.append(d)
    return Regimen(tuple(doses), "background")


@dataclass(frozen=True)
class OutputTimes:
    """The times one arm is solved at (h, sorted, unique) and where each group of outputs lies among them.

    baseline: index of day 0 (the first dose); visits (V,), relapse (D,) and vitals (the first
    session's 5-min grid) are indices into all_h; relapse_days: the relapse checks in days after
    'at'; course: daily indices, kept only when the daily course was asked for.
    """

    all_h: np.ndarray
    baseline: int
    visits: np.ndarray
    relapse: np.ndarray | None
    relapse_days: np.ndarray | None
    relapse_at: int | None
    vitals: np.ndarray | None
    course: np.ndarray | None


def output_times(spec: TrialSpec, origin_h: float, with_course: bool, daily: bool = True) -> OutputTimes:
    """Output times of an arm whose first dose is at `origin_h` (h).

    daily=False: only the times the endpoints read (no daily course, so with_course must be False);
    the fast engine then takes other step ends, so numbers differ within its tolerance (a fitting option).
    """
    if with_course and not daily:
        raise ValueError("output_times: the daily course needs daily=True")
    ep = spec.endpoints
    groups: dict[str, np.ndarray] = {"baseline": np.array([origin_h]),
                                     "visits": origin_h + np.asarray(ep.visit_times_h, dtype=float)}
    relapse_days = None
    if ep.relapse is not None:
        relapse_days = ep.relapse.assessment_days()
        groups["relapse"] = origin_h + ep.relapse.assessment_times_h()
        groups["relapse_at"] = np.array([origin_h + ep.relapse.at_h])
    if ep.vitals:
        groups["vitals"] = origin_h + np.arange(0.0, VITALS_WINDOW_H + 1e-9, VITALS_STEP_H)
    end = max(float(np.max(g)) for g in groups.values())
    # the daily course is always solved (output times are step ends in the fast engine, so the
    # numbers must not depend on whether plots were asked for); it is kept only when asked
    course = origin_h + np.arange(0.0, end - origin_h + 1e-9, 24.0) if daily else np.zeros(0)
    all_h = np.unique(np.round(np.concatenate([*groups.values(), course]), 9))
    if with_course:
        groups["course"] = course

    def where(name: str) -> np.ndarray | None:
        return np.searchsorted(all_h, np.round(groups[name], 9)) if name in groups else None

    at = where("relapse_at")
    return OutputTimes(all_h, int(where("baseline")[0]), where("visits"), where("relapse"),  # type: ignore[index]
                       relapse_days, None if at is None else int(at[0]), where("vitals"), where("course"))


def _population_settings(spec: TrialSpec) -> PopulationSettings:
    pop = spec.population
    failed = pop.min_failed_treatments if pop.kind in SCREENED_KINDS else 0
    return PopulationSettings(pop.kind, failed, tuple(pop.baseline_madrs), tuple(pop.weight_kg), tuple(pop.age),
                              tuple(pop.baseline_caps5))


@dataclass(frozen=True)
class ArmJob:
    """Everything needed to screen or solve patients of one arm; picklable, so it can go to a worker."""

    spec: TrialSpec
    arm_index: int
    engine: str
    params: dict[str, float]
    pop: dict[str, float]
    settings: SolverSettings
    times: OutputTimes
    keep_patients: bool = True
    pad_to: int | None = None  # jax engine: pad smaller chunks to this many patients (one compiled shape per arm)
    #: fitting: response and remission rates as their expectation over the visit noise (smooth in the parameters)
    expected_rates: bool = False

    @classmethod
    def for_arm(cls, spec: TrialSpec, arm_index: int, *, engine: str = "fast", params: dict[str, float] | None = None,
                pop: dict[str, float] | None = None, settings: SolverSettings = SolverSettings(),
                with_course: bool = False, keep_patients: bool = True) -> ArmJob:
        """The job of arm `arm_index` (default model and population values), timed from its first dose."""
        return cls(spec, arm_index, engine, model_values() if params is None else params,
                   population_values() if pop is None else pop, settings,
                   output_times(spec, first_dose_h(spec, arm_index), with_course), keep_patients)

    @property
    def origin_h(self) -> float:
        return float(self.times.all_h[self.times.baseline])

    def solve(self, model: ArmModel, times_h: np.ndarray, y0: np.ndarray) -> Solution:
        """ENGINES[engine] on `model` with this job's settings (and padding, for the jax engine)."""
        extra = {"pad_to": self.pad_to} if self.engine == "jax" and self.pad_to else {}
        return ENGINES[self.engine](model, times_h, y0, self.settings, **extra)


def first_dose_h(spec: TrialSpec, arm_index: int) -> float:
    """Time of the arm's first dose (h): day 0 of its visits."""
    return spec.arms[arm_index].regimen.first_dose_h()  # not min(events()): an open-ended `every` has no last event


#: map(function, items) -> iterable of results in the same order (in-process, or a Dask client's)
Mapper = Callable[[Callable, list], Iterable]


def in_process(function: Callable, items: list) -> Iterable:
    """The default Mapper: the built-in map, in this process."""
    return map(function, items)


@dataclass(frozen=True)
class _Enrolled:
    """Screening of candidates `index`: who enters (mask over index), and for them: patients, PD state
    at day 0, PK state at day 0 (background) or None, observed baseline MADRS (points)."""

    mask: np.ndarray
    patients: dict[str, np.ndarray]
    y0: np.ndarray
    pk0: dict | None
    baseline: np.ndarray


@dataclass(frozen=True)
class RunInRequest:
    """A run-in that screening needs: the background regimen for candidates `index` (`patients`, their draws)."""

    background: Regimen
    index: np.ndarray
    patients: dict[str, np.ndarray]


#: a run-in's PD state, PK state, true MADRS and solved status at day 0, per candidate
RunInResult = tuple[np.ndarray, dict[tuple[str, str], np.ndarray], np.ndarray, np.ndarray]


def _prepare(job: ArmJob, index: np.ndarray) -> _Enrolled:
    """Draw candidates `index`, screen them, bring background to steady state, check the baseline window."""
    steps = prepare_steps(job, index)
    try:
        request = next(steps)
        while True:
            request = steps.send(_run_in(job, request.background, request.index, request.patients))
    except StopIteration as done:
        return done.value


def prepare_steps(job: ArmJob, index: np.ndarray) -> Generator[RunInRequest, RunInResult, _Enrolled]:
    """_prepare as a generator: it yields the run-in it needs (if any), is sent its result, and returns
    the screening (so that run-ins of many arms can be solved together, `trials.calibration_set`)."""
    spec, arm_index, params, pop = job.spec, job.arm_index, job.params, job.pop
    psettings = _population_settings(spec)
    background = _background_regimen(spec.population.background)
    courses_needed = max(psettings.min_failed_treatments - (1 if background is not None else 0), 0)
    lo, hi = psettings.baseline_madrs
    patients = draw_candidates(spec.seed, arm_index, index, pop, psettings)
    noise = visit_noise(spec.seed, arm_index, index, np.array([job.origin_h]), pop["visit_noise_sd_madrs"])[0]
    untreated = patients["untreated_madrs"]
    mask = np.ones(index.size, dtype=bool)
    if courses_needed:
        mask &= failed_courses(spec.seed, arm_index, index, patients, courses_needed, pop, params) >= courses_needed
    base = patients["monoaminergic_responsiveness"]
    if background is not None:  # the background is one more course, with its own drug-specific factor
        patients["monoaminergic_responsiveness"] = base * course_factor(spec.seed, arm_index, index, courses_needed, pop)
    if background is None:
        observed = np.clip(untreated + noise, 0.0, 60.0)
        mask &= (observed >= lo) & (observed <= hi)
        patients = _in_trial(job, take(patients, mask), base[mask], index[mask])
        return _Enrolled(mask, patients, initial_state(patients), None, observed[mask])
    # a non-responder to the background keeps more than half of the untreated score: run the
    # run-in only for candidates who could be in the window whatever it does
    mask &= (untreated + noise >= lo) & (0.5 * untreated + noise <= hi)
    patients = take(patients, mask)
    y0, pk0, true_baseline, solved = yield RunInRequest(background, index[mask], patients)
    observed = np.clip(true_baseline + noise[mask], 0.0, 60.0)
    # the background is a failed course: no response to it
    ok = solved & (true_baseline > 0.5 * patients["untreated_madrs"]) & (observed >= lo) & (observed <= hi)
    base = base[mask][ok]
    mask[mask] = ok
    return _Enrolled(mask, _in_trial(job, take(patients, ok), base, index[mask]), y0[ok], take(pk0, ok), observed[ok])


def _in_trial(job: ArmJob, patients: dict[str, np.ndarray], base_responsiveness: np.ndarray, index: np.ndarray
              ) -> dict[str, np.ndarray]:
    """The enrolled patients as the trial sees them (`trials.design`): a newly started antidepressant
    brings its own course factor, and expectancy follows the chance of receiving an active drug."""
    spec, pop = job.spec, job.pop
    out = dict(patients)
    if starts_new_antidepressant(spec, job.arm_index):
        out["monoaminergic_responsiveness"] = base_responsiveness * course_factor(spec.seed, job.arm_index, index,
                                                                                  NEW_COURSE, pop)
    out["placebo_responsiveness"] = patients["placebo_responsiveness"] * expectancy_factor(
        spec, pop["expectancy_active_exponent"])
    return out


#: run-in results of the latest arm in this process, by candidate: screening and solving share them
_RUN_IN_CACHE_MAX = 200_000
_RUN_IN_CACHE: dict[tuple, dict[int, RunInRow]] = {}


def clear_run_in_cache() -> None:
    """Forget the run-ins cached in this process (so the next arm computes its own)."""
    _RUN_IN_CACHE.clear()


def _run_in(job: ArmJob, background: Regimen, index: np.ndarray, patients: dict[str, np.ndarray]
            ) -> tuple[np.ndarray, dict[tuple[str, str], np.ndarray], np.ndarray, np.ndarray]:
    """Background treatment from RUN_IN_H before day 0: PD state, PK state, true MADRS and status at day 0."""
    key = (job.spec, job.arm_index, job.engine, job.settings,
           tuple(sorted(job.params.items())), tuple(sorted(job.pop.items())))
    cache = _RUN_IN_CACHE.get(key)
    if cache is None:
        _RUN_IN_CACHE.clear()
        cache = _RUN_IN_CACHE.setdefault(key, {})
    missing = np.array([i not in cache for i in index.tolist()], dtype=bool)
    if missing.any():
        todo = take(patients, missing)
        run_in = run_in_model(job, background, todo)
        sol = job.solve(run_in, RUN_IN_TIMES, initial_state(todo))
        if len(cache) > _RUN_IN_CACHE_MAX:
            cache.clear()
        cache.update(zip(index[missing].tolist(), run_in_rows(run_in, sol), strict=True))
    return stack_run_ins([cache[i] for i in index.tolist()], patients)


#: the run-in is solved up to day 0 (h), its only output time
RUN_IN_TIMES = np.array([0.0])
#: one candidate's run-in: PD state, PK states by system, true MADRS and whether solved, at day 0
RunInRow = tuple[np.ndarray, dict[tuple[str, str], np.ndarray], float, bool]


def run_in_model(job: ArmJob, background: Regimen, patients: dict[str, np.ndarray]) -> ArmModel:
    """The background treatment of `patients` from RUN_IN_H before day 0 to day 0."""
    return ArmModel(background, patients, job.params, -RUN_IN_H, 0.0)


def run_in_rows(run_in: ArmModel, sol: Solution) -> list[RunInRow]:
    """Each candidate's run-in result at day 0 from the solved run-in (session expectancy reset)."""
    y0 = np.nan_to_num(sol.states[0])
    y0[:, IDX["session_expectancy"]] = 0.0
    madrs = np.nan_to_num(run_in.outputs(RUN_IN_TIMES, sol.states)["madrs"][0])
    pk = run_in.pk_end_state()
    return [(y0[row], {k: v[row] for k, v in pk.items()}, float(madrs[row]), bool(sol.status[row] == STATUS_OK))
            for row in range(run_in.n_patients)]


def stack_run_ins(rows: list[RunInRow], patients: dict[str, np.ndarray]) -> RunInResult:
    """Run-in rows stacked into arrays (the patients' untreated state where there are none)."""
    if not rows:
        return initial_state(patients), {}, np.zeros(0), np.zeros(0, dtype=bool)
    pk_keys = rows[0][1].keys()
    return (np.stack([r[0] for r in rows]), {k: np.stack([r[1][k] for r in rows]) for k in pk_keys},
            np.array([r[2] for r in rows]), np.array([r[3] for r in rows]))


def screen_chunk(job: ArmJob, index: np.ndarray) -> np.ndarray:
    """Which candidates of `index` enter the arm (screening, background, baseline window)."""
    return _prepare(job, index).mask


def solve_chunk(job: ArmJob, index: np.ndarray) -> SolvedChunk:
    """Simulate accepted patients `index` and keep only what the endpoints need."""
    enrolled = _prepare(job, index)
    if not enrolled.mask.all():
        raise RuntimeError("solve_chunk was given candidates that do not pass screening")
    model = trial_model(job, enrolled)
    return reduce_chunk(job, index, enrolled, model, job.solve(model, job.times.all_h, enrolled.y0))


def trial_model(job: ArmJob, enrolled: _Enrolled) -> ArmModel:
    """The arm's regimen (with any background) for the enrolled patients, from day 0 to the last output."""
    spec, times = job.spec, job.times
    arm = spec.arms[job.arm_index]
    background = _background_regimen(spec.population.background)
    regimen = arm.regimen if background is None else arm.regimen + background
    end_h = float(times.all_h[-1]) + 1e-6
    return ArmModel(regimen, enrolled.patients, job.params, 0.0, end_h, enrolled.pk0,
                    care_until_h=care_until_h(spec, job.arm_index, end_h))


def reduce_chunk(job: ArmJob, index: np.ndarray, enrolled: _Enrolled, model: ArmModel, sol: Solution) -> SolvedChunk:
    """What the endpoints need of the solved patients `index` (their solution `sol` at job.times.all_h)."""
    spec, times = job.spec, job.times
    course = course_log_severity(spec.seed, job.arm_index, index, times.all_h, job.origin_h,
                                 enrolled.patients["untreated_madrs"], spec.population.kind, job.pop)
    # a multicentre trial's care brings more non-specific improvement (trials.design)
    out = model.outputs(times.all_h, sol.states, course, multicentre_factor(spec, job.pop["placebo_sd_log"]))
    noise = visit_noise(spec.seed, job.arm_index, index, times.all_h, job.pop["visit_noise_sd_madrs"])
    madrs = np.clip(out["madrs"] + noise, 0.0, 60.0)
    values = {o.name: madrs if o.observed else _output(out, o) for o in VISIT_OUTPUTS}
    if job.expected_rates:
        values.update(expected_rates(np.clip(out["madrs"], 0.0, 60.0), enrolled.baseline, spec.endpoints.response_fraction,
                                     spec.endpoints.remission_at_most, job.pop["visit_noise_sd_madrs"]))
    # reduced outputs: what the endpoints need, not every state at every time
    relapse = times.relapse is not None and times.relapse_at is not None
    return SolvedChunk(
        index, sol.status,
        baselines={o.name: enrolled.baseline if o.observed else values[o.name][times.baseline] for o in VISIT_OUTPUTS},
        visits={name: v[times.visits] for name, v in values.items()},
        relapse=madrs[times.relapse] if relapse else None,
        relapse_at=madrs[times.relapse_at] if relapse else None,
        vitals={} if times.vitals is None else {m.name: m.per_patient(out[m.output][times.vitals]) for m in VITALS_METRICS},
        course=None if times.course is None else madrs[times.course].astype(np.float32),
        patients=enrolled.patients if job.keep_patients else {})


def expected_rates(true_madrs: np.ndarray, baseline: np.ndarray, response_fraction: float, remission_at_most: float,
                   noise_sd: float) -> dict[str, np.ndarray]:
    """Each patient's chance (T, N) of counting as a responder and as a remitter at each time, given the MADRS
    without visit noise `true_madrs` (T, N) and the observed baseline (N,): the observed score is the true one
    plus N(0, noise_sd^2), so P(observed <= threshold) = Phi((threshold - true) / noise_sd). Its mean over
    patients is the expected rate (the same as the 0/1 count's), and it is smooth in the model's parameters."""
    sd = max(noise_sd, 1e-6)
    response_at_most = (1.0 - response_fraction) * baseline[None, :]
    return {"response_probability": ndtr((response_at_most - true_madrs) / sd),
            "remission_probability": ndtr((remission_at_most - true_madrs) / sd)}


def _output(outputs: dict[str, np.ndarray], output: VisitOutput) -> np.ndarray:
    """Model output `output.name` (T, n), rounded to whole points if `output.integer`; NaN where an
    optional output is not in the model."""
    if output.name in outputs or not output.optional:
        return np.round(outputs[output.name]) if output.integer else outputs[output.name]
    return np.full_like(outputs["madrs"], np.nan)


#: working memory one chunk may use (bytes); chunks are sized from it
CHUNK_MEMORY_BYTES = 256 * 2**20


def auto_chunk_size(spec: TrialSpec, arm_index: int, times: OutputTimes) -> int:
    """Patients per chunk so that one chunk's arrays stay within CHUNK_MEMORY_BYTES.

    Per patient: PD states at every output time (10 x 8 B each), ~12 stage arrays of the solver,
    and the closed-form PK coefficients of every segment (boundaries x states x 8 B, twice).
    """
    regimen = spec.arms[arm_index].regimen
    background = _background_regimen(spec.population.background)
    end = float(times.all_h[-1])
    events = len(regimen.events(end)) + (0 if background is None else len(background.events(end)))
    n_segments = 2 * events + 2
    pk_states = 14 * len(regimen.drugs) + (3 if background is not None else 0)
    per_patient = 8 * (10 * times.all_h.size + 12 * 10 + 2 * n_segments * pk_states + pk_states**2 * 3)
    return int(np.clip(CHUNK_MEMORY_BYTES // per_patient, 256, 20_000))


def select_patients(job: ArmJob, n_patients: int, chunk_size: int, mapper: Mapper = in_process) -> tuple[np.ndarray, int]:
    """The first `n_patients` candidates (in index order) that pass screening; and how many were screened."""
    steps = selection_steps(job, n_patients, chunk_size)
    try:
        index = next(steps)
        while True:
            pieces = [index[i:i + chunk_size] for i in range(0, index.size, chunk_size)]
            index = steps.send(np.concatenate(list(mapper(partial(screen_chunk, job), pieces))))
    except StopIteration as done:
        return done.value


#: candidates screened at least per round, by engine. Who enters the arm does not depend on it (candidates
#: are taken strictly in index order), only how many rounds it takes. 64 for every engine: with 8 for the
#: reference engine, a trial whose windows pass few candidates (takahashi-2021) took over 5 minutes of
#: small rounds instead of 51 s.
SCREEN_AT_LEAST = {"fast": 64, "jax": 64, "reference": 64}


def selection_steps(job: ArmJob, n_patients: int, chunk_size: int) -> Generator[np.ndarray, np.ndarray, tuple[np.ndarray, int]]:
    """select_patients as a generator: it yields the next candidates to screen, is sent their mask
    (screen_chunk), and returns the accepted candidates and how many were screened."""
    accepted: list[np.ndarray] = []
    n_found, next_candidate, pass_rate = 0, 0, 1.0
    least = SCREEN_AT_LEAST.get(job.engine, SCREEN_AT_LEAST["fast"])
    while n_found < n_patients:
        want = n_patients - n_found
        batch = int(min(max(want / pass_rate * 1.1, least), 200 * max(chunk_size, want)))
        index = np.arange(next_candidate, next_candidate + batch, dtype=np.int64)
        mask = yield index
        ok = index[mask][:want]
        accepted.append(ok)
        n_found += ok.size
        # candidates are taken strictly in index order, so chunking cannot change who is in the arm
        next_candidate = int(ok[-1]) + 1 if n_found >= n_patients else next_candidate + batch
        pass_rate = max(mask.mean(), 1e-4)
        if n_found == 0 and next_candidate > 2_000_000:
            raise KetasimInputError(f"{job.spec.path}: population: no candidate passes screening and the baseline window")
    return np.concatenate(accepted), next_candidate


#: on_chunk(arm index, arm name, solved chunk, number of its first patient in the arm), called in patient order
ChunkSink = Callable[[int, str, SolvedChunk, int], None]


def simulate_arm(spec: TrialSpec, arm_index: int, n_patients: int, *, engine: str = "fast",
                 params: dict[str, float] | None = None, pop: dict[str, float] | None = None,
                 settings: SolverSettings = SolverSettings(), chunk_size: int | None = None, with_course: bool = False,
                 progress: Callable[[int], None] | None = None, mapper: Mapper = in_process,
                 keep_patients: bool = True, on_chunk: ChunkSink | None = None) -> ArmResult:
    """Screen, simulate and reduce one arm; deterministic for (seed, arm, patient) whatever the chunking.

    on_chunk: called with every solved chunk as it arrives (to stream per-patient rows to a
    file); the patients' parameters (SolvedChunk.patients) then go to it only and are not kept in
    the ArmResult, so memory does not grow with them.
    """
    arm = spec.arms[arm_index]
    job = ArmJob.for_arm(spec, arm_index, engine=engine, params=params, pop=pop, settings=settings,
                         with_course=with_course, keep_patients=keep_patients)
    times = job.times
    chunk_size = chunk_size or auto_chunk_size(spec, arm_index, times)
    if engine == "jax":  # the last, smaller chunk (and run-ins) reuse the full chunks' compiled shape
        job = replace(job, pad_to=chunk_size)
    accepted, screened = select_patients(job, n_patients, chunk_size, mapper)
    chunks = [accepted[i:i + chunk_size] for i in range(0, accepted.size, chunk_size)]
    collected: list[SolvedChunk] = []
    first = 0
    for part in mapper(partial(solve_chunk, job), chunks):
        if on_chunk is not None:
            on_chunk(arm_index, arm.name, part, first)
            part = part.without_patients()
        first += part.n
        collected.append(part)
        if progress is not None:
            progress(part.n)
    return arm_result(spec, arm_index, times, collected, screened)


def arm_result(spec: TrialSpec, arm_index: int, times: OutputTimes, chunks: list[SolvedChunk], screened: int) -> ArmResult:
    """The arm's result and endpoint summary from its solved chunks (in patient order)."""
    merged = SolvedChunk.concat(chunks)
    result = ArmResult(
        name=spec.arms[arm_index].name, candidate_index=merged.index, baseline_values=merged.baselines,
        visit_values=merged.visits, status=merged.status, candidates_screened=screened,
        relapse_assessments=merged.relapse, relapse_at=merged.relapse_at, relapse_days=times.relapse_days,
        vitals=merged.vitals or None,
        course_times_h=None if times.course is None else times.all_h[times.course] - first_dose_h(spec, arm_index),
        course=merged.course, patients=merged.patients,
    )
    result.summary = summarise_arm(result, spec.endpoints)
    return result


def run_trial(spec: TrialSpec, *, engine: str = "fast", patients_per_arm: int | None = None,
              params: dict[str, float] | None = None, pop: dict[str, float] | None = None,
              settings: SolverSettings = SolverSettings(), chunk_size: int | None = None, with_course: bool = False,
              show_progress: bool = True, mapper: Mapper = in_process, keep_patients: bool = True,
              on_chunk: ChunkSink | None = None) -> TrialResult:
    """Run every arm of a trial file; progress on stderr. on_chunk: see simulate_arm."""
    if not isinstance(spec, TrialSpec):
        raise KetasimInputError(f"run_trial: expected a TrialSpec (ketasim.load_trial(path)), got {type(spec).__name__}")
    if engine not in ENGINES:
        raise KetasimInputError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
    n = spec.patients_per_arm if patients_per_arm is None else patients_per_arm
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n <= 0:
        raise KetasimInputError(f"patients per arm: expected an integer > 0, got {n!r}")
    estimate_s = check_trial_size(spec, int(n), with_course)
    arms: dict[str, ArmResult] = {}
    bar = _progress_bar(n * len(spec.arms), spec.name, show_progress, estimate_s)
    try:
        for i, arm in enumerate(spec.arms):
            arms[arm.name] = simulate_arm(spec, i, n, engine=engine, params=params, pop=pop, settings=settings,
                                          chunk_size=chunk_size, with_course=with_course,
                                          progress=None if bar is None else bar.update, mapper=mapper,
                                          keep_patients=keep_patients, on_chunk=on_chunk)
    finally:
        if bar is not None:
            bar.close()
    return TrialResult(spec, arms, engine, tuple(report(trial_flags(spec))))


def check_trial_size(spec: TrialSpec, n: int, with_course: bool) -> float:
    """Refuse a trial above the documented limits or this machine's memory; returns its estimated time (s)."""
    if n > MAX_PATIENTS_PER_ARM:
        raise KetasimInputError(f"{spec.path}: patients per arm: {n:,} is above the limit of {MAX_PATIENTS_PER_ARM:,}")
    days = trial_horizon_h(spec) / 24.0
    memory, seconds = trial_estimate(n * len(spec.arms), days, len(spec.endpoints.visit_keys), with_course)
    check_memory(memory, f"{spec.path}: {n:,} patients per arm", "lower patients_per_arm (--patients-per-arm)")
    if seconds > 60.0:
        print(f"ketasim: {spec.path}: estimated {seconds / 60.0:,.0f} min on 2 cores; progress on stderr", file=sys.stderr)
    return seconds


def _progress_bar(total: int, name: str, show: bool, estimate_s: float = 0.0) -> Any:
    if not show:
        return None
    from tqdm import tqdm

    # a progress bar on a terminal; in a log (not a terminal) too when the run is estimated to take a while
    disable = None if estimate_s <= HEARTBEAT_AFTER_S else False
    return tqdm(total=total, desc=name[:40], unit="patient", file=sys.stderr, disable=disable, leave=False,
                mininterval=5.0 if disable is False else 0.1)
