"""A bounded load test of `ketasim serve` (localhost only; it stops by itself).

A benchmark, not a test: ``python benchmarks/load.py [--levels 1,4,16] [--requests 48] [--max-seconds 60] [--tiny]``.

Starts `python -m ketasim serve` on a free 127.0.0.1 port with a fresh store in a temporary folder,
then, for each level of concurrency, that many client threads send a mix of requests: one-patient
simulations (`POST /api/simulate`, answered when the run is done), small JSON trials (`POST /api/trials`,
answered 202 when accepted) and trial-file uploads (`POST /api/trials/upload`, 202). Each level sends
at most `--requests` requests and stops issuing them after `--max-seconds`. Printed per level: requests,
answers by class, p50 and p95 latency of the answers (ms), throughput, and the server's resident memory
(the server process alone, and with its worker processes). At the end, once every accepted run has
finished (bounded wait): runs accepted = runs stored, and how the stored runs ended.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "src" / "ketasim" / "apps" / "web" / "static" / "example-trial.toml"
KINDS = ("simulate", "trial", "upload")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int, with_children: bool = False) -> float:
    """Resident memory of `pid` (and its descendants) in MB, from /proc or psutil; NaN where neither is there."""
    try:
        import psutil

        process = psutil.Process(pid)
        procs = [process, *(process.children(recursive=True) if with_children else [])]
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total / 1e6
    except ImportError:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1e3
        except OSError:
            pass
        return float("nan")


def start_server(store: Path, workers: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen([sys.executable, "-m", "ketasim", "serve", "--host", "127.0.0.1", "--port", str(port),
                                "--store", str(store), "--workers", str(workers), "--max-patients", "4000"],
                               stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90.0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ketasim serve exited with {process.returncode}; see {log}")
        try:
            if httpx.get(url + "/api/options", timeout=2.0).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    process.kill()
    raise RuntimeError("ketasim serve did not start within 90 s")


def one_request(client: httpx.Client, kind: str, trial_text: str, patients: int, days: float) -> httpx.Response:
    if kind == "simulate":
        return client.post("/api/simulate", json={"regimen": "ketamine-iv-single", "days": days})
    if kind == "trial":
        return client.post("/api/trials", json={"text": trial_text, "filename": "load.toml", "patients_per_arm": patients})
    return client.post("/api/trials/upload", files={"file": ("load.toml", trial_text.encode())},
                       data={"patients_per_arm": str(patients)})


def run_level(url: str, clients: int, requests: int, max_seconds: float, trial_text: str, patients: int,
              days: float) -> dict:
    """`clients` threads share `requests` requests (kinds in turn), issued until `max_seconds` have passed."""
    lock = threading.Lock()
    counter = iter(range(requests))
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    accepted: list[str] = []
    deadline = time.monotonic() + max_seconds

    def client_loop() -> None:
        with httpx.Client(base_url=url, timeout=max_seconds + 120.0) as client:
            while time.monotonic() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                kind = KINDS[i % len(KINDS)]
                start = time.perf_counter()
                try:
                    response = one_request(client, kind, trial_text, patients, days)
                    label = f"{response.status_code // 100}xx"
                except httpx.HTTPError as err:
                    response, label = None, type(err).__name__
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    statuses[label] = statuses.get(label, 0) + 1
                    if response is not None and response.status_code in (200, 202):
                        body = response.json()
                        accepted.append(body.get("run_id") or body.get("id"))

    start = time.perf_counter()
    threads = [threading.Thread(target=client_loop, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + 180.0)
    wall = time.perf_counter() - start
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1e3 if ordered else float("nan")
    return {"clients": clients, "sent": len(latencies), "statuses": statuses, "p50_ms": pct(0.5), "p95_ms": pct(0.95),
            "wall_s": wall, "accepted": accepted}


def wait_finished(url: str, ids: list[str], timeout_s: float) -> list[dict]:
    """The stored runs once none of `ids` is queued or running (bounded by timeout_s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        runs = httpx.get(url + "/api/runs", params={"limit": 1000}, timeout=30).json()
        pending = [r for r in runs if r["id"] in set(ids) and r["status"] in ("queued", "running")]
        if not pending or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,4,16", help="concurrent clients per level (default 1,4,16)")
    parser.add_argument("--requests", type=int, default=48, help="most requests per level (default 48)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="stop issuing requests after this, per level")
    parser.add_argument("--workers", type=int, default=2, help="the server's worker processes (default 2)")
    parser.add_argument("--patients-per-arm", type=int, default=20, help="patients per arm of each trial (default 20)")
    parser.add_argument("--days", type=float, default=7.0, help="days of each one-patient simulation (default 7)")
    parser.add_argument("--tiny", action="store_true", help="levels 1,2; 6 requests; 2 patients per arm; 1 day")
    args = parser.parse_args(argv)
    if args.tiny:
        args.levels, args.requests, args.patients_per_arm, args.days, args.max_seconds = "1,2", 6, 2, 1.0, 60.0
    levels = [int(x) for x in args.levels.split(",")]
    trial_text = EXAMPLE.read_text()
    with tempfile.TemporaryDirectory(prefix="ketasim-load-") as folder:
        process, url = start_server(Path(folder) / "store", args.workers, Path(folder) / "serve.log")
        try:
            print(f"ketasim serve at {url}: {args.workers} workers; per level at most {args.requests} requests "
                  f"within {args.max_seconds:g} s; mix: simulate ({args.days:g} d), JSON trial and upload "
                  f"({args.patients_per_arm} patients per arm)")
            print(f"idle: server RSS {rss_mb(process.pid):.0f} MB, with workers {rss_mb(process.pid, True):.0f} MB")
            print(f"{'clients':>7} {'sent':>5} {'2xx':>5} {'4xx':>5} {'other':>5} {'p50 ms':>8} {'p95 ms':>8} "
                  f"{'req/s':>6} {'server MB':>9} {'+workers MB':>11}")
            accepted: list[str] = []
            for clients in levels:
                level = run_level(url, clients, args.requests, args.max_seconds, trial_text, args.patients_per_arm,
                                  args.days)
                accepted += level["accepted"]
                s = level["statuses"]
                other = level["sent"] - s.get("2xx", 0) - s.get("4xx", 0)
                print(f"{clients:>7} {level['sent']:>5} {s.get('2xx', 0):>5} {s.get('4xx', 0):>5} {other:>5} "
                      f"{level['p50_ms']:>8.0f} {level['p95_ms']:>8.0f} {level['sent'] / level['wall_s']:>6.1f} "
                      f"{rss_mb(process.pid):>9.0f} {rss_mb(process.pid, True):>11.0f}", flush=True)
            runs = wait_finished(url, accepted, 300.0)
            stored = [r for r in runs if r["id"] in set(accepted)]
            ends: dict[str, int] = {}
            for r in stored:
                ends[r["status"]] = ends.get(r["status"], 0) + 1
            print(f"runs accepted: {len(accepted)}; runs stored: {len(runs)} (of them accepted here: {len(stored)}); "
                  f"ended: {', '.join(f'{k} {v}' for k, v in sorted(ends.items()))}")
            print(f"after the runs: server RSS {rss_mb(process.pid):.0f} MB, "
                  f"with workers {rss_mb(process.pid, True):.0f} MB")
            return 0 if len(runs) == len(accepted) == len(stored) else 1
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


if __name__ == "__main__":
    sys.exit(main())
