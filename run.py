#!/usr/bin/env python3
"""One entry point for newcomers and CI: `python3 run.py demo` or `python3 run.py test`.

Creates .venv (if missing), installs the pinned dependencies from requirements.lock and
ketasim itself (editable), then runs `ketasim demo` or the whole test suite (ruff + pytest, one worker per core).
Anything after the command is passed on: `python3 run.py ketasim trial FILE --json`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".ketasim-installed"


def ensure_environment() -> None:
    """Create the virtual environment and install the lock file once (again when it changes)."""
    lock = ROOT / "requirements.lock"
    wanted = lock.read_text() + (ROOT / "pyproject.toml").read_text()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("creating .venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    print("installing pinned dependencies (requirements.lock) ...", file=sys.stderr)
    subprocess.run([*pip, "-r", str(lock)], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "ketasim"}:
        print(__doc__, file=sys.stderr)
        return 2
    ensure_environment()
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return subprocess.call([str(BIN / "ketasim"), "demo", *rest])
    if command == "ketasim":
        return subprocess.call([str(BIN / "ketasim"), *rest])
    lint = subprocess.call([str(BIN / "ruff"), "check", "src", "tests", "benchmarks", "run.py"], cwd=ROOT)
    # one pytest worker per core (pytest-xdist), whole files per worker so a module's shared fixture runs
    # once; `python3 run.py test -n 0` runs in this process
    tests = subprocess.call([str(BIN / "python"), "-m", "pytest", "-n", "auto", "--dist", "loadfile", *rest], cwd=ROOT)
    return lint or tests


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
