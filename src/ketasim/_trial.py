"""Virtual clinical trials: screen a population per arm, simulate it in chunks, reduce to endpoints.

Per patient only what the endpoints need is kept: baseline, visit values, daily relapse
assessments and the first session's vitals (plus a daily MADRS course when asked for plots).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import _outcomes
from ._engine import ENGINES, STATUS_OK, SolverSettings
from ._errors import KetasimInputError
from ._model import IDX, ArmModel, initial_state, model_values
from ._population import (
    PopulationSettings,
    draw_candidates,
    failed_courses,
    population_values,
    take,
    visit_noise,
)
from ._regimen import Dose, Regimen
from ._trial_spec import TrialSpec

#: background treatment starts this long before day 0, so it is at steady state (12 weeks)
RUN_IN_H = 84.0 * 24.0
VITALS_WINDOW_H = 4.0
VITALS_STEP_H = 5.0 / 60.0
DISCLAIMER = "ketasim is research software, not a medical device: it informs, it does not prescribe."


@dataclass
class ArmResult:
    """Per-patient values of one arm (N patients) and its endpoint summary."""

    name: str
    candidate_index: np.ndarray
    baseline: np.ndarray
    visits: np.ndarray  # (V, N) observed MADRS
    status: np.ndarray
    candidates_screened: int
    relapse_assessments: np.ndarray | None = None  # (D, N)
    relapse_at: np.ndarray | None = None  # (N,) MADRS at relapse 'at'
    vitals: dict[str, np.ndarray] | None = None  # name -> (T, N)
    course_times_h: np.ndarray | None = None
    course: np.ndarray | None = None  # (T, N) daily observed MADRS, for plots
    patients: dict[str, np.ndarray] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


@dataclass
class TrialResult:
    spec: TrialSpec
    arms: dict[str, ArmResult]
    engine: str

    def to_json(self) -> dict:
        """The trial-spec output object (plus added keys)."""
        return {"name": self.spec.name, "seed": self.spec.seed, "engine": self.engine,
                "disclaimer": DISCLAIMER, "arms": {name: arm.summary for name, arm in self.arms.items()}}


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
class _Times:
    all_h: np.ndarray
    baseline: int
    visits: np.ndarray
    relapse: np.ndarray | None
    relapse_days: np.ndarray | None
    relapse_at: int | None
    vitals: np.ndarray | None
    course: np.ndarray | None


def _output_times(spec: TrialSpec, origin_h: float, with_course: bool) -> _Times:
    ep = spec.endpoints
    groups: dict[str, np.ndarray] = {"baseline": np.array([origin_h]),
                                     "visits": origin_h + np.asarray(ep.visit_times_h, dtype=float)}
    relapse_days = None
    if ep.relapse is not None:
        first = math.floor(ep.relapse.at_h / 24.0 + 1e-9) + 1
        last = math.floor(ep.relapse.until_h / 24.0 + 1e-9)
        relapse_days = np.arange(first, last + 1, dtype=float)
        groups["relapse"] = origin_h + relapse_days * 24.0
        groups["relapse_at"] = np.array([origin_h + ep.relapse.at_h])
    if ep.vitals:
        groups["vitals"] = origin_h + np.arange(0.0, VITALS_WINDOW_H + 1e-9, VITALS_STEP_H)
    end = max(float(np.max(g)) for g in groups.values())
    if with_course:
        groups["course"] = origin_h + np.arange(0.0, end - origin_h + 1e-9, 24.0)
    all_h = np.unique(np.round(np.concatenate(list(groups.values())), 9))

    def where(name: str) -> np.ndarray | None:
        return np.searchsorted(all_h, np.round(groups[name], 9)) if name in groups else None

    at = where("relapse_at")
    return _Times(all_h, int(where("baseline")[0]), where("visits"), where("relapse"),  # type: ignore[index]
                  relapse_days, None if at is None else int(at[0]), where("vitals"), where("course"))


def _population_settings(spec: TrialSpec) -> PopulationSettings:
    pop = spec.population
    failed = pop.min_failed_treatments if pop.kind == "trd" else 0
    return PopulationSettings(pop.kind, failed, tuple(pop.baseline_madrs), tuple(pop.weight_kg), tuple(pop.age))


def simulate_arm(spec: TrialSpec, arm_index: int, n_patients: int, *, engine: str = "fast",
                 params: dict[str, float] | None = None, pop: dict[str, float] | None = None,
                 settings: SolverSettings = SolverSettings(), chunk_size: int = 1000, with_course: bool = False,
                 progress: Callable[[int], None] | None = None) -> ArmResult:
    """Screen, simulate and reduce one arm; deterministic for (seed, arm, patient) whatever the chunking."""
    params = model_values() if params is None else params
    pop = population_values() if pop is None else pop
    arm = spec.arms[arm_index]
    solver = ENGINES[engine]
    psettings = _population_settings(spec)
    background = _background_regimen(spec.population.background)
    regimen = arm.regimen if background is None else arm.regimen + background
    origin = min((e.time_h for e in arm.regimen.events()), default=0.0)
    times = _output_times(spec, origin, with_course)
    end = float(times.all_h[-1]) + 1e-6
    courses_needed = max(psettings.min_failed_treatments - (1 if background is not None else 0), 0)
    seed, noise_sd = spec.seed, pop["visit_noise_sd_madrs"]

    collected: list[dict[str, np.ndarray]] = []
    n_found, next_candidate, pass_rate = 0, 0, 1.0
    while n_found < n_patients:
        # candidates are taken strictly in index order, so chunking cannot change who is in the arm
        want = min(chunk_size, n_patients - n_found)
        batch = int(min(max(want / max(pass_rate, 1e-3) * 1.2, 64), 50 * chunk_size))
        index = np.arange(next_candidate, next_candidate + batch, dtype=np.int64)
        next_candidate += batch
        patients = draw_candidates(seed, arm_index, index, pop, psettings)
        keep = np.ones(index.size, dtype=bool)
        if courses_needed:
            keep &= failed_courses(seed, arm_index, index, patients, courses_needed, pop, params) >= courses_needed
        if background is None:
            true_baseline = patients["untreated_madrs"]
            observed = np.clip(true_baseline + visit_noise(seed, arm_index, index, np.array([origin]), noise_sd)[0], 0, 60)
            lo, hi = psettings.baseline_madrs
            keep &= (observed >= lo) & (observed <= hi)
        index, patients = index[keep], take(patients, keep)
        if background is None:
            observed = observed[keep]
        y0 = initial_state(patients)
        initial_pk = None
        ok = np.ones(index.size, dtype=bool)
        if background is not None and index.size:
            run_in = ArmModel(background, patients, params, -RUN_IN_H, 0.0)
            sol = solver(run_in, np.array([0.0]), y0, settings)
            y0 = sol.states[0]
            true_baseline = run_in.outputs(np.array([0.0]), sol.states)["madrs"][0]
            observed = np.clip(true_baseline + visit_noise(seed, arm_index, index, np.array([origin]), noise_sd)[0], 0, 60)
            lo, hi = psettings.baseline_madrs
            ok = ((sol.status == STATUS_OK) & (true_baseline > 0.5 * patients["untreated_madrs"])
                  & (observed >= lo) & (observed <= hi))
            initial_pk = run_in.pk_end_state()
        accepted = np.nonzero(ok)[0]
        pass_rate = max(accepted.size / batch, 1e-3)
        chosen = accepted[: n_patients - n_found]
        if accepted.size > chosen.size:  # the rest are screened again by the next chunk, in order
            next_candidate = int(index[chosen[-1]]) + 1
        if chosen.size == 0:
            if next_candidate > 1000 * max(n_patients, 1000):
                raise KetasimInputError(f"{spec.path}: population: no candidate passes screening and the baseline window")
            continue
        patients = take(patients, chosen)
        index = index[chosen]
        y0 = y0[chosen]
        pk0 = None if initial_pk is None else {k: v[chosen] for k, v in initial_pk.items()}
        model = ArmModel(regimen, patients, params, 0.0, end, pk0)
        if background is not None:
            y0 = y0.copy()
            y0[:, IDX["session_expectancy"]] = 0.0
        sol = solver(model, times.all_h, y0, settings)
        out = model.outputs(times.all_h, sol.states)
        noise = visit_noise(seed, arm_index, index, times.all_h, noise_sd)
        madrs = np.clip(out["madrs"] + noise, 0.0, 60.0)
        part = {"index": index, "status": sol.status, "baseline": observed[chosen], "madrs": madrs,
                **{f"patient.{k}": v for k, v in patients.items()}}
        if times.vitals is not None:
            for name in ("sbp_mmhg", "dbp_mmhg", "hr_bpm", "cadss"):
                part[f"vitals.{name}"] = out[name][times.vitals]
        collected.append(part)
        n_found += chosen.size
        if progress is not None:
            progress(int(chosen.size))
    merged = {k: np.concatenate([c[k] for c in collected], axis=-1) for k in collected[0]}
    madrs = merged["madrs"]
    result = ArmResult(
        name=arm.name, candidate_index=merged["index"], baseline=merged["baseline"], visits=madrs[times.visits],
        status=merged["status"], candidates_screened=int(merged["index"][-1]) + 1 if merged["index"].size else 0,
        relapse_assessments=None if times.relapse is None else madrs[times.relapse],
        relapse_at=None if times.relapse_at is None else madrs[times.relapse_at],
        vitals={k.split(".", 1)[1]: v for k, v in merged.items() if k.startswith("vitals.")} or None,
        course_times_h=None if times.course is None else times.all_h[times.course] - origin,
        course=None if times.course is None else madrs[times.course],
        patients={k.split(".", 1)[1]: v for k, v in merged.items() if k.startswith("patient.")},
    )
    result.summary = summarise_arm(spec, result, times)
    return result


def summarise_arm(spec: TrialSpec, arm: ArmResult, times: _Times) -> dict:
    """The trial-spec output for one arm."""
    ep = spec.endpoints
    good = arm.status == STATUS_OK
    base = arm.baseline[good]
    summary: dict = {"n": int(arm.baseline.size), "baseline_madrs_mean": float(base.mean()) if base.size else None,
                     "failed_solves": int((~good).sum()), "candidates_screened": arm.candidates_screened, "visits": {}}
    for v, key in enumerate(ep.visit_keys):
        summary["visits"][key] = _outcomes.visit_summary(base, arm.visits[v][good], ep.response_fraction,
                                                         ep.remission_at_most)
    if ep.relapse is not None and arm.relapse_assessments is not None and arm.relapse_at is not None:
        summary["relapse"] = _outcomes.relapse_summary(
            base, arm.relapse_at[good], arm.relapse_assessments[:, good], times.relapse_days - ep.relapse.at_h / 24.0,
            ep.relapse.among, ep.response_fraction, ep.remission_at_most, ep.relapse.madrs_at_least)
    if ep.vitals and arm.vitals is not None:
        v = arm.vitals
        summary["vitals"] = _outcomes.vitals_summary(v["sbp_mmhg"][:, good], v["dbp_mmhg"][:, good],
                                                     v["hr_bpm"][:, good], v["cadss"][:, good])
    return summary


def run_trial(spec: TrialSpec, *, engine: str = "fast", patients_per_arm: int | None = None,
              params: dict[str, float] | None = None, pop: dict[str, float] | None = None,
              settings: SolverSettings = SolverSettings(), chunk_size: int = 1000, with_course: bool = False,
              show_progress: bool = True) -> TrialResult:
    """Run every arm of a trial file; progress on stderr."""
    if engine not in ENGINES:
        raise KetasimInputError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
    n = spec.patients_per_arm if patients_per_arm is None else patients_per_arm
    if n <= 0:
        raise KetasimInputError(f"patients per arm must be > 0, got {n}")
    arms: dict[str, ArmResult] = {}
    bar = _progress_bar(n * len(spec.arms), spec.name, show_progress)
    try:
        for i, arm in enumerate(spec.arms):
            arms[arm.name] = simulate_arm(spec, i, n, engine=engine, params=params, pop=pop, settings=settings,
                                          chunk_size=chunk_size, with_course=with_course,
                                          progress=None if bar is None else bar.update)
    finally:
        if bar is not None:
            bar.close()
    return TrialResult(spec, arms, engine)


def _progress_bar(total: int, name: str, show: bool):  # noqa: ANN202 - tqdm or None
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=name[:40], unit="patient", file=sys.stderr, disable=None, leave=False)
