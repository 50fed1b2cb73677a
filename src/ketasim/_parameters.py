"""A parameter value with its unit and provenance, and tables of them."""

from __future__ import annotations

from dataclasses import dataclass


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
