"""Drug minus control at each visit (trials.differences)."""

from __future__ import annotations

import pytest

from ketasim.trials.differences import all_differences, arm_differences, control_arms, format_differences
from ketasim.trials.trial_spec import load_trial
from ketasim.trials.validate import TargetCheck, shipped_calibration_dir


def _check(arm: str, visit: str, metric: str, published: float, simulated: float | None) -> TargetCheck:
    return TargetCheck("transform-2.toml", arm, visit, metric, published, simulated, 0.1, "test")


def test_controls_are_arms_without_a_study_antidepressant() -> None:
    cal = shipped_calibration_dir()
    # the new oral antidepressant is shared by both arms: the placebo spray arm is the control
    assert control_arms(load_trial(cal / "transform-2.toml")) == {"placebo + antidepressant"}
    assert control_arms(load_trial(cal / "murrough-2013-ajp.toml")) == {"midazolam"}
    assert control_arms(load_trial(cal / "singh-2016.toml")) == {"saline 2x/wk", "saline 3x/wk"}


def test_difference_pairs_the_same_metric_at_the_same_visit() -> None:
    spec = load_trial(shipped_calibration_dir() / "transform-2.toml")
    checks = [_check("esketamine + antidepressant", "28 d", "response_rate", 0.69, 0.60),
              _check("placebo + antidepressant", "28 d", "response_rate", 0.52, 0.30),
              _check("placebo + antidepressant", "28 d", "remission_rate", 0.31, 0.20)]
    (d,) = arm_differences(spec, checks)
    assert (d.drug_arm, d.control_arm, d.metric) == ("esketamine + antidepressant", "placebo + antidepressant",
                                                     "response_rate")
    assert d.published == pytest.approx(0.17)
    assert d.simulated == pytest.approx(0.30)
    assert d.error == pytest.approx(0.13)
    assert "+0.13" in format_differences([d])
    missing = arm_differences(spec, [checks[0], _check("placebo + antidepressant", "28 d", "response_rate", 0.52, None)])
    assert missing[0].simulated is None and missing[0].to_json()["error"] is None


def test_every_shipped_file_gives_its_pairs() -> None:
    cal = shipped_calibration_dir()
    checks = [TargetCheck(path.name, t.arms[0], t.visit, t.metric, t.value, t.value, t.tolerance, t.source)
              for path in sorted(cal.glob("*.toml")) for t in load_trial(path).published
              if len(t.arms) == 1 and not t.pooled and not t.versus]
    diffs = all_differences(None, checks)
    files = {d.file for d in diffs}
    assert {"singh-2016.toml", "transform-2.toml", "murrough-2013-ajp.toml", "daly-2018-synapse.toml"} <= files
    assert all(d.error == pytest.approx(0.0) for d in diffs)  # simulated = published here
