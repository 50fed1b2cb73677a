"""The run store: a DuckDB `runs` table, and each run's results as Parquet files beside it.

Layout of a store folder PATH::

    PATH/runs.duckdb           runs(id, time, kind, name, input, seed, engine, version, status, runtime_s, message)
    PATH/results/<id>/*.parquet, summary.json   one folder per run

Connections are short-lived (opened per call), so a CLI command can read the store while
`ketasim serve` writes to it; a call that finds the file locked retries for a few seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

import ketasim as ks

#: store used when no --store is given: $KETASIM_STORE, else $XDG_DATA_HOME/ketasim/runs (~/.local/share/ketasim/runs)
STORE_ENV = "KETASIM_STORE"
RUN_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
KINDS = ("simulate", "trial", "validate", "forecast")
STATUSES = ("queued", "running", "done", "failed", "cancelled")
#: result tables read by `runs sql` as views: <name> = every run's <name>.parquet, with a run_id column
#: (a forecast run: forecast, plan_forecasts, relapse, plan, posterior, observations, as `ketasim forecast --out` names them)
RESULT_TABLES = ("visits", "course", "targets", "patients", "timecourse", "validation",
                 "forecast", "plan_forecasts", "relapse", "plan", "posterior", "observations")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id VARCHAR PRIMARY KEY, time TIMESTAMP, kind VARCHAR, name VARCHAR, input VARCHAR, seed BIGINT,
    engine VARCHAR, version VARCHAR, status VARCHAR, runtime_s DOUBLE, message VARCHAR
)"""
#: one connection at a time per process (threads of the web server share the store)
_LOCK = threading.RLock()
_COLUMNS = ("id", "time", "kind", "name", "input", "seed", "engine", "version", "status", "runtime_s", "message")


class RunNotFound(ks.KetasimInputError):
    """No run with that id in the store (HTTP 404 in the web app)."""


def default_store() -> Path:
    """The store used without --store (see STORE_ENV)."""
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ketasim" / "runs"


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError as err:  # pragma: no cover - duckdb is pinned in requirements.lock
        raise ks.KetasimInputError(f"the run store needs duckdb (pip install 'ketasim[web]'): {err}") from None
    return duckdb


