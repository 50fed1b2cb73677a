"""Strict JSON: numpy values made plain, NaN and infinities as null."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def finite_json(value: Any) -> Any:
    """`value` with numpy scalars/arrays made plain and every NaN or infinity replaced by None (JSON null);
    floats smaller than 1e-12 in magnitude (rounding noise) become 0."""
    if isinstance(value, dict):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [finite_json(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return None
        return 0.0 if abs(value) < 1e-12 else float(value)  # rounding noise (a CI bound of 4e-19) is 0
    return value


def dumps(value: Any) -> str:
    """Strict JSON text (no NaN / Infinity tokens), indented."""
    return json.dumps(finite_json(value), indent=2, allow_nan=False)
