"""Subcommand `export-sbml`: one patient on a regimen as an SBML L3V2 model."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ketasim.apps.inputs import load_regimen, parse_overrides, resolve_patient
from ketasim.checks.dose_limits import check_regimen
from ketasim.checks.limits import check_simulate
from ketasim.errors import KetasimInputError
from ketasim.model.regimen import Regimen

from .common import PATIENT_HELP, check_days, check_output_folders, log

if TYPE_CHECKING:
    from .common import Subparsers


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
    p.add_argument("--patient", default="typical-trd", metavar="NAME|FILE", help=PATIENT_HELP)
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

        log(f"including the background treatment from day 0 (a trial starts it {RUN_IN_H / 168.0:g} weeks "
            "before day 0)")
        regimen = Regimen(regimen.doses + background.doses, regimen.name or arm)
    return regimen


def _cmd_export_sbml(args: argparse.Namespace) -> int:
    from ketasim.interchange.sbml import consistency_messages, sbml_document

    check_days(args.days)
    check_output_folders(output=args.output)
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
        log(f"libsbml: {line}")
    import libsbml

    if not libsbml.writeSBMLToFile(doc, args.output):
        raise KetasimInputError(f"--output: cannot write {args.output}")
    model = doc.getModel()
    print(f"wrote {args.output}: {regimen.name or args.regimen or args.arm}, {args.patient}, {args.days:g} d; "
          f"{model.getNumRules()} rules, {model.getNumEvents()} events; libsbml consistency: "
          f"{len(errors)} errors, {len(warnings)} warnings")
    return 1 if errors else 0


#: (add, run) per subcommand of this module, by name (ketasim.apps.cli.main orders them)
COMMANDS = {"export-sbml": (_add_export_sbml, _cmd_export_sbml)}
