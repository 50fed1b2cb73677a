"""Dose records at the edges: NONMEM-style CSV import and export.

Columns (one row per record; TIME and II in hours, AMT in mg, RATE in mg/h):

    ID, TIME, AMT, RATE, EVID, CMT, II, ADDL, DRUG, ROUTE

- AMT is the absolute amount in mg (mg/kg doses are converted for one body weight on export).
- RATE > 0 makes a zero-order IV infusion of duration AMT/RATE h; RATE = 0 is a bolus.
- EVID 1 is a dose; EVID 0 (observation) rows are skipped on import.
- II/ADDL: ADDL further doses every II h after TIME (ADDL + 1 doses in all).
- CMT names the (drug, route) pair through the drug entries' fixed numbers (`CMT_TABLE` below). DRUG and ROUTE
  are extension columns, written for the reader's benefit; on import they are optional and,
  when given, must agree with CMT.
- SS (steady state) is not supported: if the column is present it must be 0.
- Other columns (DV, MDV, WT, ...) are ignored on import. "." or an empty cell in an optional
  column means its default (RATE, II, ADDL, SS: 0; EVID: 1).

A zero-amount infusion (e.g. saline) exports as RATE 0, so it re-imports as a bolus; inert
drugs have no PK, so simulations are unchanged.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable
from pathlib import Path

from ketasim.checks.dose_limits import dose_limits
from ketasim.errors import KetasimInputError
from ketasim.io.units import Amount
from ketasim.model.drugs import cmt_table
from ketasim.model.patient import PATIENT_RANGES
from ketasim.model.regimen import Dose, Regimen

#: NONMEM compartment numbers of the shipped (drug, route) pairs, from the drug entries (`DrugSpec.cmt`).
#: Never renumber: data sets written by earlier versions must keep their meaning; new pairs get new
#: numbers. Import and export use `cmt_table()`, so drugs registered at run time are included.
CMT_TABLE: dict[int, tuple[str, str]] = cmt_table()
#: the heaviest valid patient (kg): an AMT above a mg/kg ceiling for this weight is impossible for anyone
MAX_WEIGHT_KG = PATIENT_RANGES["weight_kg"][1][1]
CMT_OF: dict[tuple[str, str], int] = {pair: cmt for cmt, pair in CMT_TABLE.items()}

COLUMNS: tuple[str, ...] = ("ID", "TIME", "AMT", "RATE", "EVID", "CMT", "II", "ADDL", "DRUG", "ROUTE")
REQUIRED_COLUMNS: tuple[str, ...] = ("ID", "TIME", "AMT", "CMT")
_MISSING = ("", ".")


def _fmt(value: float) -> str:
    """A number for the CSV: 12 significant digits, no trailing '.0' noise."""
    return f"{value:.12g}"


def cmt_for(drug: str, route: str) -> int:
    """The CMT number of (drug, route), or an error naming the pair."""
    cmt_of = {pair: cmt for cmt, pair in cmt_table().items()}
    if (drug, route) not in cmt_of:
        raise KetasimInputError(f"no NONMEM CMT number for {drug}/{route}; known: {_cmt_list()}")
    return cmt_of[(drug, route)]


def _cmt_list() -> str:
    return ", ".join(f"{c} {d}/{r}" for c, (d, r) in cmt_table().items())


def nonmem_records(regimen: Regimen, weight_kg: float = 70.0, horizon_h: float | None = None,
                   patient_id: int | str = 1) -> list[dict[str, str]]:
    """Dose records (dicts keyed by COLUMNS) for `regimen`, sorted by TIME then CMT.

    mg/kg amounts are converted for `weight_kg` (kg). A repeated dose becomes one record with
    II/ADDL; if it has no `until`, `horizon_h` (h) bounds it, and is then required.
    """
    if not weight_kg > 0:
        raise KetasimInputError(f"weight_kg: must be > 0 kg, got {weight_kg}")
    rows: list[tuple[float, int, dict[str, str]]] = []
    for d in regimen.doses:
        cmt = cmt_for(d.drug, d.route)
        amount_mg = d.amount.mg_for(weight_kg)
        rate = amount_mg / d.infusion_h if d.infusion_h > 0 else 0.0
        if d.every_h is None:
            starts = [(t, 0.0, 0) for t in d.times()]
        else:
            end = math.inf if d.until_h is not None else horizon_h
            if end is None:
                raise KetasimInputError(
                    f"{d.drug} every {d.every_h:g} h has no end ('until'); give horizon_h to export it")
            times = d.times(end)
            starts = [(times[0], d.every_h, len(times) - 1)] if times else []
        for time_h, ii, addl in starts:
            record = {"ID": str(patient_id), "TIME": _fmt(time_h), "AMT": _fmt(amount_mg), "RATE": _fmt(rate),
                      "EVID": "1", "CMT": str(cmt), "II": _fmt(ii if addl else 0.0), "ADDL": str(addl),
                      "DRUG": d.drug, "ROUTE": d.route}
            rows.append((time_h, cmt, record))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in rows]


def write_nonmem_csv(regimen: Regimen, path: str | os.PathLike[str], weight_kg: float = 70.0,
                     horizon_h: float | None = None, patient_id: int | str = 1) -> Path:
    """Write `regimen` as a NONMEM-style dose data set (see the module docstring); returns the path."""
    records = nonmem_records(regimen, weight_kg, horizon_h, patient_id)
    out = Path(path)
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(records)
    return out


class _Row:
    """One data row, with error messages that name the file, line and column."""

    def __init__(self, source: str, line: int, cells: dict[str, str]) -> None:
        self.source, self.line, self.cells = source, line, cells

    def error(self, column: str, expected: str) -> KetasimInputError:
        got = self.cells.get(column, "")
        return KetasimInputError(f"{self.source} line {self.line}, column {column}: expected {expected}, got {got!r}")

    def number(self, column: str, default: float | None = None, minimum: float = 0.0,
               strict: bool = False) -> float:
        text = self.cells.get(column, "").strip()
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        if text in _MISSING:
            if default is None:
                raise self.error(column, f"a number {bound}")
            return default
        try:
            value = float(text)
        except ValueError:
            raise self.error(column, f"a number {bound}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise self.error(column, f"a number {bound}")
        return value

    def integer(self, column: str, default: int | None = None, minimum: int = 0) -> int:
        value = self.number(column, None if default is None else float(default), float(minimum))
        if value != int(value):
            raise self.error(column, f"a whole number >= {minimum}")
        return int(value)


def _normalise_id(text: str) -> str:
    """'1', '1.0' and ' 1 ' are the same ID; other text is kept as written."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        return text
    return str(int(value)) if math.isfinite(value) and value == int(value) else text


