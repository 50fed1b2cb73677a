"""A parameter value with its unit, provenance and valid range, and tables of them."""

from __future__ import annotations

import math
import numbers
import tomllib
from dataclasses import dataclass
from importlib import resources

import numpy as np

from ketasim.errors import KetasimInputError


@dataclass(frozen=True)
class Parameter:
    """One model parameter: value, unit, where the number comes from, and its valid range.

    `source` is a citation, "derived: ..." with the inputs named, "assumed: ..." with the
    reasoning, or "calibrated to <data file>". `valid` is (low, high), both ends included, in
    `unit`: the values for which the equations are defined and physiology is possible (None:
    any finite number).
    """

    value: float
    unit: str
    source: str
    description: str = ""
    valid: tuple[float, float] | None = None


def table_rows(parameters: dict[str, Parameter]) -> list[tuple[str, str, str, str]]:
    """Rows (name, value, unit, source) for printing."""
    return [(name, f"{p.value:.6g}", p.unit, p.source) for name, p in parameters.items()]


def range_text(valid: tuple[float, float] | None) -> str:
    """'0 to 1' (or 'any finite number') for tables and messages."""
    return "any finite number" if valid is None else f"{valid[0]:g} to {valid[1]:g}"


def check_value(name: str, value: object, unit: str, valid: tuple[float, float] | None, where: str) -> float:
    """`value` as a float if it is a finite real number inside `valid`; else KetasimInputError naming `where`."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise KetasimInputError(f"{where}: {name}: expected a number ({unit}), got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise KetasimInputError(f"{where}: {name}: expected a finite number ({unit}), got {value!r}")
    if valid is not None and not valid[0] <= number <= valid[1]:
        shown = "" if unit == "1" else f" {unit}"
        raise KetasimInputError(f"{where}: {name} = {number:g}{shown} is outside its valid range "
                                f"{range_text(valid)}{shown}")
    return number


def check_overrides(overrides: object, parameters: dict[str, Parameter], where: str, kind: str) -> dict[str, float]:
    """Overrides {name: value} checked against `parameters` (known name, number type, valid range)."""
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise KetasimInputError(f"{where}: expected a dict of {kind} {{name: number}}, got {type(overrides).__name__}")
    out = {}
    for name, value in overrides.items():
        if name not in parameters:
            raise KetasimInputError(f"{where}: unknown {kind} {name!r}; see `ketasim parameters --settable`")
        p = parameters[name]
        out[name] = check_value(name, value, p.unit, p.valid, where)
    return out


def with_shipped_calibration(parameters: dict[str, Parameter], section: str) -> dict[str, Parameter]:
    """`parameters` with the values of `section` ("model" or "population") of the shipped
    `data/calibrated.toml` applied; their source becomes the file's provenance line."""
    out = dict(parameters)
    path = resources.files("ketasim") / "data" / "calibrated.toml"
    if not path.is_file():
        return out
    data = tomllib.loads(path.read_text())
    source = data.get("source", "calibrated to data/calibration")
    for name, value in data.get(section, {}).items():
        if name in out:
            old = out[name]
            out[name] = Parameter(float(value), old.unit, source, old.description, old.valid)
    return out
