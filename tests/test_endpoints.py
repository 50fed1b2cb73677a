"""The endpoint registry: one definition per metric drives the JSON, the table, the Parquet columns and validate."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import ketasim as ks
from ketasim.apps.report import format_trial, patients_frame
from ketasim.trials import endpoints
from ketasim.trials.endpoints import (
    METRICS,
    RELAPSE_KEYS,
    VISIT_METRICS,
    VISIT_OUTPUTS,
    VITALS_METRICS,
    VisitMetric,
    VisitValues,
    mean_estimate,
    visit_summary,
)
from ketasim.trials.outcomes import wilson_interval
from ketasim.trials.validate import check_targets

TRIAL = """\
name = "endpoints: ketamine vs saline in MDD"
seed = 13
patients_per_arm = 12

[population]
kind = "mdd"
baseline_madrs = [20, 60]

[[arms]]
name = "ketamine"
doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = "0 d" } ]

[[arms]]
name = "saline"
doses = [ { drug = "saline", route = "iv", amount = "0 mg", infusion = "40 min", at = "0 d" } ]

[endpoints]
visits = ["4 h", "1 d"]
response = "50%"
remission = 12
vitals = true

[endpoints.relapse]
among = "remitters"
at = "1 d"
madrs_at_least = 20
until = "22 d"
assess_every = "1 wk"
"""


def _target(metric: str, visit: str | None, versus: str | None = None) -> str:
    lines = ["[[published]]", 'arm = "ketamine"', f'metric = "{metric}"', "value = 0.1", "tolerance = 1.0",
             'source = "test"']
    if visit is not None:
        lines.insert(2, f'visit = "{visit}"')
    if versus is not None:
        lines.insert(2, f'versus = "{versus}"')
    return "\n".join(lines) + "\n"


#: the metrics a trial of any population kind may name
ANY_KIND = {name: m for name, m in METRICS.items() if not m.kinds}
ANY_KIND_VISIT = [m for m in VISIT_METRICS if not m.kinds]


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> ks.TrialResult:
    """The trial with a target for every registered metric, and one difference target per visit metric."""
    # (metrics that need another population kind, CAPS-5 for "ptsd", are tested in tests/test_ptsd.py)
    targets = [_target(name, "1 d" if m.at_visit else None) for name, m in ANY_KIND.items()]
    targets += [_target(m.name, "1 d", versus="saline") for m in VISIT_METRICS if not m.kinds]
    path = tmp_path_factory.mktemp("endpoints") / "trial.toml"
    path.write_text(TRIAL + "\n" + "\n".join(targets))
    return ks.run_trial(ks.load_trial(path), show_progress=False)


def test_every_metric_reaches_json_table_and_parquet(trial: ks.TrialResult) -> None:
    out = trial.to_json()["arms"]["ketamine"]
    for visit in ("4 h", "1 d"):
        expected = [m.name for m in VISIT_METRICS] + [f"{m.name}_ci" for m in VISIT_METRICS if m.with_ci]
        assert list(out["visits"][visit]) == expected
    assert list(out["vitals"]) == [m.name for m in VITALS_METRICS]
    assert set(RELAPSE_KEYS) <= set(out["relapse"])
    header = format_trial(trial).splitlines()[3]
    assert all(m.label in header for m in VISIT_METRICS if m.label)
    columns = list(patients_frame(trial).columns)
    assert [c for c in columns if c.endswith(("_4_h", "_1_d"))] == [f"{o.name}_{v}" for o in VISIT_OUTPUTS
                                                                  for v in ("4_h", "1_d")]
    assert [o.column("1 d") for o in VISIT_OUTPUTS] == [f"{o.name}_1_d" for o in VISIT_OUTPUTS]


def test_validate_reads_every_metric_and_differences(trial: ks.TrialResult) -> None:
    checks = check_targets(trial.spec, trial, "trial.toml")
    assert len(checks) == len(ANY_KIND) + len(ANY_KIND_VISIT)
    arms = trial.to_json()["arms"]
    for check in checks[:len(ANY_KIND)]:
        assert check.versus is None and "versus" not in check.to_json()
        if check.metric != "relapse.median_days":  # null when fewer than half relapse
            assert check.simulated is not None and math.isfinite(check.simulated), check.metric
    for check in checks[len(ANY_KIND):]:
        ket, sal = (arms[arm]["visits"]["1 d"][check.metric] for arm in ("ketamine", "saline"))
        assert check.simulated == pytest.approx(ket - sal, rel=1e-12, abs=1e-12)
        assert check.to_json()["versus"] == "saline" and check.arm_label == "ketamine vs saline"
    # ketamine lowers MADRS at one day more than saline does
    assert next(c for c in checks[len(ANY_KIND):] if c.metric == "change_mean").simulated < 0


def test_relapse_checks_follow_assess_every(trial: ks.TrialResult) -> None:
    arm = trial.arms["ketamine"]
    assert list(arm.relapse_days) == [7.0, 14.0, 21.0]
    assert arm.relapse_assessments.shape == (3, arm.baseline.size)
    median = arm.summary["relapse"]["median_days"]
    assert median is None or median in (7.0, 14.0, 21.0)


def test_visit_statistics() -> None:
    baseline = np.array([30.0, 30.0, 30.0, 30.0, 30.0])
    madrs = np.array([10.0, 15.0, 16.0, 30.0, np.nan])  # the last patient was not assessed
    s = visit_summary(VisitValues({"madrs": baseline}, {"madrs": madrs}, 0.5, 12.0))
    assert s["madrs_mean"] == pytest.approx(17.75) and s["change_mean"] == pytest.approx(-12.25)
    assert s["response_rate"] == 0.5 and s["remission_rate"] == 0.25
    assert s["change_sd"] == pytest.approx(np.std([-20.0, -15.0, -14.0, 0.0], ddof=1))
    lo, hi = s["change_mean_ci"]
    assert lo < -12.25 < hi
    assert s["response_rate_ci"] == list(wilson_interval(2, 4))
    empty = visit_summary(VisitValues({"madrs": baseline[:0]}, {"madrs": madrs[:0]}, 0.5, 12.0))
    assert all(math.isnan(v) for k, v in empty.items() if not k.endswith("_ci"))


def test_a_new_visit_metric_is_one_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A metric added to VISIT_METRICS appears in every visit's JSON with its interval; NaN patients are left out."""
    severe = VisitMetric("madrs_at_least_30_rate", "fraction", lambda v: (v.madrs >= 30).astype(float),
                         endpoints.proportion_estimate, with_ci=True, label="severe")
    monkeypatch.setattr(endpoints, "VISIT_METRICS", (*VISIT_METRICS, severe))
    values = VisitValues({"madrs": np.full(4, 30.0)}, {"madrs": np.array([10.0, 35.0, 30.0, 20.0])}, 0.5, 12.0)
    s = visit_summary(values)
    assert s["madrs_at_least_30_rate"] == 0.5 and len(s["madrs_at_least_30_rate_ci"]) == 2
    halves = VisitMetric("half", "MADRS points", lambda v: np.where(v.madrs > 15, v.madrs / 2, np.nan), mean_estimate)
    assert halves.estimate(values).value == pytest.approx((35.0 + 30.0 + 20.0) / 6)


