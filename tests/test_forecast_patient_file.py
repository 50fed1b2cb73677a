"""Patient files for `ketasim forecast`: the issue's form parses; bad files exit 2 naming the place, nothing written."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from ketasim import KetasimInputError
from ketasim.apps.cli import main
from ketasim.forecast import load_patient_file

#: the issue's example, verbatim (TOML 1.1: an inline table over two lines)
ISSUE_EXAMPLE = """\
[patient]
weight_kg = 80
age = 45
sex = "female"
failed_treatments = 3
background = [ { drug = "escitalopram", route = "oral", amount = "20 mg", every = "1 d" } ]

doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min",
            at = ["0 d", "2 d", "4 d", "7 d", "9 d", "11 d"] } ]
observations = [ { at = "0 d", madrs = 34 }, { at = "1 d", madrs = 22 }, { at = "7 d", madrs = 17 } ]

[plan]
horizon = "8 wk"               # forecast this far past the last observation
relapse_madrs = 22             # relapse: MADRS at or above this
acceptable_risk = 0.2          # largest acceptable probability of relapse before the next session
maintenance = { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min" }
intervals = ["1 wk", "2 wk", "3 wk", "4 wk"]
"""


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_issue_example_parses(tmp_path: Path) -> None:
    path = tmp_path / "patient.toml"
    path.write_text(ISSUE_EXAMPLE)
    record, plan = load_patient_file(path)
    assert record.covariates.weight_kg == 80 and record.covariates.female == 1.0
    assert record.failed_treatments == 3 and record.background is not None
    assert [e.time_h for e in record.doses.events()] == [0, 48, 96, 168, 216, 264]
    assert [(o.time_h, o.value) for o in record.observations] == [(0, 34), (24, 22), (168, 17)]
    assert plan.horizon_h == 8 * 168 and plan.relapse_madrs == 22 and plan.acceptable_risk == 0.2
    assert plan.intervals_h == (168, 336, 504, 672)
    assert plan.maintenance is not None and plan.maintenance.infusion_h == pytest.approx(40 / 60)


def test_plan_defaults(tmp_path: Path) -> None:
    path = tmp_path / "patient.toml"
    path.write_text(ISSUE_EXAMPLE.split("[plan]")[0])
    _, plan = load_patient_file(path)
    assert plan.horizon_h == 8 * 168 and plan.intervals_h == (168, 336, 504, 672)
    assert plan.maintenance is not None and plan.maintenance.drug == "ketamine"


def test_nonmem_csv_doses_and_observations(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text(
        "ID,TIME,AMT,RATE,EVID,CMT,DV,DVID,MDV\n"
        "7,100,40,60,1,1,.,.,1\n"      # ketamine 40 mg over 40 min at 100 h (the first dose)
        "7,100,0,0,0,.,31,1,0\n"       # baseline MADRS
        "7,124,0,0,0,.,20,1,0\n"
        "7,101,0,0,0,.,150,2,0\n"      # SBP
        "7,130,0,0,0,.,99,1,1\n"       # MDV 1: skipped
        "8,0,40,60,1,1,.,.,1\n"
        "8,0,0,0,0,.,25,1,0\n")
    path = tmp_path / "patient.toml"
    path.write_text('[patient]\nweight_kg = 70\ndata = "data.csv"\nid = 7\n')
    record, _ = load_patient_file(path)
    assert [e.time_h for e in record.doses.events()] == [0.0]
    assert record.doses.events()[0].infusion_h == pytest.approx(40 / 60)
    assert [(o.time_h, o.measure, o.value) for o in record.observations] == [
        (0.0, "madrs", 31.0), (1.0, "sbp", 150.0), (24.0, "madrs", 20.0)]


def test_nonmem_csv_observation_before_first_dose(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("ID,TIME,AMT,RATE,EVID,CMT,DV\n1,10,40,60,1,1,.\n1,5,0,0,0,.,30\n")
    path = tmp_path / "patient.toml"
    path.write_text('[patient]\nweight_kg = 70\ndata = "data.csv"\n')
    with pytest.raises(KetasimInputError, match=r"data.csv line 3, column TIME: .*before the first dose"):
        load_patient_file(path)


BASE = ISSUE_EXAMPLE

BAD = [
    ("no observations", lambda s: s.replace(
        'observations = [ { at = "0 d", madrs = 34 }, { at = "1 d", madrs = 22 }, { at = "7 d", madrs = 17 } ]',
        "observations = []"), "patient.observations: no observations"),
    ("observations missing", lambda s: s.replace(
        'observations = [ { at = "0 d", madrs = 34 }, { at = "1 d", madrs = 22 }, { at = "7 d", madrs = 17 } ]', ""),
        "patient.observations: no observations"),
    ("before first dose", lambda s: s.replace('{ at = "0 d", madrs = 34 }', '{ at = "-1 d", madrs = 34 }'),
     "patient.observations[0].at: '-1 d' is before the first dose"),
    ("madrs out of range", lambda s: s.replace("madrs = 22", "madrs = 61"),
     "patient.observations[1].madrs: expected a number in 0..60"),
    ("madrs negative", lambda s: s.replace("madrs = 22", "madrs = -2"), "patient.observations[1].madrs"),
    ("sbp out of range", lambda s: s.replace("madrs = 22 }", "madrs = 22, sbp = 900 }"),
     "patient.observations[1].sbp: expected a number in 40..300"),
    ("unknown patient key", lambda s: s.replace("age = 45", "age = 45\nheight_cm = 170"),
     "patient: unknown key(s) height_cm"),
    ("unknown top key", lambda s: s + "\n[extra]\nx = 1\n", "top level: unknown key(s) extra"),
    ("unknown plan key", lambda s: s.replace('horizon = "8 wk"', 'horizon = "8 wk"\nhorison = "2 wk"'),
     "plan: unknown key(s) horison"),
    ("unknown observation key", lambda s: s.replace("madrs = 34", "madrs = 34, hamd = 20"),
     "patient.observations[0]: unknown key(s) hamd"),
    ("unknown dose key", lambda s: s.replace('infusion = "40 min",\n', 'infusion = "40 min", speed = 1,\n'),
     "patient.doses[0]: unknown key(s) speed"),
    ("bad risk", lambda s: s.replace("acceptable_risk = 0.2", "acceptable_risk = 1.5"), "plan.acceptable_risk"),
    ("bad interval", lambda s: s.replace('"3 wk"', '"3 weeks"'), "plan.intervals[2]"),
    ("missing weight", lambda s: s.replace("weight_kg = 80\n", ""), "patient: missing 'weight_kg'"),
    ("bad sex", lambda s: s.replace('"female"', '"f"'), "patient.sex"),
    ("background not repeated", lambda s: s.replace('every = "1 d"', 'at = "0 d"'), "patient.background[0]"),
    ("invalid toml", lambda s: s.replace("weight_kg = 80", "weight_kg = = 80"), "invalid TOML"),
]


@pytest.mark.parametrize(("case", "edit", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_patient_files_exit_2_naming_the_place(tmp_path: Path, case: str, edit, words: str) -> None:
    path = tmp_path / "patient.toml"
    path.write_text(edit(BASE))
    out_dir = tmp_path / "out"
    code, out, err = _run("forecast", str(path), "--out", str(out_dir), "--json")
    assert code == 2, (case, err)
    assert err.startswith("ketasim: error: ") and err.count("\n") == 1
    assert str(path) in err and words in err, err
    assert out == "" and not out_dir.exists()


def test_missing_file_and_bad_options(tmp_path: Path) -> None:
    code, _, err = _run("forecast", str(tmp_path / "nope.toml"))
    assert code == 2 and "nope.toml" in err
    path = tmp_path / "patient.toml"
    path.write_text(BASE)
    code, _, err = _run("forecast", str(path), "--draws", "10")
    assert code == 2 and "--draws" in err


def test_plan_overrides_from_python(tmp_path: Path) -> None:
    path = tmp_path / "patient.toml"
    path.write_text(ISSUE_EXAMPLE)
    _, plan = load_patient_file(path, {"acceptable_risk": 0.05})
    assert plan.acceptable_risk == 0.05 and plan.horizon_h == 8 * 168 and plan.relapse_madrs == 22
    with pytest.raises(KetasimInputError, match="plan: unknown key"):
        load_patient_file(path, {"risk": 0.05})
