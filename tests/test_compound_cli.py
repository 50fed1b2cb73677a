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
from typing import Any

import pandas as pd
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


# ---- compound check: the daily design of a route taken at home ----------------------------------

def test_compound_check_adds_a_daily_course_for_an_oral_route(capsys: pytest.CaptureFixture[str]) -> None:
    from ketasim.apps.cli.compound import DAILY, card_text

    assert DAILY[0] == "0 d" and DAILY[-1] == "27 d" and len(DAILY) == 28
    cards = {}
    for route in ("oral", "iv"):
        assert main(["compound", "check", str(EXAMPLE), "--route", route, "--patients", "12", "--json"]) == 0
        cards[route] = json.loads(capsys.readouterr().out)
    assert set(cards["iv"]["madrs_change_vs_placebo"]) == {"single dose", "twice weekly"}
    oral = cards["oral"]["madrs_change_vs_placebo"]
    assert set(oral) == {"single dose", "twice weekly", "daily"}
    for visit in ("1 d", "28 d"):
        v = oral["daily"][visit]
        assert v["low"] < v["mean"] < v["high"]
    # 28 daily doses are not the single dose: by day 28 the two predictions differ
    assert oral["daily"]["28 d"]["mean"] != oral["single dose"]["28 d"]["mean"]
    assert re.search(r"^    daily +day 1: [+-]\d", card_text(cards["oral"]), flags=re.M)


# ---- breadth of the format (issue 28 item 5): the documented examples load and simulate --------------------

EXAMPLES = EXAMPLE.parent


def _table(drug: str, route: str, amount: str, hours: float, **kw: Any) -> pd.DataFrame:
    import numpy as np

    from ketasim import Regimen, dose, simulate

    times = np.arange(0.0, hours + 1e-9, 1.0 / 60.0)
    return simulate(Regimen.of(dose(drug, route, amount, at="0 d", **kw)), "typical-trd", days=max(1, hours / 24),
                    times_h=times)


def test_a_fixed_dose_combination_with_a_clearance_factor_and_an_active_metabolite(tmp_path: Path) -> None:
    import numpy as np

    from ketasim import register_compound_file
    from ketasim.apps.cli.compound import not_modelled

    spec = register_compound_file(EXAMPLES / "combination.toml")
    table = _table("combinamine", "oral", "100 mg", 240.0)
    plasma = sorted(c for c in table.columns if c.startswith("plasma_"))
    assert plasma == ["plasma_blockerine_ng_ml", "plasma_inhibistat_ng_ml", "plasma_nor_blockerine_ng_ml"]
    # AUC of each substance = its share x F x dose / its clearance (the inhibited one for the blocker)
    t = table["time_h"].to_numpy()
    auc = {c: float(np.trapezoid(table[c].to_numpy(), t)) / 1000.0 for c in plasma}  # mg h/L
    assert auc["plasma_blockerine_ng_ml"] == pytest.approx(100 * 0.3 * 0.6 / 12.0, rel=0.02)
    inhibistat_cl = np.log(2) * 1500.0 / 20.0
    assert auc["plasma_inhibistat_ng_ml"] == pytest.approx(100 * 0.7 * 0.6 / inhibistat_cl, rel=0.03)
    assert not_modelled(spec) == ["blockerine sigma1", "inhibistat cyp2d6"]
    assert spec.parameters["species.blockerine.other_targets.sigma1.ki"].unit == "uM"
    # the metabolite is itself an NMDA blocker: without its affinity the occupancy is lower
    unregister("combinamine")
    text = (EXAMPLES / "combination.toml").read_text()
    weaker = tmp_path / "no-active-metabolite.toml"
    line = next(x for x in text.splitlines() if x.startswith("nmda.ki = { value = 4.0"))
    weaker.write_text(text.replace(line, ""))
    register_compound_file(weaker)
    without = _table("combinamine", "oral", "100 mg", 240.0)
    assert without["nmda_occupancy"].max() < table["nmda_occupancy"].max()
    np.testing.assert_allclose(without["plasma_blockerine_ng_ml"], table["plasma_blockerine_ng_ml"])


