"""95% prediction intervals per published target, beside the tolerance score (never instead of it).

Model: published = simulated + e_sim + e_pub + e_between, where e_sim is the simulation's own sampling
error (from `simulated_ci`), e_pub the published trial's sampling error at its own arm size, and
e_between the between-trial component, one SD `tau` per metric family estimated once from the
validated targets by the method of moments (DerSimonian-Laird style):

    tau^2 = max(0, mean(residual^2) - mean(within variance)),  residual = published - simulated.

A model bias is not separated out: it is part of the error the interval has to cover, so it goes into tau.
The interval is simulated +- 1.96 sqrt(within + tau^2). Families and their scales:

- "MADRS change" (change_mean, MADRS points, raw): the scale trials report and the tolerance reads; the
  published variance is SD^2 / n, SD the file's published change_sd of the same arm and visit, else 10.
- "SD of change" (change_sd, MADRS points, raw): SDs of 6-15 points sit far from 0, so a log scale would
  change little; the published variance is SD^2 / (2 (n - 1)).
- "rate" (every fraction: response, remission, relapse, SSI and CAPS-5 rates; raw fraction, interval
  clipped to 0..1): the tolerance's scale; a logit diverges at simulated rates near 0 or 1 that the set
  holds (saline 0.001, KetECT relapse 0.99); the published variance is p (1 - p) / n.
- any other metric (item10_*, ssi_mean, caps5_change_mean, vitals.*) is a family of its own with no
  published variance (no SD of its own scale): no interval. A family needs targets in MIN_FILES files.

In-sample coverage (tau from the same targets) is optimistic; leave-one-file-out coverage re-estimates
tau without the file's targets (no re-simulation). The published sizes are the targets' own `n` in the
trial files ([[published]] n, docs/trial-file.md; the shipped calibration files state each one from its source,
assumed where a comment there says so): a target without `n` gets no interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ketasim.trials.endpoints import METRICS
from ketasim.trials.trial_spec import PublishedSize
from ketasim.trials.validate import TargetCheck

Z95 = 1.959964
#: SD of MADRS change (points) where the file publishes none for the arm: within-arm SD near 10 in
#: 28 SSRI trials (Hengartner MP 2020, PLoS One; the ssri-vs-placebo-meta file's change_sd targets)
DEFAULT_CHANGE_SD = 10.0
#: a family gets intervals only with targets in at least this many files (so that leaving one out leaves two)
MIN_FILES = 3
#: family -> unit of tau and of the widths
FAMILY_UNITS = {"MADRS change": "MADRS points", "SD of change": "MADRS points", "rate": "fraction"}

#: published arm size (one arm, or a pool), or (arm, versus) for a difference: the trial file's `n`
Size = PublishedSize


def published_size(check: TargetCheck) -> Size | None:
    """The published trial's size behind a target (patients; a pair for a difference): the target's `n` in its
    trial file ([[published]] n); None where the file does not state it."""
    return check.published_n


def family(metric: str) -> str:
    """The metric family that shares one between-trial SD: "MADRS change", "SD of change", "rate", else the metric."""
    entry = METRICS.get(metric)
    if entry is not None and entry.unit == "fraction":
        return "rate"
    return {"change_mean": "MADRS change", "change_sd": "SD of change"}.get(metric, metric)


def _arms(arm: str | list[str]) -> str:
    return " + ".join(arm) if isinstance(arm, list) else arm


def _published_sd(file_checks: Iterable[TargetCheck], arm: str | list[str], visit: str | None) -> float:
    """The published SD of MADRS change (points) of `arm` at `visit` in the file, else DEFAULT_CHANGE_SD."""
    for c in file_checks:
        if c.metric == "change_sd" and c.versus is None and c.arm == arm and c.visit == visit:
            return c.published
    return DEFAULT_CHANGE_SD


def published_variance(check: TargetCheck, size: Size | None, file_checks: Iterable[TargetCheck] = ()) -> float | None:
    """Sampling variance of the published value at the published size (the metric's unit squared); None if unknown.

    file_checks: the file's other targets (a published change_sd gives the SD of a change_mean)."""
    if size is None:
        return None
    sizes = size if isinstance(size, tuple) else (size,)
    if min(sizes) < 2 or (check.versus is None) != (len(sizes) == 1):
        return None
    kind = family(check.metric)
    if kind == "rate":
        if check.versus is not None:  # the arms' own rates are not published: the largest binomial variance
            return sum(0.25 / n for n in sizes)
        n = sizes[0]
        p = min(max(check.published, 0.5 / n), 1.0 - 0.5 / n)
        return p * (1.0 - p) / n
    if check.metric == "change_sd" and check.versus is None:
        return check.published ** 2 / (2.0 * (sizes[0] - 1))
    if check.metric == "change_mean":
        arms = [check.arm] if check.versus is None else [check.arm, check.versus]
        checks = list(file_checks)
        return sum(_published_sd(checks, arm, check.visit) ** 2 / n for arm, n in zip(arms, sizes, strict=True))
    return None


def simulation_variance(check: TargetCheck) -> float:
    """Sampling variance of the simulated value, from its 95% interval (0 where it has none)."""
    if check.simulated_ci is None:
        return 0.0
    low, high = check.simulated_ci
    return ((high - low) / (2.0 * Z95)) ** 2


def between_trial_sd(residuals: Iterable[float], within: Iterable[float]) -> float:
    """Method-of-moments between-trial SD: sqrt(max(0, mean(residual^2) - mean(within variance)))."""
    r, w = list(residuals), list(within)
    if not r or len(r) != len(w):
        raise ValueError("between_trial_sd: needs as many within variances as residuals, at least one")
    return math.sqrt(max(0.0, sum(x * x for x in r) / len(r) - sum(w) / len(w)))


@dataclass(frozen=True)
class TargetInterval:
    """One target's 95% prediction interval, in-sample and leave-one-file-out (the metric's unit)."""

    check: TargetCheck
    family: str
    published_n: Size | None
    #: sqrt of the published trial's plus the simulation's sampling variance; None where unknown
    within_sd: float | None
    tau: float | None = None
    interval: tuple[float, float] | None = None
    loo_tau: float | None = None
    loo_interval: tuple[float, float] | None = None
    #: why there is no interval (None where there is one)
    note: str | None = None

    @property
    def covered(self) -> bool | None:
        return None if self.interval is None else self.interval[0] <= self.check.published <= self.interval[1]

    @property
    def loo_covered(self) -> bool | None:
        if self.loo_interval is None:
            return None
        return self.loo_interval[0] <= self.check.published <= self.loo_interval[1]

    def to_json(self) -> dict:
        c = self.check
        out = {"file": c.file, "arm": c.arm, "visit": c.visit, "metric": c.metric}
        if c.versus is not None:
            out["versus"] = c.versus
        n = self.published_n
        return out | {"family": self.family, "published": c.published, "simulated": c.simulated,
                      "published_n": list(n) if isinstance(n, tuple) else n, "within_sd": self.within_sd,
                      "tau": self.tau, "interval": None if self.interval is None else list(self.interval),
                      "covered": self.covered, "loo_tau": self.loo_tau,
                      "loo_interval": None if self.loo_interval is None else list(self.loo_interval),
                      "loo_covered": self.loo_covered, "note": self.note}


@dataclass(frozen=True)
class FamilySummary:
    """Coverage and mean width of one family's intervals (widths in FAMILY_UNITS, else the metric's unit)."""

    family: str
    unit: str
    files: int
    tau: float
    targets: list[TargetInterval] = field(default_factory=list)

    @property
    def covered(self) -> int:
        return sum(bool(t.covered) for t in self.targets)

    @property
    def loo_covered(self) -> int:
        return sum(bool(t.loo_covered) for t in self.targets)

    @property
    def mean_residual(self) -> float:
        """Mean of published - simulated: the model's bias in this family, part of tau."""
        return sum(t.check.published - (t.check.simulated or 0.0) for t in self.targets) / len(self.targets)

    @property
    def mean_width(self) -> float:
        return sum(t.interval[1] - t.interval[0] for t in self.targets if t.interval) / len(self.targets)

    @property
    def loo_mean_width(self) -> float:
        return sum(t.loo_interval[1] - t.loo_interval[0] for t in self.targets if t.loo_interval) / len(self.targets)

    def to_json(self) -> dict:
        n = len(self.targets)
        return {"family": self.family, "unit": self.unit, "targets": n, "files": self.files, "tau": self.tau,
                "mean_residual": self.mean_residual, "covered": self.covered, "coverage": self.covered / n,
                "loo_covered": self.loo_covered, "loo_coverage": self.loo_covered / n, "mean_width": self.mean_width,
                "loo_mean_width": self.loo_mean_width}


@dataclass(frozen=True)
class PredictionIntervals:
    """Every target's interval (or why it has none) and the per-family coverage."""

    targets: list[TargetInterval]
    families: list[FamilySummary]

    @property
    def with_interval(self) -> list[TargetInterval]:
        return [t for t in self.targets if t.interval is not None]

    def to_json(self) -> dict:
        """The `"prediction_intervals"` object of `validate --json`."""
        done = self.with_interval
        return {"level": 0.95,
                "method": "simulated +- 1.96 sqrt(published sampling variance + simulation sampling variance + tau^2); "
                          "tau per family: sqrt(max(0, mean(residual^2) - mean(within variance))); loo: tau "
                          "re-estimated without the target's file",
                "families": [f.to_json() for f in self.families],
                "covered": sum(bool(t.covered) for t in done), "loo_covered": sum(bool(t.loo_covered) for t in done),
                "total": len(done), "without_interval": len(self.targets) - len(done),
                "targets": [t.to_json() for t in self.targets]}


def _interval(check: TargetCheck, within: float, tau: float) -> tuple[float, float]:
    assert check.simulated is not None
    half = Z95 * math.sqrt(within + tau * tau)
    low, high = check.simulated - half, check.simulated + half
    if family(check.metric) == "rate":
        floor = -1.0 if check.versus is not None else 0.0
        low, high = max(low, floor), min(high, 1.0)
    return low, high


def prediction_intervals(checks: list[TargetCheck],
                         size_of: Callable[[TargetCheck], Size | None] = published_size) -> PredictionIntervals:
    """95% prediction intervals of every target, tau estimated per family from these targets.

    size_of: the published trial's size behind a target (default: the target's `n` in its trial file)."""
    by_file: dict[str, list[TargetCheck]] = {}
    for c in checks:
        by_file.setdefault(c.file, []).append(c)
    rows: list[tuple[TargetCheck, str, Size | None, float | None]] = []
    for c in checks:
        size = size_of(c)
        pub = published_variance(c, size, by_file[c.file])
        usable = c.simulated is not None and math.isfinite(c.simulated) and pub is not None
        rows.append((c, family(c.metric), size, pub + simulation_variance(c) if usable and pub is not None else None))
    usable: dict[str, list[tuple[str, float, float]]] = {}  # family -> (file, residual, within variance)
    for c, fam, _, within in rows:
        if within is not None and c.simulated is not None:
            usable.setdefault(fam, []).append((c.file, c.published - c.simulated, within))

    fits: dict[str, tuple[float, dict[str, float]]] = {}  # family -> (tau, file -> tau without the file)
    for fam, items in usable.items():
        files = sorted({f for f, _, _ in items})
        if len(files) < MIN_FILES:
            continue
        tau = between_trial_sd([r for _, r, _ in items], [w for _, _, w in items])
        loo = {f: between_trial_sd([r for g, r, _ in items if g != f], [w for g, _, w in items if g != f])
               for f in files}
        fits[fam] = (tau, loo)

    targets = []
    for c, fam, size, within in rows:
        if c.simulated is None or not math.isfinite(c.simulated):
            note = "no simulated value"
        elif within is None:
            note = "published sampling variance unknown (published n or SD)"
        elif fam not in fits:
            note = f"family {fam!r} has targets in fewer than {MIN_FILES} files"
        else:
            note = None
        if note is not None:
            targets.append(TargetInterval(c, fam, size, None if within is None else math.sqrt(within), note=note))
            continue
        assert within is not None
        tau, loo = fits[fam]
        targets.append(TargetInterval(c, fam, size, math.sqrt(within), tau, _interval(c, within, tau), loo[c.file],
                                      _interval(c, within, loo[c.file])))
    families = [FamilySummary(fam, FAMILY_UNITS.get(fam) or (METRICS[fam].unit if fam in METRICS else ""),
                              len({f for f, _, _ in usable[fam]}), tau,
                              [t for t in targets if t.family == fam and t.interval is not None])
                for fam, (tau, _) in fits.items()]
    order = list(FAMILY_UNITS)
    families.sort(key=lambda f: (order.index(f.family) if f.family in order else len(order), f.family))
    return PredictionIntervals(targets, families)


def format_prediction_intervals(result: PredictionIntervals) -> str:
    """The text section of `validate`: coverage and mean width per family (the intervals are in --json)."""
    lines = ["prediction intervals, 95% (not a pass rule): simulated +- 1.96 sqrt(sampling of both trials + tau^2), "
             "tau the between-trial SD"]
    if result.families:
        header = (f"{'family':14s} {'unit':13s} {'targets':>7s} {'files':>5s} {'tau':>7s} {'in-sample':>15s} "
                  f"{'leave-file-out':>15s} {'mean width (in / loo)':>22s}")
        lines += [header, "-" * len(header)]

        def share(k: int, n: int) -> str:
            return f"{k}/{n} ({100 * k / n:.0f}%)"

        for f in result.families:
            n = len(f.targets)
            width = f"{f.mean_width:.3g} / {f.loo_mean_width:.3g}"
            lines.append(f"{f.family[:14]:14s} {f.unit[:13]:13s} {n:7d} {f.files:5d} {f.tau:7.3g} "
                         f"{share(f.covered, n):>15s} {share(f.loo_covered, n):>15s} {width:>22s}")
        done = result.with_interval
        lines.append(f"{'all':14s} {'':13s} {len(done):7d} {'':5s} {'':7s} "
                     f"{share(sum(bool(t.covered) for t in done), len(done)):>15s} "
                     f"{share(sum(bool(t.loo_covered) for t in done), len(done)):>15s}")
    missing: dict[str, int] = {}
    for t in result.targets:
        if t.interval is None:
            missing[t.family] = missing.get(t.family, 0) + 1
    if missing:
        lines.append(f"no interval for {sum(missing.values())} targets (no published sampling variance, or a family "
                     f"in fewer than {MIN_FILES} files): " + ", ".join(f"{fam} {k}" for fam, k in missing.items()))
    return "\n".join(lines)
