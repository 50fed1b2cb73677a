"""Individual forecasts and maintenance planning (`ketasim forecast`, `ketasim.forecast`).

Research software; it informs, it does not prescribe.

Modules, one job each, one way (docs/architecture.md): `records` (covariates, observations, patient
record, plan), `patient_file` (the TOML / NONMEM-CSV patient file), `simulator` (the one adapter to
ketasim's population, model and engine), `posterior` (adaptive importance sampling), `result` (the
Forecast tables, JSON, figure), `planner` (forecasts, relapse, plan table). The command is
`ketasim.apps.cli.forecast`.

`ks.forecast(patient, plan=None, *, draws=4000, seed=0, progress=None) -> Forecast`: this
package is callable (calling it calls `forecast` below), so `ketasim.forecast` is at once the
public function and the package whose modules import as usual
(`import ketasim.forecast.simulator`).
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

from .patient_file import load_patient_file
from .records import PatientRecord, Plan
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
    from ketasim.errors import KetasimInputError

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


class _CallablePackage(types.ModuleType):
    """This package, callable: `ketasim.forecast(...)` is `ketasim.forecast.forecast(...)`."""

    def __call__(self, patient: str | os.PathLike[str] | PatientRecord, plan: Plan | Mapping[str, Any] | None = None,
                 **options: Any) -> Forecast:
        return forecast(patient, plan, **options)


sys.modules[__name__].__class__ = _CallablePackage

__all__ = ["Forecast", "PatientRecord", "Plan", "forecast", "load_patient_file"]
