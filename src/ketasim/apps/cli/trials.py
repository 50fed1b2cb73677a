"""Subcommands `trial`, `validate` (and `validate --cross-validate`) and `calibrate`."""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ketasim.checks.plausibility import escape
from ketasim.errors import KetasimInputError

from .common import OutFolder, add_engine, check_output_folders, log, log_recorded, open_store, positive_int, write_text

if TYPE_CHECKING:
    from ketasim.apps.store import RunStore
    from ketasim.trials.trial import TrialResult

    from .common import Subparsers


# ---- trial -----------------------------------------------------------------------------------------

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
    p.add_argument("--patients-per-arm", type=positive_int, metavar="N", help="override the file's patients_per_arm")
    add_engine(p, "fast")
    p.add_argument("--chunk-size", type=positive_int, default=None, metavar="N",
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
    from ketasim.apps import report
    from ketasim.trials.trial import run_trial
    from ketasim.trials.trial_spec import load_trial

    spec = load_trial(args.file)
    # --out is written into a partial folder beside it and moved in when complete: killed midway, DIR holds a
    # complete run or none; --store is checked writable now. Both fail before the run, not after it.
    store = open_store(args.store)
    staging = OutFolder(Path(args.out), args.force, report.OUTPUT_FILES) if args.out else None
    address = args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    n = args.patients_per_arm or spec.patients_per_arm
    with staging or contextlib.nullcontext(), _trial_mapper(address) as mapper:
        log(f"{args.file}: {len(spec.arms)} arms x {n} patients, {args.engine} engine"
            + (f", scheduler {address}" if address else ""))
        start = time.perf_counter()
        extra = {} if mapper is None else {"mapper": mapper}
        # per-patient courses and parameters are kept only for the files --out writes (the numbers are the same);
        # patients.parquet is streamed chunk by chunk as the trial runs, so it does not hold every patient in memory
        wanted = staging is not None
        writer = report.PatientsWriter(staging.partial / report.OUTPUT_FILES[0], spec) if staging else None
        with writer or contextlib.nullcontext():
            result = run_trial(spec, engine=args.engine, patients_per_arm=args.patients_per_arm,
                               chunk_size=args.chunk_size, with_course=wanted or store is not None, keep_patients=wanted,
                               on_chunk=None if writer is None else writer.write_chunk, **extra)
        written = _finish_trial(args, result, staging, store, start)
    return 0 if written is not None else 1


def _finish_trial(args: argparse.Namespace, result: TrialResult, staging: OutFolder | None, store: RunStore | None,
                  start: float) -> list[Path] | None:
    """Report a finished trial: --out files (moved into place), --store record, stdout; None if no arm was usable."""
    from ketasim.apps import report

    log(f"simulated in {time.perf_counter() - start:.1f} s")
    failures = result.arm_failures()
    empty = [name for name, (failed, total) in failures.items() if failed == total]
    if empty:
        log(f"error: no usable patient in arm(s) {', '.join(map(repr, empty))}: the solver failed for every one of "
            "them (doses or parameters outside what the model can solve); no results written")
        return None
    for name, (failed, total) in failures.items():
        log(f"warning: arm {name!r}: the solver failed for {failed} of {total} patients; they are excluded")
    text = report.trial_json(result)
    written: list[Path] = []
    if staging is not None:
        report.write_outputs(result, staging.partial, text, patients_written=True)
        written = staging.commit()
    if store is not None:  # the run store (ketasim.apps.store)
        from ketasim.apps.recording import record_trial

        log_recorded(record_trial(store, args.file, result, text, time.perf_counter() - start), store.root)
    print(text if args.json else escape(report.format_trial(result)))
    for path in written:
        log(f"wrote {path}")
    return written


# ---- validate --------------------------------------------------------------------------------------

def _add_trial_files_command(subparsers: Subparsers, name: str, help: str, description: str, paths_help: str,
                             patients_help: str, patients_default: int | None = None) -> argparse.ArgumentParser:
    """A command over trial files or folders (validate, calibrate): DIR_OR_FILE... and --patients-per-arm."""
    p = subparsers.add_parser(name, help=help, description=description)
    p.add_argument("paths", nargs="*", metavar="DIR_OR_FILE", help=paths_help)
    p.add_argument("--patients-per-arm", type=positive_int, default=patients_default, metavar="N", help=patients_help)
    return p


def _add_validate(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = _add_trial_files_command(
        subparsers, "validate", "compare simulated trials with published results",
        "Run trial files and check every [[published]] target (pass when |simulated - published| <= "
        "tolerance). Default: the calibration set shipped with ketasim. The exit status is 0 whenever "
        "it ran, whatever the score; 2 on bad input.",
        "trial files, or folders of *.toml trial files (default: the shipped calibration set)",
        "override each file's patients_per_arm")
    p.add_argument("--json", action="store_true",
                   help='print {"targets": [...], "passed": N, "total": M, "indications": [...]} on stdout '
                        '(each indication\'s score: depression, bipolar depression, PTSD), with "differences" '
                        '(drug minus control) and "prediction_intervals" (95%%, beside the score)')
    add_engine(p, "fast")
    p.add_argument("--cross-validate", action="store_true",
                   help="also refit without each fold of files and predict them (grouped K-fold; slow: see docs/validation.md)")
    p.add_argument("--fit-patients-per-arm", type=positive_int, default=150, metavar="N",
                   help="with --cross-validate: patients per arm during the refits (default 150)")
    p.add_argument("--max-evaluations", type=positive_int, default=40, metavar="N",
                   help="with --cross-validate: trial-set evaluations per refit (default 40)")
    p.add_argument("--workers", type=positive_int, default=min(os.cpu_count() or 1, 4), metavar="N",
                   help="files (or, with --cross-validate, folds) run in parallel processes (default: the cores, at most 4)")
    p.add_argument("--report", metavar="FILE", help="with --cross-validate: also write the report to FILE")
    p.add_argument("--mechanism", action="append", metavar="DIR_OR_FILE",
                   help="mechanism check files (intermediate layers, docs/mechanism-checks.md) to run beside the "
                        "trials; default: the shipped set when no trial files are named (repeatable)")
    p.add_argument("--parameters", metavar="FILE",
                   help="a parameter file as `ketasim calibrate --write FILE` writes it ([model] and [population] "
                        "tables): its values replace the shipped calibration for the trial files and negative "
                        "controls, so another fit can be scored without installing it (mechanism checks are skipped: "
                        "they use the shipped calibration); not with --cross-validate")
    p.add_argument("--negative-controls", action="append", metavar="DIR_OR_FILE",
                   help="validation-only trial files (drugs that failed in trials; never fitted) scored in their own "
                        "table; default: the shipped set (data/negative_controls) when no trial files are named "
                        "(repeatable)")
    return p


def _cmd_validate(args: argparse.Namespace) -> int:
    from ketasim.io.jsonsafe import dumps
    from ketasim.mechanism_checks import format_mechanism_table, mechanism_files, run_checks
    from ketasim.mechanism_checks import summary as mechanism_summary
    from ketasim.trials.differences import all_differences, format_differences
    from ketasim.trials.prediction_intervals import format_prediction_intervals, prediction_intervals
    from ketasim.trials.validate import (
        format_negative_controls,
        format_table,
        negative_controls_json,
        section_scores,
        shipped_calibration_dir,
        shipped_negative_controls_dir,
        validate,
    )

    parameter_file = getattr(args, "parameters", None)
    if args.cross_validate:
        if parameter_file:
            raise KetasimInputError("--parameters: not with --cross-validate (its refits start from the shipped "
                                    "calibration)")
        return _cross_validate(args)
    start = time.perf_counter()
    params = pop = None
    if parameter_file:
        from ketasim.model.arm import model_values
        from ketasim.trials.calibrate import read_parameter_file
        from ketasim.trials.population import population_values

        model_overrides, population_overrides = read_parameter_file(parameter_file)
        params, pop = model_values(model_overrides), population_values(population_overrides)
        if args.mechanism:
            raise KetasimInputError("--parameters: not with --mechanism (mechanism checks use the shipped calibration)")
    mechanism_paths = mechanism_files(args.mechanism) if args.mechanism else None
    checks = validate(args.paths or None, patients_per_arm=args.patients_per_arm, engine=args.engine, workers=args.workers,
                      compounds=getattr(args, "compound_files", ()), params=params, pop=pop)
    passed = sum(c.passed for c in checks)
    layers = run_checks(mechanism_paths) if (mechanism_paths or not args.paths) and not parameter_file else []
    control_paths = args.negative_controls or ([] if args.paths else [shipped_negative_controls_dir()])
    controls = validate(control_paths, patients_per_arm=args.patients_per_arm, engine=args.engine,
                        workers=args.workers, params=params, pop=pop) if control_paths else []
    differences = all_differences(args.paths or None, checks)
    intervals = prediction_intervals(checks)
    if args.json:
        document: dict = {"targets": [c.to_json() for c in checks], "passed": passed, "total": len(checks),
                          "indications": section_scores(checks),
                          "differences": [d.to_json() for d in differences],
                          "prediction_intervals": intervals.to_json()}
        if control_paths:
            document["negative_controls"] = negative_controls_json(controls)
        if layers:
            document["mechanism"] = mechanism_summary(layers)
        print(dumps(document))
    else:
        print(format_table(checks))
        if differences:
            print("\n" + format_differences(differences))
        if intervals.families:  # no family in enough files (a few files named): no section
            print("\n" + format_prediction_intervals(intervals))
        if control_paths:
            print("\n" + format_negative_controls(controls))
        if layers:
            print("\n" + format_mechanism_table(layers))
    where = ", ".join(args.paths) if args.paths else str(shipped_calibration_dir())
    if parameter_file:
        where += f" with the parameters of {parameter_file} (mechanism checks skipped)"
    log(f"validated {where} ({args.engine} engine): {passed} of {len(checks)} targets within tolerance; "
        + (f"{sum(c.passed for c in controls)} of {len(controls)} negative-control targets; " if control_paths else "")
        + (f"{sum(r.passed for r in layers)} of {len(layers)} mechanism checks pass; " if layers else "")
        + f"elapsed {time.perf_counter() - start:.1f} s")
    return 0


def _cross_validate(args: argparse.Namespace) -> int:
    """`validate --cross-validate`: in-sample and out-of-sample scores, per file and per target."""
    from ketasim.io.jsonsafe import dumps
    from ketasim.trials.cross_validate import cross_validate, format_cross_validation
    from ketasim.trials.validate import shipped_calibration_dir

    if args.engine != "fast":
        raise KetasimInputError("--cross-validate runs the fast engine; leave --engine out")
    if getattr(args, "compound_files", None):
        raise KetasimInputError("--compound: not with --cross-validate (its refits run in fresh processes that load the "
                                "shipped drugs only); validate without --cross-validate")
    paths = args.paths or [shipped_calibration_dir()]
    cv = cross_validate(paths, fit_patients_per_arm=args.fit_patients_per_arm, patients_per_arm=args.patients_per_arm,
                        max_evaluations=args.max_evaluations, workers=args.workers)
    text = format_cross_validation(cv)
    if args.report:
        write_text(Path(args.report), text + "\n")
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


# ---- calibrate -------------------------------------------------------------------------------------

def _add_calibrate(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = _add_trial_files_command(
        subparsers, "calibrate", "refit the calibrated parameters to data/calibration",
        "Fit the parameters the literature does not pin down to the [[published]] targets of the "
        "calibration trials only (seeded, reproducible), print a report (targets before/after, "
        "parameters moved, local sensitivity) and write the calibrated parameter file.",
        "calibration trial files or folders (default: the shipped copy of data/calibration)",
        "patients per arm during fitting (default 1000: rates carry about 0.015 sampling error)", 1000)
    p.add_argument("--max-evaluations", type=positive_int, default=182, metavar="N",
                   help="trial-set evaluations in all (at least 4), every stage and the sensitivity analysis included "
                        "(default 182: 70 per stage)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--write", metavar="FILE", default="calibrated.toml",
                        help="where to write the parameter file (default ./calibrated.toml)")
    target.add_argument("--write-package", action="store_true",
                        help="overwrite the calibrated parameter file shipped in the installed package")
    p.add_argument("--report", metavar="FILE", help="also write the report to FILE")
    p.add_argument("--workers", type=positive_int, default=min(os.cpu_count() or 1, 2), metavar="N",
                   help="processes that share the trial files during the fit (default: 2, or 1 on one core)")
    return p


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from importlib import resources

    from ketasim.trials.calibrate import calibrate, format_report, write_calibrated
    from ketasim.trials.validate import shipped_calibration_dir

    paths = args.paths or [shipped_calibration_dir()]
    package_file = Path(str(resources.files("ketasim") / "data" / "calibrated.toml"))
    target = package_file if args.write_package else Path(args.write)
    check_output_folders(write=str(target), report=args.report)
    if not args.write_package and target.resolve() == package_file.resolve():
        raise KetasimInputError(f"--write: {target} is the package's shipped calibration; use --write-package to "
                                "overwrite it")
    report = calibrate(paths, patients_per_arm=args.patients_per_arm, max_evaluations=args.max_evaluations,
                       workers=args.workers)
    text = format_report(report)
    print(text)
    write_calibrated(report, target, f"calibrated to data/calibration (ketasim calibrate, "
                                     f"{args.patients_per_arm} patients per arm)")
    log(f"wrote {target}")
    if args.report:
        Path(args.report).write_text(text + "\n")
        log(f"wrote {args.report}")
    return 0


#: (add, run) per subcommand of this module, by name (ketasim.apps.cli.main orders them)
COMMANDS = {"trial": (_add_trial, _cmd_trial), "validate": (_add_validate, _cmd_validate),
            "calibrate": (_add_calibrate, _cmd_calibrate)}
