"""Subcommands `simulate`, `demo`, `drugs`, `presets`, `parameters` and `examples`."""

from __future__ import annotations

import argparse
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ketasim.apps.inputs import load_regimen, parse_overrides, resolve_patient
from ketasim.checks.dose_limits import check_regimen
from ketasim.checks.limits import check_simulate
from ketasim.checks.plausibility import escape
from ketasim.disclaimer import DISCLAIMER
from ketasim.errors import KetasimInputError
from ketasim.model.arm import calibrated_parameters
from ketasim.model.drugs import DRUG_NAMES, DRUGS
from ketasim.model.parameters import range_text, table_rows
from ketasim.model.patient import PATIENT_RANGES, TYPICAL_PATIENTS
from ketasim.model.regimen import PRESETS, Regimen
from ketasim.simulation import simulate

from .common import (
    PATIENT_HELP,
    add_engine,
    check_days,
    check_out_folder,
    check_output_folders,
    log,
    log_recorded,
    open_store,
    print_table,
)

if TYPE_CHECKING:
    from .common import Subparsers


def _when(hours: float) -> str:
    """A time for a summary line: hours (1 decimal) under 2 days, else days."""
    return f"{hours:.1f} h" if hours < 48.0 else f"{hours / 24.0:.1f} d"


def _madrs_at(table: pd.DataFrame, times_h: Sequence[float]) -> np.ndarray:
    """MADRS (points) interpolated at `times_h` (h)."""
    return np.interp(np.asarray(times_h, dtype=float), table["time_h"].to_numpy(), table["madrs"].to_numpy())


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


# ---- simulate --------------------------------------------------------------------------------------

def _add_simulate(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("simulate", help="simulate one patient on a regimen",
                              description="Simulate one patient from dose to MADRS score.")
    p.add_argument("--regimen", required=True, metavar="PRESET|FILE",
                   help="a preset (see `ketasim presets`), a .toml file with doses = [...], or a NONMEM .csv file")
    p.add_argument("--id", metavar="ID", help="subject ID, when --regimen is a NONMEM .csv file with several")
    p.add_argument("--patient", default="typical-trd", metavar="NAME|FILE", help=PATIENT_HELP)
    p.add_argument("--days", type=float, default=28.0, metavar="N", help="simulated days (default 28)")
    p.add_argument("--csv", metavar="FILE", help="write the output table as CSV")
    p.add_argument("--plot", metavar="FILE", help="write a figure of every layer (PNG, PDF or SVG)")
    add_engine(p, "reference")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
                   help="override a patient parameter (e.g. weight_kg=80) or a model parameter, within its valid "
                        "range; repeatable. Names, units and ranges: `ketasim parameters --settable`")
    p.add_argument("--store", metavar="PATH", help="also record the run in this run store (see `ketasim runs`)")
    return p


def _cmd_simulate(args: argparse.Namespace) -> int:
    check_days(args.days)
    check_output_folders(csv=args.csv, plot=args.plot)
    regimen = load_regimen(args.regimen, args.id)
    patient_overrides, model_overrides = parse_overrides(args.overrides)
    patient = resolve_patient(args.patient, patient_overrides)
    # the same checks simulate() makes, here so that errors name the regimen file
    check_simulate(regimen, args.days, args.regimen)
    check_regimen(regimen, args.days * 24.0, patient.weight_kg, f"{args.regimen}: doses")
    store = open_store(args.store)  # a store that cannot be written fails now, not after the run
    log(f"simulating {args.days:g} d of {regimen.name or args.regimen} ({args.engine} engine)")
    start = time.perf_counter()
    table = simulate(regimen, patient, args.days, engine=args.engine, parameters=model_overrides or None)
    if table.attrs.get("status", 0) != 0 or not np.isfinite(table.drop(columns="time_h").to_numpy()).all():
        log("error: the solver did not finish; no output files written")
        return 1
    if store is not None:  # the run store (ketasim.apps.store)
        from ketasim.apps.recording import record_simulation

        run_id = record_simulation(store, args.regimen, args.patient, args.days, args.engine, args.overrides,
                                   regimen, table, time.perf_counter() - start)
        log_recorded(run_id, store.root)
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
        print_table(("name", "routes", "action", "description"),
                    [(d.name, ",".join(d.routes), d.action, d.description) for d in DRUGS.values()])
        return 0
    if args.name not in DRUGS:
        raise KetasimInputError(f"unknown drug {args.name!r}; known drugs: {', '.join(DRUG_NAMES)}")
    spec = DRUGS[args.name]
    print(f"{spec.name}: {spec.description} (routes: {', '.join(spec.routes)}; action: {spec.action})")
    cmt = ", ".join(f"{route} {number}" for route, number in spec.cmt.items())
    targets = "; ".join(f"{target}: {', '.join(names)}" for target, names in spec.targets.items()) or "none"
    fields = ", ".join(v.name for v in spec.variability) or "none"
    print_table(("name", "value", "unit", "source"), table_rows(spec.parameters))
    print(f"NONMEM CMT: {cmt}; targets: {targets}; patient PK variability: {fields}")
    return 0


