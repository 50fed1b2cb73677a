"""Recording a finished command-line run in the run store (`simulate`, `trial` and `forecast --store`).

The web app records its runs itself (ketasim.apps.web.jobs); these functions take the values the
command line was given, so they know nothing of argparse.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

import ketasim as ks

from . import adapters as internal
from .store import RunStore, write_results

if TYPE_CHECKING:
    from ketasim.forecast import Forecast


def record_simulation(store: RunStore, regimen_spec: str, patient: str, days: float, engine: str,
                      overrides: Sequence[str], regimen: ks.Regimen, table: pd.DataFrame, runtime_s: float) -> str:
    """Record a `ketasim simulate` run (`--regimen regimen_spec --patient patient --days days --engine engine`
    with `--set` items `overrides`; its regimen and table); returns the run id."""
    from .runner import SimulationRequest, simulation_summary

    sets = tuple((k, float(v)) for k, _, v in (item.partition("=") for item in overrides))
    request = SimulationRequest(regimen_spec if regimen_spec in ks.PRESETS else (), patient, days,
                                engine, sets, regimen.name or regimen_spec)
    if regimen_spec in ks.PRESETS:
        text = request.input_text()
    else:
        path = Path(regimen_spec)
        text = (f"# ketasim simulate --regimen {regimen_spec} --patient {patient} --days {days:g} "
                f"--engine {engine} " + " ".join(f"--set {s}" for s in overrides)).rstrip()
        text += f"\n# {path.name}:\n{path.read_text()}"
    summary = simulation_summary(request, regimen, table, runtime_s)
    return store.add_run("simulate", request.label(), text,
                         lambda folder, run_id: write_results(folder, run_id, {"timecourse": table}, internal.dumps(summary)),
                         engine=engine, status="done" if summary["status"] == 0 else "failed", runtime_s=runtime_s)


def record_trial(store: RunStore, trial_file: str, result: ks.TrialResult, summary_text: str, runtime_s: float) -> str:
    """Record a `ketasim trial` run (its file's text, tables and JSON); returns the run id."""
    from .results import trial_tables

    text = Path(trial_file).read_text()
    tables = trial_tables(result, json.loads(summary_text))
    return store.add_run("trial", result.spec.name, text,
                         lambda folder, run_id: write_results(folder, run_id, tables, summary_text),
                         seed=result.spec.seed, engine=result.engine, runtime_s=runtime_s)


def record_forecast(store: RunStore, patient_file: str, draws: int, seed: int, result: Forecast, runtime_s: float) -> str:
    """Record a `ketasim forecast` run (the patient file, the CSV it names, tables, JSON, figure); returns the run id."""
    from .runner import forecast_input_text, write_forecast

    path = Path(patient_file)
    text = path.read_text()
    patient = internal.parse_toml(text, str(path), toml_1_1=True).get("patient", {})
    data = patient.get("data") if isinstance(patient, dict) else None
    csv = (path.parent / data).read_text() if isinstance(data, str) else None
    record = forecast_input_text(text, path.name, draws, seed, None, csv, None if data is None else Path(data).name)
    return store.add_run("forecast", f"forecast: {path.name}", record,
                         lambda folder, run_id: write_forecast(result, folder, run_id),
                         seed=seed, engine="fast", runtime_s=runtime_s)
