"""Drug minus control at each visit: what a trial designer reads off a trial, checked beside the arm targets.

Both arms of a trial can pass their targets while the difference between them is wrong (two misses inside
their tolerances, in opposite directions). Wherever a file publishes the same metric at the same visit for a
drug arm and a control arm, the published difference is set against the simulated one. A control arm gives
no antidepressant (NMDA or SERT acting) drug beyond those every arm of the trial shares, so saline, a placebo
spray on top of a new oral antidepressant shared by both arms, and midazolam are controls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ketasim.model.drugs import DRUGS
from ketasim.trials.trial_spec import TrialSpec, load_trial
from ketasim.trials.validate import TargetCheck, shipped_calibration_dir, trial_files

#: metrics whose difference between arms trials report (MADRS change, response and remission rates)
DIFFERENCE_METRICS = ("change_mean", "response_rate", "remission_rate")
#: drug actions that make an arm a study-drug arm rather than a control
ANTIDEPRESSANT_ACTIONS = ("nmda", "ssri")


@dataclass(frozen=True)
class ArmDifference:
    """Drug arm minus control arm, one metric at one visit: published and simulated (MADRS points or rate)."""

    file: str
    drug_arm: str
    control_arm: str
    visit: str
    metric: str
    published: float
    simulated: float | None
    #: the larger of the two arms' tolerances: where the difference could lie if both arms passed
    tolerance: float

    @property
    def error(self) -> float | None:
        """Simulated minus published difference (None where the model gives no value)."""
        return None if self.simulated is None else self.simulated - self.published

    def to_json(self) -> dict:
        return {"file": self.file, "arm": self.drug_arm, "versus": self.control_arm, "visit": self.visit,
                "metric": self.metric, "published": self.published, "simulated": self.simulated,
                "error": self.error, "tolerance": self.tolerance}


def control_arms(spec: TrialSpec) -> set[str]:
    """Names of the arms that give no antidepressant drug beyond those every arm shares."""
    drugs = [{drug for drug, _ in arm.regimen.drugs} for arm in spec.arms]
    shared = set.intersection(*drugs) if drugs else set()
    return {arm.name for arm, given in zip(spec.arms, drugs, strict=True)
            if not any(DRUGS[d].action in ANTIDEPRESSANT_ACTIONS for d in given - shared)}


def arm_differences(spec: TrialSpec, checks: list[TargetCheck]) -> list[ArmDifference]:
    """Every drug-minus-control pair the file's single-arm targets allow (same metric, same visit)."""
    controls = control_arms(spec)
    single = {(c.arm, c.visit, c.metric): c for c in checks
              if isinstance(c.arm, str) and c.versus is None and c.visit and c.metric in DIFFERENCE_METRICS}
    out = []
    for (arm, visit, metric), drug in single.items():
        if arm in controls:
            continue
        for control in sorted(controls):
            ref = single.get((control, visit, metric))
            if ref is None:
                continue
            simulated = None if drug.simulated is None or ref.simulated is None else drug.simulated - ref.simulated
            out.append(ArmDifference(drug.file, arm, control, visit, metric, drug.published - ref.published,
                                     simulated, max(drug.tolerance, ref.tolerance)))
    return out


def format_differences(differences: list[ArmDifference]) -> str:
    """A plain-text table of drug-minus-control differences (published, simulated, error)."""
    header = (f"{'file':30s} {'drug arm - control arm':44s} {'visit':6s} {'metric':15s} {'published':>9s} "
              f"{'simulated':>9s} {'error':>7s}")
    lines = ["drug minus control, where a file publishes both arms (not a pass rule: read it beside the targets)",
             header, "-" * len(header)]
    for d in differences:
        sim = "n/a" if d.simulated is None else f"{d.simulated:.3g}"
        err = "n/a" if d.error is None else f"{d.error:+.3g}"
        pair = f"{d.drug_arm} - {d.control_arm}"
        lines.append(f"{d.file[:30]:30s} {pair[:44]:44s} {d.visit:6s} {d.metric:15s} {d.published:9.3g} {sim:>9s} "
                     f"{err:>7s}")
    return "\n".join(lines)


def all_differences(paths: list[str | Path] | None, checks: list[TargetCheck]) -> list[ArmDifference]:
    """Drug-minus-control differences of every trial file in `paths` (None: the shipped calibration set)."""
    files = trial_files([shipped_calibration_dir()] if not paths else paths)
    return [d for path in files for d in arm_differences(load_trial(path), [c for c in checks if c.file == path.name])]
