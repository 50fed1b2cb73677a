"""The run store: a DuckDB `runs` table, and each run's results as Parquet files beside it.

Layout of a store folder PATH::

    PATH/runs.duckdb           runs(id, time, kind, name, input, seed, engine, version, status, runtime_s, message)
    PATH/results/<id>/*.parquet, summary.json   one folder per run
    PATH/results/.<id>.<tag>.partial/           results being written (renamed to <id>/ when complete)
    PATH/results/.<id>.job                      the token of the web worker that owns a running run

Connections are short-lived (opened per call), so a CLI command can read the store while
`ketasim serve` writes to it; a call that finds the file locked retries for a few seconds.
Reading commands open the store read-only and write nothing (a read-only store can be read);
writing ones check that the store is writable before they start. A run's results appear whole
or not at all: they are written into a partial folder beside the run's and renamed into place.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
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

    def __init__(self, root: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> None:
        """read_only: only read (nothing is created or written; a missing store reads as empty); otherwise
        the store is created if missing and must be writable (checked now, before any run)."""
        self.root = Path(root).expanduser() if root is not None else default_store()
        self.read_only = read_only
        if self.root.exists() and not self.root.is_dir():
            raise ks.KetasimInputError(f"--store: {self.root} is a file; expected a folder (it is created if missing)")
        self.db = self.root / "runs.duckdb"
        if read_only:
            return
        try:
            (self.root / "results").mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe-", dir=self.root / "results")  # the folder takes new files
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise ks.KetasimInputError(f"--store: {self.root} is not writable ({err.strerror or err}); give a "
                                       "writable folder (reading commands such as `ketasim runs list` read any)") from None
        with self._connect() as con:
            con.execute(_SCHEMA)

    @contextmanager
    def _connect(self, read_only: bool = False) -> Iterator[Any]:
        with _LOCK, self._open(read_only) as con:
            yield con

    @contextmanager
    def _open(self, read_only: bool) -> Iterator[Any]:
        duckdb = _duckdb()
        read_only = read_only or self.read_only
        if read_only and not self.db.is_file():  # nothing recorded yet: an empty store, and nothing created here
            with tempfile.TemporaryDirectory(prefix="ketasim-empty-store-") as empty:
                duckdb.connect(str(Path(empty) / "runs.duckdb")).execute(_SCHEMA).close()
                con = duckdb.connect(str(Path(empty) / "runs.duckdb"), read_only=True)
                try:
                    yield con
                finally:
                    con.close()
            return
        deadline = time.monotonic() + 10.0
        while True:
            try:
                con = duckdb.connect(str(self.db), read_only=read_only)
                break
            except duckdb.Error as err:  # locked by another process: retry, bounded
                if "lock" not in str(err).lower() or time.monotonic() > deadline:
                    raise ks.KetasimInputError(f"--store: cannot open {self.db}"
                                               f"{'' if read_only else ' for writing'}: {' '.join(str(err).split())}"
                                               ) from None
                time.sleep(0.05)
        try:
            yield con
        finally:
            con.close()

    # ---- runs ----------------------------------------------------------------------------------

    def new_run(self, kind: str, name: str, input_text: str, *, seed: int | None = None, engine: str = "",
                status: str = "running") -> str:
        """Record a new run; returns its id (YYYYMMDD-HHMMSS-xxxxxx, UTC)."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        run_id = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        self._insert(run_id, now, kind, name, input_text, seed, engine, status)
        return run_id

    def _insert(self, run_id: str, now: dt.datetime, kind: str, name: str, input_text: str, seed: int | None,
                engine: str, status: str, runtime_s: float | None = None, message: str | None = None) -> None:
        if kind not in KINDS or status not in STATUSES:
            raise ValueError(f"bad run kind {kind!r} or status {status!r}")
        with self._connect() as con:
            con.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [run_id, now, kind, name, input_text, seed, engine, ks.__version__, status, runtime_s, message])

    def add_run(self, kind: str, name: str, input_text: str, write: Callable[[Path, str], None], *,
                seed: int | None = None, engine: str = "", status: str = "done", runtime_s: float | None = None) -> str:
        """Record a finished run whole: `write(folder, run_id)` writes its results into a partial folder, which is
        renamed into place, and only then is the run's row added. Killed midway, the store holds the run or not."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        run_id = f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
        partial = self.partial_dir(run_id, str(os.getpid()))
        try:
            partial.mkdir(parents=True)
            write(partial, run_id)
            os.rename(partial, self.result_dir(run_id))
        except OSError as err:
            shutil.rmtree(partial, ignore_errors=True)
            raise ks.KetasimInputError(f"--store: cannot write the results into {self.root / 'results'} "
                                       f"({err.strerror or err})") from None
        self._insert(run_id, now, kind, name, input_text, seed, engine, status, runtime_s)
        return run_id

    # ---- web runs: a worker writes into a partial folder and publishes it if the run is still its own ----------

    def partial_dir(self, run_id: str, tag: str) -> Path:
        return self.root / "results" / f".{self.check_id(run_id)}.{tag}.partial"

    def claim(self, run_id: str, token: str) -> None:
        """The worker holding `token` owns run `run_id` (publish_results checks it)."""
        (self.root / "results" / f".{self.check_id(run_id)}.job").write_text(token)

    def release(self, run_id: str, token: str) -> None:
        """Drop the claim and whatever the worker left half-written."""
        (self.root / "results" / f".{self.check_id(run_id)}.job").unlink(missing_ok=True)
        shutil.rmtree(self.partial_dir(run_id, token), ignore_errors=True)

    def discard_results(self, run_id: str) -> None:
        """Remove a run's results, if any (renamed aside first: no reader sees them half-removed)."""
        if self.result_dir(run_id).exists():
            gone = self.partial_dir(run_id, "discarded")
            os.rename(self.result_dir(run_id), gone)
            shutil.rmtree(gone, ignore_errors=True)

    def publish_results(self, run_id: str, token: str) -> bool:
        """In a worker: rename its partial folder to the run's results if the run is still running and its own
        (the claim holds `token`); else remove it. False when it was not published."""
        partial = self.partial_dir(run_id, token)
        try:
            owner = (self.root / "results" / f".{run_id}.job").read_text().strip()
        except OSError:
            owner = None
        if owner != token or self.get(run_id)["status"] != "running":
            shutil.rmtree(partial, ignore_errors=True)
            return False
        os.rename(partial, self.result_dir(run_id))
        return True

    def set_status(self, run_id: str, status: str, runtime_s: float | None = None, message: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"bad status {status!r}")
        with self._connect() as con:
            con.execute("UPDATE runs SET status = ?, runtime_s = coalesce(?, runtime_s), message = ? WHERE id = ?",
                        [status, runtime_s, message, self.check_id(run_id)])

    def mark_interrupted(self) -> int:
        """Runs left queued or running by a server that stopped without finishing them become failed; how many."""
        with self._connect() as con:
            left = [row[0] for row in con.execute("SELECT id FROM runs WHERE status IN ('queued', 'running')").fetchall()]
            con.execute("UPDATE runs SET status = 'failed', message = 'the server stopped before the run finished' "
                        "WHERE status IN ('queued', 'running')")
            known = {row[0] for row in con.execute("SELECT id FROM runs").fetchall()}
        results = self.root / "results"
        for run_id in left:  # a failed run has no results: whatever its worker wrote goes
            (results / f".{run_id}.job").unlink(missing_ok=True)
            self.discard_results(run_id)
        for partial in results.glob(".*.partial"):  # of those runs, of finished ones, or an hour old
            run_id = partial.name[1:].split(".")[0]
            if run_id in left or run_id in known or time.time() - partial.stat().st_mtime > 3600:
                shutil.rmtree(partial, ignore_errors=True)
        return len(left)

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
            known = {row[0] for row in con.execute("SELECT id FROM runs").fetchall()}
            for name in RESULT_TABLES:
                files = sorted(str(p) for p in (self.root / "results").glob(f"*/{name}.parquet") if p.parent.name in known)
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
