"""Quantities with units at the edges: amounts (mg, mg/kg, ug/kg) and times (min, h, d, wk).

Internally ketasim works in hours (time), mg (amount), L (volume) and ng/mL (concentration).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ketasim.errors import KetasimInputError

_NUMBER_UNIT = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z/%]+)\s*$")

#: hours per unit of time
TIME_UNITS_H: dict[str, float] = {"min": 1.0 / 60.0, "h": 1.0, "d": 24.0, "wk": 168.0}

#: mg per unit of amount, and whether the unit is per kg of body weight
AMOUNT_UNITS: dict[str, tuple[float, bool]] = {
    "mg": (1.0, False),
    "mg/kg": (1.0, True),
    "ug/kg": (1e-3, True),
}


@dataclass(frozen=True)
class Amount:
    """A dose amount: `value_mg` in mg, or in mg per kg of body weight when `per_kg`."""

    value_mg: float
    per_kg: bool = False

    def __post_init__(self) -> None:
        if not (self.value_mg >= 0.0 and math.isfinite(self.value_mg)):
            raise KetasimInputError(f"a dose amount must be a finite number >= 0, got {self.value_mg}")

    def mg_for(self, weight_kg: float) -> float:
        """Absolute amount in mg for a patient of `weight_kg` kg."""
        return self.value_mg * weight_kg if self.per_kg else self.value_mg

    def __str__(self) -> str:
        return f"{self.value_mg:g} mg/kg" if self.per_kg else f"{self.value_mg:g} mg"


def _split(text: object, where: str, expected: str) -> tuple[float, str]:
    if isinstance(text, bool) or not isinstance(text, str):
        raise KetasimInputError(f"{where}: expected {expected} as a string such as '{_example(expected)}', got {text!r}")
    match = _NUMBER_UNIT.match(text)
    if match is None:
        raise KetasimInputError(f"{where}: expected {expected} (a number with a unit), got {text!r}")
    value = float(match.group(1))
    if not math.isfinite(value):
        raise KetasimInputError(f"{where}: expected {expected} with a finite number, got {text!r}")
    return value, match.group(2)


def _example(expected: str) -> str:
    return "0.5 mg/kg" if "amount" in expected else "40 min"


def parse_time_h(text: object, where: str = "time", allow_negative: bool = False) -> float:
    """Parse '40 min', '2 h', '3.5 d', '8 wk' into hours."""
    value, unit = _split(text, where, "a time in min, h, d or wk")
    if unit not in TIME_UNITS_H:
        raise KetasimInputError(f"{where}: unknown time unit {unit!r} in {text!r}; expected one of {', '.join(TIME_UNITS_H)}")
    if value < 0 and not allow_negative:
        raise KetasimInputError(f"{where}: a time must not be negative, got {text!r}")
    return value * TIME_UNITS_H[unit]


def parse_amount(text: object, where: str = "amount") -> Amount:
    """Parse '0.5 mg/kg', '56 mg', '500 ug/kg' into an Amount."""
    value, unit = _split(text, where, "an amount in mg, mg/kg or ug/kg")
    if unit not in AMOUNT_UNITS:
        raise KetasimInputError(f"{where}: unknown amount unit {unit!r} in {text!r}; expected one of {', '.join(AMOUNT_UNITS)}")
    if value < 0:
        raise KetasimInputError(f"{where}: a dose amount must not be negative, got {text!r}")
    scale, per_kg = AMOUNT_UNITS[unit]
    return Amount(value * scale, per_kg)

