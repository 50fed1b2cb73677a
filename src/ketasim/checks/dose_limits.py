"""Dose limits per drug and route (data/dose_limits.toml): usual doses, hard ceilings, calibrated dosing.

Above a ceiling (one dose, or the total in any 24 h) a regimen is refused; above the usual dose,
closer than the calibration trials dosed, or for a drug no shipped calibration trial uses, the
outputs are flagged "outside the calibrated range". mg/kg limits are compared for the patient's
weight (kg); trials use a 70-kg reference patient.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from ketasim.errors import KetasimInputError
from ketasim.model.drugs import DRUG_NAMES
from ketasim.model.regimen import Regimen

REFERENCE_WEIGHT_KG = 70.0
DAY_H = 24.0


@dataclass(frozen=True)
class DoseLimit:
    """Limits of one (drug, route), in `unit` ("mg" or "mg/kg"); see data/dose_limits.toml."""

    drug: str
    route: str
    unit: str
    usual_dose: float
    usual_daily: float
    ceiling_dose: float
    ceiling_daily: float
    min_interval_h: float
    calibrated: bool
    source: str

    def amount(self, mg: float, weight_kg: float) -> float:
        """`mg` (absolute) in this limit's unit for a patient of `weight_kg` kg."""
        return mg / weight_kg if self.unit == "mg/kg" else mg


@lru_cache(maxsize=1)
def dose_limits() -> dict[tuple[str, str], DoseLimit]:
    """The shipped limits by (drug, route)."""
    data = tomllib.loads((resources.files("ketasim") / "data" / "dose_limits.toml").read_text())
    return {(drug, route): DoseLimit(drug, route, **entry) for drug, routes in data.items() for route, entry in routes.items()}


def _events_mg(regimen: Regimen, horizon_h: float, weight_kg: float) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(times h, amounts mg) of every dose up to `horizon_h`, by (drug, route)."""
    out: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for event in regimen.events(horizon_h):
        times, amounts = out.setdefault((event.drug, event.route), ([], []))
        times.append(event.time_h)
        amounts.append(event.amount.mg_for(weight_kg))
    return {key: (np.asarray(t), np.asarray(a)) for key, (t, a) in out.items()}


def max_daily(times_h: np.ndarray, amounts: np.ndarray) -> float:
    """Largest total of `amounts` given within any 24 h (sorted or not)."""
    order = np.argsort(times_h, kind="stable")
    t, a = times_h[order], amounts[order]
    total = np.concatenate([[0.0], np.cumsum(a)])
    end = np.searchsorted(t, t + DAY_H - 1e-9, side="left")
    return float(np.max(total[end] - total[:-1])) if t.size else 0.0


def check_regimen(regimen: Regimen, horizon_h: float, weight_kg: float, where: str) -> list[str]:
    """Refuse doses above a ceiling (KetasimInputError naming `where`); return 'outside the calibrated range' flags."""
    flags: list[str] = []
    limits = dose_limits()
    for (drug, route), (times, mg) in _events_mg(regimen, horizon_h, weight_kg).items():
        limit = limits.get((drug, route))
        if limit is None:
            if drug not in DRUG_NAMES:  # a compound file of the user's: no limits, no calibration trial
                flags.append(f"{drug} {route}: a user's compound file; no shipped calibration trial gives it")
            continue
        unit = limit.unit
        dose = limit.amount(float(np.max(mg)), weight_kg) if mg.size else 0.0
        daily = limit.amount(max_daily(times, mg), weight_kg)
        basis = f" (for {weight_kg:g} kg)" if unit == "mg/kg" else ""
        if not (math.isfinite(dose) and dose <= limit.ceiling_dose):
            raise KetasimInputError(
                f"{where}: {drug} {route}: one dose of {dose:.4g} {unit}{basis} is above the hard ceiling of "
                f"{limit.ceiling_dose:g} {unit} (overdose or anaesthesia; see ketasim's data/dose_limits.toml)")
        if not daily <= limit.ceiling_daily:
            raise KetasimInputError(
                f"{where}: {drug} {route}: {daily:.4g} {unit}{basis} within 24 h is above the hard ceiling of "
                f"{limit.ceiling_daily:g} {unit} per 24 h (lethal or anaesthetic exposure; see data/dose_limits.toml)")
        if not limit.calibrated:
            flags.append(f"{drug} {route}: no shipped calibration trial gives it")
        if dose > limit.usual_dose:
            flags.append(f"{drug} {route}: {dose:.3g} {unit} per dose is above the usual {limit.usual_dose:g} {unit}")
        elif daily > limit.usual_daily:
            flags.append(f"{drug} {route}: {daily:.3g} {unit} per 24 h is above the usual {limit.usual_daily:g} {unit}")
        gaps = np.diff(np.sort(times))
        gaps = gaps[gaps > 0]
        if gaps.size and float(gaps.min()) < limit.min_interval_h - 1e-9:
            flags.append(f"{drug} {route}: doses {float(gaps.min()):.3g} h apart, closer than the calibration trials "
                         f"({limit.min_interval_h:g} h)")
    return flags
