"""Inputs of a run with the command line's messages: regimens (preset, TOML or NONMEM CSV file),
patients (typical or a patient file) and `--set NAME=VALUE` overrides.

Shared by the command line (ketasim.apps.cli) and the run services (ketasim.apps.runner); it knows
nothing of argparse or the web app.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ketasim.errors import KetasimInputError
from ketasim.io.toml_file import read_toml
from ketasim.model.arm import calibrated_parameters
from ketasim.model.parameters import check_value
from ketasim.model.patient import PATIENT_FIELDS, PATIENT_RANGES, Patient, load_patient, typical_patient
from ketasim.model.regimen import PRESETS, Regimen, regimen_from_entries

#: the keys a regimen TOML file may hold
REGIMEN_FILE_KEYS = {"doses", "name", "description"}


def load_regimen(spec: str, subject: str | None = None) -> Regimen:
    """A preset name, a regimen TOML file (`doses = [...]`) or a NONMEM-style CSV file (subject `subject`)."""
    if spec in PRESETS:
        return PRESETS[spec][1]
    path = Path(spec)
    if not path.is_file():
        raise KetasimInputError(f"--regimen: {spec!r} is neither a preset nor an existing file; "
                                f"presets: {', '.join(PRESETS)} (or a .toml / NONMEM .csv file)")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        from ketasim.interchange.nonmem import regimen_from_nonmem

        return regimen_from_nonmem(spec, subject)
    if suffix != ".toml":
        raise KetasimInputError(f"--regimen: {spec}: expected a .toml regimen file or a NONMEM .csv file")
    data = read_toml(spec, "regimen file")
    unknown = set(data) - REGIMEN_FILE_KEYS
    if unknown:
        raise KetasimInputError(f"{spec}: unknown key(s) {', '.join(sorted(unknown))}; "
                                f"expected doses = [ {{ drug = ..., route = ..., amount = ... }}, ... ]")
    if "doses" not in data:
        raise KetasimInputError(
            f"{spec}: missing 'doses'; expected doses = [ {{ drug = ..., route = ..., amount = ... }}, ... ]")
    name = data.get("name", path.stem)
    return regimen_from_entries(data["doses"], f"{spec}: doses", name=str(name))


def parse_overrides(items: Sequence[str]) -> tuple[dict[str, float], dict[str, float]]:
    """--set NAME=VALUE items as (patient overrides, model parameter overrides)."""
    model_names = calibrated_parameters()
    patient: dict[str, float] = {}
    model: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        try:
            value = float(text)
        except ValueError:
            value = None
        if not sep or not name or value is None:
            raise KetasimInputError(f"--set: expected NAME=VALUE with a number, such as weight_kg=80, got {item!r}")
        if name in PATIENT_FIELDS:
            patient[name] = check_value(name, value, *PATIENT_RANGES[name], "--set")
        elif name in model_names:
            p = model_names[name]
            model[name] = check_value(name, value, p.unit, p.valid, "--set")
        else:
            raise KetasimInputError(f"--set: unknown parameter {name!r}; settable names with units and ranges: "
                                    "`ketasim parameters --settable`")
    return patient, model


def resolve_patient(name: str, overrides: dict[str, float]) -> Patient:
    """`--patient NAME_OR_FILE` (a typical patient or a patient file) with `--set` patient overrides."""
    try:
        base = load_patient(name) if name.lower().endswith(".toml") else typical_patient(name)
    except KetasimInputError as err:
        raise KetasimInputError(f"--patient: {err}") from None
    return base.with_(**overrides) if overrides else base
