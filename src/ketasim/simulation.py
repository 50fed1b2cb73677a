"""One patient (or a few) through the whole chain, as a labelled table."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ketasim.checks.limits import check_simulate, heartbeat
from ketasim.checks.plausibility import report, simulate_flags
from ketasim.engines.solvers import ENGINES, SolverSettings
from ketasim.errors import KetasimInputError
from ketasim.model.arm import ArmModel, calibrated_parameters, initial_state, model_values
from ketasim.model.mechanism import OUTPUT_NAMES
from ketasim.model.parameters import check_overrides
from ketasim.model.patient import Patient, stack_patients, typical_patient
from ketasim.model.regimen import Regimen, preset

#: CSV columns in order; plasma_<drug>_ng_ml columns follow for each drug given.
CORE_COLUMNS: tuple[str, ...] = ("time_h", *OUTPUT_NAMES)

COLUMN_UNITS: dict[str, str] = {
    "time_h": "h", "madrs": "MADRS points (0-60)", "nmda_occupancy": "fraction (0-1)",
    "sert_occupancy": "fraction (0-1)", "glutamate": "fold of baseline", "bdnf": "fold of baseline",
    "mtor": "fold of baseline", "synaptic_proteins": "a.u. (0 = baseline)",
    "spine_density": "fraction of healthy density", "autoreceptor_desensitised": "fraction (0-1)",
    "monoaminergic_drive": "a.u.", "expectancy": "fraction of symptoms", "sbp_mmhg": "mmHg",
    "dbp_mmhg": "mmHg", "hr_bpm": "beats/min", "cadss": "CADSS points",
    "madrs_item10": "MADRS item 10 points (0-6)", "ssi": "SSI points (0-38)", "caps5": "CAPS-5 points (0-80)",
}


def output_times_h(regimen: Regimen, days: float, dense_hours: float = 6.0) -> np.ndarray:
    """Every 5 minutes for the first `dense_hours` after each dose, hourly otherwise."""
    end = days * 24.0
    grid = set(np.round(np.arange(0.0, end + 1e-9, 1.0), 9).tolist())
    for event in regimen.events(end):
        fine = event.time_h + np.arange(0.0, dense_hours + 1e-9, 5.0 / 60.0)
        grid.update(np.round(fine[fine <= end + 1e-9], 9).tolist())
    return np.array(sorted(grid))


@dataclass(frozen=True)
class SimulationResult:
    """A single-patient simulation: the table, and the solver's status."""

    table: pd.DataFrame
    status: int
    steps: int


def resolve_regimen(regimen: Regimen | str) -> Regimen:
    if isinstance(regimen, str):
        return preset(regimen)
    if not isinstance(regimen, Regimen):
        raise KetasimInputError(f"regimen: expected a preset name (str) or a ketasim.Regimen, got {type(regimen).__name__}")
    return regimen


def resolve_patient(patient: Patient | str) -> Patient:
    if isinstance(patient, str):
        return typical_patient(patient)
    if not isinstance(patient, Patient):
        raise KetasimInputError(f"patient: expected a typical patient's name (str) or a ketasim.Patient, "
                                f"got {type(patient).__name__}")
    return patient


def _check_times(times_h: object, days: float) -> np.ndarray:
    """Output times (h): finite, increasing, within 0..days*24."""
    try:
        times = np.asarray(times_h, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise KetasimInputError(f"times_h: expected a sequence of numbers (h), got {times_h!r}") from None
    if not (times.size and np.isfinite(times).all() and np.all(np.diff(times) > 0) and times[0] >= 0
            and times[-1] <= days * 24.0 + 1e-9):
        raise KetasimInputError(f"times_h: expected increasing finite times from 0 to {days * 24.0:g} h")
    return times


def _check_days(days: object) -> float:
    """`days` as a float: a real number > 0 (not a bool), at most MAX_HORIZON_D."""
    if isinstance(days, bool | np.bool_) or not isinstance(days, numbers.Real):
        raise KetasimInputError(f"days: expected a number of days > 0, got {type(days).__name__} {days!r}")
    if not (days > 0 and math.isfinite(days)):
        raise KetasimInputError(f"days: expected a finite number of days > 0, got {days!r}")
    return float(days)


def simulate(regimen: Regimen | str, patient: Patient | str = "typical-trd", days: float = 28.0, *,
             engine: str = "reference", settings: SolverSettings = SolverSettings(),
             times_h: np.ndarray | None = None, parameters: dict[str, float] | None = None) -> pd.DataFrame:
    """Simulate one patient on a regimen (preset name or Regimen) for `days` days.

    Returns a table with one row per output time and the columns CORE_COLUMNS plus
    plasma_<drug>_ng_ml for each drug (and metabolite) given. `df.attrs` holds units and the
    solver status (0 ok).
    """
    return simulate_result(regimen, patient, days, engine=engine, settings=settings, times_h=times_h,
                           parameters=parameters).table


def simulate_result(regimen: Regimen | str, patient: Patient | str = "typical-trd", days: float = 28.0, *,
                    engine: str = "reference", settings: SolverSettings = SolverSettings(),
                    times_h: np.ndarray | None = None, parameters: dict[str, float] | None = None) -> SimulationResult:
    """As `simulate`, also returning solver status and step count."""
    days = _check_days(days)
    if not isinstance(engine, str) or engine not in ENGINES:
        raise KetasimInputError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
    reg = resolve_regimen(regimen)
    person = resolve_patient(patient)
    overrides = check_overrides(parameters, calibrated_parameters(), "parameters", "model parameter")
    estimate_s = check_simulate(reg, days)
    flags = report(simulate_flags(reg, person.weight_kg, person.age_y, days, f"regimen {reg.name}".rstrip()))
    pat = stack_patients([person])
    params = model_values(overrides)
    end = days * 24.0
    times = output_times_h(reg, days) if times_h is None else _check_times(times_h, days)
    model = ArmModel(reg, pat, params, 0.0, end)
    with heartbeat(f"simulating {days:g} d", estimate_s):
        solution = ENGINES[engine](model, times, initial_state(pat), settings)
    outputs = model.outputs(times, solution.states)
    table = pd.DataFrame({"time_h": times})
    for name in CORE_COLUMNS[1:]:
        table[name] = outputs[name][:, 0]
    for name in sorted(k for k in outputs if k.startswith("plasma_")):
        # closed-form PK leaves rounding noise (-5e-14 ng/mL) where a drug is gone: a concentration is >= 0
        table[name] = np.maximum(outputs[name][:, 0], 0.0)
    table.attrs["flags"] = flags
    table.attrs["units"] = {**COLUMN_UNITS, **{c: "ng/mL" for c in table.columns if c.startswith("plasma_")}}
    table.attrs["status"] = int(solution.status[0])
    table.attrs["regimen"] = reg.name
    return SimulationResult(table, int(solution.status[0]), int(solution.steps[0]))