def read_rows(path: str | os.PathLike[str]) -> tuple[str, list[_Row]]:
    """Header-checked rows of the file; comment rows (first cell starting with '#') are skipped."""
    source = os.fspath(path)
    try:
        return _read_rows_checked(path, source)
    except UnicodeDecodeError as err:
        raise KetasimInputError(f"{source}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8") from None
    except csv.Error as err:
        raise KetasimInputError(f"{source}: not a readable CSV file ({err})") from None


def _read_rows_checked(path: str | os.PathLike[str], source: str) -> tuple[str, list[_Row]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header: list[str] | None = None
        rows: list[_Row] = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip().upper() for c in cells]
                header[0] = header[0].lstrip("#").strip()
                missing = [c for c in REQUIRED_COLUMNS if c not in header]
                if missing:
                    raise KetasimInputError(
                        f"{source} line {reader.line_num}: missing required column(s) {', '.join(missing)}; "
                        f"expected a header such as {','.join(COLUMNS)}")
                duplicated = sorted({c for c in header if header.count(c) > 1 and c})
                if duplicated:
                    raise KetasimInputError(
                        f"{source} line {reader.line_num}: duplicated column(s) {', '.join(duplicated)}")
                continue
            if cells[0].lstrip().startswith("#"):
                continue
            if len(cells) != len(header):
                raise KetasimInputError(
                    f"{source} line {reader.line_num}: expected {len(header)} fields (as in the header), "
                    f"got {len(cells)}")
            rows.append(_Row(source, reader.line_num, dict(zip(header, cells, strict=True))))
    if header is None:
        raise KetasimInputError(f"{source}: empty file; expected a header {','.join(COLUMNS)} and dose records")
    return source, rows


