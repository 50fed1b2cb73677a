"""The `ketasim` command line: outputs, the output grid, and one-line errors with exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketasim import DRUG_NAMES, PRESETS, simulate
from ketasim.apps.cli import main
from ketasim.model.arm import calibrated_parameters

REQUIRED_COLUMNS = ["time_h", "madrs", "nmda_occupancy", "sert_occupancy", "glutamate", "bdnf", "mtor",
                    "spine_density", "sbp_mmhg", "dbp_mmhg", "hr_bpm", "cadss", "plasma_ketamine_ng_ml"]


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The single stderr line of a failed run."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ketasim: error: ")
    return lines[0]


def _toml(tmp_path: Path, body: str) -> str:
    path = tmp_path / "regimen.toml"
    path.write_text(body)
    return str(path)


def test_simulate_csv_columns_and_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.csv"
    assert main(["simulate", "--regimen", "ketamine-iv-6x", "--days", "3", "--csv", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "MADRS: baseline 33.0" in stdout and "minimum" in stdout and str(out) in stdout
    table = pd.read_csv(out)
    assert set(REQUIRED_COLUMNS) <= set(table.columns)
    assert list(table.columns) == list(simulate("ketamine-iv-6x", "typical-trd", 3.0).columns)
    assert table.columns[0] == "time_h"
    t = table["time_h"].to_numpy()
    step = np.diff(t)
    dense = ((t[:-1] >= 0.0) & (t[:-1] < 6.0 - 1e-9)) | ((t[:-1] >= 48.0) & (t[:-1] < 54.0 - 1e-9))
    assert np.allclose(step[dense], 5.0 / 60.0)  # every 5 min for 6 h after the doses at 0 and 48 h
    assert np.allclose(step[~dense], 1.0)  # hourly otherwise
    assert t[0] == 0.0 and t[-1] == pytest.approx(72.0)


def test_simulate_toml_with_overrides_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    regimen = _toml(tmp_path, 'doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", '
                              'infusion = "40 min", at = ["0 d"] } ]\n')
    plot = tmp_path / "run.png"
    code = main(["simulate", "--regimen", regimen, "--days", "1", "--set", "weight_kg=90",
                 "--set", "plasticity_gain=1.2", "--plot", str(plot), "--engine", "fast"])
    assert code == 0
    assert plot.stat().st_size > 10_000
    assert str(plot) in capsys.readouterr().out


def test_simulate_nonmem_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doses = tmp_path / "doses.csv"
    doses.write_text("ID,TIME,AMT,RATE,EVID,CMT,II,ADDL\n1,0,35,52.5,1,1,0,0\n")
    out = tmp_path / "out.csv"
    assert main(["simulate", "--regimen", str(doses), "--days", "1", "--csv", str(out)]) == 0
    assert pd.read_csv(out)["plasma_ketamine_ng_ml"].max() > 50.0
    capsys.readouterr()
    doses.write_text("ID,TIME,AMT,RATE,EVID,CMT,II,ADDL\n1,0,35,52.5,1,1,0,0\n2,0,56,0,1,2,0,0\n")
    assert main(["simulate", "--regimen", str(doses), "--days", "1"]) == 2
    assert "several subjects (ID 1, 2)" in _error_line(capsys)
    assert main(["simulate", "--regimen", str(doses), "--id", "2", "--days", "1", "--csv", str(out)]) == 0
    assert "plasma_esketamine_ng_ml" in pd.read_csv(out).columns


@pytest.mark.parametrize(("entry", "expected"), [
    ('{ drug = "ketamin", route = "iv", amount = "0.5 mg/kg", at = "0 d" }', "doses[0]: drug: unknown drug 'ketamin'"),
    ('{ drug = "esketamine", route = "oral", amount = "56 mg", at = "0 d" }', "doses[0]: route: esketamine cannot be"),
    ('{ drug = "ketamine", route = "nasal", amount = "0.5 mg/kg", at = "0 d" }', "doses[0]: route: unknown route"),
    ('{ drug = "ketamine", route = "iv", amount = "0.5", at = "0 d" }', "doses[0]: amount: expected an amount"),
    ('{ drug = "ketamine", route = "iv", amount = "-0.5 mg/kg", at = "0 d" }', "doses[0]: amount: a dose amount must"),
])
def test_bad_regimen_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: str, expected: str) -> None:
    path = _toml(tmp_path, f"doses = [ {entry} ]\n")
    assert main(["simulate", "--regimen", path, "--days", "1"]) == 2
    line = _error_line(capsys)
    assert f"regimen.toml: {expected}" in line


def test_malformed_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _toml(tmp_path, "doses = [ { drug = \n")
    assert main(["simulate", "--regimen", path]) == 2
    assert "regimen.toml: invalid TOML" in _error_line(capsys)


def test_malformed_nonmem_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doses = tmp_path / "doses.csv"
    doses.write_text("ID,TIME,AMT,RATE,EVID,CMT,II,ADDL\n1,0,35,0,1,1,0,0\n1,24,abc,0,1,1,0,0\n")
    assert main(["simulate", "--regimen", str(doses), "--days", "1"]) == 2
    assert "doses.csv line 3, column AMT: expected a number >= 0, got 'abc'" in _error_line(capsys)


@pytest.mark.parametrize(("argv", "expected"), [
    (["simulate", "--regimen", "ketamine-iv-twice"], "neither a preset nor an existing file; presets: ketamine-iv-"),
    (["simulate", "--regimen", "ketamine-iv-single", "--csv", "/nonexistent-dir/x.csv"], "--csv: folder"),
    (["simulate", "--regimen", "ketamine-iv-single", "--patient", "typical-ocd"], "--patient: unknown patient"),
    (["simulate", "--regimen", "ketamine-iv-single", "--set", "height_cm=180"], "--set: unknown parameter 'height_cm'"),
    (["simulate", "--regimen", "ketamine-iv-single", "--set", "weight_kg"], "--set: expected NAME=VALUE"),
    (["simulate", "--regimen", "ketamine-iv-single", "--set", "weight_kg=-3"], "--set: weight_kg = -3 kg is outside"),
    (["simulate", "--regimen", "ketamine-iv-single", "--days", "0"], "--days: expected a finite number of days > 0"),
    (["demo", "--days", "inf"], "--days: expected a finite number of days > 0, got inf"),
    (["simulate", "--regimen", "ketamine-iv-single", "--engine", "gpu"], "argument --engine: invalid choice"),
    (["simulate"], "the following arguments are required: --regimen"),
    (["drugs", "ketamin"], "unknown drug 'ketamin'; known drugs: ketamine"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    assert main(argv) == 2
    assert expected in _error_line(capsys)


def test_drugs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drugs"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DRUG_NAMES)
    assert main(["drugs", "ketamine"]) == 0
    out = capsys.readouterr().out
    assert "source" in out.splitlines()[1]
    assert "Fanta S et al. 2015" in out and "routes.iv.parents[0].disposition.clearance" in out and "L/h" in out


def test_presets_and_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out and desc in out for name, (desc, _) in PRESETS.items())
    assert main(["parameters"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in calibrated_parameters())


def test_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "demo"
    assert main(["demo", "--out", str(out_dir)]) == 0  # the default 56 days
    stdout = capsys.readouterr().out
    for name in ("demo.png", "ketamine.csv", "escitalopram.csv"):
        assert (out_dir / name).is_file()
    assert (out_dir / "demo.png").stat().st_size > 10_000
    rows = [line.split() for line in stdout.splitlines()
            if line.split() and line.split()[0] in {"2", "4", "1", "3", "7", "14", "28", "56"}]
    assert [r[0] + " " + r[1] for r in rows] == ["2 h", "4 h", "1 d", "3 d", "7 d", "14 d", "28 d", "56 d"]
    assert all(len(r) == 4 for r in rows)  # time, unit, ketamine, escitalopram
    assert "not a medical device" in stdout
    ketamine = pd.read_csv(out_dir / "ketamine.csv")
    assert ketamine["time_h"].iloc[-1] == pytest.approx(56 * 24.0)
    assert float(rows[2][2]) == pytest.approx(np.interp(24.0, ketamine["time_h"], ketamine["madrs"]), abs=0.05)


def test_python_dash_m() -> None:
    result = subprocess.run([sys.executable, "-m", "ketasim", "presets"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "ketamine-iv-single" in result.stdout
