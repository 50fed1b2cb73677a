"""Issue 11 regression tests: every bad input a clear error, doses and parameters within physiology.

Each test is one finding of the issue; each fails on the code before the fix (a traceback, exit 0
with impossible numbers, or a missing flag or option).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketasim as ks
from ketasim.apps.cli import main
from ketasim.engines.common import SolverStatus
from ketasim.io.jsonsafe import finite_json
from ketasim.trials import trial as trial_module
from ketasim.trials.validate import shipped_calibration_dir

MURROUGH = shipped_calibration_dir() / "murrough-2013-ajp.toml"
ROOT = Path(__file__).resolve().parents[1]


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The single stderr line of a failed run (exit 2), without a traceback."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ketasim: error: ")
    return lines[0]


def _regimen(tmp_path: Path, line: str, name: str = "regimen.toml") -> str:
    path = tmp_path / name
    path.write_text(f"doses = [ {line} ]\n")
    return str(path)


def _trial_file(tmp_path: Path, old: str = "", new: str = "", name: str = "trial.toml") -> str:
    text = MURROUGH.read_text()
    if old:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return str(path)


KETAMINE = '{ drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = "0 d" }'


# ---- tracebacks instead of one error line --------------------------------------------------------------

@pytest.mark.parametrize("at", ["1e400 h", "inf h"])
def test_infinite_time_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], at: str) -> None:
    regimen = _regimen(tmp_path, f'{{ drug = "ketamine", route = "iv", amount = "0.5 mg/kg", at = "{at}" }}')
    assert main(["simulate", "--regimen", regimen, "--days", "1"]) == 2
    assert "regimen.toml: doses[0]: at:" in _error_line(capsys)


def test_deeply_nested_toml_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = "a = " + "[" * 2000 + "]" * 2000 + "\n"
    (tmp_path / "deep.toml").write_text(deep)
    assert main(["simulate", "--regimen", str(tmp_path / "deep.toml")]) == 2
    assert "deep.toml: invalid TOML" in _error_line(capsys)
    assert main(["trial", str(tmp_path / "deep.toml")]) == 2
    assert "deep.toml" in _error_line(capsys)


def test_non_utf8_regimen_and_nonmem_files_are_one_error_line(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "latin.toml").write_bytes(b'doses = [ { drug = "ket\xe4mine", route = "iv", amount = "1 mg", at = "0 h" } ]\n')
    assert main(["simulate", "--regimen", str(tmp_path / "latin.toml")]) == 2
    assert "latin.toml: invalid TOML: not UTF-8" in _error_line(capsys)
    (tmp_path / "latin.csv").write_bytes(b"ID,TIME,AMT,CMT,DRUG\n1,0,10,1,ket\xe4mine\n")
    assert main(["simulate", "--regimen", str(tmp_path / "latin.csv")]) == 2
    assert "latin.csv: not UTF-8 text" in _error_line(capsys)


def test_huge_patients_per_arm_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trial = _trial_file(tmp_path, "patients_per_arm = 2000", "patients_per_arm = 1000000000000")
    assert main(["trial", trial, "--json"]) == 2
    assert "trial.toml: patients_per_arm: 1,000,000,000,000 is above the limit" in _error_line(capsys)
    trial = _trial_file(tmp_path, "patients_per_arm = 2000", "patients_per_arm = 1e12")
    assert main(["trial", trial, "--json"]) == 2
    assert "patients_per_arm: expected an integer" in _error_line(capsys)


def test_dose_grid_beyond_memory_is_refused_naming_the_limit(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    regimen = _regimen(tmp_path, '{ drug = "escitalopram", route = "oral", amount = "0.001 mg", every = "1 min" }')
    assert main(["simulate", "--regimen", regimen, "--days", "28"]) == 2
    line = _error_line(capsys)
    assert "40,321 doses within 28 d exceed the limit of 20,000 per patient" in line and "dose less often" in line


def test_set_cl_factor_zero_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--regimen", "ketamine-iv-single", "--days", "1", "--set", "cl_factor=0"]) == 2
    assert "--set: cl_factor = 0 is outside its valid range 0.05 to 20" in _error_line(capsys)


def test_unknown_plot_extension_fails_before_any_file_is_written(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    csv, plot = tmp_path / "x.csv", tmp_path / "x.xyz"
    assert main(["simulate", "--regimen", "ketamine-iv-single", "--days", "1", "--csv", str(csv),
                 "--plot", str(plot)]) == 2
    assert "--plot" in _error_line(capsys) and not csv.exists() and not plot.exists()


def test_population_weight_window_at_the_edge_is_one_error_line(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    trial = _trial_file(tmp_path, "baseline_madrs = [22, 60]", "baseline_madrs = [22, 60]\nweight_kg = [499, 500]")
    assert main(["trial", trial, "--json"]) == 2
    assert "trial.toml: population.weight_kg: the inclusion windows keep about" in _error_line(capsys)


# ---- trial exits 0 when every patient of an arm failed ---------------------------------------------------

def _failing_solve(monkeypatch: pytest.MonkeyPatch, arm_index: int, fraction: float) -> None:
    original = trial_module.ArmJob.solve

    def solve(self, model, times_h, y0):  # type: ignore[no-untyped-def]
        solution = original(self, model, times_h, y0)
        if self.arm_index == arm_index:
            n = solution.status.size
            solution.status[: math.ceil(fraction * n)] = SolverStatus.INTEGRATOR_FAILED
        return solution

    monkeypatch.setattr(trial_module.ArmJob, "solve", solve)


def test_trial_arm_without_a_usable_patient_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    _failing_solve(monkeypatch, 0, 1.0)
    out = tmp_path / "out"
    assert main(["trial", str(MURROUGH), "--json", "--patients-per-arm", "4", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # no JSON of nulls
    assert "no usable patient in arm(s) 'ketamine'" in captured.err
    assert not out.exists() or not any(out.iterdir())  # no file left that looks complete (--out is written whole)
    assert not list(tmp_path.glob(".out.*.partial"))


def test_trial_partial_failures_are_a_warning_with_the_count(monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    _failing_solve(monkeypatch, 1, 0.5)
    assert main(["trial", str(MURROUGH), "--json", "--patients-per-arm", "4"]) == 0
    captured = capsys.readouterr()
    assert "warning: arm 'midazolam': the solver failed for 2 of 4 patients" in captured.err
    assert json.loads(captured.out)["arms"]["midazolam"]["failed_solves"] == 2


# ---- plausibility limits on doses ------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "expected"), [
    ('{ drug = "ketamine", route = "iv", amount = "100000 mg", at = "0 h" }', "one dose of 1429 mg/kg"),
    ('{ drug = "ketamine", route = "iv", amount = "2 mg/kg", every = "1 h", until = "7 d" }', "48 mg/kg (for 70 kg) within 24 h"),
    ('{ drug = "ketamine", route = "iv", amount = "0.5 mg/kg", every = "1 min", until = "1 d" }', "within 24 h"),
])
def test_doses_above_the_hard_ceiling_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   line: str, expected: str) -> None:
    regimen = _regimen(tmp_path, line)
    assert main(["simulate", "--regimen", regimen, "--days", "7"]) == 2
    error = _error_line(capsys)
    assert "regimen.toml: doses: ketamine iv:" in error and expected in error and "hard ceiling" in error


def test_doses_above_the_usual_range_are_flagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    regimen = _regimen(tmp_path, '{ drug = "ketamine", route = "iv", amount = "2 mg/kg", infusion = "40 min", at = "0 d" }')
    plot = tmp_path / "run.png"
    assert main(["simulate", "--regimen", regimen, "--days", "1", "--plot", str(plot)]) == 0
    captured = capsys.readouterr()
    flag = "outside the calibrated range: ketamine iv: 2 mg/kg per dose is above the usual 1 mg/kg"
    assert flag in captured.out and f"warning: {flag}" in captured.err and plot.is_file()
    table = ks.simulate(ks.Regimen.of(ks.dose("ketamine", "iv", "2 mg/kg", at="0 h")), days=1)
    assert any("above the usual" in f for f in table.attrs["flags"])


def test_trial_json_flags_dosing_outside_the_calibrated_range(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    trial = _trial_file(tmp_path, 'amount = "0.5 mg/kg", infusion = "40 min", at = "0 d"',
                        'amount = "0.5 mg/kg", infusion = "40 min", every = "12 h", until = "6 d"')
    assert main(["trial", trial, "--json", "--patients-per-arm", "3"]) == 0
    flags = json.loads(capsys.readouterr().out)["flags"]
    assert flags == ["outside the calibrated range: arm 'ketamine': ketamine iv: doses 12 h apart, closer than "
                     "the calibration trials (24 h)"]


def test_shipped_calibration_trials_carry_no_flags() -> None:
    from ketasim.trials.trial_checks import trial_flags

    for path in sorted(shipped_calibration_dir().glob("*.toml")):
        assert trial_flags(ks.load_trial(path)) == [], path.name


# ---- --set and the API accept impossible values ----------------------------------------------------------

@pytest.mark.parametrize("item", ["cl_factor=-1", "plasticity_gain=-1", "drug_relief_max=5", "sbp0_mmhg=-100",
                                  "weight_kg=10000", "age_y=-5", "weight_kg=nan", "hr0_bpm=inf"])
def test_set_refuses_values_outside_the_valid_range(capsys: pytest.CaptureFixture[str], item: str) -> None:
    assert main(["simulate", "--regimen", "ketamine-iv-single", "--days", "1", "--set", item]) == 2
    line = _error_line(capsys)
    assert line.startswith(f"ketasim: error: --set: {item.split('=')[0]}")


@pytest.mark.parametrize(("call", "expected"), [
    (lambda: ks.simulate("ketamine-iv-single", days=True), "days: expected a number"),
    (lambda: ks.simulate("ketamine-iv-single", days="3"), "days: expected a number"),
    (lambda: ks.simulate(42, days=1), "regimen: expected a preset name"),
    (lambda: ks.simulate("ketamine-iv-single", patient=3.5, days=1), "patient: expected"),
    (lambda: ks.simulate("ketamine-iv-single", days=1, parameters={"drug_relief_max": 5}), "outside its valid range"),
    (lambda: ks.simulate("ketamine-iv-single", days=1, parameters=[1, 2]), "expected a dict"),
    (lambda: ks.typical_patient("typical-trd").with_(weight_kg=10000), "weight_kg = 10000 kg is outside"),
    (lambda: ks.typical_patient("typical-trd").with_(cl_factor=-1), "cl_factor = -1 is outside"),
    (lambda: ks.Patient(age_y=-5), "age_y = -5 y is outside"),
    (lambda: ks.Patient(weight_kg="heavy"), "expected a number (kg), got str"),
    (lambda: ks.typical_patient(None), "unknown patient"),
    (lambda: ks.simulate(ks.Regimen.of("x"), days=1), "expected ketasim.Dose objects"),
    (lambda: ks.run_trial("file.toml"), "expected a TrialSpec"),
    (lambda: ks.load_trial(5), "expected a file path"),
    (lambda: ks.regimen_from_nonmem(5), "expected a file path"),
    (lambda: ks.simulate("ketamine-iv-single", days=1, times_h="abc"), "times_h: expected a sequence"),
])
def test_api_refuses_impossible_values_and_wrong_types(call, expected: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ks.KetasimInputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_every_parameter_carries_a_valid_range_containing_its_value() -> None:
    from ketasim.model.arm import calibrated_parameters
    from ketasim.model.patient import PATIENT_FIELDS, PATIENT_RANGES, TYPICAL_PATIENTS

    for name, p in calibrated_parameters().items():
        assert p.valid is not None and p.valid[0] <= p.value <= p.valid[1], name
    assert set(PATIENT_RANGES) == set(PATIENT_FIELDS)
    for patient in TYPICAL_PATIENTS.values():
        for name, (_, (lo, hi)) in PATIENT_RANGES.items():
            assert lo <= getattr(patient, name) <= hi


# ---- the product documents itself ------------------------------------------------------------------------

def test_parameters_settable_lists_names_units_and_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parameters", "--settable"]) == 0
    out = capsys.readouterr().out
    assert "valid range" in out.splitlines()[0]
    assert any(line.split()[:2] == ["weight_kg", "patient"] and "10 to 400" in line for line in out.splitlines())
    assert any(line.startswith("drug_relief_max") and "0 to 1" in line for line in out.splitlines())


def test_examples_lists_and_copies_the_shipped_trials(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["examples"]) == 0
    assert "murrough-2013-ajp" in capsys.readouterr().out
    assert main(["examples", "murrough-2013-ajp", "--copy", str(tmp_path / "ex")]) == 0
    assert (tmp_path / "ex" / "murrough-2013-ajp.toml").read_text() == MURROUGH.read_text()
    assert main(["examples", "nope"]) == 2
    assert "unknown file 'nope'" in _error_line(capsys)


def test_help_describes_typical_patients_and_points_at_shipped_docs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trial", "--help"]) == 0
    out = "".join(capsys.readouterr().out.split())  # argparse wraps lines at spaces and hyphens
    assert "docs/trial-file.md" in out and "trial-spec.md" not in out
    assert (ROOT / "docs" / "trial-file.md").is_file()
    assert main(["simulate", "--help"]) == 0
    out = "".join(capsys.readouterr().out.split())
    assert "typical-trd:treatment-resistant" in out and "typical-mdd:majordepression" in out


def test_patient_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.toml"
    path.write_text('base = "typical-mdd"\nweight_kg = 95\n')
    assert main(["simulate", "--regimen", "ketamine-iv-single", "--days", "1", "--patient", str(path)]) == 0
    capsys.readouterr()
    path.write_text("weight_kg = -3\n")
    assert main(["simulate", "--regimen", "ketamine-iv-single", "--days", "1", "--patient", str(path)]) == 2
    assert "p.toml: weight_kg = -3 kg is outside" in _error_line(capsys)


# ---- calibrate ------------------------------------------------------------------------------------------

def test_calibrate_writes_a_user_file_and_bounds_every_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from ketasim.trials import calibrate as calibrate_module

    package = shipped_calibration_dir().parent / "calibrated.toml"
    before = package.read_text()
    counts: list[int] = []
    original = calibrate_module._Evaluator.checks

    def counting(self, values, names=None, **options):  # type: ignore[no-untyped-def]
        counts.append(1)
        return original(self, values, names, **options)

    monkeypatch.setattr(calibrate_module._Evaluator, "checks", counting)
    monkeypatch.chdir(tmp_path)
    code = main(["calibrate", str(shipped_calibration_dir() / "vitals-and-dissociation.toml"),
                 "--patients-per-arm", "5", "--max-evaluations", "6"])
    assert code == 0
    assert (tmp_path / "calibrated.toml").is_file() and package.read_text() == before
    assert len(counts) <= 6
    capsys.readouterr()
    assert main(["calibrate", "--write", str(package)]) == 2
    assert "--write-package" in _error_line(capsys)


# ---- unbounded runs -------------------------------------------------------------------------------------

def test_horizons_beyond_the_documented_maximum_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--regimen", "ketamine-iv-single", "--days", "10000"]) == 2
    assert "--days: 10000 d is beyond the longest period ketasim simulates (730 d)" in _error_line(capsys)
    trial = _trial_file(tmp_path, 'visits = ["1 d", "7 d"]', 'visits = ["1 d", "100000 wk"]')
    assert main(["trial", trial]) == 2
    assert "trial.toml: endpoints.visits: '100000 wk': 700000 d is beyond" in _error_line(capsys)


def test_long_runs_show_progress(capsys: pytest.CaptureFixture[str]) -> None:
    import time

    from ketasim.checks.limits import heartbeat

    with heartbeat("simulating", estimate_s=60.0, every_s=0.05):
        time.sleep(0.2)
    err = capsys.readouterr().err
    assert "estimated 60 s" in err and "s elapsed" in err
    with heartbeat("simulating", estimate_s=1.0, every_s=0.05):
        time.sleep(0.1)
    assert capsys.readouterr().err == ""


# ---- silently accepted ------------------------------------------------------------------------------------

def test_dose_after_the_period_and_long_infusion_warn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    regimen = _regimen(tmp_path, '{ drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "3 d", '
                                 'at = ["0 d", "5 d"] }')
    assert main(["simulate", "--regimen", regimen, "--days", "2"]) == 0
    err = capsys.readouterr().err
    assert "1 ketamine dose time(s) after the simulated period (2 d) are never given" in err
    assert "infusion lasts 72 h, longer than the simulated period (48 h)" in err


def test_trial_dose_after_the_last_visit_and_long_infusion_warn(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    trial = _trial_file(tmp_path, 'infusion = "40 min", at = "0 d" }', 'infusion = "9 d", at = ["0 d", "30 d"] }')
    assert main(["trial", trial, "--patients-per-arm", "2", "--json"]) == 0
    err = capsys.readouterr().err
    assert "arms[0].doses: 1 ketamine dose time(s) after the last visit are never given" in err
    assert "arms[0].doses: a ketamine infusion lasts 216 h, longer than the trial (168 h after the first dose)" in err


def test_bare_number_as_time_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    regimen = _regimen(tmp_path, '{ drug = "ketamine", route = "iv", amount = "0.5 mg/kg", at = 5 }')
    assert main(["simulate", "--regimen", regimen, "--days", "1"]) == 2
    assert "doses[0]: at: expected a time with a unit as a string" in _error_line(capsys)


def test_nonmem_amount_1e308_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "big.csv").write_text("ID,TIME,AMT,CMT\n1,0,1e308,1\n")
    assert main(["simulate", "--regimen", str(tmp_path / "big.csv"), "--days", "1"]) == 2
    assert "big.csv line 2, column AMT: expected a dose (mg) of ketamine iv at most" in _error_line(capsys)


@pytest.mark.parametrize(("old", "new", "place"), [
    ("baseline_madrs = [22, 60]", "baseline_madrs = [0, 1]", "population.baseline_madrs"),
    ("baseline_madrs = [22, 60]", "baseline_madrs = [22, 60]\nweight_kg = [1, 5]", "population.weight_kg"),
])
def test_population_window_selecting_nearly_nobody_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               old: str, new: str, place: str) -> None:
    assert main(["trial", _trial_file(tmp_path, old, new)]) == 2
    line = _error_line(capsys)
    assert f"trial.toml: {place}: the inclusion windows keep about" in line and "widen it" in line


# ---- small things -----------------------------------------------------------------------------------------

def test_concentrations_are_never_negative() -> None:
    table = ks.simulate("esketamine-label", days=2, engine="fast")
    plasma = table.filter(like="plasma_").to_numpy()
    assert plasma.min() == 0.0  # before the first dose: exactly 0, not -2.7e-13


def test_tiny_ci_bounds_are_zero_in_the_json() -> None:
    assert finite_json({"ci": [4e-19, 0.2, float("nan")]}) == {"ci": [0.0, 0.2, None]}


def test_parquet_visit_columns_have_no_spaces_and_arm_names_are_escaped(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    trial = _trial_file(tmp_path, 'name = "ketamine"', 'name = "ket\\u001b[31mamine"')
    Path(trial).write_text(Path(trial).read_text().replace('arm = "ketamine"', 'arm = "ket\\u001b[31mamine"'))
    out = tmp_path / "out"
    assert main(["trial", trial, "--patients-per-arm", "3", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err and "ket\\x1b[31mamine" in captured.out
    columns = list(pd.read_parquet(out / "patients.parquet").columns)
    assert "madrs_1_d" in columns and not any(" " in c for c in columns)


def test_out_into_a_non_empty_folder_refuses_unless_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old-notes.txt").write_text("x")
    argv = ["trial", str(MURROUGH), "--patients-per-arm", "3", "--out", str(out)]
    assert main(argv) == 2
    line = _error_line(capsys)
    assert "--out: folder" in line and "not empty (old-notes.txt)" in line and "--force" in line
    assert main([*argv, "--force"]) == 0
    assert (out / "summary.json").is_file()
    capsys.readouterr()
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "stale.csv").write_text("x")
    assert main(["demo", "--out", str(demo), "--days", "2"]) == 2
    assert "not empty (stale.csv)" in _error_line(capsys)
    again = tmp_path / "again"
    assert main(["demo", "--out", str(again), "--days", "2"]) == 0
    assert main(["demo", "--out", str(again), "--days", "2"]) == 0  # an earlier demo's own files are replaced


def test_tour_outputs_are_gitignored_and_readme_states_the_suite_duration() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    for entry in ("/ketasim-demo/", "/run.csv", "/results/", "/examples/", "/ketamine.xml", "/calibrated.toml"):
        assert entry in ignored
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"python3 run\.py test .*\(about \d+ min on 2 cores", readme)
    assert "../shared/data/calibration/murrough" not in readme


# ---- figures that show both timescales --------------------------------------------------------------------

def test_plots_have_an_acute_panel_and_the_first_run_on_top(tmp_path: Path) -> None:
    from ketasim.apps.plot import plot_comparison

    tables = {"ketamine": ks.simulate("ketamine-iv-single", days=7),
              "escitalopram": ks.simulate("escitalopram-10mg-daily", days=7)}
    fig = plot_comparison(tables, tmp_path / "demo.png")
    acute = [ax for ax in fig.axes if ax.get_title().startswith("acute")]
    assert acute
    vitals = [ax for ax in fig.axes if ax.get_label() == "vitals"]
    assert len(vitals) == 2
    assert vitals[0].get_xlim() == pytest.approx((0.0, 24.0))
    ketamine_line = vitals[0].get_lines()[0]
    assert ketamine_line.get_zorder() > max(line.get_zorder() for line in vitals[0].get_lines()[3:6])
    assert np.max(ketamine_line.get_ydata()) > 130  # the acute SBP rise is visible


def test_every_active_drug_and_route_has_dose_limits() -> None:
    from ketasim.checks.dose_limits import dose_limits

    limits = dose_limits()
    missing = [(d.name, r) for d in ks.DRUGS.values() if d.action != "inert" for r in d.routes if (d.name, r) not in limits]
    assert missing == []  # a new drug adds its usual doses and ceilings to data/dose_limits.toml
    memantine = limits[("memantine", "oral")]
    assert (memantine.usual_daily, memantine.calibrated) == (20.0, False) and "Namenda" in memantine.source
