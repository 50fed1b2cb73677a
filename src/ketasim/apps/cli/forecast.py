"""Subcommand `ketasim forecast PATIENT.toml [--json] [--out DIR] [--draws N] [--seed S] [--store PATH]`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ketasim.errors import KetasimInputError

from .common import log_recorded, open_store

if TYPE_CHECKING:
    from .common import Subparsers


def _add_forecast(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "forecast", help="individual forecast and maintenance plan for one patient",
        description="Bayesian update of the population prior with one patient's observations, then MADRS bands, "
                    "relapse probabilities and a maintenance-interval table. Research software; it informs, it does "
                    "not prescribe.")
    p.add_argument("patient", metavar="PATIENT.toml", help="patient file ([patient] and optional [plan]; see docs/forecast.md)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--out", metavar="DIR", help="write tables (CSV), forecast.json and forecast.png into DIR")
    p.add_argument("--draws", type=int, default=4000, metavar="N", help="simulated posterior draws (default 4000, >= 300)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    p.add_argument("--store", metavar="PATH", help="also record the run in this run store (see `ketasim runs`)")
    return p


def _cmd_forecast(args: argparse.Namespace) -> int:
    """Run it: results on stdout, progress on stderr; files only after everything succeeded."""
    from ketasim.forecast import forecast, load_patient_file

    if args.draws < 300:
        raise KetasimInputError(f"--draws: expected at least 300, got {args.draws}")
    if args.seed < 0:
        raise KetasimInputError(f"--seed: expected an integer >= 0, got {args.seed}")
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise KetasimInputError(f"--out: {args.out!r} exists and is not a folder")
    record, plan = load_patient_file(args.patient)
    store = open_store(args.store)  # a store that cannot be written fails now, not after the forecast
    start = time.monotonic()

    def progress(message: str) -> None:
        print(f"ketasim: {message} ({time.monotonic() - start:.0f} s)", file=sys.stderr)

    result = forecast(record, plan, draws=args.draws, seed=args.seed, progress=progress)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print("\n".join(result.summary_lines()))
    if args.out:
        for path in result.write(args.out):
            print(f"wrote {path}", file=sys.stderr if args.json else sys.stdout)
    if store is not None:  # the run store (ketasim.apps.store)
        from ketasim.apps.recording import record_forecast

        run_id = record_forecast(store, args.patient, args.draws, args.seed, result, time.monotonic() - start)
        log_recorded(run_id, store.root)
    return 0


#: (add, run) per subcommand of this module, by name (ketasim.apps.cli.main orders them)
COMMANDS = {"forecast": (_add_forecast, _cmd_forecast)}
