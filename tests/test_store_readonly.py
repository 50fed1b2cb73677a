"""Read-only stores and output folders, and commands killed while they write.

A store that cannot be written is refused before anything is simulated, naming `--store`; reading
commands (`runs list`, `runs show`, `runs sql`) read a store kept read-only and write nothing; a
`trial --out DIR --store S` killed midway leaves DIR complete or absent, no `.partial` file in it,
and the store's earlier runs readable. Tests run as root in CI, where permission bits are not enforced:
there the read-only store is simulated (every write into it raises EROFS, as a read-only mount does).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from ketasim.apps.cli import main

STATIC = Path(__file__).resolve().parents[1] / "src" / "ketasim" / "apps" / "web" / "static"
TRIAL = STATIC / "example-trial.toml"
ROOT = os.geteuid() == 0


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


@contextmanager
def read_only(store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`store` read-only: chmod -R a-w, and (as root, who ignores permission bits) every write into it refused."""
    modes = {p: p.stat().st_mode for p in [store, *store.rglob("*")]}
    for p, mode in modes.items():
        p.chmod(mode & ~0o222)
    if ROOT:
        def refuse(path: object) -> None:
            if str(store) in str(path):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        real_connect, real_mkstemp, real_mkdir = duckdb.connect, tempfile.mkstemp, Path.mkdir

        def connect(database: str = ":memory:", read_only: bool = False, **kw: object) -> object:
            if not read_only:
                refuse(database)
            return real_connect(database, read_only=read_only, **kw)

        def mkstemp(*args: object, dir: object = None, **kw: object) -> tuple[int, str]:
            refuse(dir)
            return real_mkstemp(*args, dir=dir, **kw)  # type: ignore[call-overload]

        def mkdir(self: Path, *args: object, **kw: object) -> None:
            if not self.is_dir():
                refuse(self)
            real_mkdir(self, *args, **kw)  # type: ignore[arg-type]
        monkeypatch.setattr(duckdb, "connect", connect)
        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
        monkeypatch.setattr(Path, "mkdir", mkdir)
    try:
        yield
    finally:
        monkeypatch.undo()
        for p, mode in modes.items():
            p.chmod(mode)


@pytest.fixture
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A store holding one simulate run."""
    path = tmp_path / "store"
    code, _, err = run_cli(capsys, "simulate", "--regimen", "ketamine-iv-single", "--days", "1", "--store", str(path))
    assert code == 0, err
    return path


def test_a_read_only_store_is_refused_before_any_simulation(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import ketasim.apps.cli.simulate as simulate_cli
    import ketasim.forecast as forecast_module
    import ketasim.trials.trial as trial_module

    def never(*args: object, **kwargs: object) -> None:
        pytest.fail("simulated although the store cannot be written")
    (tmp_path / "p.toml").write_text((STATIC / "example-patient.toml").read_text())
    with read_only(store, monkeypatch):
        monkeypatch.setattr(simulate_cli, "simulate", never)
        monkeypatch.setattr(trial_module, "run_trial", never)
        monkeypatch.setattr(forecast_module, "forecast", never)
        for argv in (["simulate", "--regimen", "ketamine-iv-single", "--days", "1"], ["trial", str(TRIAL)],
                     ["forecast", str(tmp_path / "p.toml"), "--draws", "300"]):
            code, out, err = run_cli(capsys, *argv, "--store", str(store))
            assert code == 2 and out == "", err
            assert err.startswith("ketasim: error: --store: ") and str(store) in err and err.count("\n") == 1, err
            assert "Errno" not in err


def test_a_store_that_cannot_be_created_names_the_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    with read_only(parent, monkeypatch):
        code, _, err = run_cli(capsys, "simulate", "--regimen", "ketamine-iv-single", "--days", "1",
                               "--store", str(parent / "new-store"))
        assert code == 2 and err.startswith("ketasim: error: --store: ") and "Errno" not in err, err
        code, _, err = run_cli(capsys, "trial", str(TRIAL), "--out", str(parent / "out"))
        assert code == 2 and err.startswith("ketasim: error: --out: ") and "Errno" not in err, err


def test_reading_commands_read_a_read_only_store_and_write_nothing(store: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot(store)
    with read_only(store, monkeypatch):
        code, out, err = run_cli(capsys, "runs", "list", "--json", "--store", str(store))
        assert code == 0, err
        run_id = json.loads(out)[0]["id"]
        code, out, err = run_cli(capsys, "runs", "show", run_id, "--store", str(store))
        assert code == 0 and "MADRS: baseline" in out, err
        code, out, err = run_cli(capsys, "runs", "sql", "SELECT count(*) AS n FROM timecourse", "--json",
                                 "--store", str(store))
        assert code == 0 and json.loads(out)[0]["n"] > 10, err
        code, _, err = run_cli(capsys, "runs", "sql", "DELETE FROM runs", "--store", str(store))
        assert code == 2 and "runs sql:" in err
    assert snapshot(store) == before


def test_reading_a_missing_store_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "runs", "list", "--json", "--store", str(tmp_path / "none"))
    assert code == 0 and json.loads(out) == [] and not (tmp_path / "none").exists()


def test_a_trial_killed_while_writing_leaves_a_whole_run_or_none(store: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "ketasim", "trial", str(TRIAL), "--patients-per-arm", "20000",
                                "--chunk-size", "500", "--out", str(out), "--store", str(store)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120.0
        while not list(tmp_path.glob(".out.*.partial/patients.parquet.partial")):  # it started writing
            assert process.poll() is None and time.monotonic() < deadline, "the trial ended before it wrote"
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == sorted(
        ["patients.parquet", "summary.json", "madrs.png", "response.png"])
    assert not list(out.rglob("*.partial")) if out.exists() else True
    code, listed, err = run_cli(capsys, "runs", "list", "--json", "--store", str(store))
    assert code == 0 and len(json.loads(listed)) == 1, err  # the earlier run only, and readable
    code, _, err = run_cli(capsys, "runs", "show", json.loads(listed)[0]["id"], "--store", str(store))
    assert code == 0, err
    # the next run into the same place completes and removes what the killed one left
    code, _, err = run_cli(capsys, "trial", str(TRIAL), "--patients-per-arm", "5", "--out", str(out), "--force")
    assert code == 0, err
    assert not list(tmp_path.glob(".out.*.partial")) and (out / "summary.json").is_file()
    assert not list(out.rglob("*.partial"))
