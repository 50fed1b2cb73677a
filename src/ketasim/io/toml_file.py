"""Reading a TOML input file: every failure one KetasimInputError line naming the file."""

from __future__ import annotations

import os
import tomllib
from typing import Any

from ketasim.errors import KetasimInputError


def read_toml(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """The TOML table in `path` (a `what`, such as "trial file", for the message when it cannot be read)."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            return tomllib.load(handle)
    except OSError as err:
        raise KetasimInputError(f"{source}: cannot read the {what} ({err.strerror or err})") from None
    except tomllib.TOMLDecodeError as err:
        raise KetasimInputError(f"{source}: invalid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise KetasimInputError(f"{source}: invalid TOML: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except RecursionError:
        raise KetasimInputError(f"{source}: invalid TOML: arrays or tables nested too deeply") from None
