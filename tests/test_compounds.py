"""Issue 28: a compound as a data file (docs/compound-file.md): shipped drugs load from their files, a user's
compound goes wherever a drug name goes, bad files are one clear error, `ketasim compound` export and check."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketasim import KetasimInputError, Patient, Regimen, dose, simulate
from ketasim.apps.cli import main
from ketasim.model.drugs import (
    DRUG_NAMES,
    DRUGS,
    SHIPPED,
    CompoundPk,
    NoPk,
    read_compound,
    register_compound_file,
    shipped_compound_specs,
    shipped_compound_text,
    unregister,
)
from ketasim.model.drugs.compounds import USER_CMT_START
from ketasim.trials.trial import run_trial
from ketasim.trials.trial_spec import load_trial

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "examplamine.toml"


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Unregister every compound a test registers."""
    before = set(DRUGS)
    yield
    for name in [n for n in DRUGS if n not in before]:
        unregister(name)


def test_every_shipped_drug_loads_from_its_file() -> None:
    assert set(SHIPPED) == set(DRUG_NAMES)
    rebuilt = {s.name: s for s in shipped_compound_specs()}
    for name in DRUG_NAMES:
        spec = DRUGS[name]
        assert spec.source_file == f"compounds/{name}.toml"
        # placebo and saline have no PK; lithium and valproate are "inert" too (no target) but have PK
        assert isinstance(spec.pk, NoPk if name in ("placebo", "saline") else CompoundPk)
        assert rebuilt[name].parameters == spec.parameters and rebuilt[name].cmt == spec.cmt
        for p in spec.parameters.values():
            assert p.unit and p.source


def test_export_prints_the_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compound", "export", "esketamine"]) == 0
    assert capsys.readouterr().out == shipped_compound_text("esketamine")
    assert main(["compound", "export", "nonsense"]) == 2


def _renamed_ketamine(folder: Path) -> Path:
    text = shipped_compound_text("ketamine")
    text = re.sub(r'^name = "ketamine"', 'name = "my_ketamine"', text, flags=re.M)
    path = folder / "compounds" / "my-ketamine.toml"
    path.parent.mkdir()
    path.write_text(text)
    return path


TRIAL = """name = "renamed"
seed = 7
patients_per_arm = 40
{compounds}
[population]
kind = "trd"
baseline_madrs = [22, 60]

[[arms]]
name = "active"
doses = [ {{ drug = "{drug}", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = ["0 d", "3 d"] }} ]

[[arms]]
name = "saline"
doses = [ {{ drug = "saline", route = "iv", amount = "0 mg", at = ["0 d", "3 d"] }} ]

[endpoints]
visits = ["1 d", "7 d"]
response = "50%"
remission = 10
"""


def test_an_exported_renamed_compound_in_a_trial_file_gives_the_shipped_results(tmp_path: Path,
                                                                                 clean_registry: None) -> None:
    _renamed_ketamine(tmp_path)
    shipped = tmp_path / "shipped.toml"
    shipped.write_text(TRIAL.format(compounds="", drug="ketamine"))
    mine = tmp_path / "mine.toml"
    mine.write_text(TRIAL.format(compounds='compounds = ["compounds/my-ketamine.toml"]', drug="my_ketamine"))
    a = run_trial(load_trial(shipped), show_progress=False).to_json()["arms"]
    spec = load_trial(mine)
    assert spec.compounds == (str(tmp_path / "compounds" / "my-ketamine.toml"),)
    b = run_trial(spec, show_progress=False).to_json()["arms"]
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert load_trial(mine).compounds == spec.compounds  # the same file again is fine
    # the exported file kept the shipped CMT number (taken by ketamine): the copy got the first free one
    assert DRUGS["my_ketamine"].cmt["iv"] >= USER_CMT_START and DRUGS["ketamine"].cmt["iv"] == 1


