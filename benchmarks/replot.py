"""Request-to-drawn time of the simulate page's live re-plot: one patient, 28 days (localhost only; stops by itself).

Starts `python -m ketasim serve` on a free 127.0.0.1 port with a fresh store, opens the simulate page in the
system Chromium (Playwright; no browser is downloaded) at 1280 px, and changes the days input N times (28 d and
27.9 d alternately, so every change is a new request). For each change it records, from the page's own timer
(window.lastTiming), the request time (POST /api/simulate: worker process, solve, store, JSON) and the draw time
(Plotly, eight figures of two panels each), and separately the server-side time of the same request made
directly with httpx. Prints the median (and min, max) of each, per engine.

    python benchmarks/replot.py [--repeats 7] [--engines fast reference] [--days 28]

Run alone on a quiet machine; CI never times anything.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chromium() -> str:
    path = os.environ.get("KETASIM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise SystemExit("no system Chromium (apt-get install -y chromium, or set KETASIM_CHROMIUM)")
    return path


def serve(store: Path) -> tuple[str, subprocess.Popen]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "ketasim", "serve", "--port", str(port), "--store", str(store)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if httpx.get(url + "/api/options", timeout=2.0).status_code == 200:
                return url, process
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    process.kill()
    raise SystemExit("ketasim serve did not start within 60 s")


def line(name: str, values: list[float]) -> str:
    return (f"  {name:28s} median {statistics.median(values):8.0f} ms   min {min(values):8.0f}   "
            f"max {max(values):8.0f}   (n={len(values)})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--engines", nargs="+", default=["fast", "reference"])
    parser.add_argument("--days", type=float, default=28.0)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        url, process = serve(Path(tmp) / "store")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-dev-shm-usage"])
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                page.goto(url + "/")
                page.wait_for_selector("body[data-ready='1']")
                print(f"re-plot of one patient, {args.days:g} d, ketamine-iv-single, typical-trd; {args.repeats} changes each")
                for engine in args.engines:
                    page.select_option("#engine", engine)
                    body = {"regimen": "ketamine-iv-single", "days": args.days, "engine": engine}
                    httpx.post(url + "/api/simulate", json=body, timeout=300)  # warm the worker path
                    server = []
                    for _ in range(args.repeats):
                        start = time.perf_counter()
                        httpx.post(url + "/api/simulate", json=body, timeout=300).raise_for_status()
                        server.append(1000 * (time.perf_counter() - start))
                    request, draw, total = [], [], []
                    for i in range(args.repeats + 1):
                        before = page.evaluate("Number(document.body.dataset.draws || 0)")
                        page.fill("#days", f"{args.days - 0.1 * (i % 2):g}")  # a change, no click
                        page.wait_for_function(f"Number(document.body.dataset.draws || 0) > {before}", timeout=300000)
                        timing = page.evaluate("window.lastTiming")
                        if i:  # the first change also sets the engine's first draw
                            request.append(timing["request_ms"])
                            draw.append(timing["draw_ms"])
                            total.append(timing["total_ms"])
                    print(f"engine {engine}:")
                    print(line("server (POST /api/simulate)", server))
                    print(line("page: request", request))
                    print(line("page: draw (Plotly)", draw))
                    print(line("page: request to drawn", total))
                    print(line("+ debounce (300 ms)", [t + 300 for t in total]))
                browser.close()
        finally:
            process.terminate()
            process.wait(20)


if __name__ == "__main__":
    main()
