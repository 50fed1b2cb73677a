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
from ketasim.trials.trial import TrialResult, run_trial


@dataclass(frozen=True)
class TargetCheck:
    """One published target against its simulated value."""

    file: str
    arm: str | list[str]
    visit: str | None
    metric: str
    published: float
    simulated: float | None
    tolerance: float
    source: str

    @property
    def passed(self) -> bool:
        return self.simulated is not None and math.isfinite(self.simulated) and \
            abs(self.simulated - self.published) <= self.tolerance + 1e-12

    def to_json(self) -> dict:
        return {"file": self.file, "arm": self.arm, "visit": self.visit, "metric": self.metric,
                "published": self.published, "simulated": self.simulated, "tolerance": self.tolerance,
                "pass": self.passed, "source": self.source}


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


def simulated_metric(result: TrialResult, target: PublishedTarget) -> float | None:
    """The simulated value of a target; pooled arms are combined by patient count."""
    values, weights = [], []
    for arm in target.arms:
        summary = result.arms[arm].summary
        if target.metric.startswith(("relapse.", "vitals.")):
            section, key = target.metric.split(".", 1)
            value = summary.get(section, {}).get(key)
        else:
            value = summary["visits"][target.visit][target.metric]
        if value is None:
            return None
        values.append(float(value))
        weights.append(summary["n"])
    return sum(v * w for v, w in zip(values, weights, strict=True)) / sum(weights)


def check_targets(spec: TrialSpec, result: TrialResult, label: str) -> list[TargetCheck]:
    return [TargetCheck(label, list(t.arms) if t.pooled else t.arms[0], t.visit, t.metric, t.value,
                        simulated_metric(result, t), t.tolerance, t.source) for t in spec.published]


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
        arm = " + ".join(c.arm) if isinstance(c.arm, list) else c.arm
        sim = "n/a" if c.simulated is None else f"{c.simulated:.3g}"
        lines.append(f"{c.file[:34]:34s} {arm[:30]:30s} {c.visit or '-':7s} {c.metric[:28]:28s} {c.published:9.3g} "
                     f"{sim:>9s} {c.tolerance:6.3g}  {'pass' if c.passed else 'MISS'}")
    passed = sum(c.passed for c in checks)
    lines.append(f"{passed} of {len(checks)} targets within tolerance")
    return "\n".join(lines)
