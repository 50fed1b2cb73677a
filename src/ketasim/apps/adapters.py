"""The one place where ketasim.apps reaches past the public API (``import ketasim as ks``).

Everything here is a thin re-export or a few lines around a private module, so a move of
the model's internals needs edits in this file only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ketasim as ks
from ketasim.disclaimer import DISCLAIMER
from ketasim.engines.solvers import ENGINES, STATUS_OK
from ketasim.io.jsonsafe import dumps
from ketasim.io.toml_file import parse_toml
from ketasim.io.units import AMOUNT_UNITS, parse_time_h
from ketasim.mechanism_checks import run_checks as run_mechanism_checks
from ketasim.mechanism_checks import summary as mechanism_summary
from ketasim.model.arm import ArmModel, calibrated_parameters, initial_state, model_values
from ketasim.model.drugs.registry import unregister as unregister_drug
from ketasim.model.patient import PATIENT_RANGES
from ketasim.model.regimen import regimen_from_entries
from ketasim.simulation import COLUMN_UNITS, output_times_h
from ketasim.trials.outcomes import Z95, responders, wilson_interval
from ketasim.trials.population import POPULATION_KINDS, PopulationSettings, draw_candidates, population_values
from ketasim.trials.trial_spec import parse_trial
from ketasim.trials.validate import (
    check_targets,
    negative_controls_json,
    shipped_calibration_dir,
    shipped_negative_controls_dir,
)

from .inputs import parse_overrides, resolve_patient
from .report import trial_json

__all__ = [
    "AMOUNT_UNITS",
    "COLUMN_UNITS",
    "DISCLAIMER",
    "ENGINES",
    "PATIENT_RANGES",
    "POPULATION_KINDS",
    "STATUS_OK",
    "Z95",
    "ArmModel",
    "PopulationSettings",
    "calibrated_parameters",
    "check_targets",
    "draw_candidates",
    "dumps",
    "initial_state",
    "mechanism_summary",
    "model_values",
    "negative_controls_json",
    "output_times_h",
    "parse_overrides",
    "parse_time_h",
    "parse_toml",
    "patient_from",
    "population_values",
    "regimen_from_doses",
    "responders",
    "run_mechanism_checks",
    "shipped_calibration_dir",
    "shipped_negative_controls_dir",
    "trial_from_text",
    "trial_json",
    "unregister_drug",
    "wilson_interval",
]


def regimen_from_doses(entries: Any, where: str, name: str = "") -> ks.Regimen:
    """A Regimen from dose tables in the trial-file form ({drug, route, amount, at | every, ...})."""
    return regimen_from_entries(entries, where, name=name)


def trial_from_text(text: str, source: str) -> ks.TrialSpec:
    """Parse trial-file text; errors read as `ketasim trial SOURCE` gives them for a file named SOURCE."""
    data: Mapping[str, Any] = parse_toml(text, source)
    return parse_trial(data, source)


def patient_from(name: str, overrides: dict[str, float]) -> ks.Patient:
    """A typical patient with overrides, with the CLI's `--patient` messages; never a patient file
    (web requests name no files on the server)."""
    if name.lower().endswith(".toml"):
        raise ks.KetasimInputError(f"--patient: {name!r}: expected a typical patient ({', '.join(ks.TYPICAL_PATIENTS)}); "
                                   "patient files are read by the command line only")
    return resolve_patient(name, overrides)
