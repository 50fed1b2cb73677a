"""Web runs in worker processes: at most `workers` at a time, each cancellable and time-limited.

A run's process writes its result files into a partial folder beside the run's, and renames it into
place only if the run is still its own (status running, the claim holds its token); this process (the
server) alone writes the store's database. Progress is a shared counter the worker updates. A worker
dies with its server (Linux: PR_SET_PDEATHSIG; elsewhere a watchdog thread sees its parent go).
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from ..store import RunStore

FINAL = ("done", "failed", "cancelled")


@dataclass
class Job:
    """One web run: its state as the pages see it."""

    id: str
    kind: str
    total: int
    status: str = "queued"
    message: str | None = None
    runtime_s: float | None = None
    summary: dict[str, Any] | None = None
    progress: Any = None  # multiprocessing Value('q'): patients (or files) done
    cancel: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    def state(self) -> dict[str, Any]:
        done = self.total if self.status == "done" else int(self.progress.value) if self.progress is not None else 0
        return {"id": self.id, "kind": self.kind, "status": self.status, "done": done, "total": self.total,
                "message": self.message, "runtime_s": self.runtime_s}


def die_with_parent(server_pid: int, *, kernel: bool = True) -> None:
    """End this process when its parent or the server ends (a worker: the fork server, which ends with the server;
    the fork server: the server). Linux with `kernel`: SIGKILL from the kernel (prctl PR_SET_PDEATHSIG, sent
    when the parent *thread* ends: not for the fork server, started from a passing thread); else a thread watches."""
    parent = os.getppid()
    tethered = False
    if kernel and sys.platform.startswith("linux"):
        try:  # prctl(PR_SET_PDEATHSIG, SIGKILL)
            tethered = ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent or not _alive(server_pid):  # gone before the signal was set
        os._exit(1)
    if not tethered:
        def watch() -> None:
            while os.getppid() == parent and _alive(server_pid):
                time.sleep(0.5)
            os._exit(1)
        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    """Process `pid` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def _worker(kind: str, kwargs: dict[str, Any], root: str, run_id: str, token: str, server_pid: int, progress: Any,
            conn: Connection) -> None:
    """Worker process: run one job into its partial folder, publish it, send ("ok", summary) or ("error", message)."""
    die_with_parent(server_pid)
    import ketasim as ks

    from .. import runner

    store = RunStore(root, read_only=True)  # the worker reads the database (its run's status), never writes it
    folder = store.partial_dir(run_id, token)

    def on_progress(done: int, total: int) -> None:
        progress.value = done

    try:
        if kind == "trial":
            summary = runner.run_trial_text(**kwargs, folder=folder, run_id=run_id, on_progress=on_progress)
        elif kind == "simulate":
            summary = runner.run_simulation(runner.SimulationRequest(**kwargs), folder, run_id)
        elif kind == "forecast":
            summary = runner.run_forecast_text(**kwargs, folder=folder, run_id=run_id, on_progress=on_progress)
        elif kind == "validate":
            summary = runner.run_validation(**kwargs, folder=folder, run_id=run_id, on_progress=on_progress)
        else:
            raise ValueError(f"unknown job kind {kind!r}")
        if store.publish_results(run_id, token):
            conn.send(("ok", summary))
        else:
            conn.send(("error", "the run is no longer this worker's (the server stopped or restarted); nothing written"))
    except ks.KetasimInputError as err:
        conn.send(("error", " ".join(str(err).split())))
    except Exception as err:  # a bug or a solver failure: reported on the run, the server keeps serving
        conn.send(("error", f"{type(err).__name__}: {' '.join(str(err).split())}"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # a failed run leaves nothing half-written
        conn.close()


def worker_context() -> Any:
    """Fork server with ketasim preloaded and warmed up where there is one (Linux, macOS), else spawn.

    Worker processes never fork the (multi-threaded) server itself."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["ketasim.apps.web.warm"])
        return ctx
    return mp.get_context("spawn")


def _noop() -> None:
    pass


class JobManager:
    """Starts runs in spawned worker processes, `workers` at a time; cancel and time limits."""

    def __init__(self, store: RunStore, workers: int, max_runtime_s: float) -> None:
        self.store = store
        self.max_runtime_s = max_runtime_s
        self._slots = threading.BoundedSemaphore(workers)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._ctx = worker_context()

    def submit(self, kind: str, name: str, input_text: str, kwargs: dict[str, Any], *, total: int,
               seed: int | None = None, engine: str = "") -> Job:
        """Record a queued run and start it as soon as a worker slot is free."""
        run_id = self.store.new_run(kind, name, input_text, seed=seed, engine=engine, status="queued")
        job = Job(run_id, kind, total, progress=self._ctx.Value("q", 0, lock=False))
        with self._lock:
            self._jobs[run_id] = job
        threading.Thread(target=self._run, args=(job, kwargs), name=f"job-{run_id}", daemon=True).start()
        return job

    def get(self, run_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(run_id)

    def cancel(self, run_id: str) -> bool:
        """Ask a queued or running job to stop; False if it is not a job of this server or already finished."""
        job = self.get(run_id)
        if job is None or job.status in FINAL:
            return False
        job.cancel.set()
        return True

    def _finish(self, job: Job, status: str, message: str | None = None, summary: dict | None = None,
                runtime_s: float | None = None) -> None:
        job.message, job.summary, job.runtime_s = message, summary, runtime_s
        self.store.set_status(job.id, status, runtime_s, message)
        job.status = status
        job.finished.set()

    def _run(self, job: Job, kwargs: dict[str, Any]) -> None:
        while not self._slots.acquire(timeout=0.1):
            if job.cancel.is_set():
                self._finish(job, "cancelled", "cancelled before it started")
                return
        try:
            self._run_in_process(job, kwargs)
        except Exception as err:  # never leave a run 'running' in the store
            self._finish(job, "failed", f"{type(err).__name__}: {err}")
        finally:
            self._slots.release()

    def _run_in_process(self, job: Job, kwargs: dict[str, Any]) -> None:
        if job.cancel.is_set():
            self._finish(job, "cancelled", "cancelled before it started")
            return
        parent, child = self._ctx.Pipe(duplex=False)
        token = secrets.token_hex(8)
        process = self._ctx.Process(target=_worker, daemon=True, name=f"ketasim-{job.id}",
                                    args=(job.kind, kwargs, str(self.store.root), job.id, token, os.getpid(),
                                          job.progress, child))
        self.store.claim(job.id, token)  # the run is the worker's, and running, before it can publish anything
        self.store.set_status(job.id, "running")
        job.status = "running"
        start = time.monotonic()
        try:
            process.start()
            child.close()
            self._follow(job, process, parent, start)
        finally:
            self.store.release(job.id, token)
            parent.close()

    def _follow(self, job: Job, process: Any, parent: Connection, start: float) -> None:
        reply = None
        while reply is None:
            if job.cancel.is_set() or time.monotonic() - start > self.max_runtime_s:
                process.terminate()
                process.join(5.0)
                self.store.discard_results(job.id)  # published just before the end: a stopped run has no results
                timed_out = not job.cancel.is_set()
                self._finish(job, "failed" if timed_out else "cancelled",
                             f"stopped after {self.max_runtime_s:g} s (ketasim serve --max-runtime)" if timed_out
                             else "cancelled", runtime_s=time.monotonic() - start)
                return
            if parent.poll(0.1):
                try:
                    reply = parent.recv()
                except EOFError:
                    reply = ("error", f"the worker process ended without a result (exit code {process.exitcode})")
            elif not process.is_alive() and not parent.poll(0):
                reply = ("error", f"the worker process ended without a result (exit code {process.exitcode})")
        process.join(5.0)
        runtime = time.monotonic() - start
        if reply[0] == "ok":
            self._finish(job, "done", summary=reply[1], runtime_s=runtime)
        else:
            self._finish(job, "failed", message=reply[1], runtime_s=runtime)

    def start_workers(self) -> None:
        """Start the fork server now (in the background), so the first run does not wait for it."""
        def start() -> None:
            process = self._ctx.Process(target=_noop, daemon=True)
            process.start()
            process.join(60.0)
        threading.Thread(target=start, name="fork-server", daemon=True).start()

    def shutdown(self) -> None:
        """Cancel every unfinished job (the server is stopping)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
        for job in jobs:
            job.finished.wait(10.0)
