"""The load benchmark (benchmarks/load.py) still runs, at its tiny size (nothing is timed here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "load.py"


def test_load_benchmark_runs_tiny(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("ketasim_load_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert module.main(["--tiny"]) == 0  # 0: every accepted run was stored
    finally:
        sys.modules.pop(spec.name, None)
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines if line.split()[:1] in (["1"], ["2"])]
    assert [row[0] for row in rows] == ["1", "2"] and all(row[1] == row[2] == "6" for row in rows)  # all 2xx
    assert any(line.startswith("runs accepted: 12; runs stored: 12") for line in lines)
