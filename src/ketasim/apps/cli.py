"""The `ketasim` command line.

Each subcommand is a pair of functions, `_add_<name>(subparsers)` (declares its arguments and
returns its parser) and `_cmd_<name>(args) -> int` (runs it), registered in `COMMANDS`. To add
a subcommand, write the pair and append it to `COMMANDS`.

Results go to stdout, progress to stderr. Bad input (KetasimInputError, a malformed TOML file,
a missing or unwritable file, a bad option) is one line `ketasim: error: <message>` on stderr
and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import time
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeAlias

import numpy as np
import pandas as pd

from ketasim.apps.tables import text_table
from ketasim.checks.dose_limits import check_regimen
from ketasim.checks.limits import check_horizon, check_simulate
from ketasim.checks.plausibility import escape
from ketasim.disclaimer import DISCLAIMER
from ketasim.engines.solvers import ENGINES
from ketasim.errors import KetasimInputError
from ketasim.io.toml_file import read_toml
from ketasim.model.arm import calibrated_parameters
from ketasim.model.drugs import DRUG_NAMES, DRUGS
from ketasim.model.parameters import check_value, range_text, table_rows
from ketasim.model.patient import (
    PATIENT_FIELDS,
    PATIENT_RANGES,
    TYPICAL_DESCRIPTIONS,
    TYPICAL_PATIENTS,
    Patient,
    load_patient,
    typical_patient,
)
from ketasim.model.regimen import PRESETS, Regimen, regimen_from_entries
from ketasim.simulation import simulate

if TYPE_CHECKING:
    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"ketasim: error: {message} (see '{self.prog} --help')\n")


def _print_table(headers: Sequence[object], rows: Sequence[Sequence[object]]) -> None:
    """A left-aligned text table on stdout; the last column is not padded."""
    print("\n".join(text_table(headers, rows)))


def _when(hours: float) -> str:
    """A time for a summary line: hours (1 decimal) under 2 days, else days."""
    return f"{hours:.1f} h" if hours < 48.0 else f"{hours / 24.0:.1f} d"


def _check_days(days: float) -> None:
    if not (days > 0 and math.isfinite(days)):
        raise KetasimInputError(f"--days: expected a finite number of days > 0, got {days:g}")
    check_horizon(days * 24.0, "--days")


def _log(message: str) -> None:
    print(f"ketasim: {escape(message)}", file=sys.stderr)


# ---- input resolution ------------------------------------------------------------------------------

_REGIMEN_FILE_KEYS = {"doses", "name", "description"}


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
    unknown = set(data) - _REGIMEN_FILE_KEYS
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


def _madrs_at(table: pd.DataFrame, times_h: Sequence[float]) -> np.ndarray:
    """MADRS (points) interpolated at `times_h` (h)."""
    return np.interp(np.asarray(times_h, dtype=float), table["time_h"].to_numpy(), table["madrs"].to_numpy())


def _check_output_folders(**paths: str | None) -> None:
    """Fail before a long run if an output file's folder does not exist (or a figure's format is unknown)."""
    for option, path in paths.items():
        if path and not Path(path).resolve().parent.is_dir():
            raise KetasimInputError(f"--{option}: folder {str(Path(path).parent)!r} does not exist")
        if path and option == "plot":
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            formats = FigureCanvasAgg.get_supported_filetypes()
            suffix = Path(path).suffix.lower().lstrip(".")
            if suffix not in formats:
                raise KetasimInputError(f"--plot: {path}: unknown figure format {suffix or '(no suffix)'!r}; "
                                        f"use one of {', '.join(sorted(formats))} (such as run.png)")


def _check_out_folder(out: Path, force: bool, own: Sequence[str]) -> None:
    """Refuse an output folder holding files other than `own` (this command's outputs) unless `force`;
    remove this command's old outputs first, so no file of an earlier run sits beside new ones looking current."""
    if out.exists() and not out.is_dir():
        raise KetasimInputError(f"--out: {out} exists and is not a folder")
    if not out.is_dir():
        return
    others = sorted(p.name for p in out.iterdir() if p.name not in own)
    if others and not force:
        raise KetasimInputError(f"--out: folder {str(out)!r} is not empty ({', '.join(others[:3])}"
                                f"{', ...' if len(others) > 3 else ''}); choose a new folder or add --force")
    for name in own:
        for stale in (out / name, out / f"{name}.partial"):
            if stale.is_file():
                stale.unlink()


def _write_outputs(table: pd.DataFrame, csv: str | None, plot: str | None, regimen: Regimen, title: str) -> list[str]:
    written = []
    if csv:
        table.to_csv(csv, index=False)
        written.append(csv)
    if plot:
        from ketasim.apps.plot import plot_simulation

        plot_simulation(table, plot, title=title, regimen=regimen)
        written.append(plot)
    return written


_PATIENT_HELP = ("a typical patient, " + "; ".join(f"{k}: {v}" for k, v in TYPICAL_DESCRIPTIONS.items())
                 + " (default typical-trd); or a patient file (.toml, docs/patient-file.md)").replace("%", "%%")


# ---- simulate --------------------------------------------------------------------------------------

def _add_simulate(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("simulate", help="simulate one patient on a regimen",
                              description="Simulate one patient from dose to MADRS score.")
    p.add_argument("--regimen", required=True, metavar="PRESET|FILE",
                   help="a preset (see `ketasim presets`), a .toml file with doses = [...], or a NONMEM .csv file")
    p.add_argument("--id", metavar="ID", help="subject ID, when --regimen is a NONMEM .csv file with several")
    p.add_argument("--patient", default="typical-trd", metavar="NAME|FILE", help=_PATIENT_HELP)
    p.add_argument("--days", type=float, default=28.0, metavar="N", help="simulated days (default 28)")
    p.add_argument("--csv", metavar="FILE", help="write the output table as CSV")
    p.add_argument("--plot", metavar="FILE", help="write a figure of every layer (PNG, PDF or SVG)")
    _add_engine(p, "reference")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
                   help="override a patient parameter (e.g. weight_kg=80) or a model parameter, within its valid "
                        "range; repeatable. Names, units and ranges: `ketasim parameters --settable`")
    p.add_argument("--store", metavar="PATH", help="also record the run in this run store (see `ketasim runs`)")
    return p


def _cmd_simulate(args: argparse.Namespace) -> int:
    _check_days(args.days)
    _check_output_folders(csv=args.csv, plot=args.plot)
    regimen = load_regimen(args.regimen, args.id)
    patient_overrides, model_overrides = parse_overrides(args.overrides)
    patient = resolve_patient(args.patient, patient_overrides)
    # the same checks simulate() makes, here so that errors name the regimen file
    check_simulate(regimen, args.days, args.regimen)
    check_regimen(regimen, args.days * 24.0, patient.weight_kg, f"{args.regimen}: doses")
    _log(f"simulating {args.days:g} d of {regimen.name or args.regimen} ({args.engine} engine)")
    start = time.perf_counter()
    table = simulate(regimen, patient, args.days, engine=args.engine, parameters=model_overrides or None)
    if table.attrs.get("status", 0) != 0 or not np.isfinite(table.drop(columns="time_h").to_numpy()).all():
        _log("error: the solver did not finish; no output files written")
        return 1
    if args.store:  # the run store (ketasim.apps.store)
        from .cli_commands import store_simulation

        store_simulation(args, regimen, table, time.perf_counter() - start)
    madrs = table["madrs"].to_numpy()
    low = int(np.argmin(madrs))
    print(escape(f"regimen: {regimen.name or args.regimen}; patient: {args.patient}; {args.days:g} d"))
    when = _when(float(table["time_h"].iloc[low]))
    print(f"MADRS: baseline {madrs[0]:.1f}, minimum {madrs[low]:.1f} at {when}, end {madrs[-1]:.1f}")
    for line in table.attrs.get("flags", []):
        print(escape(line))
    for path in _write_outputs(table, args.csv, args.plot, regimen, f"{regimen.name or args.regimen}, {args.patient}"):
        print(escape(f"wrote {path}"))
    return 0


# ---- drugs, presets, parameters --------------------------------------------------------------------

def _add_drugs(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("drugs", help="list drugs, or one drug's parameters with sources")
    p.add_argument("name", nargs="?", help="a drug; prints its parameter table (value, unit, source)")
    return p


def _cmd_drugs(args: argparse.Namespace) -> int:
    if args.name is None:
        _print_table(("name", "routes", "action", "description"),
                     [(d.name, ",".join(d.routes), d.action, d.description) for d in DRUGS.values()])
        return 0
    if args.name not in DRUGS:
        raise KetasimInputError(f"unknown drug {args.name!r}; known drugs: {', '.join(DRUG_NAMES)}")
    spec = DRUGS[args.name]
    print(f"{spec.name}: {spec.description} (routes: {', '.join(spec.routes)}; action: {spec.action})")
    cmt = ", ".join(f"{route} {number}" for route, number in spec.cmt.items())
    targets = "; ".join(f"{target}: {', '.join(names)}" for target, names in spec.targets.items()) or "none"
    fields = ", ".join(v.name for v in spec.variability) or "none"
    _print_table(("name", "value", "unit", "source"), table_rows(spec.parameters))
    print(f"NONMEM CMT: {cmt}; targets: {targets}; patient PK variability: {fields}")
    return 0


def _add_presets(subparsers: Subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser("presets", help="list regimen presets")


def _cmd_presets(args: argparse.Namespace) -> int:
    _print_table(("name", "description"), [(name, desc) for name, (desc, _) in PRESETS.items()])
    return 0


def _add_parameters(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("parameters", help="list mechanism parameters (calibrated) with units and sources",
                              description="Mechanism parameters: value, unit, source. --settable lists every name "
                                          "`--set NAME=VALUE` accepts (patient and model), with unit and valid range.")
    p.add_argument("--settable", action="store_true",
                   help="list the names --set accepts, with typical-trd / calibrated value, unit and valid range")
    return p


def _cmd_parameters(args: argparse.Namespace) -> int:
    if not args.settable:
        _print_table(("name", "value", "unit", "source"), table_rows(calibrated_parameters()))
        return 0
    typical = TYPICAL_PATIENTS["typical-trd"]
    rows = [(name, "patient", f"{getattr(typical, name):g}", unit, range_text(valid))
            for name, (unit, valid) in PATIENT_RANGES.items()]
    rows += [(name, "model", f"{p.value:.6g}", p.unit, range_text(p.valid)) for name, p in calibrated_parameters().items()]
    _print_table(("name", "kind", "value", "unit", "valid range"), rows)
    return 0


# ---- examples --------------------------------------------------------------------------------------

def _add_examples(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "examples", help="list or copy the shipped calibration trial files",
        description="The calibration trial files shipped with ketasim (the published trials `ketasim validate` "
                    "checks): list them, or copy them into a folder to run or adapt (`ketasim trial FILE`).")
    p.add_argument("names", nargs="*", metavar="NAME", help="files to copy (default: all), with or without .toml")
    p.add_argument("--copy", metavar="DIR", help="copy the files into DIR (created if needed; existing files are kept)")
    return p


def _cmd_examples(args: argparse.Namespace) -> int:
    from ketasim.trials.validate import shipped_calibration_dir

    files = {f.stem: f for f in sorted(Path(shipped_calibration_dir()).glob("*.toml"))}
    wanted = [n.removesuffix(".toml") for n in args.names] or list(files)
    unknown = [n for n in wanted if n not in files]
    if unknown:
        raise KetasimInputError(f"examples: unknown file {unknown[0]!r}; shipped: {', '.join(files)}")
    if not args.copy:
        _print_table(("name", "trial"), [(n, tomllib.loads(files[n].read_text()).get("name", "")) for n in wanted])
        return 0
    out = Path(args.copy)
    if out.exists() and not out.is_dir():
        raise KetasimInputError(f"--copy: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        target = out / f"{name}.toml"
        if target.exists():
            _log(f"kept {target} (exists)")
            continue
        target.write_text(files[name].read_text())
        print(f"wrote {target}")
    return 0


# ---- demo ------------------------------------------------------------------------------------------

#: (label, hours) of the demo's MADRS table
DEMO_TIMES: tuple[tuple[str, float], ...] = (("2 h", 2.0), ("4 h", 4.0), ("1 d", 24.0), ("3 d", 72.0), ("7 d", 168.0),
                                             ("14 d", 336.0), ("28 d", 672.0), ("56 d", 1344.0))
DEMO_ARMS: dict[str, str] = {"ketamine": "ketamine-iv-single", "escitalopram": "escitalopram-10mg-daily"}


def _add_demo(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help="ketamine vs escitalopram in a typical TRD patient",
                              description="A typical TRD patient on one ketamine infusion, next to the same "
                                          "patient on daily escitalopram: MADRS table, figure and CSVs.")
    p.add_argument("--out", default="ketasim-demo", metavar="DIR", help="output folder (default ./ketasim-demo)")
    _add_engine(p, "reference")
    p.add_argument("--days", type=float, default=56.0, metavar="N", help="simulated days (default 56)")
    p.add_argument("--force", action="store_true", help="write into --out even if it holds other files")
    return p


DEMO_FILES = ("demo.png", "ketamine.csv", "escitalopram.csv")


def _cmd_demo(args: argparse.Namespace) -> int:
    _check_days(args.days)
    out = Path(args.out)
    _check_out_folder(out, args.force, DEMO_FILES)
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, pd.DataFrame] = {}
    for label, name in DEMO_ARMS.items():
        _log(f"simulating {args.days:g} d of {name} (typical-trd patient)")
        tables[f"{label} ({name})"] = table = simulate(name, "typical-trd", args.days, engine=args.engine)
        table.to_csv(out / f"{label}.csv", index=False)
    times = [(name, t) for name, t in DEMO_TIMES if t <= args.days * 24.0 + 1e-9]
    columns = {label: _madrs_at(table, [t for _, t in times]) for label, table in tables.items()}
    print("MADRS, typical TRD patient (baseline "
          + ", ".join(f"{t['madrs'].iloc[0]:.1f}" for t in tables.values()) + ")")
    _print_table(["time", *DEMO_ARMS], [[name, *(f"{v[i]:.1f}" for v in columns.values())]
                                       for i, (name, _) in enumerate(times)])
    from ketasim.apps.plot import plot_comparison

    plot_comparison(tables, out / "demo.png", title="typical TRD patient: ketamine vs escitalopram",
                    regimens={label: PRESETS[name][1] for label, name in zip(tables, DEMO_ARMS.values(), strict=True)})
    print(f"wrote {out / 'demo.png'}, {out / 'ketamine.csv'}, {out / 'escitalopram.csv'}")
    print(DISCLAIMER)
    return 0


# ---- trial, validate -------------------------------------------------------------------------------

def _positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected an integer > 0, got {text!r}")
    return value


def _add_trial(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "trial", help="run a virtual clinical trial file",
        description="Run a virtual trial described by a TOML trial file (the format: docs/trial-file.md; shipped "
                    "examples: `ketasim examples`): screen a "
                    "virtual population per arm, simulate every patient and report the endpoints (visits, response, "
                    "remission, relapse, vitals). Results go to stdout, progress to stderr.")
    p.add_argument("file", metavar="FILE", help="trial file (.toml)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout (the trial-spec output)")
    p.add_argument("--out", metavar="DIR", help="also write DIR/patients.parquet (one row per patient), "
                                                "DIR/summary.json, DIR/madrs.png and DIR/response.png; DIR must be "
                                                "new or empty (or hold only an earlier run's files) unless --force")
    p.add_argument("--force", action="store_true", help="write into --out even if it holds other files")
    p.add_argument("--patients-per-arm", type=_positive_int, metavar="N", help="override the file's patients_per_arm")
    _add_engine(p, "fast")
    p.add_argument("--chunk-size", type=_positive_int, default=None, metavar="N",
                   help="patients per work item (default: sized to ~256 MB of working memory); "
                        "the numbers do not depend on it")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address, such as tcp://host:8786 (default $DASK_SCHEDULER_ADDRESS; "
                        "unset: run in this process)")
    p.add_argument("--store", metavar="PATH", help="also record the run in this run store (see `ketasim runs`)")
    return p


def _trial_mapper(address: str | None) -> contextlib.AbstractContextManager:
    """The Dask mapper for `address`, or a null context (in-process run) when there is none."""
    if not address:
        return contextlib.nullcontext(None)
    try:
        from ketasim.trials.distributed import make_mapper
    except ImportError as err:
        raise KetasimInputError(f"--scheduler: distributed runs need dask and distributed "
                                f"(pip install 'ketasim[distributed]'): {err}") from None
    return make_mapper(address)


def _cmd_trial(args: argparse.Namespace) -> int:
    import os

    from ketasim.apps import report
    from ketasim.trials.trial import run_trial
    from ketasim.trials.trial_spec import load_trial

    spec = load_trial(args.file)
    if args.out:
        _check_out_folder(Path(args.out), args.force, report.OUTPUT_FILES)
        Path(args.out).mkdir(parents=True, exist_ok=True)  # fail before the run, not after it
    address = args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    n = args.patients_per_arm or spec.patients_per_arm
    with _trial_mapper(address) as mapper:
        _log(f"{args.file}: {len(spec.arms)} arms x {n} patients, {args.engine} engine"
             + (f", scheduler {address}" if address else ""))
        start = time.perf_counter()
        extra = {} if mapper is None else {"mapper": mapper}
        # per-patient courses and parameters are kept only for the files --out writes (the numbers are the same);
        # patients.parquet is streamed chunk by chunk as the trial runs, so it does not hold every patient in memory
        wanted = args.out is not None
        writer = report.PatientsWriter(Path(args.out) / report.OUTPUT_FILES[0], spec) if wanted else None
        with writer or contextlib.nullcontext():
            result = run_trial(spec, engine=args.engine, patients_per_arm=args.patients_per_arm,
                               chunk_size=args.chunk_size, with_course=wanted or bool(args.store), keep_patients=wanted,
                               on_chunk=None if writer is None else writer.write_chunk, **extra)
    _log(f"simulated in {time.perf_counter() - start:.1f} s")
    failures = result.arm_failures()
    empty = [name for name, (failed, total) in failures.items() if failed == total]
    if empty:
        if args.out:
            (Path(args.out) / report.OUTPUT_FILES[0]).unlink(missing_ok=True)
        _log(f"error: no usable patient in arm(s) {', '.join(map(repr, empty))}: the solver failed for every one of "
             "them (doses or parameters outside what the model can solve); no results written")
        return 1
    for name, (failed, total) in failures.items():
        _log(f"warning: arm {name!r}: the solver failed for {failed} of {total} patients; they are excluded")
    text = report.trial_json(result)
    written = report.write_outputs(result, args.out, text, patients_written=True) if args.out else []
    if args.store:  # the run store (ketasim.apps.store)
        from .cli_commands import store_trial

        store_trial(args, result, text, time.perf_counter() - start)
    print(text if args.json else escape(report.format_trial(result)))
    for path in written:
        _log(f"wrote {path}")
    return 0


def _add_engine(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--engine", choices=tuple(ENGINES), default=default, help=f"solver (default {default})")


def _add_trial_files_command(subparsers: Subparsers, name: str, help: str, description: str, paths_help: str,
                             patients_help: str, patients_default: int | None = None) -> argparse.ArgumentParser:
    """A command over trial files or folders (validate, calibrate): DIR_OR_FILE... and --patients-per-arm."""
    p = subparsers.add_parser(name, help=help, description=description)
    p.add_argument("paths", nargs="*", metavar="DIR_OR_FILE", help=paths_help)
    p.add_argument("--patients-per-arm", type=_positive_int, default=patients_default, metavar="N", help=patients_help)
    return p


def _add_validate(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = _add_trial_files_command(
        subparsers, "validate", "compare simulated trials with published results",
        "Run trial files and check every [[published]] target (pass when |simulated - published| <= "
        "tolerance). Default: the calibration set shipped with ketasim. The exit status is 0 whenever "
        "it ran, whatever the score; 2 on bad input.",
        "trial files, or folders of *.toml trial files (default: the shipped calibration set)",
        "override each file's patients_per_arm")
    p.add_argument("--json", action="store_true", help='print {"targets": [...], "passed": N, "total": M} on stdout')
    _add_engine(p, "fast")
    p.add_argument("--cross-validate", action="store_true",
                   help="also refit without each fold of files and predict them (grouped K-fold; slow: see README)")
    p.add_argument("--fit-patients-per-arm", type=_positive_int, default=150, metavar="N",
                   help="with --cross-validate: patients per arm during the refits (default 150)")
    p.add_argument("--max-evaluations", type=_positive_int, default=25, metavar="N",
                   help="with --cross-validate: trial-set evaluations per refit (default 25)")
    p.add_argument("--workers", type=_positive_int, default=min(os.cpu_count() or 1, 4), metavar="N",
                   help="files (or, with --cross-validate, folds) run in parallel processes (default: the cores, at most 4)")
    p.add_argument("--report", metavar="FILE", help="with --cross-validate: also write the report to FILE")
    return p


def _cmd_validate(args: argparse.Namespace) -> int:
    from ketasim.io.jsonsafe import dumps
    from ketasim.trials.validate import format_table, shipped_calibration_dir, validate

    if args.cross_validate:
        return _cross_validate(args)
    start = time.perf_counter()
    checks = validate(args.paths or None, patients_per_arm=args.patients_per_arm, engine=args.engine, workers=args.workers)
    passed = sum(c.passed for c in checks)
    if args.json:
        print(dumps({"targets": [c.to_json() for c in checks], "passed": passed, "total": len(checks)}))
    else:
        print(format_table(checks))
    where = ", ".join(args.paths) if args.paths else str(shipped_calibration_dir())
    _log(f"validated {where} ({args.engine} engine): {passed} of {len(checks)} targets within tolerance; "
         f"elapsed {time.perf_counter() - start:.1f} s")
    return 0


def _cross_validate(args: argparse.Namespace) -> int:
    """`validate --cross-validate`: in-sample and out-of-sample scores, per file and per target."""
    from ketasim.io.jsonsafe import dumps
    from ketasim.trials.cross_validate import cross_validate, format_cross_validation
    from ketasim.trials.validate import shipped_calibration_dir

    if args.engine != "fast":
        raise KetasimInputError("--cross-validate runs the fast engine; leave --engine out")
    paths = args.paths or [shipped_calibration_dir()]
    cv = cross_validate(paths, fit_patients_per_arm=args.fit_patients_per_arm, patients_per_arm=args.patients_per_arm,
                        max_evaluations=args.max_evaluations, workers=args.workers)
    text = format_cross_validation(cv)
    if args.report:
        _write_text(Path(args.report), text + "\n")
    if args.json:
        print(dumps({"in_sample": [c.to_json() for c in cv.in_sample],
                     "out_of_sample": [c.to_json() for c in cv.out_of_sample],
                     "folds": [{"held_out": f.held_out, "fitted": f.fitted, "evaluations": f.evaluations} for f in cv.folds],
                     "passed_in_sample": sum(c.passed for c in cv.in_sample), "total_in_sample": len(cv.in_sample),
                     "passed_out_of_sample": sum(c.passed for c in cv.out_of_sample),
                     "total_out_of_sample": len(cv.out_of_sample)}))
    else:
        print(text)
    return 0


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as err:
        raise KetasimInputError(f"{path}: cannot write ({err.strerror})") from None


def _add_calibrate(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = _add_trial_files_command(
        subparsers, "calibrate", "refit the calibrated parameters to data/calibration",
        "Fit the parameters the literature does not pin down to the [[published]] targets of the "
        "calibration trials only (seeded, reproducible), print a report (targets before/after, "
        "parameters moved, local sensitivity) and write the calibrated parameter file.",
        "calibration trial files or folders (default: the shipped copy of data/calibration)",
        "patients per arm during fitting (default 1000: rates carry about 0.015 sampling error)", 1000)
    p.add_argument("--max-evaluations", type=_positive_int, default=182, metavar="N",
                   help="trial-set evaluations in all (at least 4), every stage and the sensitivity analysis included "
                        "(default 182: 70 per stage)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--write", metavar="FILE", default="calibrated.toml",
                        help="where to write the parameter file (default ./calibrated.toml)")
    target.add_argument("--write-package", action="store_true",
                        help="overwrite the calibrated parameter file shipped in the installed package")
    p.add_argument("--report", metavar="FILE", help="also write the report to FILE")
    return p


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from importlib import resources
    from pathlib import Path

    from ketasim.trials.calibrate import calibrate, format_report, write_calibrated
    from ketasim.trials.validate import shipped_calibration_dir

    paths = args.paths or [shipped_calibration_dir()]
    package_file = Path(str(resources.files("ketasim") / "data" / "calibrated.toml"))
    target = package_file if args.write_package else Path(args.write)
    _check_output_folders(write=str(target), report=args.report)
    if not args.write_package and target.resolve() == package_file.resolve():
        raise KetasimInputError(f"--write: {target} is the package's shipped calibration; use --write-package to "
                                "overwrite it")
    report = calibrate(paths, patients_per_arm=args.patients_per_arm, max_evaluations=args.max_evaluations)
    text = format_report(report)
    print(text)
    write_calibrated(report, target, f"calibrated to data/calibration (ketasim calibrate, "
                                     f"{args.patients_per_arm} patients per arm)")
    _log(f"wrote {target}")
    if args.report:
        Path(args.report).write_text(text + "\n")
        _log(f"wrote {args.report}")
    return 0


# ---- export-sbml -----------------------------------------------------------------------------------

def _add_export_sbml(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export-sbml", help="write one patient's model as SBML (Level 3 Version 2)",
        description="Write one patient on a regimen as an SBML L3V2 model (time in hours; outputs named as the "
                    "`simulate --csv` columns), for libRoadRunner, COPASI or tellurium. PK rate constants and "
                    "doses are numbers for this patient.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--regimen", metavar="PRESET|FILE",
                        help="a preset (see `ketasim presets`), a .toml file with doses = [...], or a NONMEM .csv file")
    source.add_argument("--trial", metavar="FILE", help="a trial file; export the regimen of its arm --arm")
    p.add_argument("--arm", metavar="NAME", help="the arm of --trial to export (its background treatment, if any, "
                                                 "is included from day 0)")
    p.add_argument("--id", metavar="ID", help="subject ID, when --regimen is a NONMEM .csv file with several")
    p.add_argument("--patient", default="typical-trd", metavar="NAME|FILE", help=_PATIENT_HELP)
    p.add_argument("--days", type=float, default=28.0, metavar="N", help="simulated days: doses up to then (default 28)")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the SBML file to write (.xml or .sbml)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
                   help="override a patient parameter (e.g. weight_kg=80) or a model parameter; repeatable")
    return p


def _trial_arm_regimen(path: str, arm: str | None) -> Regimen:
    """The regimen of arm `arm` of the trial file `path`, plus the population's background treatment."""
    from ketasim.trials.trial_spec import load_trial

    spec = load_trial(path)
    names = [a.name for a in spec.arms]
    if arm is None:
        raise KetasimInputError(f"--trial needs --arm NAME; the arms of {path}: {', '.join(names)}")
    if arm not in names:
        raise KetasimInputError(f"--arm: {path} has no arm {arm!r}; its arms: {', '.join(names)}")
    regimen = spec.arms[names.index(arm)].regimen
    background = spec.population.background
    if background is not None:
        from ketasim.trials.trial import RUN_IN_H

        _log(f"including the background treatment from day 0 (a trial starts it {RUN_IN_H / 168.0:g} weeks "
             "before day 0)")
        regimen = Regimen(regimen.doses + background.doses, regimen.name or arm)
    return regimen


def _cmd_export_sbml(args: argparse.Namespace) -> int:
    from ketasim.interchange.sbml import consistency_messages, sbml_document

    _check_days(args.days)
    _check_output_folders(output=args.output)
    if args.trial is None and args.arm is not None:
        raise KetasimInputError("--arm applies to --trial only")
    regimen = _trial_arm_regimen(args.trial, args.arm) if args.trial else load_regimen(args.regimen, args.id)
    patient_overrides, model_overrides = parse_overrides(args.overrides)
    patient = resolve_patient(args.patient, patient_overrides)
    where = args.trial or args.regimen
    check_simulate(regimen, args.days, where)
    check_regimen(regimen, args.days * 24.0, patient.weight_kg, f"{where}: doses")
    doc = sbml_document(regimen, patient, args.days, model_overrides or None)
    errors, warnings = consistency_messages(doc)
    for line in errors + warnings:
        _log(f"libsbml: {line}")
    import libsbml

    if not libsbml.writeSBMLToFile(doc, args.output):
        raise KetasimInputError(f"--output: cannot write {args.output}")
    model = doc.getModel()
    print(f"wrote {args.output}: {regimen.name or args.regimen or args.arm}, {args.patient}, {args.days:g} d; "
          f"{model.getNumRules()} rules, {model.getNumEvents()} events; libsbml consistency: "
          f"{len(errors)} errors, {len(warnings)} warnings")
    return 1 if errors else 0


# ---- forecast (declared in ketasim.forecast.cli) ---------------------------------------------------

def _add_forecast(subparsers: Subparsers) -> argparse.ArgumentParser:
    from ketasim.forecast.cli import add_forecast

    return add_forecast(subparsers)


def _cmd_forecast(args: argparse.Namespace) -> int:
    from ketasim.forecast.cli import run_forecast_command

    return run_forecast_command(args)


#: (add, run) per subcommand, in the order `ketasim --help` lists them.
COMMANDS: list[tuple[Callable[[Subparsers], argparse.ArgumentParser], Callable[[argparse.Namespace], int]]] = [
    (_add_simulate, _cmd_simulate),
    (_add_demo, _cmd_demo),
    (_add_trial, _cmd_trial),
    (_add_validate, _cmd_validate),
    (_add_calibrate, _cmd_calibrate),
    (_add_export_sbml, _cmd_export_sbml),
    (_add_drugs, _cmd_drugs),
    (_add_presets, _cmd_presets),
    (_add_parameters, _cmd_parameters),
    (_add_forecast, _cmd_forecast),
    (_add_examples, _cmd_examples),
]
from .cli_commands import COMMANDS as _APP_COMMANDS  # noqa: E402  serve, runs, report (web explorer, run store)

COMMANDS += _APP_COMMANDS


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    from ketasim import __version__

    parser = _Parser(prog="ketasim", description="Mechanistic simulator of rapid-acting antidepressants. " + DISCLAIMER)
    parser.add_argument("--version", action="version", version=f"ketasim {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    for add, run in COMMANDS:
        add(subparsers).set_defaults(_run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 solver failure, 2 bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        return exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 2
    try:
        return int(args._run(args))
    except (KetasimInputError, tomllib.TOMLDecodeError, OSError) as err:
        message = " ".join(str(err).split())
        print(f"ketasim: error: {escape(message)}", file=sys.stderr)
        return 2
    except RecursionError:
        print("ketasim: error: input nested too deeply", file=sys.stderr)
        return 2
    except MemoryError:
        print("ketasim: error: out of memory; lower the request (fewer patients, days or doses)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ketasim: interrupted", file=sys.stderr)
        return 130
