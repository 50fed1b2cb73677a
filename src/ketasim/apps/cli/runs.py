"""Subcommands `serve` (the web explorer), `runs` (the run store) and `report` (an HTML report of a run).

Heavy modules are imported inside the commands, so other subcommands do not pay for them at start-up.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

import ketasim as ks
from ketasim.apps.store import RunStore, default_store

if TYPE_CHECKING:
    from .common import Subparsers

STORE_HELP = f"run store folder (default ${'{'}KETASIM_STORE{'}'} or {default_store()})"


def _store(args: argparse.Namespace) -> RunStore:
    """The store a reading command (runs, report) opens: read-only, nothing written (a read-only store reads)."""
    return RunStore(args.store, read_only=True)


def _print(frame: pd.DataFrame) -> None:
    print(frame.to_string(index=False) if not frame.empty else "(no rows)")


# ---- serve -----------------------------------------------------------------------------------------

def _add_serve(subparsers: Subparsers) -> argparse.ArgumentParser:
    from ketasim.apps.web.settings import Settings

    d = Settings()
    p = subparsers.add_parser("serve", help="start the web explorer (simulate, trial, validation, runs)",
                              description="Start the web explorer at http://HOST:PORT (API documentation at /docs). "
                                          "Every run is recorded in the run store.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--store", metavar="PATH", help=STORE_HELP)
    p.add_argument("--max-patients", type=int, default=d.max_patients, metavar="N",
                   help=f"most patients (all arms) in one web trial run (default {d.max_patients})")
    p.add_argument("--max-upload-bytes", type=int, default=d.max_upload_bytes, metavar="N",
                   help=f"largest request body or trial file (default {d.max_upload_bytes})")
    p.add_argument("--workers", type=int, default=d.workers, metavar="N",
                   help=f"runs at a time, each in its own worker process (default {d.workers})")
    p.add_argument("--max-runtime", type=float, default=d.max_runtime_s, metavar="S",
                   help=f"a web run is stopped after S seconds (default {d.max_runtime_s:g})")
    return p


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ketasim.apps.web.app import create_app
    from ketasim.apps.web.origin import is_local
    from ketasim.apps.web.settings import Settings

    local = is_local(args.host)
    settings = Settings(max_patients=args.max_patients, max_upload_bytes=args.max_upload_bytes, workers=args.workers,
                        max_runtime_s=args.max_runtime, host=args.host,
                        token=None if local else secrets.token_urlsafe(24))
    settings.check()
    if not local:
        print(f"ketasim: warning: serving on {args.host}: anyone who can reach it and has the token can run "
              "simulations", file=sys.stderr)
    app = create_app(RunStore(args.store), settings)
    query = "" if settings.token is None else f"?token={settings.token}"
    print(f"ketasim: explorer at http://{args.host}:{args.port}/{query} (API docs at /docs); store "
          f"{app.state.store.root}", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


# ---- runs ------------------------------------------------------------------------------------------

def _add_runs(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("runs", help="list, show, compare and query recorded runs",
                              description="The run store: every `trial --store`, `simulate --store` and web run.")
    sub = p.add_subparsers(title="actions", dest="action", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="recorded runs, newest first")
    listing.add_argument("--json", action="store_true", help="a JSON list of runs (id, name, kind, status, ...)")
    show = sub.add_parser("show", help="one run: its record, results and input file")
    show.add_argument("id", metavar="ID")
    show.add_argument("--json", action="store_true", help="one JSON object: the run and its summary")
    compare = sub.add_parser("compare", help="two trial runs, arm by arm and visit by visit (second minus first)")
    compare.add_argument("ids", nargs=2, metavar="ID")
    compare.add_argument("--json", action="store_true", help="a JSON list of {arm, visit, metric, a, b, diff}")
    sql = sub.add_parser("sql", help="a read-only SQL query (DuckDB) over runs and the result tables",
                         description="Tables: runs, and the views visits, course, targets, patients, timecourse, "
                                     "validation (every run's rows, with a run_id column).")
    sql.add_argument("query", metavar="SQL")
    sql.add_argument("--json", action="store_true", help="a JSON list of rows")
    for q in (listing, show, compare, sql):
        q.add_argument("--store", metavar="PATH", help=STORE_HELP)
    return p


def _cmd_runs(args: argparse.Namespace) -> int:
    from ketasim.apps import adapters as internal
    from ketasim.apps.results import compare_trials

    store = _store(args)
    if args.action == "list":
        runs = store.list()
        if args.json:
            print(internal.dumps(runs))
        else:
            frame = pd.DataFrame(runs, columns=["id", "time", "kind", "status", "runtime_s", "engine", "seed", "name"])
            _print(frame.astype({"seed": "Int64", "runtime_s": float}).round({"runtime_s": 2}))
        return 0
    if args.action == "show":
        return _show(store, args.id, args.json)
    if args.action == "compare":
        a, b = (_trial_summary(store, run_id) for run_id in args.ids)
        rows = compare_trials(a, b)
        if not rows:
            raise ks.KetasimInputError(f"runs compare: {args.ids[0]} and {args.ids[1]} share no arm and visit")
        if args.json:
            print(internal.dumps(rows))
        else:
            print(f"a = {args.ids[0]} ({a['name']}), b = {args.ids[1]} ({b['name']}); diff = b - a")
            _print(pd.DataFrame(rows))
        return 0
    frame = store.sql(args.query)
    if args.json:
        print(internal.dumps(json.loads(frame.to_json(orient="records", date_format="iso"))))
    else:
        _print(frame)
    return 0


def _trial_summary(store: RunStore, run_id: str) -> dict[str, Any]:
    run = store.get(run_id)
    if run["kind"] != "trial":
        raise ks.KetasimInputError(f"runs compare: run {run_id} is a {run['kind']} run; compare takes two trial runs")
    return store.summary(run_id)


def _show(store: RunStore, run_id: str, as_json: bool) -> int:
    from ketasim.apps import adapters as internal

    run = store.get(run_id)
    summary = store.summary(run_id) if run["status"] == "done" else None
    if as_json:
        print(internal.dumps({**run, "summary": summary}))
        return 0
    for key in ("id", "time", "kind", "name", "status", "runtime_s", "engine", "seed", "version", "message"):
        print(f"{key}: {run[key]}")
    if summary is not None and run["kind"] == "trial":
        print()
        table = store.table(run_id, "visits")
        _print(table[["arm", "visit", "n", "baseline_madrs_mean", "madrs_mean", "change_mean", "response_rate",
                      "remission_rate"]].round(3))
    elif summary is not None and run["kind"] == "simulate":
        m = summary["madrs"]
        print(f"\nMADRS: baseline {m['baseline']:.1f}, minimum {m['minimum']:.1f} at {m['minimum_time_h']:.1f} h, "
              f"end {m['end']:.1f}")
    elif summary is not None and run["kind"] == "forecast":
        print()
        _print(store.table(run_id, "plan")[["interval", "sessions", "relapse_risk", "sbp_peak_mean_mmhg",
                                            "p_sbp_over_180", "recommended"]].round(3))
        print(f"recommended interval: {summary['recommended_interval'] or 'none within the acceptable risk'}")
    print(f"\ninput:\n{run['input']}")
    return 0


# ---- report ----------------------------------------------------------------------------------------

def _add_report(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("report", help="write a self-contained HTML report of a recorded run",
                              description="One HTML file (figures inlined; opens offline) with the design, doses, "
                                          "visit tables with CIs, figures, validation, engine, seed, version and input.")
    p.add_argument("id", metavar="RUN_ID")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    p.add_argument("--store", metavar="PATH", help=STORE_HELP)
    return p


def _cmd_report(args: argparse.Namespace) -> int:
    from ketasim.apps.html_report import render_report

    out = Path(args.output)
    if not out.resolve().parent.is_dir():
        raise ks.KetasimInputError(f"--output: folder {str(out.parent)!r} does not exist")
    out.write_text(render_report(_store(args), args.id))
    print(f"wrote {out}")
    return 0


#: (add, run) per subcommand of this module, by name (ketasim.apps.cli.main orders them)
COMMANDS = {"serve": (_add_serve, _cmd_serve), "runs": (_add_runs, _cmd_runs), "report": (_add_report, _cmd_report)}
