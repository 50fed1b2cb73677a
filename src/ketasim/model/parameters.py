"""A parameter value with its unit and provenance, and tables of them."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Parameter:
    """One model parameter: value, unit, and where the number comes from.

    `source` is a citation, "derived: ..." with the inputs named, "assumed: ..." with the
    reasoning, or "calibrated to <data file>".
    """

    value: float
    unit: str
    source: str
    description: str = ""


def table_rows(parameters: dict[str, Parameter]) -> list[tuple[str, str, str, str]]:
    """Rows (name, value, unit, source) for printing."""
    return [(name, f"{p.value:.6g}", p.unit, p.source) for name, p in parameters.items()]


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
            out[name] = Parameter(float(value), old.unit, source, old.description)
    return out
