"""Plain-text tables for the command line and reports."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(headers: Sequence[object], rows: Sequence[Sequence[object]]) -> list[str]:
    """Lines of a left-aligned table (cells as str, two spaces apart); the last column is not padded."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers) - 1)]
    return ["  ".join([c.ljust(w) for c, w in zip(r, widths, strict=False)] + [r[-1]]).rstrip() for r in cells]