def test_an_inhaled_gas_by_inspired_fraction_has_its_wash_in_and_wash_out() -> None:
    from ketasim import register_compound_file

    register_compound_file(EXAMPLES / "inhaled-gas.toml")
    # 50% N2O for 60 min: inspired concentration c_I = F_I P / (R T) x M; dose = V_A x c_I x duration
    c_i = 0.5 / (0.082057 * 310.15) * 44.013 * 1000.0  # mg/L of gas
    amount = 5.25 * c_i * 60.0  # mg (alveolar ventilation 5.25 L/min)
    table = _table("inhaled_n2o_example", "iv", f"{amount:.0f} mg", 3.0, infusion="60 min")
    c = table.set_index(table["time_h"].round(4))["plasma_inhaled_n2o_example_ng_ml"] / 1000.0  # mg/L
    equilibrium = 0.47 * c_i  # blood at equilibrium with the inspired gas (blood/gas partition 0.47)
    assert c[round(10 / 60, 4)] > 0.9 * equilibrium  # wash-in within minutes
    assert c[round(59 / 60, 4)] == pytest.approx(equilibrium, rel=0.05)
    assert c[round(75 / 60, 4)] < 0.1 * equilibrium  # wash-out within minutes
    assert 0.3 < table["nmda_occupancy"].max() < 0.5


def test_a_glycine_site_partial_agonist_is_carried_not_modelled(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compound", "check", str(EXAMPLES / "glycine-site.toml"), "--no-trial", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["not_modelled"] == ["glycinex nmda_glycine_site"]
    assert card["peak_nmda_occupancy"] == 0.0 and card["pk"]["glycinex"]["cmax_ng_ml"] > 0
    assert DRUGS["glycinex"].parameters["species.glycinex.other_targets.nmda_glycine_site.intrinsic_efficacy"].value \
        == 0.5


@pytest.mark.parametrize(("old", "new", "key"), [
    ("other_targets.nmda_glycine_site]", "other_targets.nmda]", "species.glycinex.other_targets.nmda"),
    ('action = "partial agonist"', 'action = "partial agonist"\nemax = 1', "species.glycinex.other_targets"
                                                                            ".nmda_glycine_site.emax"),
    ('intrinsic_efficacy = { value = 0.5', 'intrinsic_efficacy = { value = -0.5',
     "species.glycinex.other_targets.nmda_glycine_site.intrinsic_efficacy.value"),
    ('species = "glycinex"\n', 'species = "glycinex"\noutput = "9x"\n', "routes.oral.parents[0].output"),
])
def test_bad_breadth_keys_are_one_error_naming_the_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    text = (EXAMPLES / "glycine-site.toml").read_text()
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    code, out, err = _run("compound", "check", str(path), "--no-trial")
    _assert_one_error(code, out, err, f"{path}: {key}")


def test_a_parent_output_may_not_be_a_metabolite_output(tmp_path: Path) -> None:
    text = (EXAMPLES / "combination.toml").read_text().replace('output = "inhibistat"', 'output = "nor_blockerine"')
    path = tmp_path / "bad.toml"
    path.write_text(text)
    _assert_one_error(*_run("compound", "check", str(path), "--no-trial"),
                      f"{path}: routes.oral.parents[0].metabolites[0].output: expected a plasma output name other "
                      "than a parent's")


def test_engines_and_sbml_agree_on_the_combination() -> None:
    import numpy as np

    from ketasim import Patient, Regimen, dose, register_compound_file, simulate
    from ketasim.interchange.sbml import export_sbml

    register_compound_file(EXAMPLES / "combination.toml")
    regimen = Regimen.of(dose("combinamine", "oral", "100 mg", at=["0 d", "1 d"]))
    times = np.arange(0.0, 72.0 + 1e-9, 1.0)
    fast = simulate(regimen, Patient(), days=3, engine="fast", times_h=times)
    ref = simulate(regimen, Patient(), days=3, engine="reference", times_h=times)
    for column in ("plasma_blockerine_ng_ml", "plasma_inhibistat_ng_ml", "plasma_nor_blockerine_ng_ml"):
        np.testing.assert_allclose(fast[column], ref[column], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fast["nmda_occupancy"], ref["nmda_occupancy"], atol=1e-6)
    text = export_sbml(regimen, Patient(), 3)
    assert "plasma_blockerine_ng_ml" in text and "plasma_inhibistat_ng_ml" in text and "plasma_combinamine" not in text
