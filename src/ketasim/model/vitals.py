"""Side effects: blood pressure and heart rate rise with brain ketamine exposure and fall back within
hours; dissociation (CADSS) tracks NMDA occupancy, with tolerance over repeated sessions."""

from __future__ import annotations

from typing import Any

from ketasim.model.circuit import OCCUPANCY_SCALE_NOTE
from ketasim.model.namespace import Array
from ketasim.model.parameters import Parameter as P

_VANK = "calibrated to data/calibration/vitals-and-dissociation.toml (Vankawala 2021)"

PARAMETERS: dict[str, P] = {
    "pressor_occupancy50": P(0.188, "1", "assumed: the pressor response follows NMDA block, so ketamine and esketamine at "
                             "equi-effective doses rise alike (Vankawala 2021 found no difference); "
                             + OCCUPANCY_SCALE_NOTE.format(old="0.55"),
                             "NMDA occupancy for half of the maximal pressor response", valid=(0.01, 0.99)),
    "pressor_hill": P(3.0, "1", "assumed: back to baseline within 1.5 h after a 40-min infusion (Szarmach 2020)",
                      "steepness of the pressor response", valid=(0.5, 20)),
    "sbp_max_mmhg": P(24.57, "mmHg", _VANK, "maximal systolic rise", valid=(0, 100)),
    "dbp_max_mmhg": P(16.57, "mmHg", _VANK, "maximal diastolic rise", valid=(0, 60)),
    "hr_max_bpm": P(7.994, "bpm", _VANK, "maximal heart-rate rise", valid=(0, 60)),
    "dissociation_occupancy50": P(0.188, "1", "assumed: dissociation at plasma 100-250 ng/mL (Zanos 2018 Table 1); "
                                  + OCCUPANCY_SCALE_NOTE.format(old="0.55"),
                                  "NMDA occupancy for half-maximal CADSS", valid=(0.01, 0.99)),
    "dissociation_hill": P(6.0, "1", "assumed: CADSS is gone by ~2 h (Popova 2019; Glue 2018)", "steepness of CADSS",
                           valid=(0.5, 20)),
    "cadss_max": P(13.85, "CADSS points", "calibrated to data/calibration/vitals-and-dissociation.toml (van Schalkwyk 2018)",
                   "maximal CADSS total", valid=(0, 92)),
    "dissociation_tolerance_rate_1_h": P(0.3, "1/h", "assumed: dissociation weaker with repeated dosing (Singh 2016)",
                                         "build-up of tolerance per hour of full dissociation", valid=(0, 100)),
    "dissociation_tolerance_time_d": P(10.0, "d", "assumed: tolerance fades over about a week or two",
                                       "decay time of dissociation tolerance", valid=(0.5, 120)),
}


def hill(xp: Any, x: Array, x50: float, n: float) -> Array:
    """x^n / (x^n + x50^n) for x >= 0."""
    xn = xp.maximum(x, 0.0) ** n
    return xn / (xn + x50**n)


def pressor_fraction(xp: Any, nmda_occupancy: Array, p: dict[str, float]) -> Array:
    """Fraction (0-1) of the maximal sympathomimetic response at this occupancy."""
    return hill(xp, nmda_occupancy, p["pressor_occupancy50"], p["pressor_hill"])


def dissociation_fraction(xp: Any, nmda_occupancy: Array, p: dict[str, float]) -> Array:
    """Fraction (0-1) of maximal dissociation at this occupancy, before tolerance."""
    return hill(xp, nmda_occupancy, p["dissociation_occupancy50"], p["dissociation_hill"])


def tolerance_rate(xp: Any, dissociation: Array, tolerance: Array, p: dict[str, float]) -> Array:
    """d(dissociation tolerance)/dt, 1/h: builds with dissociation, fades over days."""
    build = p["dissociation_tolerance_rate_1_h"] * dissociation * (1.0 - tolerance)
    return build - tolerance / (p["dissociation_tolerance_time_d"] * xp.hours_per_day)
