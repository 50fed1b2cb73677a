"""Issue 4, agreement: every calibration trial gives the same JSON with both engines.

Small N, same seed: means (and other scores) within 0.05 MADRS points, rates within 0.005. The
reference engine is slow, so each file runs with a few patients per arm, and its screening rounds
start at the number of candidates the fast engine needed (who enters an arm does not depend on the
round size, tests/test_invariance.py; a screening disagreement still shows as another
candidates_screened or another baseline in the JSON).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ketasim.apps.report import trial_json
from ketasim.trials import trial
from ketasim.trials.trial import run_trial
from ketasim.trials.trial_spec import load_trial
from ketasim.trials.validate import shipped_calibration_dir, trial_files

pytestmark = pytest.mark.slow

PATIENTS_PER_ARM = 3
MEAN_TOLERANCE = 0.05  # MADRS points (and mmHg, bpm, CADSS points for vitals)
RATE_TOLERANCE = 0.005  # fraction of patients


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Flatten the JSON into {path: scalar}."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{path}/{key}"))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(_leaves(item, f"{path}[{i}]"))
        return out
    return {path: value}


def _tolerance(path: str) -> float:
    key = path.rsplit("/", 1)[-1]
    return RATE_TOLERANCE if "rate" in key or "fraction" in key else MEAN_TOLERANCE


def disagreements(fast: dict, reference: dict) -> list[str]:
    """Every leaf where the two JSON documents differ by more than its tolerance."""
    a, b = _leaves(fast), _leaves(reference)
    problems = [f"{path}: only in one engine's JSON" for path in sorted(set(a) ^ set(b)) if "engine" not in path]
    for path in sorted(set(a) & set(b)):
        x, y = a[path], b[path]
        if isinstance(x, bool) or isinstance(y, bool) or not isinstance(x, int | float) or not isinstance(y, int | float):
            if x != y and "engine" not in path:
                problems.append(f"{path}: {x!r} vs {y!r}")
        elif abs(x - y) > _tolerance(path):
            problems.append(f"{path}: fast {x:.6g} vs reference {y:.6g} (tolerance {_tolerance(path)})")
    return problems


def test_disagreements_catches_a_moved_rate_and_a_moved_mean() -> None:
    fast = {"arms": [{"visits": [{"response_rate": 0.5, "change_mean": -10.0}]}]}
    assert disagreements(fast, fast) == []
    assert disagreements(fast, {"arms": [{"visits": [{"response_rate": 0.51, "change_mean": -10.0}]}]})
    assert disagreements(fast, {"arms": [{"visits": [{"response_rate": 0.5, "change_mean": -10.1}]}]})


@pytest.mark.parametrize("path", trial_files([shipped_calibration_dir()]), ids=lambda p: Path(p).stem)
def test_calibration_trial_json_is_the_same_with_both_engines(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load_trial(path)
    fast = run_trial(spec, engine="fast", patients_per_arm=PATIENTS_PER_ARM, show_progress=False)
    # the reference engine solves each screened candidate's 42-day background run-in one by one: each arm
    # screens only as many candidates as the fast engine needed there (the default is at least 64 a round)
    needed = [arm.candidates_screened for arm in fast.arms.values()]
    simulate_arm = trial.simulate_arm

    def screening_what_fast_needed(spec: Any, arm_index: int, *args: Any, **kwargs: Any) -> Any:
        monkeypatch.setitem(trial.SCREEN_AT_LEAST, "reference", needed[arm_index])
        return simulate_arm(spec, arm_index, *args, **kwargs)

    monkeypatch.setattr(trial, "simulate_arm", screening_what_fast_needed)
    reference = run_trial(spec, engine="reference", patients_per_arm=PATIENTS_PER_ARM, show_progress=False)
    documents = {"fast": json.loads(trial_json(fast)), "reference": json.loads(trial_json(reference))}
    problems = disagreements(documents["fast"], documents["reference"])
    assert not problems, "\n".join(problems)
