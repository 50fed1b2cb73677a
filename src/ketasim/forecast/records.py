"""The forecast's record types, at the bottom of forecast/: a patient's covariates, observations and plan.

Everything above reads these: `patient_file` (parse) -> `simulator` (the adapter to the population,
model and engine) -> `posterior` (infer) -> `result` (the Forecast tables) -> `planner` (forecasts and
the maintenance plan, which fills a Forecast).
"""

from __future__ import annotations

from dataclasses import dataclass

from ketasim.model.regimen import Dose, Regimen

#: measure -> (lowest, highest) value accepted
MEASURES: dict[str, tuple[float, float]] = {"madrs": (0.0, 60.0), "sbp": (40.0, 300.0), "cadss": (0.0, 92.0)}
#: NONMEM DVID of each measure
DVID: dict[int, str] = {1: "madrs", 2: "sbp", 3: "cadss"}


@dataclass(frozen=True)
class Covariates:
    """Known traits of the patient: weight (kg), age (y), female (1) or male (0)."""

    weight_kg: float
    age_y: float = 45.0
    female: float = 1.0


@dataclass(frozen=True)
class Observation:
    """One observed value: `measure` (madrs, sbp, cadss) at `time_h` h after the first dose."""

    time_h: float
    measure: str
    value: float


@dataclass(frozen=True)
class PatientRecord:
    """A patient: known covariates, history (failed courses, background), doses given or planned, observations."""

    source: str
    covariates: Covariates
    failed_treatments: int
    background: Regimen | None
    doses: Regimen
    observations: tuple[Observation, ...]

    @property
    def last_observation_h(self) -> float:
        return max(o.time_h for o in self.observations)


@dataclass(frozen=True)
class Plan:
    """What to forecast: horizon (h past the last observation), relapse threshold, risk, maintenance, intervals (h)."""

    horizon_h: float = 8 * 168.0
    relapse_madrs: float = 22.0
    acceptable_risk: float = 0.2
    maintenance: Dose | None = None  #: one session (its `times_h` are ignored); None: the last dose line
    intervals_h: tuple[float, ...] = tuple(168.0 * w for w in (1, 2, 3, 4))


def format_time_h(hours: float) -> str:
    """A compact time: '40 min', '36 h', '3 d'."""
    if hours < 1.0:
        return f"{hours * 60:g} min"
    if hours < 48.0 or hours % 24:
        return f"{hours:g} h"
    return f"{hours / 24:g} d"


def interval_label(hours: float) -> str:
    """'2 wk' for whole weeks, else '10 d' / '36 h'."""
    return f"{hours / 168.0:g} wk" if abs(hours / 168.0 - round(hours / 168.0)) < 1e-9 else format_time_h(hours)
