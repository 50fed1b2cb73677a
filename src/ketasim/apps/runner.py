"""Runs as the CLI and the web app record them: inputs checked with the CLI's messages, results to a folder.

Nothing here touches the database, so these functions also run in worker processes; the
caller records the run in the store (:mod:`ketasim.apps.store`).
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

import ketasim as ks
from ketasim.apps import adapters as internal

from .compounds import user_compounds
from .results import trial_tables
from .store import write_results

if TYPE_CHECKING:  # the forecast package (jax, numpyro) is imported only when a forecast runs
    from ketasim.forecast import Forecast, PatientRecord, Plan

#: patient traits the explorer offers (the rest keep the typical patient's values)
MAIN_TRAITS: tuple[str, ...] = (
    "weight_kg", "age_y", "female", "untreated_madrs", "synapse_deficit", "plasticity_gain",
    "monoaminergic_responsiveness", "placebo_responsiveness", "cl_factor", "cardiovascular_sensitivity",
    "dissociation_sensitivity")


# ---- simulate --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SimulationRequest:
    """One patient on one regimen: what `ketasim simulate` takes, as data (no file paths)."""

    regimen: str | tuple[dict[str, Any], ...]  # a preset name, or dose tables in the trial-file form
    patient: str = "typical-trd"
    days: float = 28.0
    engine: str = "reference"
    overrides: tuple[tuple[str, float], ...] = ()  # --set NAME=VALUE
    name: str = ""
    compounds: tuple[tuple[str, str], ...] = ()  # user compound files: (file name, TOML text), as --compound FILE

    def regimen_object(self) -> ks.Regimen:
        """The Regimen; an unknown preset gets the message `ketasim simulate --regimen NAME` gives."""
        if isinstance(self.regimen, str):
            if self.regimen not in ks.PRESETS:
                # the CLI's message (ketasim.apps.inputs.load_regimen), for a name that is not a preset
                raise ks.KetasimInputError(
                    f"--regimen: {self.regimen!r} is neither a preset nor an existing file; "
                    f"presets: {', '.join(ks.PRESETS)} (or a .toml / NONMEM .csv file)")
            return ks.preset(self.regimen)
        return internal.regimen_from_doses(list(self.regimen), "doses", name=self.name or "custom")

    def patient_object(self) -> tuple[ks.Patient, dict[str, float]]:
        """The patient with its overrides, and the model-parameter overrides (CLI messages)."""
        if not (isinstance(self.days, int | float) and self.days > 0 and math.isfinite(self.days)):
            raise ks.KetasimInputError(f"--days: expected a finite number of days > 0, got {self.days:g}")
        patient_set, model_set = internal.parse_overrides([f"{k}={v!r}" for k, v in self.overrides])
        return internal.patient_from(self.patient, patient_set), model_set

    def check(self) -> None:
        """Raise the CLI's message for a bad regimen, patient or compound file (the compounds registered meanwhile)."""
        with user_compounds(self.compounds):
            self.regimen_object()
            self.patient_object()

    def label(self) -> str:
        return self.regimen if isinstance(self.regimen, str) else (self.name or "custom regimen")

    def command(self) -> str:
        """The `ketasim simulate` command line of this request (custom doses: from regimen.toml)."""
        regimen = self.regimen if isinstance(self.regimen, str) else "regimen.toml"
        sets = "".join(f" --set {k}={float(v)!r}" for k, v in self.overrides)
        files = "".join(f" --compound {name}" for name, _ in self.compounds)
        return (f"ketasim simulate --regimen {regimen} --patient {self.patient} --days {self.days:g} "
                f"--engine {self.engine}{sets}{files}")

    def input_text(self) -> str:
        """What `runs show` and reports print: the command line as a comment, then (custom doses) a regimen
        file for `--regimen regimen.toml`, so the text saved as regimen.toml reruns it."""
        lines = [f"# {self.command()}"]
        if not isinstance(self.regimen, str):
            lines += ["# save this text as regimen.toml", f"name = {json.dumps(self.label())}",
                      "doses = [\n" + "".join(f"  {_inline_table(d)},\n" for d in self.regimen) + "]"]
        for name, text in self.compounds:  # each compound file, commented: remove '# ' and save it under its name
            lines += [f"# ---- compound file {name}", *(f"# {line}" for line in text.splitlines())]
        return "\n".join(lines) + "\n"


