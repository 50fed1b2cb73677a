"""A real `ketasim serve` (uvicorn in a subprocess, 127.0.0.1, a free port) for the web tests, and Chromium for Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(store: Path, *options: str) -> Iterator[str]:
    """Start `python -m ketasim serve` on 127.0.0.1; yields its base URL; stops it afterwards."""
    with served_process(store, *options) as (url, _):
        yield url


@contextmanager
def served_process(store: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """As `served`, yielding the base URL and the server's process."""
    port = free_port()
    log = (store.parent / f"serve-{port}.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "ketasim", "serve", "--port", str(port), "--store", str(store),
                                *options], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):  # bounded: up to 60 s to start
            if process.poll() is not None:
                raise RuntimeError(f"ketasim serve exited with {process.returncode}: {log.name}")
            try:
                if httpx.get(url + "/api/options", timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        else:
            raise RuntimeError("ketasim serve did not start within 60 s")
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


def chromium_path() -> str:
    """The system Chromium (Debian package); skipped where it is missing, except in CI where it must be there."""
    path = os.environ.get("KETASIM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs it with apt-get install -y chromium")
        pytest.skip("no system Chromium (apt-get install -y chromium)")
    return path


@contextmanager
def launched_chromium() -> Iterator[object]:
    """The system Chromium launched by Playwright (headless, no sandbox: containers), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


def wait_for(predicate, timeout_s: float = 60.0, every_s: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll `predicate()` until it returns a truthy value (bounded); returns that value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"condition not met within {timeout_s} s")
