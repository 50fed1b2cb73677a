"""Reading TOML input (a file or text sent to the web explorer): every failure one KetasimInputError
line naming the source. Trial and regimen files are TOML 1.0 (tomllib); patient files TOML 1.1 (tomli:
inline tables may span lines)."""

from __future__ import annotations

import os
import tomllib
from typing import Any

import tomli

from ketasim.errors import KetasimInputError


def parse_toml(text: str | bytes, source: str, *, toml_1_1: bool = False) -> dict[str, Any]:
    """The TOML table in `text` (str or UTF-8 bytes); errors name `source`."""
    module: Any = tomli if toml_1_1 else tomllib
    try:
        return module.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except module.TOMLDecodeError as err:
        raise KetasimInputError(f"{source}: invalid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise KetasimInputError(f"{source}: invalid TOML: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except RecursionError:
        raise KetasimInputError(f"{source}: invalid TOML: arrays or tables nested too deeply") from None


def read_toml(path: str | os.PathLike[str], what: str, *, toml_1_1: bool = False) -> dict[str, Any]:
    """The TOML table in `path` (a `what`, such as "trial file", for the message when it cannot be read)."""
    source = os.fspath(path)
    try:
        with open(source, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise KetasimInputError(f"{source}: cannot read the {what} ({err.strerror or err})") from None
    return parse_toml(raw, source, toml_1_1=toml_1_1)
