"""The `ketasim` command line: the top-level parser, the subcommands in `--help` order, and `main`.

Each subcommand is a pair of functions in its command-group module (`simulate`, `trials`, `export`,
`forecast`, `runs`): `_add_<name>(subparsers)` (declares its arguments and returns its parser) and
`_cmd_<name>(args) -> int` (runs it), listed by name in that module's `COMMANDS`. To add a
subcommand, write the pair, add it to its module's `COMMANDS` and its name to `ORDER` below.

Results go to stdout, progress to stderr. Bad input (KetasimInputError, a malformed TOML file,
a missing or unwritable file, a bad option) is one line `ketasim: error: <message>` on stderr
and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from ketasim.checks.plausibility import escape
from ketasim.disclaimer import DISCLAIMER
from ketasim.errors import KetasimInputError

from . import compound, export, forecast, runs, simulate, trials

if TYPE_CHECKING:
    from .common import Subparsers


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"ketasim: error: {message} (see '{self.prog} --help')\n")


#: the subcommands in the order `ketasim --help` lists them
ORDER = ("simulate", "demo", "trial", "validate", "calibrate", "export-sbml", "drugs", "compound", "presets", "parameters",
         "forecast", "examples", "serve", "runs", "report")
_BY_NAME = {**simulate.COMMANDS, **trials.COMMANDS, **export.COMMANDS, **forecast.COMMANDS, **runs.COMMANDS,
            **compound.COMMANDS}

#: (add, run) per subcommand, in the order `ketasim --help` lists them.
COMMANDS: list[tuple[Callable[[Subparsers], argparse.ArgumentParser], Callable[[argparse.Namespace], int]]] = [
    _BY_NAME[name] for name in ORDER]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    from ketasim import __version__

    parser = _Parser(prog="ketasim", description="Mechanistic simulator of rapid-acting antidepressants. " + DISCLAIMER)
    parser.add_argument("--version", action="version", version=f"ketasim {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    for name, (add, run) in zip(ORDER, COMMANDS, strict=True):
        sub = add(subparsers)
        sub.set_defaults(_run=run)
        if name in ("simulate", "trial", "validate", "forecast"):
            compound.add_compound_option(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 solver failure, 2 bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        return exit_.code if isinstance(exit_.code, int) else 0 if exit_.code is None else 2
    try:
        compound.register_compounds(args)
        return int(args._run(args))
    except (KetasimInputError, tomllib.TOMLDecodeError, OSError) as err:
        message = " ".join(str(err).split())
        print(f"ketasim: error: {escape(message)}", file=sys.stderr)
        return 2
    except RecursionError:
        print("ketasim: error: input nested too deeply", file=sys.stderr)
        return 2
    except MemoryError:
        print("ketasim: error: out of memory; lower the request (fewer patients, days or doses)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ketasim: interrupted", file=sys.stderr)
        return 130