class RunStore:
    """Runs recorded in DuckDB at `root`/runs.duckdb, results under `root`/results/<id>/."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_store()
        if self.root.exists() and not self.root.is_dir():
            raise ks.KetasimInputError(f"--store: {self.root} is a file; expected a folder (it is created if missing)")
        (self.root / "results").mkdir(parents=True, exist_ok=True)
        self.db = self.root / "runs.duckdb"
        with self._connect() as con:
            con.execute(_SCHEMA)

    @contextmanager
    def _connect(self, read_only: bool = False) -> Iterator[Any]:
        with _LOCK, self._open(read_only) as con:
            yield con

    @contextmanager
    def _open(self, read_only: bool) -> Iterator[Any]:
        duckdb = _duckdb()
        deadline = time.monotonic() + 10.0
        while True:
            try:
                con = duckdb.connect(str(self.db), read_only=read_only)
                break
            except duckdb.IOException as err:  # locked by another process: retry, bounded
                if "lock" not in str(err).lower() or time.monotonic() > deadline:
                    raise ks.KetasimInputError(f"--store: cannot open {self.db}: {' '.join(str(err).split())}") from None
                time.sleep(0.05)
        try:
            yield con
        finally:
            con.close()

    # ---- runs ----------------------------------------------------------------------------------

    def new_run(self, kind: str, name: str, input_text: str, *, seed: int | None = None, engine: str = "",
                status: str = "running") -> str:
        """Record a new run; returns its id (YYYYMMDD-HHMMSS-xxxxxx, UTC)."""
        if kind not in KINDS or status not in STATUSES:
            raise ValueError(f"bad run kind {kind!r} or status {status!r}")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        run_id = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        with self._connect() as con:
            con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                        [run_id, now, kind, name, input_text, seed, engine, ks.__version__, status])
        self.result_dir(run_id).mkdir(parents=True, exist_ok=True)
        return run_id

    def set_status(self, run_id: str, status: str, runtime_s: float | None = None, message: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"bad status {status!r}")
        with self._connect() as con:
            con.execute("UPDATE runs SET status = ?, runtime_s = coalesce(?, runtime_s), message = ? WHERE id = ?",
                        [status, runtime_s, message, self.check_id(run_id)])

    def mark_interrupted(self) -> int:
        """Runs left queued or running by a server that stopped without finishing them become failed; how many."""
        with self._connect() as con:
            count = con.execute("SELECT count(*) FROM runs WHERE status IN ('queued', 'running')").fetchone()[0]
            con.execute("UPDATE runs SET status = 'failed', message = 'the server stopped before the run finished' "
                        "WHERE status IN ('queued', 'running')")
        return int(count)

    def list(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Runs, newest first, without their input text."""
        query = "SELECT * EXCLUDE (input) FROM runs ORDER BY time DESC, id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        with self._connect() as con:
            frame = con.execute(query).df()
        return [_plain(row) for row in frame.to_dict("records")]

    def get(self, run_id: str) -> dict[str, Any]:
        """One run's row (with its input text); an unknown id is a KetasimInputError."""
        self.check_id(run_id)
        with self._connect() as con:
            frame = con.execute("SELECT * FROM runs WHERE id = ?", [run_id]).df()
        if frame.empty:
            raise RunNotFound(f"no run {run_id!r} in the store {self.root}; see `ketasim runs list`")
        return _plain(frame.to_dict("records")[0])

    @staticmethod
    def check_id(run_id: str) -> str:
        if not isinstance(run_id, str) or not RUN_ID.match(run_id):
            raise ks.KetasimInputError(f"bad run id {run_id!r}: expected YYYYMMDD-HHMMSS-xxxxxx (see `ketasim runs list`)")
        return run_id

    # ---- results -------------------------------------------------------------------------------

    def result_dir(self, run_id: str) -> Path:
        return self.root / "results" / self.check_id(run_id)

    def write_results(self, run_id: str, tables: dict[str, pd.DataFrame], summary: str | None = None) -> None:
        """Write each table as <name>.parquet (with a run_id column) and the JSON summary text."""
        write_results(self.result_dir(run_id), run_id, tables, summary)

    def table(self, run_id: str, name: str) -> pd.DataFrame:
        """A result table of a run, read through DuckDB (without its run_id column)."""
        if name not in RESULT_TABLES:
            raise ks.KetasimInputError(f"unknown result table {name!r}; tables: {', '.join(RESULT_TABLES)}")
        path = self.result_dir(run_id) / f"{name}.parquet"
        if not path.is_file():
            raise ks.KetasimInputError(f"run {run_id} has no {name} table")
        duckdb = _duckdb()
        con = duckdb.connect()
        try:
            return con.execute("SELECT * EXCLUDE (run_id) FROM read_parquet(?)", [str(path)]).df()
        finally:
            con.close()

    def summary(self, run_id: str) -> dict[str, Any]:
        path = self.result_dir(run_id) / "summary.json"
        if not path.is_file():
            raise ks.KetasimInputError(f"run {run_id} has no results (status: {self.get(run_id)['status']})")
        return json.loads(path.read_text())

    def sql(self, query: str) -> pd.DataFrame:
        """Run `query` read-only; tables: runs, and one view per result table (every run's rows, with run_id)."""
        with self._connect(read_only=True) as con:
            for name in RESULT_TABLES:
                files = sorted(str(p) for p in (self.root / "results").glob(f"*/{name}.parquet"))
                if files:
                    con.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM read_parquet({files!r}, union_by_name = true)")
            try:
                return con.execute(query).df()
            except _duckdb().Error as err:
                raise ks.KetasimInputError(f"runs sql: {' '.join(str(err).split())}") from None


def write_results(folder: Path, run_id: str, tables: dict[str, pd.DataFrame], summary: str | None = None) -> None:
    """Result files of run `run_id` into `folder` (no database access: safe in a worker process)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        if name not in RESULT_TABLES:
            raise ValueError(f"unknown result table {name!r}")
        out = table.copy()
        out.insert(0, "run_id", run_id)
        out.to_parquet(folder / f"{name}.parquet", index=False)
    if summary is not None:
        (folder / "summary.json").write_text(summary + "\n")


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A DuckDB row with JSON-friendly values (time as ISO text, NaN as None)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, pd.Timestamp | dt.datetime):
            value = value.isoformat(timespec="seconds")
        elif value is pd.NaT or (isinstance(value, float) and value != value):
            value = None
        elif hasattr(value, "item"):
            value = value.item()
        out[key] = value
    if out.get("seed") is not None:
        out["seed"] = int(out["seed"])
    return out
