"""Helpers the `ketasim` subcommands share: argument types and options, messages, output checks.

Results go to stdout, progress to stderr (`log`).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from ketasim.apps.tables import text_table
from ketasim.checks.limits import check_horizon
from ketasim.checks.plausibility import escape
from ketasim.engines.solvers import ENGINES
from ketasim.errors import KetasimInputError
from ketasim.model.patient import TYPICAL_DESCRIPTIONS

if TYPE_CHECKING:
    from ketasim.apps.store import RunStore

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

#: help of `--patient NAME|FILE` (simulate, export-sbml)
PATIENT_HELP = ("a typical patient, " + "; ".join(f"{k}: {v}" for k, v in TYPICAL_DESCRIPTIONS.items())
                + " (default typical-trd); or a patient file (.toml, docs/patient-file.md)").replace("%", "%%")


def print_table(headers: Sequence[object], rows: Sequence[Sequence[object]]) -> None:
    """A left-aligned text table on stdout; the last column is not padded."""
    print("\n".join(text_table(headers, rows)))


def log(message: str) -> None:
    """A progress or warning line on stderr: `ketasim: <message>`."""
    print(f"ketasim: {escape(message)}", file=sys.stderr)


def log_recorded(run_id: str, root: Path) -> None:
    """The `--store` line on stderr: `ketasim: recorded run ID in STORE`."""
    print(f"ketasim: recorded run {run_id} in {root}", file=sys.stderr)


def open_store(path: str | None) -> RunStore | None:
    """The `--store` a command records its run in, opened and checked writable now (before the run); None without."""
    if not path:
        return None
    from ketasim.apps.store import RunStore

    return RunStore(path)


def check_days(days: float) -> None:
    """`--days`: a finite number of days > 0 within the horizon limit."""
    if not (days > 0 and math.isfinite(days)):
        raise KetasimInputError(f"--days: expected a finite number of days > 0, got {days:g}")
    check_horizon(days * 24.0, "--days")


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected an integer > 0, got {text!r}")
    return value


def add_engine(p: argparse.ArgumentParser, default: str) -> None:
    """`--engine NAME` (the registered solvers)."""
    p.add_argument("--engine", choices=tuple(ENGINES), default=default, help=f"solver (default {default})")


def check_output_folders(**paths: str | None) -> None:
    """Fail before a long run if an output file's folder does not exist (or a figure's format is unknown)."""
    for option, path in paths.items():
        if path and not Path(path).resolve().parent.is_dir():
            raise KetasimInputError(f"--{option}: folder {str(Path(path).parent)!r} does not exist")
        if path and option == "plot":
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            formats = FigureCanvasAgg.get_supported_filetypes()
            suffix = Path(path).suffix.lower().lstrip(".")
            if suffix not in formats:
                raise KetasimInputError(f"--plot: {path}: unknown figure format {suffix or '(no suffix)'!r}; "
                                        f"use one of {', '.join(sorted(formats))} (such as run.png)")


def check_out_folder(out: Path, force: bool, own: Sequence[str]) -> None:
    """Refuse an output folder holding files other than `own` (this command's outputs) unless `force`;
    remove this command's old outputs first, so no file of an earlier run sits beside new ones looking current."""
    if out.exists() and not out.is_dir():
        raise KetasimInputError(f"--out: {out} exists and is not a folder")
    if not out.is_dir():
        return
    others = sorted(p.name for p in out.iterdir() if p.name not in own)
    if others and not force:
        raise KetasimInputError(f"--out: folder {str(out)!r} is not empty ({', '.join(others[:3])}"
                                f"{', ...' if len(others) > 3 else ''}); choose a new folder or add --force")
    for name in own:
        for stale in (out / name, out / f"{name}.partial"):
            if stale.is_file():
                stale.unlink()


class OutFolder:
    """An `--out` folder written whole: files go into a partial folder beside it (`.NAME.PID.partial`, created
    now, so an unwritable place fails before the run) and `commit()` moves them in. Killed midway, the folder
    holds a complete run or none; the partial folders of killed commands are removed by the next one."""

    def __init__(self, out: Path, force: bool, own: Sequence[str]) -> None:
        check_out_folder(out, force, own)
        self.out, self.own = out, tuple(own)
        parent = out.absolute().parent
        self.partial = parent / f".{out.name}.{os.getpid()}.partial"
        try:
            parent.mkdir(parents=True, exist_ok=True)
            for stale in parent.glob(f".{out.name}.*.partial"):
                if stale == self.partial or not _alive(stale.name.rsplit(".", 2)[-2]):
                    shutil.rmtree(stale, ignore_errors=True)
            self.partial.mkdir()
        except OSError as err:
            raise KetasimInputError(f"--out: cannot write {out} ({err.strerror or err}: {err.filename})") from None

    def __enter__(self) -> OutFolder:
        return self

    def __exit__(self, *_: object) -> None:
        shutil.rmtree(self.partial, ignore_errors=True)

    def commit(self) -> list[Path]:
        """Move the files in (the whole folder at once when `out` is missing or empty); the paths written."""
        try:
            try:
                os.rename(self.partial, self.out)  # POSIX: replaces an empty folder too
            except OSError:
                self.out.mkdir(parents=True, exist_ok=True)
                for name in sorted(self.own, key=lambda n: n == "summary.json"):  # summary.json last: the run is whole
                    if (self.partial / name).exists():
                        os.replace(self.partial / name, self.out / name)
        except OSError as err:
            raise KetasimInputError(f"--out: cannot write {self.out} ({err.strerror or err})") from None
        return [self.out / name for name in self.own if (self.out / name).exists()]


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def write_text(path: Path, text: str) -> None:
    """Write a text file; an OSError becomes KetasimInputError `PATH: cannot write (...)`."""
    try:
        path.write_text(text)
    except OSError as err:
        raise KetasimInputError(f"{path}: cannot write ({err.strerror})") from None
