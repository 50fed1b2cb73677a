"""User compound files given as text (the web explorer): checked as `ketasim compound check` reads a file,
and registered only while the run that doses them lasts.

The drug registry is one per process: `user_compounds` registers the files under a lock and removes them
afterwards, so a compound uploaded for one request is not seen by another (a web simulation runs in its own
worker process; the quick views run in threads of the server, one compound-bearing request at a time).
A user compound may not take a shipped drug's name (the message of `register_compound_file`).
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ketasim as ks
from ketasim.apps import adapters as internal

#: most compound files one request may carry
MAX_COMPOUNDS = 5
_LOCK = threading.RLock()
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def compound_file_name(source: str) -> str:
    name = _UNSAFE.sub("_", Path(source.replace("\\", "/")).name).strip("._") or "compound"
    return name if name.endswith(".toml") else name + ".toml"


@contextmanager
def user_compounds(files: Sequence[tuple[str, str]]) -> Iterator[list[ks.DrugSpec]]:
    """Register compound files given as (file name, TOML text) for the body of the `with`; their entries.
    A bad file is a KetasimInputError naming the file (as uploaded), the key and what was expected."""
    if not files:
        yield []
        return
    if len(files) > MAX_COMPOUNDS:
        raise ks.KetasimInputError(f"compounds: at most {MAX_COMPOUNDS} compound files per request, got {len(files)}")
    with _LOCK, tempfile.TemporaryDirectory(prefix="ketasim-compound-") as folder:
        registered: list[ks.DrugSpec] = []
        try:
            for i, (source, text) in enumerate(files):
                name = compound_file_name(source)
                path = Path(folder) / str(i) / name
                path.parent.mkdir()
                path.write_text(text, encoding="utf-8")
                try:
                    spec = ks.register_compound_file(path)
                except ks.KetasimInputError as err:  # name the file as the user knows it, not its temporary path
                    raise ks.KetasimInputError(str(err).replace(str(path), name)) from None
                if all(spec is not r for r in registered):
                    registered.append(spec)
            yield registered
        finally:
            for spec in registered:
                internal.unregister_drug(spec.name)


def check_compound_text(text: str, source: str) -> dict[str, Any]:
    """A compound file's name, description and routes, once it has been checked as a registration checks it."""
    with user_compounds([(source, text)]) as (spec,):
        return {"name": spec.name, "description": spec.description, "routes": list(spec.routes),
                "file": compound_file_name(source)}
