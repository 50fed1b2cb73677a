"""Validation: run trial files and compare every [[published]] target with the simulation."""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ketasim.engines.solvers import SolverSettings
from ketasim.errors import KetasimInputError
from ketasim.model.drugs import register_compound_file
from ketasim.trials.endpoints import METRICS
from ketasim.trials.results import TrialResult
from ketasim.trials.trial import run_trial
from ketasim.trials.trial_spec import PublishedSize, PublishedTarget, TrialSpec, load_trial

#: worker processes start fresh (forkserver): forking a process that has threads (JAX, Dask) can deadlock
_FRESH_PROCESSES = multiprocessing.get_context("forkserver")


@dataclass(frozen=True)
class TargetCheck:
    """One published target against its simulated value (a difference `arm` minus `versus` when versus is set)."""

    file: str
    arm: str | list[str]
    visit: str | None
    metric: str
    published: float
    simulated: float | None
    tolerance: float
    source: str
    versus: str | list[str] | None = None
    #: 95% interval of `simulated` from sampling (patients per arm); None where the summary gives none
    simulated_ci: tuple[float, float] | None = None
    #: the file's indication (INDICATIONS, from its population kind): validate reports each in its own section
    indication: str = "depression"
    #: the published number of patients behind the value (the target's `n`; (arm, versus) for a difference);
    #: None where the file does not state it (then no prediction interval)
    published_n: PublishedSize | None = None

    @property
    def passed(self) -> bool:
        return self.simulated is not None and math.isfinite(self.simulated) and \
            abs(self.simulated - self.published) <= self.tolerance + 1e-12

    def to_json(self) -> dict:
        """One row of `validate --json`; "versus" only for a difference target."""
        out = {"file": self.file, "arm": self.arm, "visit": self.visit, "metric": self.metric,
               "published": self.published, "simulated": self.simulated, "tolerance": self.tolerance,
               "pass": self.passed, "source": self.source}
        if self.versus is not None:
            out["versus"] = self.versus
        out["simulated_ci"] = None if self.simulated_ci is None else list(self.simulated_ci)
        out["indication"] = self.indication
        return out

    @property
    def arm_label(self) -> str:
        """The arm(s) as one line: pooled arms joined by '+', a difference as 'A vs B'."""
        def label(arms: str | list[str]) -> str:
            return " + ".join(arms) if isinstance(arms, list) else arms

        return label(self.arm) if self.versus is None else f"{label(self.arm)} vs {label(self.versus)}"


#: population kinds that are an indication of their own (validate's sections); every other kind is "depression"
INDICATIONS: dict[str, str] = {"bipolar": "bipolar depression", "ptsd": "PTSD"}
DEPRESSION = "depression"


def indication(spec: TrialSpec) -> str:
    """The indication a trial file studies: its section in `validate` (INDICATIONS, else "depression")."""
    return INDICATIONS.get(spec.population.kind, DEPRESSION)


def shipped_calibration_dir() -> Path:
    """The copy of data/calibration shipped inside the package."""
    return Path(str(resources.files("ketasim") / "data" / "calibration"))


def shipped_negative_controls_dir() -> Path:
    """Validation-only trial files shipped inside the package (negative controls: drugs that failed in trials).

    `validate` scores them in their own table; calibration and cross-validation never read this folder."""
    return Path(str(resources.files("ketasim") / "data" / "negative_controls"))


def trial_files(paths: Iterable[str | Path]) -> list[Path]:
    """Trial files (*.toml) in the given folders or files, sorted by name within each folder."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(p.glob("*.toml"))
        elif p.is_file():
            out.append(p)
        else:
            raise KetasimInputError(f"{p}: no such file or folder")
    return out


def _per_arm(result: TrialResult, arms: tuple[str, ...], read: Callable[[dict], float | None]
             ) -> tuple[list[float], list[int]] | None:
    """`read(summary)` of each arm and its patient count; None where any arm has no value."""
    values, weights = [], []
    for arm in arms:
        summary = result.arms[arm].summary
        value = read(summary)
        if value is None:
            return None
        values.append(value)
        weights.append(summary["n"])
    return values, weights


def pooled_metric(result: TrialResult, arms: tuple[str, ...], metric: str, visit: str | None) -> float | None:
    """A metric (a name of the endpoint registry) of `arms` pooled by patient count; None where one is missing."""
    found = _per_arm(result, arms, lambda summary: METRICS[metric].value(summary, visit))
    if found is None:
        return None
    values, weights = found
    return sum(v * w for v, w in zip(values, weights, strict=True)) / sum(weights)


def pooled_standard_error(result: TrialResult, arms: tuple[str, ...], metric: str, visit: str | None) -> float | None:
    """Sampling standard error of `pooled_metric` (arms weighted by patient count, independent samples)."""
    found = _per_arm(result, arms, lambda summary: METRICS[metric].standard_error(summary, visit))
    if found is None or not sum(found[1]):
        return None
    errors, weights = found
    return math.sqrt(sum((w * e) ** 2 for w, e in zip(weights, errors, strict=True))) / sum(weights)


def simulated_interval(result: TrialResult, target: PublishedTarget, value: float | None) -> tuple[float, float] | None:
    """95% interval of a target's simulated value from sampling; None where no standard error is known."""
    if value is None:
        return None
    se = pooled_standard_error(result, target.arms, target.metric, target.visit)
    if se is not None and target.versus:
        other = pooled_standard_error(result, target.versus, target.metric, target.visit)
        se = None if other is None else math.hypot(se, other)
    return None if se is None else (value - 1.959964 * se, value + 1.959964 * se)


