"""Issue 28: `--compound FILE` on `validate` and `forecast` (and `compounds = [...]` in a patient file), with the
rules of `simulate` and `trial`: a user compound may not shadow a shipped name; a bad file is one error naming
the file and the key."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketasim import KetasimInputError, validate
from ketasim.apps.cli import main
from ketasim.forecast import load_patient_file
from ketasim.forecast.patient_file import patient_from_text
from ketasim.model.drugs import DRUGS, shipped_compound_text, unregister

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "examplamine.toml"


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    """Unregister every compound a test registers (the CLI registers into the process's registry)."""
    before = set(DRUGS)
    yield
    for name in [n for n in DRUGS if n not in before]:
        unregister(name)


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _shadowing_file(folder: Path) -> Path:
    """The shipped ketamine file under its own name (CMT numbers dropped): it would shadow ketamine."""
    path = folder / "my-ketamine.toml"
    path.write_text(re.sub(r"^cmt = .*$", "", shipped_compound_text("ketamine"), flags=re.M))
    return path


def _bad_file(folder: Path) -> Path:
    path = folder / "bad.toml"
    path.write_text(EXAMPLE.read_text().replace('unit = "mL/min/kg"', 'unit = "kg/h"', 1))
    return path


BAD_KEY = "routes.iv.parents[0].disposition.clearance.unit"


def _assert_one_error(code: int, out: str, err: str, *words: str) -> None:
    assert code == 2 and out == ""
    assert err.startswith("ketasim: error: ") and err.count("\n") == 1, err
    for w in words:
        assert w in err, (w, err)


# ---- validate -----------------------------------------------------------------------------------

TRIAL = """name = "{name}"
seed = {seed}
patients_per_arm = 12

[population]
kind = "trd"
baseline_madrs = [22, 60]

[[arms]]
name = "active"
doses = [ {{ drug = "examplamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = "0 d" }} ]

[[arms]]
name = "placebo"
doses = [ {{ drug = "placebo", route = "iv", amount = "0 mg", at = "0 d" }} ]

[endpoints]
visits = ["1 d"]
response = "50%"
remission = 10

[[published]]
arm = "active"
versus = "placebo"
visit = "1 d"
metric = "change_mean"
value = -100
tolerance = 1
source = "a test target (out of reach: it must be reported as missed)"
"""


def _trials(folder: Path) -> list[Path]:
    paths = []
    for k in range(2):
        path = folder / f"trial-{k}.toml"
        path.write_text(TRIAL.format(name=f"user compound {k}", seed=k + 1))
        paths.append(path)
    return paths


def test_validate_takes_compound_files_also_in_worker_processes(tmp_path: Path) -> None:
    paths = [str(p) for p in _trials(tmp_path)]
    code, out, err = _run("validate", *paths, "--compound", str(EXAMPLE), "--json", "--workers", "2")
    assert code == 0, err
    rows = json.loads(out)["targets"]
    assert [r["file"] for r in rows] == ["trial-0.toml", "trial-1.toml"]
    for row in rows:  # simulated in the workers, which loaded the compound themselves
        assert row["simulated"] is not None and row["simulated"] < 0 and not row["pass"]
    # the same numbers in one process (the public API takes the compound list too)
    unregister("examplamine")
    checks = validate(paths, workers=1, show_progress=False, compounds=[EXAMPLE])
    assert [c.simulated for c in checks] == [r["simulated"] for r in rows]


def test_validate_without_the_compound_names_the_drug(tmp_path: Path) -> None:
    path = _trials(tmp_path)[0]
    _assert_one_error(*_run("validate", str(path)), str(path), "unknown drug 'examplamine'")


def test_validate_compound_errors(tmp_path: Path) -> None:
    path = str(_trials(tmp_path)[0])
    shadow = _shadowing_file(tmp_path)
    _assert_one_error(*_run("validate", path, "--compound", str(shadow)), f"{shadow}: name: 'ketamine' is a shipped drug")
    bad = _bad_file(tmp_path)
    _assert_one_error(*_run("validate", path, "--compound", str(bad)), f"{bad}: {BAD_KEY}", "kg/h")
    _assert_one_error(*_run("validate", path, "--compound", str(tmp_path / "none.toml")), "none.toml")
    _assert_one_error(*_run("validate", path, "--compound", str(EXAMPLE), "--cross-validate"),
                      "--compound: not with --cross-validate")
    with pytest.raises(KetasimInputError, match=re.escape(f"{bad}: {BAD_KEY}")):
        validate([path], compounds=[bad])


# ---- forecast -----------------------------------------------------------------------------------

PATIENT = """{compounds}
[patient]
weight_kg = 75
failed_treatments = 3
doses = [ {{ drug = "examplamine", route = "oral", amount = "50 mg", every = "1 d", from = "0 d", until = "6 d" }} ]
observations = [ {{ at = "0 d", madrs = 32 }}, {{ at = "2 d", madrs = 28 }}, {{ at = "6 d", madrs = 26 }} ]

[plan]
horizon = "2 wk"
intervals = ["1 wk", "2 wk"]
"""


def test_forecast_takes_compound_files(tmp_path: Path) -> None:
    path = tmp_path / "patient.toml"
    path.write_text(PATIENT.format(compounds=""))
    _assert_one_error(*_run("forecast", str(path), "--draws", "300"), "unknown drug 'examplamine'")
    code, out, err = _run("forecast", str(path), "--compound", str(EXAMPLE), "--draws", "300", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["settings"]["maintenance"] == "examplamine oral 50 mg"
    # the patient file can list the compound itself (paths relative to the file): the same forecast
    unregister("examplamine")
    (tmp_path / "compounds").mkdir()
    (tmp_path / "compounds" / "ex.toml").write_text(EXAMPLE.read_text())
    listed = tmp_path / "listed.toml"
    listed.write_text(PATIENT.format(compounds='compounds = ["compounds/ex.toml"]'))
    code, out2, err = _run("forecast", str(listed), "--draws", "300", "--json")
    assert code == 0, err
    again = json.loads(out2)
    assert again["plan"] == result["plan"] and again["forecast"] == result["forecast"]


def test_forecast_compound_errors(tmp_path: Path) -> None:
    path = tmp_path / "patient.toml"
    path.write_text(PATIENT.format(compounds=""))
    shadow = _shadowing_file(tmp_path)
    _assert_one_error(*_run("forecast", str(path), "--compound", str(shadow)), f"{shadow}: name: 'ketamine' is a shipped")
    bad = _bad_file(tmp_path)
    _assert_one_error(*_run("forecast", str(path), "--compound", str(bad)), f"{bad}: {BAD_KEY}")
    for listed, words in ((f'compounds = ["{bad.name}"]', f"{bad}: {BAD_KEY}"),
                          (f'compounds = ["{shadow.name}"]', "'ketamine' is a shipped drug"),
                          ('compounds = ["missing.toml"]', "compounds[0]: no compound file at 'missing.toml'"),
                          ('compounds = "ex.toml"', "compounds: expected a list of compound file paths")):
        path.write_text(PATIENT.format(compounds=listed))
        _assert_one_error(*_run("forecast", str(path), "--draws", "300"), str(path) if "compounds" in words else "",
                          words)
    with pytest.raises(KetasimInputError, match=r"web\.toml: compounds: a patient file given as text reads no"):
        patient_from_text(PATIENT.format(compounds='compounds = ["ex.toml"]'), "web.toml")


def test_patient_file_compounds_register_before_the_doses(tmp_path: Path) -> None:
    (tmp_path / "ex.toml").write_text(EXAMPLE.read_text())
    path = tmp_path / "patient.toml"
    path.write_text(PATIENT.format(compounds='compounds = ["ex.toml"]'))
    record, plan = load_patient_file(path)
    assert DRUGS["examplamine"].source_file == str(tmp_path / "ex.toml")
    assert record.doses.doses[0].drug == "examplamine" and plan.maintenance.drug == "examplamine"
