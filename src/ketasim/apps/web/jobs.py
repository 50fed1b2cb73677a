"""Web runs in worker processes: at most `workers` at a time, each cancellable and time-limited.

A run's process writes its result files into the store's folder for it; this process (the
server) alone writes the store's database. Progress is a shared counter the worker updates.
"""

from __future__ import annotations

import multiprocessing as mp
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


def _worker(kind: str, kwargs: dict[str, Any], folder: str, run_id: str, progress: Any, conn: Connection) -> None:
    """Worker process: run one job, send ("ok", summary) or ("error", message)."""
    from pathlib import Path

    import ketasim as ks

    from .. import runner

    def on_progress(done: int, total: int) -> None:
        progress.value = done

    try:
        if kind == "trial":
            summary = runner.run_trial_text(**kwargs, folder=Path(folder), run_id=run_id, on_progress=on_progress)
        elif kind == "simulate":
            summary = runner.run_simulation(runner.SimulationRequest(**kwargs), Path(folder), run_id)
        elif kind == "forecast":
            summary = runner.run_forecast_text(**kwargs, folder=Path(folder), run_id=run_id, on_progress=on_progress)
        elif kind == "validate":
            summary = runner.run_validation(**kwargs, folder=Path(folder), run_id=run_id, on_progress=on_progress)
        else:
            raise ValueError(f"unknown job kind {kind!r}")
        conn.send(("ok", summary))
    except ks.KetasimInputError as err:
        conn.send(("error", " ".join(str(err).split())))
    except Exception as err:  # a bug or a solver failure: reported on the run, the server keeps serving
        conn.send(("error", f"{type(err).__name__}: {' '.join(str(err).split())}"))
    finally:
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
        process = self._ctx.Process(target=_worker, daemon=True, name=f"ketasim-{job.id}",
                                    args=(job.kind, kwargs, str(self.store.result_dir(job.id)), job.id, job.progress, child))
        start = time.monotonic()
        process.start()
        child.close()
        self.store.set_status(job.id, "running")
        job.status = "running"
        reply = None
        while reply is None:
            if job.cancel.is_set() or time.monotonic() - start > self.max_runtime_s:
                process.terminate()
                process.join(5.0)
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
        parent.close()
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
