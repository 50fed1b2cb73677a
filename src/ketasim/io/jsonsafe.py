"""Strict JSON: numpy values made plain, NaN and infinities as null."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def finite_json(value: Any) -> Any:
    """`value` with numpy scalars/arrays made plain and every NaN or infinity replaced by None (JSON null)."""
    if isinstance(value, dict):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [finite_json(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def dumps(value: Any) -> str:
    """Strict JSON text (no NaN / Infinity tokens), indented."""
    return json.dumps(finite_json(value), indent=2, allow_nan=False)