def simulated_metric(result: TrialResult, target: PublishedTarget) -> float | None:
    """The simulated value of a target: its arms pooled by patient count, minus the `versus` arms' if any."""
    value = pooled_metric(result, target.arms, target.metric, target.visit)
    if not target.versus or value is None:
        return value
    other = pooled_metric(result, target.versus, target.metric, target.visit)
    return None if other is None else value - other


def _arms(names: tuple[str, ...], pooled: bool) -> str | list[str]:
    return list(names) if pooled else names[0]


def check_targets(spec: TrialSpec, result: TrialResult, label: str) -> list[TargetCheck]:
    """Every [[published]] target of `spec` against `result`; `label` names the file."""
    out = []
    for t in spec.published:
        value = simulated_metric(result, t)
        out.append(TargetCheck(label, _arms(t.arms, t.pooled), t.visit, t.metric, t.value, value, t.tolerance, t.source,
                               _arms(t.versus, t.versus_pooled) if t.versus else None,
                               simulated_interval(result, t, value), indication(spec), t.n))
    return out


def _check_file(job: tuple[Path, int | None, str, dict[str, float] | None, dict[str, float] | None, SolverSettings, bool,
                           tuple[str, ...]]) -> list[TargetCheck]:
    path, patients_per_arm, engine, params, pop, settings, show_progress, compounds = job
    for compound in compounds:  # a worker process starts with the shipped drugs only
        register_compound_file(compound)
    spec = load_trial(path)
    if not spec.published:
        return []
    result = run_trial(spec, engine=engine, patients_per_arm=patients_per_arm, params=params, pop=pop,
                       settings=settings, show_progress=show_progress, keep_patients=False)
    return check_targets(spec, result, path.name)


def validate(paths: Iterable[str | Path] | None = None, *, patients_per_arm: int | None = None, engine: str = "fast",
             params: dict[str, float] | None = None, pop: dict[str, float] | None = None,
             settings: SolverSettings = SolverSettings(), show_progress: bool = True, workers: int = 1,
             compounds: Sequence[str | os.PathLike[str]] = ()) -> list[TargetCheck]:
    """Run every trial file and check its published targets.

    workers: files run in this many parallel processes (the numbers do not depend on it: every
    file is seeded by itself); compounds: compound files (docs/compound-file.md) registered first, here
    and in every worker, so trial files can dose them by name (as `ketasim validate --compound FILE`).
    """
    files = trial_files([shipped_calibration_dir()] if not paths else paths)
    for compound in compounds:
        register_compound_file(compound)
    loaded = tuple(os.path.abspath(c) for c in compounds)
    for path in files:  # every file parses before anything runs: one clear error, nothing half done
        load_trial(path)
    jobs = [(path, patients_per_arm, engine, params, pop, settings, show_progress and workers == 1, loaded)
            for path in files]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_FRESH_PROCESSES) as pool:
            results = list(pool.map(_check_file, jobs))
    else:
        results = [_check_file(job) for job in jobs]
    return [check for checks in results for check in checks]


def sections(checks: list[TargetCheck]) -> dict[str, list[TargetCheck]]:
    """The checks by indication: depression first, then the others in INDICATIONS order."""
    order = [DEPRESSION, *INDICATIONS.values()]
    found = sorted({c.indication for c in checks}, key=lambda name: (order.index(name) if name in order else len(order), name))
    return {name: [c for c in checks if c.indication == name] for name in found}


def section_scores(checks: list[TargetCheck]) -> list[dict[str, object]]:
    """Per indication: passed and total targets (`validate --json` "indications")."""
    return [{"indication": name, "passed": sum(c.passed for c in part), "total": len(part)}
            for name, part in sections(checks).items()]


def format_table(checks: list[TargetCheck], what: str = "targets") -> str:
    """A plain-text validation table with the summary line ("N of M `what` within tolerance"); the depression
    files first, then each other indication (bipolar depression, PTSD) in a section of its own with its own score."""
    header = f"{'file':34s} {'arm':30s} {'visit':7s} {'metric':28s} {'published':>9s} {'simulated':>9s} {'tol':>6s}  result"

    def rows(part: list[TargetCheck]) -> list[str]:
        out = []
        for c in part:
            sim = "n/a" if c.simulated is None else f"{c.simulated:.3g}"
            out.append(f"{c.file[:34]:34s} {c.arm_label[:30]:30s} {c.visit or '-':7s} {c.metric[:28]:28s} "
                       f"{c.published:9.3g} {sim:>9s} {c.tolerance:6.3g}  {'pass' if c.passed else 'MISS'}")
        return out

    parts = sections(checks)
    depression = parts.pop(DEPRESSION, [])
    lines = [header, "-" * len(header), *rows(depression)] if depression or not parts else []
    for name, part in parts.items():
        lines += ["", f"{name}:"] if lines else [f"{name}:"]
        lines += [header, "-" * len(header), *rows(part),
                  f"{sum(c.passed for c in part)} of {len(part)} {name} targets within tolerance"]
    passed = sum(c.passed for c in checks)
    lines.append(f"{passed} of {len(checks)} {what} within tolerance")
    return "\n".join(lines)


def format_negative_controls(checks: list[TargetCheck]) -> str:
    """The negative-control table (text): a heading, the targets, the summary line."""
    return ("negative controls (validation only, never fitted; a drug that failed in trials must come out null)\n"
            + format_table(checks, "negative-control targets"))


def negative_controls_json(checks: list[TargetCheck]) -> dict:
    """The `"negative_controls"` object of `validate --json`: every target, passed and total."""
    return {"targets": [c.to_json() for c in checks], "passed": sum(c.passed for c in checks), "total": len(checks)}