def _add_presets(subparsers: Subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser("presets", help="list regimen presets")


def _cmd_presets(args: argparse.Namespace) -> int:
    print_table(("name", "description"), [(name, desc) for name, (desc, _) in PRESETS.items()])
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
        print_table(("name", "value", "unit", "source"), table_rows(calibrated_parameters()))
        return 0
    typical = TYPICAL_PATIENTS["typical-trd"]
    rows = [(name, "patient", f"{getattr(typical, name):g}", unit, range_text(valid))
            for name, (unit, valid) in PATIENT_RANGES.items()]
    rows += [(name, "model", f"{p.value:.6g}", p.unit, range_text(p.valid)) for name, p in calibrated_parameters().items()]
    print_table(("name", "kind", "value", "unit", "valid range"), rows)
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
        print_table(("name", "trial"), [(n, tomllib.loads(files[n].read_text()).get("name", "")) for n in wanted])
        return 0
    out = Path(args.copy)
    if out.exists() and not out.is_dir():
        raise KetasimInputError(f"--copy: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        target = out / f"{name}.toml"
        if target.exists():
            log(f"kept {target} (exists)")
            continue
        target.write_text(files[name].read_text())
        print(f"wrote {target}")
    return 0


# ---- demo ------------------------------------------------------------------------------------------

#: (label, hours) of the demo's MADRS table
DEMO_TIMES: tuple[tuple[str, float], ...] = (("2 h", 2.0), ("4 h", 4.0), ("1 d", 24.0), ("3 d", 72.0), ("7 d", 168.0),
                                             ("14 d", 336.0), ("28 d", 672.0), ("56 d", 1344.0))
DEMO_ARMS: dict[str, str] = {"ketamine": "ketamine-iv-single", "escitalopram": "escitalopram-10mg-daily"}
DEMO_FILES = ("demo.png", "ketamine.csv", "escitalopram.csv")


def _add_demo(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help="ketamine vs escitalopram in a typical TRD patient",
                              description="A typical TRD patient on one ketamine infusion, next to the same "
                                          "patient on daily escitalopram: MADRS table, figure and CSVs.")
    p.add_argument("--out", default="ketasim-demo", metavar="DIR", help="output folder (default ./ketasim-demo)")
    add_engine(p, "reference")
    p.add_argument("--days", type=float, default=56.0, metavar="N", help="simulated days (default 56)")
    p.add_argument("--force", action="store_true", help="write into --out even if it holds other files")
    return p


def _cmd_demo(args: argparse.Namespace) -> int:
    check_days(args.days)
    out = Path(args.out)
    check_out_folder(out, args.force, DEMO_FILES)
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, pd.DataFrame] = {}
    for label, name in DEMO_ARMS.items():
        log(f"simulating {args.days:g} d of {name} (typical-trd patient)")
        tables[f"{label} ({name})"] = table = simulate(name, "typical-trd", args.days, engine=args.engine)
        table.to_csv(out / f"{label}.csv", index=False)
    times = [(name, t) for name, t in DEMO_TIMES if t <= args.days * 24.0 + 1e-9]
    columns = {label: _madrs_at(table, [t for _, t in times]) for label, table in tables.items()}
    print("MADRS, typical TRD patient (baseline "
          + ", ".join(f"{t['madrs'].iloc[0]:.1f}" for t in tables.values()) + ")")
    print_table(["time", *DEMO_ARMS], [[name, *(f"{v[i]:.1f}" for v in columns.values())]
                                      for i, (name, _) in enumerate(times)])
    from ketasim.apps.plot import plot_comparison

    plot_comparison(tables, out / "demo.png", title="typical TRD patient: ketamine vs escitalopram",
                    regimens={label: PRESETS[name][1] for label, name in zip(tables, DEMO_ARMS.values(), strict=True)})
    print(f"wrote {out / 'demo.png'}, {out / 'ketamine.csv'}, {out / 'escitalopram.csv'}")
    print(DISCLAIMER)
    return 0


#: (add, run) per subcommand of this module, by name (ketasim.apps.cli.main orders them)
COMMANDS = {"simulate": (_add_simulate, _cmd_simulate), "demo": (_add_demo, _cmd_demo),
            "drugs": (_add_drugs, _cmd_drugs), "presets": (_add_presets, _cmd_presets),
            "parameters": (_add_parameters, _cmd_parameters), "examples": (_add_examples, _cmd_examples)}