def test_a_user_compound_may_not_shadow_a_shipped_name(tmp_path: Path, clean_registry: None) -> None:
    path = tmp_path / "ketamine.toml"
    path.write_text(re.sub(r"^cmt = .*$", "", shipped_compound_text("ketamine"), flags=re.M))
    with pytest.raises(KetasimInputError, match=r"ketamine\.toml: name: 'ketamine' is a shipped drug"):
        register_compound_file(path)
    other = tmp_path / "other.toml"
    other.write_text(EXAMPLE.read_text())
    register_compound_file(EXAMPLE)
    with pytest.raises(KetasimInputError, match=r"other\.toml: name: a compound called 'examplamine' is already"):
        register_compound_file(other)


def test_simulate_takes_compound_files(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       clean_registry: None) -> None:
    regimen = tmp_path / "r.toml"
    regimen.write_text('doses = [ { drug = "examplamine", route = "oral", amount = "50 mg", at = "0 d" } ]\n')
    out = tmp_path / "out.csv"
    assert main(["simulate", "--regimen", str(regimen), "--days", "1", "--compound", str(EXAMPLE),
                 "--csv", str(out)]) == 0
    assert "plasma_examplamine_ng_ml" in out.read_text().splitlines()[0]


def test_engines_agree_on_a_user_compound_and_sbml_exports_it(clean_registry: None) -> None:
    register_compound_file(EXAMPLE)
    regimen = Regimen.of(dose("examplamine", "iv", "0.5 mg/kg", infusion="40 min", at=["0 d", "3 d"]))
    times = np.arange(0.0, 7 * 24.0 + 1e-9, 1.0)
    fast = simulate(regimen, Patient(), days=7, engine="fast", times_h=times)
    ref = simulate(regimen, Patient(), days=7, engine="reference", times_h=times)
    np.testing.assert_allclose(fast["madrs"], ref["madrs"], atol=0.05)
    np.testing.assert_allclose(fast["nmda_occupancy"], ref["nmda_occupancy"], atol=1e-6)
    from ketasim.interchange.sbml import export_sbml

    text = export_sbml(regimen, Patient(), 7)
    assert "examplamine_iv_central_mg" in text and "examplamine_iv_hydroxy_examplamine_central_mg" in text