def test_an_output_the_model_lacks_is_null(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A new per-patient output (optional: the model may not have it) and a metric on it: null, not an error."""
    item10 = endpoints.VisitOutput("item10", "points (0-6)", optional=True)
    mean = VisitMetric("item10_change_mean", "points", lambda v: v.change("item10"), mean_estimate, with_ci=True)
    outputs = (*VISIT_OUTPUTS, item10)
    monkeypatch.setattr(endpoints, "VISIT_METRICS", (*VISIT_METRICS, mean))
    for module in ("ketasim.trials.trial", "ketasim.apps.report"):  # the names those modules imported
        monkeypatch.setattr(f"{module}.VISIT_OUTPUTS", outputs)
    path = tmp_path / "trial.toml"
    path.write_text(TRIAL)
    result = ks.run_trial(ks.load_trial(path), patients_per_arm=3, show_progress=False)
    visit = result.to_json()["arms"]["ketamine"]["visits"]["1 d"]
    assert visit["item10_change_mean"] is None and visit["item10_change_mean_ci"] == [None, None]
    assert visit["change_mean"] is not None
    frame = patients_frame(result)
    assert frame["item10_1_d"].isna().all() and frame["baseline_item10"].isna().all()


def test_unknown_metric_is_an_error_naming_file_and_target(tmp_path: Path) -> None:
    path = tmp_path / "trial.toml"
    path.write_text(TRIAL + "\n" + _target("item_42_mean", "1 d"))
    with pytest.raises(ks.KetasimInputError, match=r"trial\.toml: published\[0\]\.metric: expected one of"):
        ks.load_trial(path)
