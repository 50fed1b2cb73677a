"""The explorer's quick views, as plain functions: a population band, a dose sweep, and the labels of inputs and
outputs (units, valid ranges, descriptions, sources).

Nothing is recorded: these are views for exploring (a trial run or `ketasim simulate` records a result).
The population band draws patients as a trial's arm does (`draw_candidates`) and solves them together
on the fast engine; a sweep solves one patient once per value.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np

import ketasim as ks
from ketasim.apps import adapters as internal

from .compounds import user_compounds
from .runner import MAIN_TRAITS, SimulationRequest

#: quantiles of a population band: 90% band, 50% band, median
BAND_QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
#: what a sweep varies: the dose amount, or the interval of a repeated dose
SWEEP_PARAMETERS: tuple[str, ...] = ("amount", "every")
MAX_SWEEP_VALUES = 20
_FIELD_COMMENT = re.compile(r"^\s*(\w+):\s*float\s*=\s*[^#]*#:\s*(.+)$")
_PLAIN = {"weight_kg": "body weight", "age_y": "age", "female": "sex (1 female, 0 male)"}
_TRAIT_SOURCE = "typical patient (ketasim.model.patient); trials draw it from the virtual population"


def patient_fields() -> dict[str, dict[str, Any]]:
    """Every patient field: unit, valid range, description (the dataclass's comments), source."""
    comments = {m.group(1): m.group(2).strip() for line in inspect.getsource(ks.Patient).splitlines()
                if (m := _FIELD_COMMENT.match(line))}
    out = {}
    for f in fields(ks.Patient):
        unit, valid = internal.PATIENT_RANGES[f.name]
        out[f.name] = {"unit": unit, "valid": list(valid), "description": comments.get(f.name) or _PLAIN.get(f.name, f.name),
                       "source": _TRAIT_SOURCE, "main": f.name in MAIN_TRAITS}
    return out


def model_parameters() -> dict[str, dict[str, Any]]:
    """The calibrated mechanism parameters: value, unit, valid range, description, source."""
    return {name: {"value": p.value, "unit": p.unit, "valid": list(p.valid) if p.valid else None,
                   "description": p.description, "source": p.source}
            for name, p in internal.calibrated_parameters().items()}


def column_units() -> dict[str, str]:
    """Units of the simulation's output columns (plasma_* columns: ng/mL)."""
    return dict(internal.COLUMN_UNITS)


def _checked_days(days: float, max_days: float) -> float:
    if not (isinstance(days, int | float) and math.isfinite(days) and days > 0):
        raise ks.KetasimInputError(f"--days: expected a finite number of days > 0, got {days!r}")
    if days > max_days:
        raise ks.KetasimInputError(f"--days: this server simulates at most {max_days:g} days, got {days:g}")
    return float(days)


def population_band(request: SimulationRequest, *, patients: int, seed: int = 0, kind: str = "trd",
                    columns: Sequence[str] = ("madrs",), max_patients: int = 1000, max_days: float = 365.0
                    ) -> dict[str, Any]:
    """`patients` patients drawn from the virtual population (`kind`: mdd, trd, suicidal) on the request's regimen
    (its model-parameter overrides apply; its patient traits do not: they are drawn), solved together on the fast
    engine. Per column (madrs and every plasma_* column): the quantiles BAND_QUANTILES at each output time.
    The request's compound files are registered while it runs."""
    with user_compounds(request.compounds):
        return _population_band(request, patients=patients, seed=seed, kind=kind, columns=columns,
                                max_patients=max_patients, max_days=max_days)


def _population_band(request: SimulationRequest, *, patients: int, seed: int, kind: str, columns: Sequence[str],
                     max_patients: int, max_days: float) -> dict[str, Any]:
    if not (isinstance(patients, int) and 2 <= patients <= max_patients):
        raise ks.KetasimInputError(f"patients: expected 2 to {max_patients} patients, got {patients!r}")
    if not (isinstance(seed, int) and seed >= 0):
        raise ks.KetasimInputError(f"--seed: expected an integer >= 0, got {seed!r}")
    if kind not in internal.POPULATION_KINDS:
        raise ks.KetasimInputError(f"population: unknown kind {kind!r}; kinds: {', '.join(internal.POPULATION_KINDS)}")
    days = _checked_days(request.days, max_days)
    regimen = request.regimen_object()
    _, model_set = request.patient_object()
    drawn = internal.draw_candidates(seed, 0, np.arange(patients), internal.population_values(),
                                     internal.PopulationSettings(kind=kind))
    times = internal.output_times_h(regimen, days)
    model = internal.ArmModel(regimen, drawn, internal.model_values(model_set or None), 0.0, days * 24.0)
    solution = internal.ENGINES["fast"](model, times, internal.initial_state(drawn), ks.SolverSettings())
    outputs = model.outputs(times, solution.states)
    ok = np.asarray(solution.status) == internal.STATUS_OK
    if not ok.any():
        raise ks.KetasimInputError("population: the solver failed for every patient")
    wanted = [c for c in columns if c in outputs] + sorted(k for k in outputs if k.startswith("plasma_"))
    bands = {}
    for name in dict.fromkeys(wanted):
        values = np.asarray(outputs[name])[:, ok]
        if name.startswith("plasma_"):
            values = np.maximum(values, 0.0)
        q = np.quantile(values, BAND_QUANTILES, axis=1)
        bands[name] = {f"q{round(100 * p):02d}": q[i].tolist() for i, p in enumerate(BAND_QUANTILES)}
    return {"kind": "population", "name": request.label(), "population": kind, "patients": patients, "seed": seed,
            "solved": int(ok.sum()), "days": days, "engine": "fast", "time_h": times.tolist(),
            "quantiles": list(BAND_QUANTILES), "bands": bands, "units": column_units(),
            "doses": _doses(regimen, days), "disclaimer": internal.DISCLAIMER}


def _doses(regimen: ks.Regimen, days: float) -> list[dict[str, Any]]:
    return [{"time_h": e.time_h, "drug": e.drug, "route": e.route, "amount": str(e.amount)}
            for e in regimen.events(days * 24.0)]


def sweep_regimens(dose: dict[str, Any], parameter: str, values: Sequence[str]) -> list[tuple[str, list[dict[str, Any]]]]:
    """One dose table per value: `amount` replaces the dose's amount; `every` repeats the dose at that interval
    from its first time (`at`, else `from`, else 0 d)."""
    if parameter not in SWEEP_PARAMETERS:
        raise ks.KetasimInputError(f"sweep: unknown parameter {parameter!r}; parameters: {', '.join(SWEEP_PARAMETERS)}")
    if not 1 <= len(values) <= MAX_SWEEP_VALUES:
        raise ks.KetasimInputError(f"sweep: expected 1 to {MAX_SWEEP_VALUES} values, got {len(values)}")
    out = []
    for value in values:
        entry = dict(dose)
        if parameter == "amount":
            entry["amount"] = str(value)
        else:
            first = entry.pop("at", None)
            first = first[0] if isinstance(first, list) and first else first
            entry["from"] = entry.get("from") or first or "0 d"
            entry["every"] = str(value)
        out.append((str(value), [entry]))
    return out


def dose_sweep(dose: dict[str, Any], parameter: str, values: Sequence[str], *, patient: str = "typical-trd",
               overrides: tuple[tuple[str, float], ...] = (), days: float = 28.0, engine: str = "reference",
               at_days: Sequence[float] = (1.0, 7.0, 28.0), max_days: float = 365.0,
               compounds: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    """One patient, one curve per value of `parameter` (see sweep_regimens): MADRS over time and at `at_days`;
    `compounds` (file name, TOML text) are registered while it runs."""
    with user_compounds(compounds):
        return _dose_sweep(dose, parameter, values, patient=patient, overrides=overrides, days=days, engine=engine,
                           at_days=at_days, max_days=max_days)


def _dose_sweep(dose: dict[str, Any], parameter: str, values: Sequence[str], *, patient: str,
                overrides: tuple[tuple[str, float], ...], days: float, engine: str, at_days: Sequence[float],
                max_days: float) -> dict[str, Any]:
    days = _checked_days(days, max_days)
    if engine not in ("reference", "fast"):
        raise ks.KetasimInputError(f"unknown engine {engine!r}; engines: reference, fast")
    curves = []
    for label, doses in sweep_regimens(dose, parameter, values):
        request = SimulationRequest(tuple(doses), patient, days, engine, overrides, f"{parameter} {label}")
        regimen = request.regimen_object()
        person, model_set = request.patient_object()
        table = ks.simulate(regimen, person, days, engine=engine, parameters=model_set or None)
        time_h, madrs = table["time_h"].to_numpy(), table["madrs"].to_numpy()
        at = [float(np.interp(d * 24.0, time_h, madrs)) if 0 <= d <= days else None for d in at_days]
        curves.append({"value": label, "time_h": time_h.tolist(), "madrs": madrs.tolist(), "at_days": at,
                       "doses": _doses(regimen, days)})
    return {"kind": "sweep", "parameter": parameter, "values": [c["value"] for c in curves], "days": days,
            "engine": engine, "patient": patient, "at_days": [float(d) for d in at_days], "curves": curves,
            "units": column_units(), "disclaimer": internal.DISCLAIMER}
