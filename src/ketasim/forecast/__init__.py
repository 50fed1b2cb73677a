"""Individual forecasts and maintenance planning (`ketasim forecast`, `ketasim.forecast`).

Research software; it informs, it does not prescribe.

Modules, one job each: `patient_file` (the TOML / NONMEM-CSV patient file), `simulator` (the one
adapter to ketasim's population, model and engine), `posterior` (adaptive importance sampling),
`planner` (forecasts, relapse, plan table), `result` (the Forecast tables, JSON, figure), `cli`.

`ketasim.forecast` (the attribute of the top-level package) is the function below, as the
public API asks; the modules stay importable as `ketasim.forecast.<module>` (`from
ketasim.forecast import simulator`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from .patient_file import PatientRecord, Plan, load_patient_file
from .result import Forecast

#: simulated draws of the posterior (over 4 adaptive rounds) and resampled draws of the forecasts
DEFAULT_DRAWS = 4000
FORECAST_DRAWS = 1000


def forecast(patient: str | os.PathLike[str] | PatientRecord, plan: Plan | Mapping[str, Any] | None = None, *,
             draws: int = DEFAULT_DRAWS, seed: int = 0, progress: Callable[[str], None] | None = None) -> Forecast:
    """Forecast one patient: `patient` is a patient file (TOML) or a PatientRecord.

    `plan`: a Plan (replaces the file's [plan]) or a [plan]-style dict whose keys override the
    file's ({"horizon": "8 wk", "acceptable_risk": 0.1, ...}).
    `draws` simulated posterior draws (>= 300), `seed` for every random number. Returns a Forecast
    whose tables are pandas DataFrames. Research software; it informs, it does not prescribe.
    """
    from .._errors import KetasimInputError
    from .patient_file import parse_plan

    try:
        from .planner import run_forecast
    except ImportError as err:  # jax / numpyro are in requirements.lock and the [forecast] extra
        raise KetasimInputError(f"forecast needs jax and numpyro ({err}); pip install 'ketasim[forecast]'") from None

    if isinstance(patient, PatientRecord):
        record = patient
        chosen = plan if isinstance(plan, Plan) else parse_plan(plan or {}, record.source, record)
    else:
        record, chosen = load_patient_file(patient, plan)
    if draws < 300:
        raise KetasimInputError(f"draws: expected at least 300, got {draws}")
    return run_forecast(record, chosen, draws=draws, seed=seed, progress=progress)


__all__ = ["Forecast", "PatientRecord", "Plan", "forecast", "load_patient_file"]