def _dose_record(row: _Row) -> tuple[str, str, str, float, float, float, float, int] | None:
    """(ID, drug, route, TIME h, AMT mg, infusion h, II h, ADDL) of a dose row; None for an observation."""
    evid = row.integer("EVID", default=1)
    if evid == 0:
        return None
    if evid != 1:
        raise row.error("EVID", "1 (dose) or 0 (observation, skipped); other event kinds are not supported")
    patient = _normalise_id(row.cells["ID"])
    if not patient:
        raise row.error("ID", "a subject identifier")
    if row.number("SS", default=0.0) != 0.0:
        raise row.error("SS", "0: steady-state doses are not supported; give the doses explicitly (II/ADDL)")
    time_h = row.number("TIME")
    amount_mg = row.number("AMT")
    rate = row.number("RATE", default=0.0)
    try:
        value = float(row.cells["CMT"].strip())
    except ValueError:
        value = math.nan
    cmt = int(value) if value.is_integer() else -1
    table = cmt_table()
    if cmt not in table:
        raise row.error("CMT", f"a compartment number ({_cmt_list()})")
    drug, route = table[cmt]
    limit = dose_limits().get((drug, route))
    if limit is not None and amount_mg > limit.ceiling_dose * (MAX_WEIGHT_KG if limit.unit == "mg/kg" else 1.0):
        raise row.error("AMT", f"a dose (mg) of {drug} {route} at most its hard ceiling of {limit.ceiling_dose:g} "
                               f"{limit.unit}" + (f" (for {MAX_WEIGHT_KG:g} kg)" if limit.unit == "mg/kg" else ""))
    for column, expected in (("DRUG", drug), ("ROUTE", route)):
        given = row.cells.get(column, "").strip().lower()
        if given not in _MISSING and given != expected:
            raise row.error(column, f"{expected!r} (CMT {cmt} is {drug}/{route}) or an empty cell")
    if rate > 0 and route != "iv":
        raise row.error("RATE", f"0: CMT {cmt} is {drug}/{route} and only IV doses can be infusions")
    infusion_h = amount_mg / rate if rate > 0 else 0.0
    addl = row.integer("ADDL", default=0)
    ii = row.number("II", default=0.0)
    if addl > 0 and not ii > 0:
        raise row.error("II", "a number > 0 (hours between doses) when ADDL > 0")
    return patient, drug, route, time_h, amount_mg, infusion_h, ii, addl


def _group_doses(records: Iterable[tuple[str, str, float, float, float, float, int]]) -> tuple[Dose, ...]:
    """Single doses with the same drug, route, amount and infusion share one Dose (explicit times)."""
    singles: dict[tuple[str, str, float, float], list[float]] = {}
    doses: list[Dose | tuple[str, str, float, float]] = []
    for drug, route, time_h, amount_mg, infusion_h, ii, addl in records:
        if addl > 0:
            doses.append(Dose(drug, route, Amount(amount_mg, per_kg=False), every_h=ii, from_h=time_h,
                              until_h=time_h + addl * ii, infusion_h=infusion_h))
            continue
        key = (drug, route, amount_mg, infusion_h)
        if key not in singles:
            singles[key] = []
            doses.append(key)
        singles[key].append(time_h)
    return tuple(d if isinstance(d, Dose) else Dose(d[0], d[1], Amount(d[2], per_kg=False),
                                                     tuple(sorted(singles[d])), infusion_h=d[3]) for d in doses)


def read_nonmem_csv(path: str | os.PathLike[str]) -> dict[str, Regimen]:
    """Regimens by subject ID from a NONMEM-style CSV (amounts absolute mg, times h)."""
    if not isinstance(path, str | os.PathLike):
        raise KetasimInputError(f"read_nonmem_csv: expected a file path (str or pathlib.Path), got {type(path).__name__}")
    source, rows = read_rows(path)
    by_id: dict[str, list[tuple[str, str, float, float, float, float, int]]] = {}
    for row in rows:
        record = _dose_record(row)
        if record is not None:
            by_id.setdefault(record[0], []).append(record[1:])
    if not by_id:
        raise KetasimInputError(f"{source}: no dose records (EVID 1)")
    stem = Path(source).stem
    return {pid: Regimen(_group_doses(recs), stem if len(by_id) == 1 else f"{stem} ID {pid}")
            for pid, recs in by_id.items()}


def regimen_from_nonmem(path: str | os.PathLike[str], patient_id: int | str | None = None) -> Regimen:
    """The regimen of one subject of a NONMEM-style CSV (the only one, or `patient_id`)."""
    regimens = read_nonmem_csv(path)
    if patient_id is None:
        if len(regimens) > 1:
            raise KetasimInputError(f"{os.fspath(path)}: several subjects (ID {', '.join(regimens)}); choose one "
                                    "(patient_id, or --id on the command line)")
        return next(iter(regimens.values()))
    key = _normalise_id(str(patient_id))
    if key not in regimens:
        raise KetasimInputError(f"{os.fspath(path)}: no dose records for ID {patient_id}; IDs: {', '.join(regimens)}")
    return regimens[key]
