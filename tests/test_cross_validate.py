"""Cross-validation over trial files and the sampling intervals of validate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ketasim.apps.cli import main
from ketasim.trials.calibration_set import CalibrationSet
from ketasim.trials.cross_validate import FOLDS, assign_folds, cross_validate, format_cross_validation
from ketasim.trials.validate import shipped_calibration_dir, trial_files, validate


def test_folds_cover_the_calibration_set_once_and_keep_related_trials_together() -> None:
    files = trial_files([shipped_calibration_dir()])
    folds = assign_folds(files)
    names = [p.name for fold in folds for p in fold]
    assert sorted(names) == sorted(p.name for p in files if p.name != "vitals-and-dissociation.toml")
    assert len(names) == len(set(names)) and len(FOLDS) >= 5
    # the named folds stay exactly as written; every other file (bipolar depression, PTSD) is a fold of its own
    assert [[p.name for p in fold] for fold in folds[:len(FOLDS)]] == [list(fold) for fold in FOLDS]
    named = {n for fold in FOLDS for n in fold}
    others = [p.name for p in files if p.name not in named and p.name != "vitals-and-dissociation.toml"]
    assert {"diazgranados-2010.toml", "feder-2021.toml"} <= set(others)
    assert [[p.name for p in fold] for fold in folds[len(FOLDS):]] == [[name] for name in others]
    together = {p.name: i for i, fold in enumerate(folds) for p in fold}
    assert together["transform-1.toml"] == together["transform-2.toml"] == together["transform-1-2-pooled.toml"]
    assert together["sustain-2-adults.toml"] == together["sustain-2-older.toml"]
    assert together["murrough-2013-ajp.toml"] == together["ketamine-vs-control-meta.toml"]


def test_an_unknown_file_is_a_fold_of_its_own(tmp_path: Path) -> None:
    mine = tmp_path / "my-trial.toml"
    shutil.copy(shipped_calibration_dir() / "murrough-2013-ajp.toml", mine)
    assert [[p.name for p in fold] for fold in assign_folds([mine])] == [["my-trial.toml"]]


def test_validate_reports_sampling_intervals() -> None:
    checks = validate([shipped_calibration_dir() / "singh-2016.toml"], patients_per_arm=60, show_progress=False)
    for c in checks:
        assert c.simulated_ci is not None, c.metric
        lo, hi = c.simulated_ci
        assert lo < c.simulated < hi
    wide = checks[0].simulated_ci[1] - checks[0].simulated_ci[0]
    narrow_checks = validate([shipped_calibration_dir() / "singh-2016.toml"], patients_per_arm=240, show_progress=False)
    narrow = narrow_checks[0].simulated_ci[1] - narrow_checks[0].simulated_ci[0]
    assert narrow < 0.7 * wide  # more patients, tighter interval (~1/sqrt(n))


@pytest.mark.slow  # two tiny refits: about a minute
def test_cross_validation_predicts_held_out_files(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    evaluated: list[str] = []
    checks = CalibrationSet.checks
    monkeypatch.setattr(CalibrationSet, "checks", lambda self, *a, **k: evaluated.append(self.engine) or checks(self, *a, **k))
    folder = tmp_path / "calibration"
    folder.mkdir()
    for name in ("murrough-2013-ajp.toml", "singh-2016.toml", "vitals-and-dissociation.toml"):
        shutil.copy(shipped_calibration_dir() / name, folder / name)
    cv = cross_validate([folder], fit_patients_per_arm=10, patients_per_arm=20, max_evaluations=5, log=False)
    assert sorted(f for fold in cv.folds for f in fold.held_out) == ["murrough-2013-ajp.toml", "singh-2016.toml"]
    assert {c.file for c in cv.out_of_sample} == {"murrough-2013-ajp.toml", "singh-2016.toml"}
    assert len(cv.in_sample) == 2 + 8 + 4
    assert "out-of-sample:" in format_cross_validation(cv)
    assert evaluated  # the refits evaluate through the prepared calibration set (the fast path)
    report = tmp_path / "cv.txt"
    assert main(["validate", str(folder), "--cross-validate", "--json", "--patients-per-arm", "20",
                 "--fit-patients-per-arm", "10", "--max-evaluations", "5", "--workers", "1", "--report", str(report)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_out_of_sample"] == 10 and out["total_in_sample"] == 14
    assert "in-sample:" in report.read_text()
