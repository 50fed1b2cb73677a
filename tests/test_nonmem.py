"""NONMEM-style CSV: CMT table, export, import, round trips and error messages."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ketasim import DRUGS, KetasimInputError, Regimen, dose, preset
from ketasim.interchange.nonmem import CMT_TABLE, COLUMNS, read_nonmem_csv, regimen_from_nonmem, write_nonmem_csv

HEADER = "ID,TIME,AMT,RATE,EVID,CMT,II,ADDL"


def _events(regimen: Regimen, horizon_h: float, weight_kg: float) -> list[tuple[float, str, str, float, float]]:
    """(time h, drug, route, mg, infusion h) of every dose, comparable across mg/kg and mg."""
    return sorted((round(e.time_h, 9), e.drug, e.route, round(e.amount.mg_for(weight_kg), 9), round(e.infusion_h, 9))
                  for e in regimen.events(horizon_h))


def _write(tmp_path: Path, text: str, name: str = "doses.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cmt_table_covers_every_drug_route_once() -> None:
    allowed = {(name, route) for name, spec in DRUGS.items() for route in spec.routes}
    assert set(CMT_TABLE.values()) == allowed
    assert len(set(CMT_TABLE.values())) == len(CMT_TABLE)
    assert CMT_TABLE[1] == ("ketamine", "iv") and CMT_TABLE[2] == ("esketamine", "intranasal")


def test_export_converts_mg_per_kg_and_infusion_rate(tmp_path: Path) -> None:
    path = write_nonmem_csv(preset("ketamine-iv-single"), tmp_path / "k.csv", weight_kg=80.0)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == 1
    row = rows[0]
    assert float(row["AMT"]) == pytest.approx(40.0)  # 0.5 mg/kg x 80 kg
    assert float(row["RATE"]) == pytest.approx(60.0)  # 40 mg over 40 min
    assert (row["EVID"], row["CMT"], row["DRUG"], row["ROUTE"]) == ("1", "1", "ketamine", "iv")


@pytest.mark.parametrize(("name", "horizon_h", "weight_kg"), [("ketamine-iv-6x", None, 80.0),
                                                              ("esketamine-label", 70 * 24.0, 70.0)])
def test_round_trip(tmp_path: Path, name: str, horizon_h: float | None, weight_kg: float) -> None:
    original = preset(name)
    path = write_nonmem_csv(original, tmp_path / "rt.csv", weight_kg=weight_kg, horizon_h=horizon_h)
    back = regimen_from_nonmem(path)
    horizon = horizon_h if horizon_h is not None else 30 * 24.0
    assert _events(back, horizon, 1.0) == _events(original, horizon, weight_kg)
    assert all(not d.amount.per_kg for d in back.doses)


def test_repeated_dose_becomes_one_record_with_ii_addl(tmp_path: Path) -> None:
    regimen = Regimen.of(dose("escitalopram", "oral", "10 mg", every="1 d", from_="2 d"))
    path = write_nonmem_csv(regimen, tmp_path / "e.csv", horizon_h=10 * 24.0)
    rows = list(csv.DictReader(path.open(newline="")))
    assert len(rows) == 1
    assert (float(rows[0]["TIME"]), float(rows[0]["II"]), int(rows[0]["ADDL"])) == (48.0, 24.0, 8)
    with pytest.raises(KetasimInputError, match="horizon_h"):
        write_nonmem_csv(regimen, tmp_path / "open.csv")


def test_ii_addl_expand_on_import(tmp_path: Path) -> None:
    path = _write(tmp_path, f"{HEADER}\n1,12,10,0,1,5,24,6\n1,0,.,.,0,.,.,.\n")
    regimen = regimen_from_nonmem(path)
    (d,) = regimen.doses
    assert (d.drug, d.route, d.amount.value_mg, d.amount.per_kg) == ("escitalopram", "oral", 10.0, False)
    assert (d.every_h, d.from_h, d.until_h) == (24.0, 12.0, 12.0 + 6 * 24.0)
    assert [e.time_h for e in regimen.events()] == [12.0 + 24.0 * i for i in range(7)]


def test_infusion_and_optional_drug_route_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "ID,TIME,AMT,RATE,CMT,DRUG,ROUTE,DV\n7,0,35,52.5,1,ketamine,iv,.\n7,48,35,52.5,1,,,.\n")
    regimen = regimen_from_nonmem(path, patient_id=7)
    assert [(e.time_h, e.amount.value_mg, e.infusion_h) for e in regimen.events()] == [
        (0.0, 35.0, pytest.approx(2 / 3)), (48.0, 35.0, pytest.approx(2 / 3))]


def test_several_ids(tmp_path: Path) -> None:
    path = _write(tmp_path, f"{HEADER}\n1,0,56,0,1,2,0,0\n2,0,84,0,1,2,0,0\n")
    regimens = read_nonmem_csv(path)
    assert set(regimens) == {"1", "2"}
    assert regimen_from_nonmem(path, patient_id=2).doses[0].amount.value_mg == 84.0
    with pytest.raises(KetasimInputError, match="several subjects"):
        regimen_from_nonmem(path)
    with pytest.raises(KetasimInputError, match="no dose records for ID 3"):
        regimen_from_nonmem(path, patient_id=3)


@pytest.mark.parametrize(("text", "match"), [
    (f"{HEADER}\n1,0,35,0,1,1,0,0\n1,48,abc,0,1,1,0,0\n",
     r"doses\.csv line 3, column AMT: expected a number >= 0, got 'abc'"),
    (f"{HEADER}\n1,-1,35,0,1,1,0,0\n", r"line 2, column TIME: expected a number >= 0, got '-1'"),
    (f"{HEADER}\n1,0,-5,0,1,1,0,0\n", r"line 2, column AMT: expected a number >= 0"),
    (f"{HEADER}\n1,0,35,0,1,99,0,0\n", r"line 2, column CMT: expected a compartment number \(1 ketamine/iv"),
    (f"{HEADER}\n1,0,35,0,1,1,0,2\n", r"line 2, column II: expected a number > 0"),
    (f"{HEADER}\n1,0,35,0,1,1,0,1.5\n", r"line 2, column ADDL: expected a whole number"),
    (f"{HEADER}\n1,0,35,0,3,1,0,0\n", r"line 2, column EVID: expected 1 \(dose\) or 0"),
    (f"{HEADER}\n1,0,10,5,1,5,0,0\n", r"line 2, column RATE: expected 0: CMT 5 is escitalopram/oral"),
    (f"{HEADER},SS\n1,0,35,0,1,1,0,0,1\n", r"line 2, column SS: expected 0: steady-state"),
    (f"{HEADER},DRUG\n1,0,35,0,1,1,0,0,esketamine\n", r"line 2, column DRUG: expected 'ketamine'"),
    (f"{HEADER}\n1,0,35,0,1,1,0\n", r"line 2: expected 8 fields \(as in the header\), got 7"),
    ("ID,TIME,RATE,CMT\n1,0,0,1\n", r"line 1: missing required column\(s\) AMT"),
    ("", r"doses\.csv: empty file"),
    (f"{HEADER}\n1,0,.,.,0,.,.,.\n", r"no dose records"),
])
def test_malformed_input(tmp_path: Path, text: str, match: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(KetasimInputError, match=match):
        read_nonmem_csv(path)


def test_comment_rows_and_hash_header(tmp_path: Path) -> None:
    path = _write(tmp_path, f"#{HEADER}\n# a comment\n1,0,35,0,1,1,0,0\n\n")
    assert [e.time_h for e in regimen_from_nonmem(path).events()] == [0.0]
