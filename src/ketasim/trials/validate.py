"""Validation: run trial files and compare every [[published]] target with the simulation."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ketasim.engines.solvers import SolverSettings
from ketasim.errors import KetasimInputError
from ketasim.io.trial_spec import PublishedTarget, TrialSpec, load_trial
from ketasim.trials.endpoints import METRICS
from ketasim.trials.results import TrialResult
from ketasim.trials.trial import run_trial


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
        return out

    @property
    def arm_label(self) -> str:
        """The arm(s) as one line: pooled arms joined by '+', a difference as 'A vs B'."""
        def label(arms: str | list[str]) -> str:
            return " + ".join(arms) if isinstance(arms, list) else arms

        return label(self.arm) if self.versus is None else f"{label(self.arm)} vs {label(self.versus)}"


def shipped_calibration_dir() -> Path:
    """The copy of data/calibration shipped inside the package."""
    return Path(str(resources.files("ketasim") / "data" / "calibration"))


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


def pooled_metric(result: TrialResult, arms: tuple[str, ...], metric: str, visit: str | None) -> float | None:
    """A metric (a name of the endpoint registry) of `arms` pooled by patient count; None where one is missing."""
    values, weights = [], []
    for arm in arms:
        summary = result.arms[arm].summary
        value = METRICS[metric].value(summary, visit)
        if value is None:
            return None
        values.append(value)
        weights.append(summary["n"])
    return sum(v * w for v, w in zip(values, weights, strict=True)) / sum(weights)


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
    return [TargetCheck(label, _arms(t.arms, t.pooled), t.visit, t.metric, t.value, simulated_metric(result, t),
                        t.tolerance, t.source, _arms(t.versus, t.versus_pooled) if t.versus else None)
            for t in spec.published]


def validate(paths: Iterable[str | Path] | None = None, *, patients_per_arm: int | None = None, engine: str = "fast",
             params: dict[str, float] | None = None, pop: dict[str, float] | None = None,
             settings: SolverSettings = SolverSettings(), show_progress: bool = True) -> list[TargetCheck]:
    """Run every trial file and check its published targets."""
    files = trial_files([shipped_calibration_dir()] if not paths else paths)
    checks: list[TargetCheck] = []
    for path in files:
        spec = load_trial(path)
        if not spec.published:
            continue
        result = run_trial(spec, engine=engine, patients_per_arm=patients_per_arm, params=params, pop=pop,
                           settings=settings, show_progress=show_progress, keep_patients=False)
        checks += check_targets(spec, result, path.name)
    return checks


def format_table(checks: list[TargetCheck]) -> str:
    """A plain-text validation table with the summary line."""
    header = f"{'file':34s} {'arm':30s} {'visit':7s} {'metric':28s} {'published':>9s} {'simulated':>9s} {'tol':>6s}  result"
    lines = [header, "-" * len(header)]
    for c in checks:
        arm = c.arm_label
        sim = "n/a" if c.simulated is None else f"{c.simulated:.3g}"
        lines.append(f"{c.file[:34]:34s} {arm[:30]:30s} {c.visit or '-':7s} {c.metric[:28]:28s} {c.published:9.3g} "
                     f"{sim:>9s} {c.tolerance:6.3g}  {'pass' if c.passed else 'MISS'}")
    passed = sum(c.passed for c in checks)
    lines.append(f"{passed} of {len(checks)} targets within tolerance")
    return "\n".join(lines)
