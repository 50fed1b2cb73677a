"""The forecast page's tables: a patient file (docs/patient-file.md, ketasim.forecast.patient_file) as a doses
table and an observations table, and back.

One row per dose and per visit; times in days from the first dose (a row may give a calendar date instead,
counted from `first_date`). The checks are the patient-file parser's: a composed file is checked with
`check_forecast_text`, so a bad row gets the message `ketasim forecast` prints for the same file.
What the tables cannot show (a NONMEM-style CSV, a repeated schedule) stays in the TOML, the advanced view.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

import ketasim as ks
from ketasim.apps import adapters as internal

from .runner import check_forecast_text

#: units a dose amount may have (ketasim.io.units)
AMOUNT_UNITS: tuple[str, ...] = tuple(internal.AMOUNT_UNITS)
#: observation columns: MADRS (0-60), systolic blood pressure (mmHg), CADSS (0-92)
MEASURES: tuple[str, ...] = ("madrs", "sbp", "cadss")
_PATIENT_FIELDS = ("weight_kg", "age", "sex", "failed_treatments")
_DOSE_KEYS = {"drug", "route", "amount", "infusion", "at"}


def _hours(value: Any) -> float | None:
    try:
        return internal.parse_time_h(value, "time", allow_negative=True)
    except (ks.KetasimInputError, TypeError, ValueError):
        return None


def _split_amount(text: Any) -> tuple[float | None, str]:
    parts = str(text).split()
    if len(parts) == 2 and parts[1] in AMOUNT_UNITS:
        try:
            return float(parts[0]), parts[1]
        except ValueError:
            pass
    return None, str(text)


def _check(text: str, source: str) -> str | None:
    """The CLI's message for this patient file's text, or None when it is valid."""
    try:
        check_forecast_text(text, source)
    except ks.KetasimInputError as err:
        return " ".join(str(err).split())
    return None


def tables_from_text(text: str, source: str = "patient.toml") -> dict[str, Any]:
    """The tables of a patient file's text: {"tables": {patient, doses, observations} or None, "reason": why the
    tables cannot show the file (None if they can), "error": the CLI's message for the file (None if valid)}."""
    error = _check(text, source)
    try:
        data = internal.parse_toml(text, source, toml_1_1=True)
    except ks.KetasimInputError:
        return {"tables": None, "reason": "the TOML does not parse", "error": error}
    patient = data.get("patient")
    if not isinstance(patient, Mapping):
        return {"tables": None, "reason": "no [patient] table", "error": error}
    if "data" in patient:
        return {"tables": None, "reason": "doses and observations come from a NONMEM-style CSV (patient.data)",
                "error": error}
    doses, observations = [], []
    for entry in patient.get("doses") or []:
        if not isinstance(entry, Mapping) or set(entry) - _DOSE_KEYS:
            return {"tables": None, "reason": "a dose line has a repeated schedule (every, from, until)", "error": error}
        at = entry.get("at", [])
        amount, unit = _split_amount(entry.get("amount", ""))
        infusion = _hours(entry["infusion"]) if "infusion" in entry else None
        for time in at if isinstance(at, list) else [at]:
            hours = _hours(time)
            doses.append({"drug": entry.get("drug"), "route": entry.get("route"), "amount": amount, "unit": unit,
                          "infusion_min": None if infusion is None else round(infusion * 60.0, 6),
                          "day": None if hours is None else round(hours / 24.0, 6)})
    for entry in patient.get("observations") or []:
        if not isinstance(entry, Mapping):
            return {"tables": None, "reason": "an observation is not a table", "error": error}
        hours = _hours(entry.get("at"))
        observations.append({"day": None if hours is None else round(hours / 24.0, 6),
                             **{m: entry.get(m) for m in MEASURES}})
    fields = {k: patient.get(k) for k in _PATIENT_FIELDS}
    return {"tables": {"patient": fields, "doses": doses, "observations": observations}, "reason": None,
            "error": error}


def _day(row: Mapping[str, Any], first_date: str | None) -> str | None:
    """A row's time as the patient file writes it ('3 d'): its day, or its date counted from first_date."""
    date = row.get("date")
    if date:
        try:
            days = (dt.date.fromisoformat(str(date)) - dt.date.fromisoformat(str(first_date or ""))).days
        except ValueError:
            return str(date)  # the parser names it: not a time with a unit
        return f"{days} d"
    day = _number(row.get("day"))
    if isinstance(day, int | float) and not isinstance(day, bool) and math.isfinite(day):
        return f"{day:g} d"
    return None if day in (None, "") else str(day)


def _toml(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _number(value: Any) -> Any:
    """A number from a form field (text as typed stays text: the parser names it)."""
    if isinstance(value, str):
        try:
            return float(value) if value.strip() else None
        except ValueError:
            return value
    return value


def text_from_tables(tables: Mapping[str, Any], base_text: str = "", source: str = "patient.toml",
                     first_date: str | None = None) -> dict[str, Any]:
    """A patient file from the tables: the [patient] fields, doses and observations from the tables; everything
    else (background, [plan]) from `base_text` where it parses. Returns {"text", "error": the CLI's message}."""
    try:
        base = internal.parse_toml(base_text, source, toml_1_1=True) if base_text.strip() else {}
    except ks.KetasimInputError:
        base = {}
    old = base.get("patient") if isinstance(base.get("patient"), Mapping) else {}
    patient: dict[str, Any] = {}
    for key, value in (tables.get("patient") or {}).items():
        if key in _PATIENT_FIELDS and value not in (None, ""):
            patient[key] = value if key == "sex" else _number(value)
    if old.get("background"):
        patient["background"] = old["background"]
    doses = []
    for row in tables.get("doses") or []:
        entry: dict[str, Any] = {k: row[k] for k in ("drug", "route") if row.get(k)}
        amount = _number(row.get("amount"))
        if amount is not None:
            entry["amount"] = f"{amount:g} {row.get('unit') or 'mg/kg'}" if isinstance(amount, float | int) \
                else f"{amount} {row.get('unit') or ''}".strip()
        infusion = _number(row.get("infusion_min"))
        if infusion:
            entry["infusion"] = f"{infusion:g} min" if isinstance(infusion, float | int) else str(infusion)
        at = _day(row, first_date)
        if at is not None:
            entry["at"] = at
        doses.append(entry)
    observations = []
    for row in tables.get("observations") or []:
        entry = {"at": at} if (at := _day(row, first_date)) is not None else {}
        entry.update({m: v for m in MEASURES if (v := _number(row.get(m))) is not None})
        observations.append(entry)
    lines = ["# A patient file for `ketasim forecast` (docs/patient-file.md), written by the explorer's tables.",
             "[patient]", *(f"{k} = {_toml(v)}" for k, v in patient.items() if k != "background")]
    if "background" in patient:
        lines.append(f"background = {_toml(patient['background'])}")
    lines.append("doses = [" + "".join(f"\n  {_toml(d)}," for d in doses) + ("\n]" if doses else "]"))
    lines.append("observations = [" + "".join(f"\n  {_toml(o)}," for o in observations)
                 + ("\n]" if observations else "]"))
    plan = base.get("plan")
    if isinstance(plan, Mapping) and plan:
        lines += ["", "[plan]", *(f"{k} = {_toml(v)}" for k, v in plan.items())]
    text = "\n".join(lines) + "\n"
    return {"text": text, "error": _check(text, source)}