def test_compound_check_prints_the_card_and_the_json(capsys: pytest.CaptureFixture[str],
                                                     clean_registry: None) -> None:
    assert main(["compound", "check", str(EXAMPLE), "--no-trial"]) == 0
    text = capsys.readouterr().out
    assert "Cmax ng/mL" in text and "peak NMDA occupancy" in text and "hydroxy_examplamine" in text
    assert main(["compound", "check", str(EXAMPLE), "--patients", "20", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert {"pk", "peak_nmda_occupancy", "peak_dissociation_cadss", "peak_systolic_rise_mmhg",
            "madrs_change_vs_placebo"} <= set(card)
    assert set(card["pk"]["examplamine"]) == {"cmax_ng_ml", "tmax_h", "auc_ng_h_ml", "half_life_h"}
    for design in ("single dose", "twice weekly"):
        for visit in ("1 d", "28 d"):
            v = card["madrs_change_vs_placebo"][design][visit]
            assert v["low"] <= v["mean"] <= v["high"]


# ---- properties ---------------------------------------------------------------------------------------

def _value(value: float, unit: str, variability: list[str] | None = None) -> str:
    extra = f", variability = {json.dumps(variability)}" if variability else ""
    return f'{{ value = {value!r}, unit = "{unit}", source = "assumed: test"{extra} }}'


@st.composite
def compound_files(draw: st.DrawFn) -> str:
    """A valid compound file: 1-3 compartments, IV or oral, an optional metabolite and an NMDA target."""
    pos = st.floats(0.05, 50.0)
    route = draw(st.sampled_from(["iv", "oral"]))
    n_periph = draw(st.integers(0, 2))
    periph = ", ".join(f"{{ volume = {_value(draw(st.floats(5, 500)), 'L')}, clearance = "
                       f"{_value(draw(pos), 'L/h', ['cl_factor'])} }}" for _ in range(n_periph))
    absorption = ('{ kind = "intravenous" }' if route == "iv" else
                  f'{{ kind = "first_order", ka = {_value(draw(st.floats(0.1, 5)), "1/h")}, '
                  f'bioavailability = {_value(draw(st.floats(0.05, 1.0)), "1")} }}')
    met = draw(st.booleans())
    text = f"""name = "prop_compound"
molar_mass_g_mol = {_value(draw(st.floats(100, 600)), "g/mol")}
[species.parent]
effect_site = {{ ke0 = {_value(draw(st.floats(0.1, 20)), "1/h")} }}
nmda.ki = {_value(draw(st.floats(0.01, 100)), "uM")}
[species.met]
[routes.{route}]
absorption = {absorption}
[[routes.{route}.parents]]
species = "parent"
disposition.central_volume = {_value(draw(st.floats(5, 500)), "L", ["v_factor"])}
disposition.clearance = {_value(draw(pos), "L/h", ["cl_factor"])}
disposition.peripheral = [{periph}]
"""
    if met:
        text += f"""[[routes.{route}.parents.metabolites]]
species = "met"
fraction_formed = {_value(draw(st.floats(0.01, 1.0)), "1")}
disposition.central_volume = {_value(draw(st.floats(5, 500)), "L")}
disposition.half_life = {_value(draw(st.floats(0.5, 100)), "h")}
"""
    return text


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=compound_files())
def test_any_valid_compound_file_gives_finite_outputs(text: str, tmp_path: Path) -> None:
    path = tmp_path / "prop.toml"
    path.write_text(text)
    spec = register_compound_file(path)
    try:
        route = spec.routes[0]
        amount = "0.5 mg/kg" if route == "iv" else "50 mg"
        table = simulate(Regimen.of(dose(spec.name, route, amount, at=["0 d", "1 d"])), Patient(), days=2,
                         engine="fast", times_h=np.arange(0.0, 48.0, 2.0))
        assert np.all(np.isfinite(table.select_dtypes("number").to_numpy()))
    finally:
        unregister(spec.name)


VALID = EXAMPLE.read_text()
#: (mutation of the example, the key the error must name)
MUTATIONS = [
    (('unit = "mL/min/kg"', 'unit = "kg/h"'), "routes.iv.parents[0].disposition.clearance.unit"),
    (('clearance = { value = 12.0', 'clearance = { value = -12.0'), "routes.iv.parents[0].disposition.clearance.value"),
    (('[species.examplamine]\n', '[species.examplamine]\nbogus = 1\n'), "species.examplamine.bogus"),
    (('ki = { value = 2.0, unit = "uM", source = "assumed: invented" }', ''), "species.examplamine.nmda"),
    (('species = "examplamine"\ndisposition = {\n  central_volume', 'species = "examplamine"\ndisposition = {\n  volume'),
     "routes.iv.parents[0].disposition.volume"),
    (('fraction_formed = { value = 0.3', 'fraction_formed = { value = 1.3'),
     "routes.iv.parents[0].metabolites[0].fraction_formed.value"),
    (('ke0 = { value = 3.0, unit = "1/h", source = "assumed: invented" },\n',
      'ke0 = { value = 3.0, unit = "1/h" },\n'), "species.examplamine.effect_site.ke0.source"),
]


@settings(max_examples=len(MUTATIONS) * 2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(MUTATIONS), via_cli=st.booleans())
def test_a_mutated_file_is_one_error_naming_the_file_and_the_key(case: tuple[tuple[str, str], str], via_cli: bool,
                                                                 tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (old, new), key = case
    assert old in VALID
    path = tmp_path / "bad.toml"
    path.write_text(VALID.replace(old, new, 1))
    if via_cli:
        capsys.readouterr()
        assert main(["compound", "check", str(path), "--no-trial"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{path}: {key}" in err
    else:
        with pytest.raises(KetasimInputError) as info:
            read_compound(path)
        assert str(info.value).startswith(f"{path}: {key}")


def test_compound_check_takes_every_route(tmp_path: Path, clean_registry: None,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from ketasim.model.drugs import ROUTES

    path = tmp_path / "k.toml"
    path.write_text(re.sub(r'^name = "ketamine"', 'name = "k_user"', shipped_compound_text("ketamine"), flags=re.M))
    for route in ROUTES:
        assert main(["compound", "check", str(path), "--route", route, "--no-trial", "--json"]) == 0, route
        card = json.loads(capsys.readouterr().out)
        assert card["route"] == route
