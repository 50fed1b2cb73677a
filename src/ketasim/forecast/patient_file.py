"""Patient files for `ketasim forecast`: one TOML file (doses and observations inline, or from a NONMEM-style CSV).

```toml
compounds = ["my-compound.toml"]   # optional: compound files (docs/compound-file.md), relative to this file
[patient]
weight_kg = 80                 # required (mg/kg doses)
age = 45                       # optional, years (recorded)
sex = "female"                 # optional, "female" or "male" (recorded)
failed_treatments = 3          # adequate monoaminergic courses failed (>= 2: TRD prior); default 0
background = [ { drug = "escitalopram", route = "oral", amount = "20 mg", every = "1 d" } ]   # optional
doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = ["0 d", "2 d"] } ]
observations = [ { at = "0 d", madrs = 34 }, { at = "1 d", madrs = 22, sbp = 150, cadss = 12 } ]
# or, instead of doses and observations: data = "patient.csv" (relative to this file), id = 7

[plan]                         # optional; every key has a default
horizon = "8 wk"               # forecast this far past the last observation (default 8 wk)
relapse_madrs = 22             # relapse: MADRS at or above this (default 22)
acceptable_risk = 0.2          # largest acceptable probability of relapse before the next session (default 0.2)
maintenance = { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min" }  # default: the last dose line
intervals = ["1 wk", "2 wk", "3 wk", "4 wk"]   # default as here
```

`compounds` registers each compound file (as `ketasim forecast --compound FILE`) before the doses
are read, so they can dose it by its `name`; a shipped drug's name, or a second file under a name
already loaded, is an error naming the file. A patient file given as text (`patient_from_text`)
reads no files: register the compounds first and leave the key out.

Times are relative to the first dose (h, d, wk, min); an observation at the first dose time is
the pre-dose value. Measures: `madrs` (0-60), `sbp` (systolic BP, 40-300 mmHg), `cadss` (0-92).

The CSV form (NONMEM style, TIME in h): dose rows as `ketasim.read_nonmem_csv` reads them (EVID
1); observation rows have EVID 0, DV the value and DVID the measure (1 MADRS, 2 SBP, 3 CADSS;
default 1); rows with MDV 1 are skipped. Times are shifted so that the first dose is at 0.

The file is TOML 1.1 (read with tomli), so inline tables may span lines as above.
Every error is a KetasimInputError naming the file and the place.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from ketasim.errors import KetasimInputError
from ketasim.interchange.nonmem import read_nonmem_csv, read_rows
from ketasim.io.toml_file import parse_toml, read_toml
from ketasim.io.units import parse_time_h
from ketasim.model.drugs import register_compound_file
from ketasim.model.regimen import Dose, Regimen, dose_from_entry, regimen_from_entries

from .records import DVID, MEASURES, Covariates, Observation, PatientRecord, Plan, format_time_h

_TOP_KEYS = ("patient", "plan", "compounds")
_PATIENT_KEYS = ("weight_kg", "age", "sex", "failed_treatments", "background", "doses", "observations", "data", "id")
_PLAN_KEYS = ("horizon", "relapse_madrs", "acceptable_risk", "maintenance", "intervals")
_OBS_KEYS = ("at", *MEASURES)
_MAINTENANCE_KEYS = ("drug", "route", "amount", "infusion")
DEFAULT_INTERVALS = ("1 wk", "2 wk", "3 wk", "4 wk")




class _Reader:
    """Checks with messages 'FILE: PLACE: expected ...'."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, place: str, message: str) -> KetasimInputError:
        return KetasimInputError(f"{self.source}: {place}: {message}")

    def table(self, value: Any, place: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(place, f"expected a table, got {value!r}")
        unknown = sorted(set(value) - set(keys))
        if unknown:
            raise self.fail(place, f"unknown key(s) {', '.join(unknown)}; expected {', '.join(keys)}")
        return value

    def number(self, value: Any, place: str, lo: float, hi: float, *, integer: bool = False) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if ok and integer:
            ok = float(value).is_integer()
        kind = "a whole number" if integer else "a number"
        if not ok or not lo <= value <= hi:
            raise self.fail(place, f"expected {kind} in {lo:g}..{hi:g}, got {value!r}")
        return float(value)

    def time(self, value: Any, place: str, allow_negative: bool = False) -> float:
        try:
            return parse_time_h(value, "x", allow_negative=allow_negative)
        except KetasimInputError as err:
            raise self.fail(place, str(err).removeprefix("x: ")) from None


def load_patient_file(path: str | os.PathLike[str], plan: Plan | Mapping[str, Any] | None = None
                      ) -> tuple[PatientRecord, Plan]:
    """Read and check a patient file; `plan` replaces the file's [plan] (a Plan) or overrides some of its keys (a dict)."""
    source = os.fspath(path)
    data = read_toml(source, "patient file", toml_1_1=True)
    if isinstance(data, Mapping) and "compounds" in data:
        _compounds(data["compounds"], _Reader(source), Path(source).parent)
    return _from_document(data, source, Path(source).parent, plan)


def _compounds(value: Any, r: _Reader, base_dir: Path) -> None:
    """Register the compound files listed (paths relative to `base_dir`, the patient file's folder)."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise r.fail("compounds", f"expected a list of compound file paths, got {value!r}")
    for i, entry in enumerate(value):
        path = os.path.normpath(os.path.join(os.path.abspath(base_dir), os.path.expanduser(entry)))
        if not os.path.isfile(path):
            raise r.fail(f"compounds[{i}]", f"no compound file at {entry!r} (looked for {path})")
        register_compound_file(path)


def patient_from_text(text: str, source: str, plan: Plan | Mapping[str, Any] | None = None, *,
                      data_csv: str | None = None) -> tuple[PatientRecord, Plan]:
    """A patient file given as text (the web explorer): reads no file of the server.

    `data_csv` is the text of the NONMEM-style CSV that the file's `patient.data` names; a file
    with `data` and no `data_csv` is an error. Messages name `source` and the CSV's file name.
    """
    data = parse_toml(text, source, toml_1_1=True)
    if "compounds" in data:
        raise KetasimInputError(f"{source}: compounds: a patient file given as text reads no compound files; "
                                "load the compounds first (ketasim.register_compound_file) and leave the key out")
    patient = data.get("patient")
    if not isinstance(patient, Mapping) or "data" not in patient:
        if data_csv is not None:
            raise KetasimInputError(f"{source}: patient.data: a CSV was given but the patient file does not use it "
                                    "(add data = \"NAME.csv\" to [patient], or leave the CSV out)")
        return _from_document(data, source, Path("."), plan)
    name = patient["data"]
    if not isinstance(name, str):
        raise KetasimInputError(f"{source}: patient.data: expected the name of a NONMEM-style CSV file, got {name!r}")
    if data_csv is None:
        raise KetasimInputError(f"{source}: patient.data: {name!r} was not given; this form reads no files of the "
                                "server: upload the CSV with the patient file, or give doses and observations inline")
    csv_name = Path(name.replace("\\", "/")).name or "data.csv"
    with tempfile.TemporaryDirectory(prefix="ketasim-patient-") as folder:
        (Path(folder) / csv_name).write_text(data_csv, encoding="utf-8")
        document = {**data, "patient": {**patient, "data": csv_name}}
        try:
            return _from_document(document, source, Path(folder), plan)
        except KetasimInputError as err:  # name the CSV as the user knows it, not by its temporary folder
            raise KetasimInputError(str(err).replace(str(Path(folder) / csv_name), name)) from None


def _from_document(data: Any, source: str, base_dir: Path, plan: Plan | Mapping[str, Any] | None
                   ) -> tuple[PatientRecord, Plan]:
    """The parsed TOML document of a patient file; `base_dir` resolves a `data` CSV path."""
    r = _Reader(source)
    r.table(data, "top level", _TOP_KEYS)
    if "patient" not in data:
        raise r.fail("top level", "missing the [patient] table")
    record = parse_patient(data["patient"], source, base_dir)
    if isinstance(plan, Plan):
        return record, plan
    table = data.get("plan", {})
    if plan is not None:
        table = {**r.table(table, "plan", _PLAN_KEYS), **plan}
    return record, parse_plan(table, source, record)


def parse_patient(table: Any, source: str, base_dir: Path) -> PatientRecord:
    """The [patient] table; `base_dir` resolves a `data` CSV path."""
    r = _Reader(source)
    p = r.table(table, "patient", _PATIENT_KEYS)
    if "weight_kg" not in p:
        raise r.fail("patient", "missing 'weight_kg' (body weight in kg)")
    weight = r.number(p["weight_kg"], "patient.weight_kg", 1.0, 500.0)
    age = r.number(p.get("age", 45.0), "patient.age", 0.0, 120.0)
    sex = p.get("sex", "female")
    if sex not in ("female", "male"):
        raise r.fail("patient.sex", f'expected "female" or "male", got {sex!r}')
    failed = int(r.number(p.get("failed_treatments", 0), "patient.failed_treatments", 0, 20, integer=True))
    background = None
    if p.get("background"):
        background = regimen_from_entries(p["background"], f"{source}: patient.background", name="background")
        for i, d in enumerate(background.doses):
            if d.every_h is None:
                raise r.fail(f"patient.background[{i}]", "expected a repeated schedule ('every'): background treatment "
                             "is taken at steady state since before the first dose")
    if "data" in p:
        for key in ("doses", "observations"):
            if key in p:
                raise r.fail(f"patient.{key}", "give doses and observations inline or in 'data', not both")
        if not isinstance(p["data"], str):
            raise r.fail("patient.data", f"expected a path to a NONMEM-style CSV file, got {p['data']!r}")
        doses, observations = _from_csv(base_dir / p["data"], p.get("id"), r)
    else:
        if "id" in p:
            raise r.fail("patient.id", "applies to 'data' (a CSV file) only")
        if "doses" not in p:
            raise r.fail("patient", "missing 'doses' (or 'data', a NONMEM-style CSV file)")
        doses = regimen_from_entries(p["doses"], f"{source}: patient.doses", name="doses")
        first = _first_dose_h(doses)
        observations = _observations(p.get("observations"), first, r)
    return PatientRecord(source, Covariates(weight, age, 1.0 if sex == "female" else 0.0), failed, background, doses,
                         observations)


def _first_dose_h(regimen: Regimen) -> float:
    """Time of the first dose event (h)."""
    return min((e.time_h for e in regimen.events(1e9)), default=0.0)


def _shifted(regimen: Regimen, offset_h: float) -> Regimen:
    """The same doses `offset_h` hours later."""
    doses = []
    for d in regimen.doses:
        if d.every_h is None:
            doses.append(replace(d, times_h=tuple(t + offset_h for t in d.times_h)))
        else:
            doses.append(replace(d, from_h=d.from_h + offset_h,
                                 until_h=None if d.until_h is None else d.until_h + offset_h))
    return Regimen(tuple(doses), "doses")


def _observations(entries: Any, first_dose_h: float, r: _Reader) -> tuple[Observation, ...]:
    if entries is None or (isinstance(entries, list) and not entries):
        raise r.fail("patient.observations", "no observations; expected at least one, such as "
                     "observations = [ { at = \"0 d\", madrs = 34 } ]")
    if not isinstance(entries, list):
        raise r.fail("patient.observations", "expected a list of tables like { at = \"1 d\", madrs = 22 }")
    out: list[Observation] = []
    for i, entry in enumerate(entries):
        place = f"patient.observations[{i}]"
        e = r.table(entry, place, _OBS_KEYS)
        if "at" not in e:
            raise r.fail(place, "missing 'at' (a time after the first dose, such as \"1 d\")")
        at = r.time(e["at"], f"{place}.at", allow_negative=True)
        if at < first_dose_h - 1e-9:
            raise r.fail(f"{place}.at", f"{e['at']!r} is before the first dose ({format_time_h(first_dose_h)})")
        measures = [m for m in MEASURES if m in e]
        if not measures:
            raise r.fail(place, f"no value; expected one of {', '.join(MEASURES)}")
        for m in measures:
            lo, hi = MEASURES[m]
            out.append(Observation(at, m, r.number(e[m], f"{place}.{m}", lo, hi)))
    return _checked(out, r, "patient.observations")


def _checked(observations: list[Observation], r: _Reader, place: str) -> tuple[Observation, ...]:
    if not any(o.measure == "madrs" for o in observations):
        raise r.fail(place, "no MADRS observation; the forecast needs at least one")
    seen: set[tuple[float, str]] = set()
    for o in observations:
        key = (round(o.time_h, 6), o.measure)
        if key in seen:
            raise r.fail(place, f"two {o.measure} observations at {format_time_h(o.time_h)}")
        seen.add(key)
    return tuple(sorted(observations, key=lambda o: (o.time_h, o.measure)))


def _from_csv(path: Path, subject: Any, r: _Reader) -> tuple[Regimen, tuple[Observation, ...]]:
    """Doses and observations of one subject of a NONMEM-style CSV, times shifted to the first dose."""
    if not path.is_file():
        raise r.fail("patient.data", f"no such file {os.fspath(path)!r}")
    regimens = read_nonmem_csv(path)
    source, rows = read_rows(path)
    ids = list(regimens)
    if subject is None:
        if len(ids) > 1:
            raise r.fail("patient.id", f"{source} has several subjects (ID {', '.join(ids)}); choose one with id = ...")
        key = ids[0]
    else:
        key = str(int(subject)) if isinstance(subject, int | float) and float(subject).is_integer() else str(subject)
        if key not in regimens:
            raise r.fail("patient.id", f"{source} has no dose records for ID {subject}; IDs: {', '.join(ids)}")
    doses = regimens[key]
    first = _first_dose_h(doses)
    out: list[Observation] = []
    for row in rows:
        if row.integer("EVID", default=1) != 0 or row.cells.get("ID", "").strip() not in (key, f"{key}.0"):
            continue
        if row.integer("MDV", default=0) == 1:
            continue
        dvid = row.integer("DVID", default=1)
        if dvid not in DVID:
            raise row.error("DVID", "1 (MADRS), 2 (SBP) or 3 (CADSS)")
        measure = DVID[dvid]
        time_h = row.number("TIME")
        if time_h < first - 1e-9:
            raise KetasimInputError(f"{source} line {row.line}, column TIME: observation at {time_h:g} h is before the "
                                    f"first dose ({first:g} h)")
        lo, hi = MEASURES[measure]
        value = row.number("DV", minimum=lo)
        if value > hi:
            raise row.error("DV", f"a {measure} value in {lo:g}..{hi:g}")
        out.append(Observation(time_h - first, measure, value))
    if not out:
        raise KetasimInputError(f"{source}: no observations (EVID 0 rows with DV) for ID {key}")
    return _shifted(doses, -first), _checked(out, _Reader(source), f"ID {key}")


def parse_plan(table: Any, source: str, record: PatientRecord) -> Plan:
    """The [plan] table, with defaults (see the module docstring)."""
    r = _Reader(source)
    t = r.table(table, "plan", _PLAN_KEYS)
    horizon = r.time(t.get("horizon", "8 wk"), "plan.horizon")
    if not horizon > 0:
        raise r.fail("plan.horizon", "expected a time > 0")
    threshold = r.number(t.get("relapse_madrs", 22), "plan.relapse_madrs", 0.0, 60.0)
    risk = t.get("acceptable_risk", 0.2)
    r.number(risk, "plan.acceptable_risk", 0.0, 1.0)
    if not 0.0 < risk < 1.0:
        raise r.fail("plan.acceptable_risk", f"expected a probability strictly between 0 and 1, got {risk!r}")
    if "maintenance" in t:
        entry = dict(r.table(t["maintenance"], "plan.maintenance", _MAINTENANCE_KEYS))
        maintenance = dose_from_entry({**entry, "at": "0 d"}, f"{source}: plan.maintenance")
    else:
        line = record.doses.doses[-1]
        maintenance = Dose(line.drug, line.route, line.amount, (0.0,), infusion_h=line.infusion_h)
    intervals = t.get("intervals", list(DEFAULT_INTERVALS))
    if not isinstance(intervals, list) or not intervals:
        raise r.fail("plan.intervals", "expected a non-empty list of times such as [\"1 wk\", \"2 wk\"]")
    hours = tuple(r.time(v, f"plan.intervals[{i}]") for i, v in enumerate(intervals))
    for i, h in enumerate(hours):
        if not h > 0:
            raise r.fail(f"plan.intervals[{i}]", "expected a time > 0")
    if len(set(hours)) != len(hours):
        raise r.fail("plan.intervals", "intervals must be distinct")
    return Plan(horizon, threshold, float(risk), maintenance, tuple(sorted(hours)))