def _inline_table(entry: Mapping[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v) if isinstance(v, str) else repr(v)
    return "{ " + ", ".join(f"{k} = {value(v)}" for k, v in entry.items()) + " }"


def dose_times_h(regimen: ks.Regimen, days: float) -> list[dict[str, Any]]:
    """Every dose up to `days`: time (h), drug, route, amount, infusion (h)."""
    return [{"time_h": e.time_h, "drug": e.drug, "route": e.route, "amount": str(e.amount), "infusion_h": e.infusion_h}
            for e in regimen.events(days * 24.0)]


def run_simulation(request: SimulationRequest, folder: Path | None = None, run_id: str = "") -> dict[str, Any]:
    """Simulate; write timecourse.parquet and summary.json into `folder` when given. Returns the summary."""
    with user_compounds(request.compounds):
        regimen = request.regimen_object()
        patient, model_set = request.patient_object()
        start = time.perf_counter()
        table = ks.simulate(regimen, patient, float(request.days), engine=request.engine, parameters=model_set or None)
    summary = simulation_summary(request, regimen, table, time.perf_counter() - start)
    if folder is not None:
        write_results(folder, run_id, {"timecourse": table}, internal.dumps(summary))
    return summary


def simulation_summary(request: SimulationRequest, regimen: ks.Regimen, table: pd.DataFrame, runtime_s: float) -> dict:
    madrs = table["madrs"].to_numpy()
    low = int(madrs.argmin())
    return {"kind": "simulate", "name": request.label(), "patient": request.patient, "days": float(request.days),
            "engine": request.engine, "status": int(table.attrs.get("status", 0)), "runtime_s": runtime_s,
            "units": dict(table.attrs.get("units", {})), "doses": dose_times_h(regimen, float(request.days)),
            "madrs": {"baseline": float(madrs[0]), "minimum": float(madrs[low]),
                      "minimum_time_h": float(table["time_h"].iloc[low]), "end": float(madrs[-1])},
            "disclaimer": internal.DISCLAIMER}


# ---- trial -----------------------------------------------------------------------------------------

#: on_progress(patients done, patients in all arms)
Progress = Callable[[int, int], None]


def progress_chunk_size(patients_per_arm: int) -> int:
    """Chunks of about a tenth of an arm, so progress moves (the numbers do not depend on the chunking)."""
    return max(16, math.ceil(patients_per_arm / 10))


def run_trial_text(text: str, source: str, *, patients_per_arm: int | None = None, engine: str = "fast",
                   folder: Path | None = None, run_id: str = "", on_progress: Progress | None = None) -> dict[str, Any]:
    """Run a trial file given as text; write its tables and summary.json into `folder`. Returns the JSON summary."""
    spec = internal.trial_from_text(text, source)
    if patients_per_arm is not None:
        spec = spec.with_patients_per_arm(patients_per_arm)
    n = spec.patients_per_arm
    total, done = n * len(spec.arms), 0

    def chunk_done(arm_index: int, arm: str, part: Any, first: int) -> None:
        nonlocal done
        done += int(part.index.size)  # a solved chunk (ketasim.trials.results.SolvedChunk)
        if on_progress is not None:
            on_progress(done, total)

    result = ks.run_trial(spec, engine=engine, chunk_size=progress_chunk_size(n), with_course=True,
                          show_progress=False, on_chunk=chunk_done)
    summary_text = internal.trial_json(result)
    if folder is not None:
        write_results(folder, run_id, trial_tables(result, json.loads(summary_text)), summary_text)
    return json.loads(summary_text)


# ---- validate --------------------------------------------------------------------------------------

def calibration_files() -> list[Path]:
    """The shipped calibration trial files (what `ketasim validate` runs by default), sorted by name."""
    return sorted(Path(internal.shipped_calibration_dir()).glob("*.toml"))


def run_validation(*, patients_per_arm: int, engine: str = "fast", folder: Path | None = None, run_id: str = "",
                   on_progress: Progress | None = None) -> dict[str, Any]:
    """`ketasim validate --patients-per-arm N` over the shipped set, file by file; writes validation.parquet."""
    files = calibration_files()
    rows: list[dict[str, Any]] = []
    for i, path in enumerate(files):
        for check in ks.validate([path], patients_per_arm=patients_per_arm, engine=engine, show_progress=False):
            row = check.to_json()
            row["file"] = path.stem
            for key in ("arm", "versus"):
                row[key] = " + ".join(row[key]) if isinstance(row.get(key), list) else row.get(key)
            rows.append(row)
        if on_progress is not None:
            on_progress(i + 1, len(files))
    passed = sum(bool(r["pass"]) for r in rows)
    controls = ks.validate([internal.shipped_negative_controls_dir()], patients_per_arm=patients_per_arm, engine=engine,
                           show_progress=False)
    summary = {"kind": "validate", "patients_per_arm": patients_per_arm, "engine": engine, "targets": rows,
               "passed": passed, "total": len(rows),  # the negative controls and mechanism checks too, as the CLI
               "negative_controls": internal.negative_controls_json(controls),
               "mechanism": internal.mechanism_summary(internal.run_mechanism_checks()), "disclaimer": internal.DISCLAIMER}
    if folder is not None:
        table = pd.DataFrame(rows, columns=["file", "arm", "visit", "metric", "versus", "published", "simulated",
                                            "tolerance", "pass", "source"])
        write_results(folder, run_id, {"validation": table.astype({"simulated": float})}, internal.dumps(summary))
    return summary


# ---- forecast --------------------------------------------------------------------------------------

#: marks the NONMEM-style CSV in a forecast run's input record (its lines follow, commented)
FORECAST_CSV_MARK = "# ---- data CSV"
_TABLE_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\" -]+?)\s*\]\]?\s*(#.*)?$")


