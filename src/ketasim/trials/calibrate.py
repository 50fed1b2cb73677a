"""Calibration: fit the few parameters the literature does not pin down to data/calibration only.

Reproducible: fixed trial seeds (common random numbers), a fixed patient count per arm and a
deterministic trust-region optimiser (COBYQA, scipy) on log-parameters within bounds, run to its own
convergence criterion, over every calibration file at once (one joint fit of FREE_PARAMETERS),
starting from the shipped values (or the code defaults);
the four vitals maxima are linear scales of their targets (closed form) before and after.

The loss follows the scoreboard: z = (simulated - published) / tolerance, and each target adds
log(1 + (z / 0.75)^4) / 2. It is nearly flat well inside the tolerance, steep around its edge, and
grows only logarithmically far outside it, so two targets that contradict each other cannot
drag the rest away. Afterwards each fitted parameter can be moved by +-10% to show which ones the
targets actually pin down (local sensitivity). `trials.cross_validate` refits on subsets of files.
`loss_gradient` gives the loss over the targets the JAX gradient reaches and its gradient in log-parameters
(`trials.gradient`), for a gradient-based optimiser; the fit itself does not use it.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds, minimize

from ketasim.engines.solvers import SolverSettings
from ketasim.errors import KetasimInputError
from ketasim.model.arm import DEFAULT_PARAMETERS, model_values
from ketasim.trials.calibration_set import FIT_SETTINGS, CalibrationSet
from ketasim.trials.population import POPULATION_PARAMETERS, population_values
from ketasim.trials.trial import run_trial
from ketasim.trials.trial_spec import load_trial
from ketasim.trials.validate import TargetCheck, check_targets, trial_files

#: (parameter, lower bound, upper bound); fitted on a log scale within the bounds. Every other
#: mechanism and population parameter is fixed: from the literature, assumed, or held at the value of
#: the first calibration (fitted to the 9 original files; see docs/validation-log.md).
FREE_PARAMETERS: tuple[tuple[str, float, float], ...] = (
    # non-specific improvement and its spread
    ("contact_improvement_max", 0.1, 0.8),
    ("contact_time_d", 2.0, 30.0),
    ("placebo_sd_log", 0.1, 2.0),
    # the natural course: spread of each patient's random path (its time scale and natural remission are fixed
    # from the literature, trials.natural_course)
    ("natural_course_sd", 0.02, 0.8),
    ("expectancy_active_exponent", 0.05, 2.0),
    # monoaminergic path (its synaptogenic rate is held: only the product with responsiveness is seen)
    ("monoaminergic_median", 0.05, 5.0),
    # fast plasticity
    ("synaptogenesis_rate_1_h", 0.05, 10.0),
    ("acute_relief_max", 0.05, 0.95),
    # synaptic proteins potentiate existing synapses before new spines form (Li 2010; Moda-Sava 2019)
    ("protein_relief_weight", 1.0, 100.0),
    ("drug_relief_max", 0.4, 1.0),
    ("plasticity_responder_fraction", 0.1, 0.95),
)
#: no longer fitted (stage 3): pyramidal_occupancy50 (anaesthetic-range silencing; the calibration set holds
#: no anaesthetic doses) and monoaminergic_synaptogenesis_rate_1_h (it multiplies monoaminergic_median)
VITALS_FILE = "vitals-and-dissociation.toml"
VITALS_SCALES = {"vitals.sbp_peak_change_mean": "sbp_max_mmhg", "vitals.dbp_peak_change_mean": "dbp_max_mmhg",
                 "vitals.hr_peak_change_mean": "hr_max_bpm", "vitals.cadss_peak_mean": "cadss_max"}


@dataclass
class CalibrationReport:
    """What calibration did: values before/after, targets before/after, sensitivities."""

    before: dict[str, float]
    after: dict[str, float]
    checks_before: list[TargetCheck]
    checks_after: list[TargetCheck]
    sensitivity: dict[str, float] = field(default_factory=dict)
    evaluations: int = 0
    seconds: float = 0.0
    all_values: dict[str, float] = field(default_factory=dict)
    #: the optimiser's own verdict: converged by its criterion (None: no fit ran), and its message
    converged: bool | None = None
    optimiser_message: str = ""
    #: loss of every fit evaluation, in order
    trace: list[float] = field(default_factory=list)

    def moved(self) -> dict[str, tuple[float, float]]:
        return {k: (self.before[k], v) for k, v in self.after.items() if not math.isclose(self.before[k], v)}


#: |z| (misfit in tolerances) at which a target's loss is log(2) / 2: the fit aims inside the tolerance
LOSS_SCALE = 0.75


def robust_loss(checks: list[TargetCheck]) -> float:
    """Sum of log(1 + (z / LOSS_SCALE)^4) / 2 over targets (~ log z far out); a missing value counts as z = 10."""
    total = 0.0
    for c in checks:
        z = 10.0 if c.simulated is None or not math.isfinite(c.simulated) else (c.simulated - c.published) / c.tolerance
        total += 0.5 * math.log1p((z / LOSS_SCALE) ** 4)
    return total


def robust_loss_gradient(checks: list[TargetCheck], gradients: list[np.ndarray]) -> tuple[float, np.ndarray]:
    """`robust_loss` of `checks` and its gradient, given each target's d simulated / d x (k,): with z = (simulated -
    published) / tolerance, d/dz of log(1 + (z / s)^4) / 2 is 2 z^3 / (s^4 + z^4). A missing value adds no slope."""
    total = robust_loss(checks)
    gradient = np.zeros(len(gradients[0]) if gradients else 0)
    for c, g in zip(checks, gradients, strict=True):
        if c.simulated is not None and math.isfinite(c.simulated):
            z = (c.simulated - c.published) / c.tolerance
            gradient = gradient + 2.0 * z**3 / (LOSS_SCALE**4 + z**4) / c.tolerance * np.asarray(g)
    return total, gradient


def loss_gradient(files: list[str | Path], patients_per_arm: int, values: dict[str, float] | None = None,
                  names: tuple[str, ...] | None = None, *, settings: SolverSettings = FIT_SETTINGS, daily: bool = False,
                  device: str = "auto") -> tuple[float, np.ndarray, list[TargetCheck]]:
    """For a gradient-based optimiser (`calibrate` itself stays with COBYQA): the robust loss over the targets the
    JAX gradient reaches (`trials.gradient.target_gradients`: change_mean, response_rate and remission_rate at a
    visit, about two thirds of the calibration targets), its gradient in log(names) (k,), and those checks.

    files: trial files (or folders); values: mechanism and population values (None: shipped); names: mechanism
    parameters (default: the mechanism parameters of FREE_PARAMETERS; population parameters act through the
    patient draws and are not differentiated). Each file's arms are solved at `patients_per_arm`, screening at
    `values` (`trials.gradient.arm_endpoint_gradient`); the first call compiles once per arm shape (tens of seconds each).
    """
    from ketasim.trials.gradient import GRADIENT_METRICS, arm_endpoint_gradient, target_gradients

    values = shipped_values() if values is None else values
    names = tuple(n for n, _, _ in FREE_PARAMETERS if n in DEFAULT_PARAMETERS) if names is None else tuple(names)
    model, pop = _split(values)
    params, population = model_values(model), population_values(pop)
    checks, gradients = [], []
    for path in trial_files(files):
        spec = load_trial(path)
        wanted = {a for t in spec.published if t.metric in GRADIENT_METRICS and t.visit is not None
                  for a in (*t.arms, *t.versus)}
        arms = {arm.name: arm_endpoint_gradient(spec, i, patients_per_arm, names, params=params, pop=population,
                                                settings=settings, daily=daily, device=device)
                for i, arm in enumerate(spec.arms) if arm.name in wanted}
        for check, gradient in target_gradients(spec, path.name, arms):
            checks.append(check)
            gradients.append(gradient)
    total, gradient = robust_loss_gradient(checks, gradients)
    return total, gradient if gradients else np.zeros(len(names)), checks


def split_values(values: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """Mechanism and population parameters of `values` (the `params` and `pop` of run_trial)."""
    return _split(values)


def _split(values: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    model = {k: v for k, v in values.items() if k in DEFAULT_PARAMETERS}
    pop = {k: v for k, v in values.items() if k in POPULATION_PARAMETERS}
    return model, pop


class _BudgetSpent(Exception):
    """A fitting stage used up its share of --max-evaluations."""


class _Evaluator:
    """Evaluations of the trial set, counted. fast (default): a prepared CalibrationSet, exact (targets
    equal to run_trial's) for the checks before and after and the vitals scaling, and FIT_SETTINGS with
    daily=False for the fit and the sensitivity; fast=False: run_trial file by file (the old path)."""

    def __init__(self, files: list[Path], patients_per_arm: int, log: bool, fast: bool = True, workers: int = 1) -> None:
        self.specs = [(path.name, load_trial(path)) for path in files]
        self.n = patients_per_arm
        self.count = 0
        self.log = log
        self.stop_at: int | None = None  # raise _BudgetSpent instead of running evaluation number stop_at + 1
        self.exact = CalibrationSet(self.specs, patients_per_arm) if fast else None
        self.fit = CalibrationSet(self.specs, patients_per_arm, FIT_SETTINGS, daily=False, workers=workers,
                                  expected_rates=True) \
            if fast else None

    def close(self) -> None:
        if self.fit is not None:
            self.fit.close()

    def checks(self, values: dict[str, float], names: tuple[str, ...] | None = None, exact: bool = False
               ) -> list[TargetCheck]:
        """Targets of every file (or those in `names`); exact: as run_trial gives them (else the fit's path)."""
        if self.stop_at is not None and self.count >= self.stop_at:
            raise _BudgetSpent
        model, pop = _split(values)
        prepared = self.exact if exact else self.fit
        if prepared is not None:
            out = prepared.checks(model, pop, names)
        else:
            out = []
            for label, spec in self.specs:
                if names is not None and label not in names:
                    continue
                result = run_trial(spec, patients_per_arm=self.n, params=model, pop=pop, show_progress=False,
                                   keep_patients=False)
                out += check_targets(spec, result, label)
        self.count += 1
        return out


class _OutOfTime(Exception):
    """The fit's wall-clock budget is spent: keep the best point so far."""


#: the optimiser: COBYQA (Powell's derivative-free trust-region method with quadratic models, Ragonneau TM
#: & Zhang Z 2023, scipy), on log-parameters within bounds; it has converged when its trust region has
#: shrunk from FIT_START_RADIUS to FIT_FINAL_RADIUS (log units: 0.3 ~ 35%, 0.03 ~ 3% of a value, about the
#: resolution that 150 patients per arm give)
FIT_START_RADIUS = 0.3
FIT_FINAL_RADIUS = 0.03


@dataclass
class FitOutcome:
    """What one fit stage did: the values, whether the optimiser converged by its own criterion, the trace."""

    values: dict[str, float]
    converged: bool
    message: str
    trace: list[float]


def _fit_stage(evaluator: _Evaluator, values: dict[str, float], stage: tuple[tuple[str, float, float], ...],
               files: tuple[str, ...] | None, max_evaluations: int, deadline: float | None = None,
               checkpoint: Path | None = None) -> FitOutcome:
    """COBYQA on log-parameters within bounds, run to its own convergence criterion (or the budget).

    deadline: time.time() after which the fit stops at its best point so far; checkpoint: a JSON file
    rewritten with the best values after every improvement (a long fit can be stopped and resumed).
    """
    names = [s[0] for s in stage]
    lo = np.log([s[1] for s in stage])
    hi = np.log([s[2] for s in stage])
    x0 = np.clip(np.log([values[n] for n in names]), lo, hi)
    best = {"loss": math.inf, "x": x0}
    trace: list[float] = []

    def loss(x: np.ndarray) -> float:
        if deadline is not None and time.time() > deadline:
            raise _OutOfTime
        x = np.clip(x, lo, hi)
        trial = dict(values) | {n: float(np.exp(v)) for n, v in zip(names, x, strict=True)}
        value = robust_loss(evaluator.checks(trial, files))
        trace.append(value)
        if value < best["loss"]:
            best.update(loss=value, x=x.copy())
            if checkpoint is not None:
                checkpoint.write_text(json.dumps({"loss": value, "values": trial}, indent=1))
        if evaluator.log:
            print(f"  [{evaluator.count:3d}] loss {value:8.3f} (best {best['loss']:8.3f})", file=sys.stderr, flush=True)
        return value

    evaluator.stop_at = evaluator.count + max_evaluations
    converged, message = False, ""
    try:
        result = minimize(loss, x0, method="COBYQA", bounds=Bounds(lo, hi),
                          options={"maxfev": max_evaluations, "initial_tr_radius": FIT_START_RADIUS,
                                   "final_tr_radius": FIT_FINAL_RADIUS})
        converged, message = bool(result.success), str(result.message)
    except _BudgetSpent:
        message = f"stopped: evaluation budget ({max_evaluations}) spent before convergence"
    except _OutOfTime:
        message = "stopped: out of time before convergence (best point so far kept)"
    finally:
        evaluator.stop_at = None
    if evaluator.log:
        print(f"  {message}", file=sys.stderr, flush=True)
    fitted = {n: float(np.exp(v)) for n, v in zip(names, best["x"], strict=True)}
    if evaluator.log:
        print("  fitted: " + ", ".join(f"{k}={v:.4g}" for k, v in fitted.items()), file=sys.stderr, flush=True)
    return FitOutcome(dict(values) | fitted, converged, message, trace)


def _scale_vitals(evaluator: _Evaluator, values: dict[str, float]) -> dict[str, float]:
    """Mean peak rises are proportional to their maxima: rescale each to its target."""
    checks = evaluator.checks(values, (VITALS_FILE,), exact=True)
    out = dict(values)
    for c in checks:
        name = VITALS_SCALES.get(c.metric)
        if name and c.simulated:
            out[name] = values[name] * c.published / c.simulated
    return out


#: evaluations calibrate() always runs: targets before, vitals scaling before and after fitting, targets after
FIXED_EVALUATIONS = 4


def calibrate(paths: list[str | Path], *, patients_per_arm: int = 200, max_evaluations: int = 120,
              log: bool = True, start: dict[str, float] | None = None,
              free: tuple[tuple[str, float, float], ...] = FREE_PARAMETERS, sensitivity: bool = True,
              time_budget_s: float | None = None, checkpoint: Path | None = None, fast: bool = True,
              workers: int = 1) -> CalibrationReport:
    """Fit `free` (default FREE_PARAMETERS) to the trial files in `paths` (data/calibration only), jointly.

    start: starting values (default: the shipped calibration, else the code defaults).
    max_evaluations bounds every trial-set evaluation: FIXED_EVALUATIONS, the +-10% sensitivity
    (1 + 2 per parameter, when `sensitivity` and the budget can hold it besides 2 fit evaluations)
    and the fit, which gets the rest. patients_per_arm: 200 by default (rates then carry about 0.03
    sampling error; common random numbers keep the loss smooth). time_budget_s: stop the fit after
    this many seconds at its best point so far; checkpoint: a JSON file holding the best values found so far.
    fast (default): evaluate through a prepared CalibrationSet (targets before and after, and the
    vitals scaling, exactly as run_trial; the fit and the sensitivity with FIT_SETTINGS and only the
    times the endpoints read), in `workers` processes during the fit; fast=False: run_trial file by file.
    """
    if max_evaluations < FIXED_EVALUATIONS:
        raise KetasimInputError(f"max_evaluations: at least {FIXED_EVALUATIONS} (targets before and after, vitals "
                                f"scaling twice), got {max_evaluations}")
    started = time.time()
    files = trial_files(paths)
    evaluator = _Evaluator(files, patients_per_arm, log, fast, workers)
    try:
        return _calibrate(evaluator, files, started, max_evaluations, log, start, free, sensitivity, time_budget_s,
                          checkpoint)
    finally:
        evaluator.close()


def _calibrate(evaluator: _Evaluator, files: list[Path], started: float, max_evaluations: int, log: bool,
               start: dict[str, float] | None, free: tuple[tuple[str, float, float], ...], sensitivity: bool,
               time_budget_s: float | None, checkpoint: Path | None) -> CalibrationReport:
    values = dict(start) if start is not None else shipped_values()
    checks_before = evaluator.checks(values, exact=True)
    labels = {p.name for p in files}
    if VITALS_FILE in labels:
        values = _scale_vitals(evaluator, values)
    fit_files = tuple(sorted(labels - {VITALS_FILE}))
    sensitivity_cost = 1 + 2 * len(free)
    with_sensitivity = sensitivity and bool(fit_files) and max_evaluations - FIXED_EVALUATIONS - sensitivity_cost >= 2
    fit_budget = max_evaluations - FIXED_EVALUATIONS - (sensitivity_cost if with_sensitivity else 0)
    if log:
        print(f"joint fit of {len(free)} parameters to {len(fit_files)} files (at most {fit_budget} evaluations)",
              file=sys.stderr)
    outcome = None
    if fit_files and fit_budget > 0:
        deadline = None if time_budget_s is None else started + time_budget_s
        outcome = _fit_stage(evaluator, values, free, fit_files, fit_budget, deadline, checkpoint)
        values = outcome.values
    if VITALS_FILE in labels:
        values = _scale_vitals(evaluator, values)
    checks_after = evaluator.checks(values, exact=True)
    fitted = [s[0] for s in free] + (list(VITALS_SCALES.values()) if VITALS_FILE in labels else [])
    before = dict(start) if start is not None else shipped_values()
    report = CalibrationReport({k: before[k] for k in fitted}, {k: values[k] for k in fitted}, checks_before,
                               checks_after, all_values=values)
    if outcome is not None:
        report.converged, report.optimiser_message, report.trace = outcome.converged, outcome.message, outcome.trace
    if with_sensitivity:
        base = robust_loss(evaluator.checks(values, fit_files))
        for name, _, _ in free:
            deltas = [robust_loss(evaluator.checks(values | {name: values[name] * factor}, fit_files)) - base
                      for factor in (0.9, 1.1)]
            report.sensitivity[name] = min(deltas)
    report.evaluations = evaluator.count
    report.seconds = time.time() - started
    return report


def shipped_calibrated_names() -> set[str]:
    """Names of the parameters whose values come from the shipped calibrated.toml."""
    import tomllib
    from importlib import resources

    path = resources.files("ketasim") / "data" / "calibrated.toml"
    if not path.is_file():
        return set()
    data = tomllib.loads(path.read_text())
    return set(data.get("model", {})) | set(data.get("population", {}))


def read_parameter_file(path: str | Path) -> tuple[dict[str, float], dict[str, float]]:
    """Model and population values ({name: value}) of a parameter file in the form `ketasim calibrate --write`
    writes (TOML: an optional `source` line, a `[model]` and a `[population]` table of numbers); every name must be
    a known parameter and every value within its valid range. Raises KetasimInputError naming the file and entry."""
    import tomllib

    from ketasim.model.parameters import check_overrides

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KetasimInputError(f"{path}: no such parameter file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KetasimInputError(f"{path}: cannot read the parameter file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise KetasimInputError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(data) - {"source", "model", "population"})
    if unknown:
        raise KetasimInputError(f"{path}: unknown entry {unknown[0]!r}; expected a [model] and a [population] table "
                                "(the form `ketasim calibrate --write` writes)")
    model = check_overrides(data.get("model", {}), DEFAULT_PARAMETERS, f"{path} [model]", "model parameter")
    population = check_overrides(data.get("population", {}), POPULATION_PARAMETERS, f"{path} [population]",
                                 "population parameter")
    if not model and not population:
        raise KetasimInputError(f"{path}: no parameter in [model] or [population]")
    return model, population


def shipped_values() -> dict[str, float]:
    """Every mechanism and population parameter at its shipped (calibrated or fixed) value."""
    from ketasim.model.arm import calibrated_parameters
    from ketasim.trials.population import calibrated_population

    return {k: p.value for k, p in {**calibrated_parameters(), **calibrated_population()}.items()}


def write_calibrated(report: CalibrationReport, path: Path, source: str) -> None:
    """Write the calibrated parameter file (TOML) shipped in the package."""
    # the fitted values, and the values of the previous calibration that this fit held fixed
    carried = {k: v for k, v in report.all_values.items() if k in shipped_calibrated_names()}
    model, pop = _split(carried | report.after)
    lines = ["# Written by `ketasim calibrate`; do not edit by hand.", f'source = "{source}"', "", "[model]"]
    lines += [f"{k} = {v!r}" for k, v in sorted(model.items())]
    lines += ["", "[population]"] + [f"{k} = {v!r}" for k, v in sorted(pop.items())]
    path.write_text("\n".join(lines) + "\n")


def format_report(report: CalibrationReport) -> str:
    """Plain-text calibration report: parameters moved, identifiability, targets before/after."""
    verdict = {None: "no fit ran", True: "converged", False: "NOT converged"}[report.converged]
    out = [f"calibration: {report.evaluations} trial-set evaluations in {report.seconds:.0f} s",
           f"optimiser (COBYQA, trust region {FIT_START_RADIUS} -> {FIT_FINAL_RADIUS} log units): {verdict}"
           + (f": {report.optimiser_message}" if report.optimiser_message else ""), ""]
    if report.trace:
        out += ["trace (fit evaluation: loss, best so far)"]
        step = max(1, len(report.trace) // 20)
        best = math.inf
        for i, value in enumerate(report.trace):
            best = min(best, value)
            if i % step == 0 or i == len(report.trace) - 1:
                out.append(f"  {i + 1:4d}: {value:9.3f} {best:9.3f}")
        out.append("")
    out += ["identifiable? (likelihood slice, others fixed): the loss rises by > 0.5 when the value moves 10% "
            "either way = yes, > 0.05 = weakly, else no",
            f"{'parameter':40s} {'before':>10s} {'after':>10s} {'loss +-10%':>11s}  identifiable?"]
    for name, after in report.after.items():
        sens = report.sensitivity.get(name)
        ident = "-" if sens is None else ("yes" if sens > 0.5 else "weakly" if sens > 0.05 else "no")
        out.append(f"{name:40s} {report.before[name]:10.4g} {after:10.4g} "
                   f"{'' if sens is None else f'{sens:11.3f}':>11s}  {ident}")
    out += ["", f"{'target':70s} {'published':>9s} {'before':>8s} {'after':>8s} {'tol':>6s}"]
    for b, a in zip(report.checks_before, report.checks_after, strict=True):
        label = f"{a.file}: {a.arm_label} {a.visit or ''} {a.metric}"
        fmt = (lambda v: "n/a" if v is None else f"{v:.3g}")  # noqa: E731
        out.append(f"{label[:70]:70s} {a.published:9.3g} {fmt(b.simulated):>8s} {fmt(a.simulated):>8s} "
                   f"{a.tolerance:6.3g} {'pass' if a.passed else 'MISS'}")
    passed_b = sum(c.passed for c in report.checks_before)
    passed_a = sum(c.passed for c in report.checks_after)
    out.append(f"targets within tolerance: {passed_b} before, {passed_a} after, of {len(report.checks_after)}")
    return "\n".join(out)
