"""Cross-validation: refit without some trial files, then predict them (out-of-sample score).

Grouped K-fold over files (K = 6, folds fixed below): trials that share patients or design are in
one fold (TRANSFORM-1, -2 and their pooled file; the two SUSTAIN-2 age groups; Murrough 2013 and the
meta-analysis that contains it), so a fold's held-out data were never seen by its fit. The
vitals file stays in every training set (its four maxima are closed-form scales, not predictions)
and its targets count in-sample only. Each fold's refit starts from the full fit (warm start) with
fewer evaluations; folds run in parallel worker processes. A file not named in FOLDS is a fold of
its own (leave one file out): so are the bipolar-depression and PTSD files (diazgranados-2010,
feder-2021), after the named folds, which they leave as they are.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ketasim.trials.calibrate import FREE_PARAMETERS, VITALS_FILE, calibrate, shipped_values, split_values
from ketasim.trials.validate import TargetCheck, trial_files, validate

#: what each fold refits (warm-started from the full fit): the free parameters the full fit pins down best
#: (identifiable "yes" or the largest "weakly" in docs/calibration-report.txt), so that a fold's refit of
#: COBYQA (2 x 6 + 1 starting points) can converge within its evaluations
CV_FREE_PARAMETERS: tuple[tuple[str, float, float], ...] = tuple(
    p for p in FREE_PARAMETERS if p[0] in {"contact_improvement_max", "placebo_sd_log", "drug_relief_max",
                                           "plasticity_responder_fraction", "monoaminergic_median",
                                           "natural_course_sd"})

#: the folds over the shipped calibration files (file names), fixed so the score is reproducible
FOLDS: tuple[tuple[str, ...], ...] = (
    ("transform-1.toml", "transform-2.toml", "transform-1-2-pooled.toml"),
    ("sustain-2-adults.toml", "sustain-2-older.toml", "murrough-2013-ajp.toml", "ketamine-vs-control-meta.toml",
     "price-2014.toml"),  # Price 2014: item 10 within the Murrough 2013 patients
    ("daly-2018-synapse.toml", "escape-trd-2023.toml"),
    ("takahashi-2021.toml", "fava-2018-salloum-2019.toml", "star-d-level1.toml"),
    ("correia-melo-2020.toml", "shiroma-2014.toml", "ssri-vs-placebo-meta.toml"),
    ("ketect-2022.toml", "singh-2016.toml"),
    ("grunebaum-2018.toml", "abbar-2022.toml", "canuso-2018.toml"),  # kind = "suicidal"
)


def assign_folds(files: list[Path]) -> list[list[Path]]:
    """The folds of `files`: FOLDS where they name them, a fold of its own for every other file (not the vitals file)."""
    by_name = {p.name: p for p in files}
    folds = [[by_name[n] for n in fold if n in by_name] for fold in FOLDS]
    named = {n for fold in FOLDS for n in fold} | {VITALS_FILE}
    folds += [[p] for p in files if p.name not in named]
    return [fold for fold in folds if fold]


#: worker processes start fresh (forkserver): forking a process that has threads (JAX, Dask) can deadlock
_FRESH_PROCESSES = multiprocessing.get_context("forkserver")


@dataclass
class FoldResult:
    """One fold: the files held out, the values fitted without them, and their targets predicted."""

    held_out: list[str]
    fitted: dict[str, float]
    checks: list[TargetCheck]
    evaluations: int
    seconds: float


@dataclass
class CrossValidation:
    """In-sample checks (the full fit on every file) and out-of-sample checks (each file predicted by the
    fit of the fold that held it out)."""

    in_sample: list[TargetCheck]
    folds: list[FoldResult] = field(default_factory=list)
    patients_per_arm: int | None = None
    fit_patients_per_arm: int = 0
    max_evaluations: int = 0
    seconds: float = 0.0
    free: tuple[tuple[str, float, float], ...] = CV_FREE_PARAMETERS

    @property
    def out_of_sample(self) -> list[TargetCheck]:
        return [c for fold in self.folds for c in fold.checks]


@dataclass(frozen=True)
class _FoldJob:
    files: tuple[Path, ...]
    held_out: tuple[Path, ...]
    start: dict[str, float]
    fit_patients_per_arm: int
    predict_patients_per_arm: int | None
    max_evaluations: int
    free: tuple[tuple[str, float, float], ...]
    time_budget_s: float | None


def _run_fold(job: _FoldJob) -> FoldResult:
    started = time.time()
    training = [p for p in job.files if p not in job.held_out]
    report = calibrate(training, patients_per_arm=job.fit_patients_per_arm, max_evaluations=job.max_evaluations,
                       log=False, start=job.start, free=job.free, sensitivity=False, time_budget_s=job.time_budget_s)
    params, pop = split_values(report.all_values)
    checks = validate(list(job.held_out), patients_per_arm=job.predict_patients_per_arm, params=params, pop=pop,
                      show_progress=False)
    return FoldResult([p.name for p in job.held_out], {k: report.all_values[k] for k in report.after}, checks,
                      report.evaluations, time.time() - started)


def cross_validate(paths: Iterable[str | Path], *, start: dict[str, float] | None = None, fit_patients_per_arm: int = 150,
                   patients_per_arm: int | None = None, max_evaluations: int = 40, workers: int = 1,
                   free: tuple[tuple[str, float, float], ...] = CV_FREE_PARAMETERS, log: bool = True,
                   on_fold: Callable[[FoldResult], None] | None = None,
                   time_budget_s: float | None = None) -> CrossValidation:
    """Grouped K-fold cross-validation of the calibration over the trial files in `paths`.

    start: the full fit (default: the shipped calibration), which every fold's refit starts from;
    fit_patients_per_arm: patients per arm during the refits; patients_per_arm: for the predictions
    and the in-sample scores (default: each file's own size); max_evaluations: trial-set
    evaluations per refit; workers: folds solved in parallel processes; free: the parameters each refit
    moves (default CV_FREE_PARAMETERS); time_budget_s: wall-clock limit of each refit (it keeps its
    best point so far).
    """
    started = time.time()
    files = trial_files(paths)
    values = dict(start) if start is not None else shipped_values()
    params, pop = split_values(values)
    in_sample = validate(files, patients_per_arm=patients_per_arm, params=params, pop=pop, show_progress=False)
    jobs = [_FoldJob(tuple(files), tuple(fold), values, fit_patients_per_arm, patients_per_arm, max_evaluations, free,
                     time_budget_s) for fold in assign_folds(files)]
    result = CrossValidation(in_sample, [], patients_per_arm, fit_patients_per_arm, max_evaluations, free=free)
    if log:
        print(f"cross-validation: {len(jobs)} folds, {max_evaluations} evaluations each, {workers} worker(s)",
              file=sys.stderr, flush=True)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_FRESH_PROCESSES) as pool:
            outcomes = list(pool.map(_run_fold, jobs))
    else:
        outcomes = [_run_fold(job) for job in jobs]
    for number, fold in enumerate(outcomes, start=1):
        result.folds.append(fold)
        if log:
            passed = sum(c.passed for c in fold.checks)
            print(f"  fold {number}: {', '.join(fold.held_out)}: {passed} of {len(fold.checks)} predicted "
                  f"({fold.evaluations} evaluations, {fold.seconds:.0f} s)", file=sys.stderr, flush=True)
        if on_fold is not None:
            on_fold(fold)
    result.seconds = time.time() - started
    return result


def format_cross_validation(cv: CrossValidation) -> str:
    """Per-file in-sample and out-of-sample scores, then every target with both simulated values."""
    out_by_key = {(c.file, c.arm_label, c.visit, c.metric): c for c in cv.out_of_sample}
    size = "each file's own size" if cv.patients_per_arm is None else f"{cv.patients_per_arm} patients per arm"
    lines = [f"cross-validation: grouped {len(cv.folds)}-fold over files; refits of {len(cv.free)} parameters "
             f"({', '.join(name for name, _, _ in cv.free)}) from the full fit, at most {cv.max_evaluations} "
             f"evaluations each at {cv.fit_patients_per_arm} "
             f"patients per arm; scores at {size}; {cv.seconds:.0f} s", ""]
    for number, fold in enumerate(cv.folds, start=1):
        lines.append(f"fold {number} held out: {', '.join(fold.held_out)}")
    lines += ["", f"{'file':34s} {'targets':>7s} {'in-sample':>9s} {'out-of-sample':>13s}"]
    files = sorted({c.file for c in cv.in_sample})
    for name in files:
        inside = [c for c in cv.in_sample if c.file == name]
        outside = [c for c in cv.out_of_sample if c.file == name]
        out_text = f"{sum(c.passed for c in outside)}/{len(outside)}" if outside else "(training)"
        lines.append(f"{name[:34]:34s} {len(inside):7d} {sum(c.passed for c in inside):>5d}/{len(inside):<3d} {out_text:>13s}")
    held = {c.file for c in cv.out_of_sample}
    inside_held = [c for c in cv.in_sample if c.file in held]
    lines += ["", f"in-sample: {sum(c.passed for c in cv.in_sample)} of {len(cv.in_sample)} targets within tolerance "
              f"({sum(c.passed for c in inside_held)} of {len(inside_held)} on the cross-validated files)",
              f"out-of-sample: {sum(c.passed for c in cv.out_of_sample)} of {len(cv.out_of_sample)} targets within tolerance",
              "", f"{'file':30s} {'arm':28s} {'visit':6s} {'metric':22s} {'published':>9s} {'in':>8s} {'out':>8s} {'tol':>6s}"]

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3g}"

    for c in cv.in_sample:
        o = out_by_key.get((c.file, c.arm_label, c.visit, c.metric))
        out_text = "-" if o is None else f"{fmt(o.simulated)}{'' if o.passed else '*'}"
        lines.append(f"{c.file[:30]:30s} {c.arm_label[:28]:28s} {c.visit or '-':6s} {c.metric[:22]:22s} "
                     f"{c.published:9.3g} {fmt(c.simulated) + ('' if c.passed else '*'):>8s} {out_text:>8s} {c.tolerance:6.3g}")
    lines.append("(* outside tolerance)")
    return "\n".join(lines)