def _toml_value(value: Any) -> str:
    """A plan value as TOML: a string, a number, a list of them, an inline table of them."""
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def patient_text_with_plan(text: str, plan: Mapping[str, Any] | None, source: str = "patient file") -> str:
    """The patient file with the form's [plan] overrides written in: the file's own [plan] lines are
    commented out and one [plan] table with every key (file's values, overridden) is appended."""
    if not plan:
        return text
    file_plan = internal.parse_toml(text, source, toml_1_1=True).get("plan", {})
    merged = {**(file_plan if isinstance(file_plan, Mapping) else {}), **plan}
    lines, inside = [], False
    for line in text.splitlines():
        header = _TABLE_HEADER.match(line)
        if header:
            inside = header.group(1).strip().strip('"') == "plan"
        lines.append(f"# (replaced below) {line}" if inside and line.strip() else line)
    lines += ["", "[plan]  # as run: the file's plan with the form's overrides",
              *(f"{k} = {_toml_value(v)}" for k, v in merged.items())]
    return "\n".join(lines) + "\n"


def forecast_input_text(text: str, source: str, draws: int, seed: int, plan: Mapping[str, Any] | None,
                        data_csv: str | None, data_name: str | None) -> str:
    """What `runs show` and reports print for a forecast: the command line, then a patient file that reruns it
    (the form's [plan] overrides written in), then the CSV it names, if any, as comment lines."""
    lines = [f"# ketasim forecast {source} --draws {draws} --seed {seed}",
             patient_text_with_plan(text, plan, source).rstrip("\n")]
    if data_csv is not None:
        lines.append(f"{FORECAST_CSV_MARK}: remove '# ' from the lines below and save them as {data_name or 'data.csv'}")
        lines += [f"# {row}" for row in data_csv.rstrip("\n").splitlines()]
    return "\n".join(lines) + "\n"


def forecast_steps(draws: int, intervals: int) -> int:
    """Progress steps of a forecast: the sampler's rounds (as ketasim.forecast.posterior.infer chooses them:
    one per 1,000 draws, 2 to 4), the course without further sessions, one per candidate interval."""
    return min(4, max(2, draws // 1000)) + 1 + intervals


def check_forecast_text(text: str, source: str, plan: Mapping[str, Any] | None = None,
                        data_csv: str | None = None) -> tuple[PatientRecord, Plan]:
    """The patient record and plan of a patient file's text; KetasimInputError with the CLI's message if bad."""
    from ketasim.forecast.patient_file import patient_from_text

    return patient_from_text(text, source, dict(plan) if plan else None, data_csv=data_csv)


def run_forecast_text(text: str, source: str, *, draws: int = 4000, seed: int = 0,
                      plan: Mapping[str, Any] | None = None, data_csv: str | None = None,
                      folder: Path | None = None, run_id: str = "", on_progress: Progress | None = None
                      ) -> dict[str, Any]:
    """`ketasim forecast` on a patient file given as text; tables, summary.json and forecast.png into `folder`.

    `plan` overrides keys of the file's [plan]; `data_csv` is the CSV its `patient.data` names.
    Progress counts the sampler's rounds and the forecast scenarios. Returns the forecast JSON
    (as `ketasim forecast --json` prints it) with "kind": "forecast".
    """
    from ketasim.forecast import forecast

    if not (isinstance(draws, int) and draws >= 300):
        raise ks.KetasimInputError(f"--draws: expected at least 300, got {draws}")
    if not (isinstance(seed, int) and seed >= 0):
        raise ks.KetasimInputError(f"--seed: expected an integer >= 0, got {seed}")
    record, chosen = check_forecast_text(text, source, plan, data_csv)
    total, done = forecast_steps(draws, len(chosen.intervals_h)), 0

    def progress(message: str) -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(min(done, total), total)

    result = forecast(record, chosen, draws=draws, seed=seed, progress=progress)
    return write_forecast(result, folder, run_id)


def write_forecast(result: Forecast, folder: Path | None, run_id: str) -> dict[str, Any]:
    """A Forecast's JSON with "kind": "forecast"; with `folder`, its tables, summary.json and forecast.png there."""
    summary = {"kind": "forecast", **result.to_json()}
    if folder is not None:
        write_results(folder, run_id, result.tables(), internal.dumps(summary))
        result.figure(folder / "forecast.png")
    return summary
