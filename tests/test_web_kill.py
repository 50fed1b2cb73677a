"""A `ketasim serve` killed with SIGKILL while trials run: its worker processes die with it (they used to
outlive it by ~40 s and then write complete results into runs the restarted server had marked failed), and
after a restart on the same store every run's state matches its files."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest

from _web_server import served, served_process, wait_for
from ketasim.apps.store import RESULT_TABLES

psutil = pytest.importorskip("psutil")

STATIC = Path(__file__).resolve().parents[1] / "src" / "ketasim" / "apps" / "web" / "static"
EXAMPLE = (STATIC / "example-trial.toml").read_text()


def check_runs_match_files(store: Path, runs: list[dict]) -> None:
    results = store / "results"
    for run in runs:
        folder = results / run["id"]
        files = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        if run["status"] == "done":
            assert "summary.json" in files and any(f.removesuffix(".parquet") in RESULT_TABLES for f in files), run
        else:
            assert files == [], (run, files)
    assert not [p.name for p in results.iterdir() if p.name.startswith(".")], "partial folders or claims left"


def test_killed_server_takes_its_workers_along_and_leaves_runs_whole(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with served_process(store, "--workers", "2", "--max-patients", "40000") as (url, process):
        done = httpx.post(url + "/api/simulate", json={"regimen": "ketamine-iv-single", "days": 2}, timeout=120)
        assert done.status_code == 200
        earlier = done.json()["run_id"]
        ids = [httpx.post(url + "/api/trials", json={"text": EXAMPLE, "patients_per_arm": 15000}, timeout=30)
               .raise_for_status().json()["id"] for _ in range(2)]

        def started() -> bool:
            state = httpx.get(f"{url}/api/runs/{ids[0]}", timeout=10).json()["state"]
            assert state["status"] in ("queued", "running"), state  # still running when the server is killed
            return bool(state["done"])
        wait_for(started, 120.0, 0.1)
        workers = psutil.Process(process.pid).children(recursive=True)
        assert any("ketasim" in " ".join(w.cmdline()) or w.name().startswith("python") for w in workers)
        os.kill(process.pid, signal.SIGKILL)  # not reaped until they are checked: a zombie server counts as gone
        _, alive = psutil.wait_procs(workers, timeout=15.0)  # bounded: they die with the server, not ~40 s later
        process.wait(10)
        assert not alive, [(p.pid, p.cmdline()) for p in alive]
    with served(store) as url:
        runs = httpx.get(url + "/api/runs", timeout=10).json()
        by_id = {r["id"]: r for r in runs}
        assert by_id[earlier]["status"] == "done" and all(by_id[i]["status"] == "failed" for i in ids)
        check_runs_match_files(store, runs)
        assert httpx.get(f"{url}/api/runs/{earlier}/tables/timecourse", timeout=10).status_code == 200
    check_runs_match_files(store, runs)
