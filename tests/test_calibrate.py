"""`ketasim calibrate` runs, is reproducible, and writes a parameter file ketasim can load."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from ketasim.apps.cli import main
from ketasim.trials.calibrate import calibrate, format_report, robust_loss, write_calibrated
from ketasim.trials.validate import TargetCheck, shipped_calibration_dir


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "calibration"
    folder.mkdir()
    for name in ("murrough-2013-ajp.toml", "vitals-and-dissociation.toml"):
        shutil.copy(shipped_calibration_dir() / name, folder / name)
    return folder


def test_robust_loss_grows_with_misfit_and_is_bounded_per_target() -> None:
    def check(sim: float) -> TargetCheck:
        return TargetCheck("f", "a", "1 d", "change_mean", -10.0, sim, 2.0, "s")

    assert robust_loss([check(-10.0)]) == 0.0
    assert robust_loss([check(-12.0)]) < robust_loss([check(-20.0)]) < robust_loss([check(-200.0)])
    assert robust_loss([check(-200.0)]) < 10.0  # one wild target cannot dominate


def test_loss_is_flat_inside_the_tolerance_and_steep_at_its_edge() -> None:
    def loss(z: float) -> float:
        return robust_loss([TargetCheck("f", "a", "1 d", "change_mean", 0.0, 2.0 * z, 2.0, "s")])

    assert loss(0.5) < 0.1  # half a tolerance off costs little
    assert loss(1.2) - loss(0.8) > 5 * (loss(0.5) - loss(0.1))  # crossing the edge costs most


@pytest.mark.slow  # a full (small) calibration run: tens of seconds
def test_calibrate_is_reproducible_and_writes_a_loadable_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    first = calibrate([folder], patients_per_arm=15, max_evaluations=4, log=False)
    second = calibrate([folder], patients_per_arm=15, max_evaluations=4, log=False)
    assert first.after == second.after
    # the vitals maxima are rescaled to their targets in closed form
    assert first.after["sbp_max_mmhg"] != first.before["sbp_max_mmhg"]
    out = tmp_path / "calibrated.toml"
    write_calibrated(first, out, "calibrated to test data")
    data = tomllib.loads(out.read_text())
    assert data["source"] == "calibrated to test data"
    assert data["model"]["sbp_max_mmhg"] == first.after["sbp_max_mmhg"]
    text = format_report(first)
    assert "targets within tolerance" in text and "identifiable" in text


@pytest.mark.slow  # a full (small) calibration run: tens of seconds
def test_calibrate_command_writes_report(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    target, report = tmp_path / "params.toml", tmp_path / "report.txt"
    code = main(["calibrate", str(folder), "--patients-per-arm", "10", "--max-evaluations", "4",
                 "--write", str(target), "--report", str(report)])
    assert code == 0
    assert target.is_file() and "before" in report.read_text()
