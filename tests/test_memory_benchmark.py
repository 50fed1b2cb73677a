"""The peak-memory harness (benchmarks/memory.py) still runs, in its tiny mode (nothing is timed here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "memory.py"


def test_memory_harness_runs_tiny(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("ketasim_memory_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        assert module.main(["--tiny"]) == 0
    finally:
        sys.modules.pop(spec.name, None)
    lines = capsys.readouterr().out.splitlines()
    assert any("peak RSS MB" in line for line in lines)
    rows = [line.split() for line in lines if line.split()[:1] in (["10"], ["20"])]
    assert [row[0] for row in rows] == ["10", "20"]
    for total, per_arm, peak_mb, _wall, _rate, parquet_rows, row_groups in rows:
        assert int(per_arm) * 2 == int(total) == int(parquet_rows)  # every patient reached the streamed file
        assert float(peak_mb) > 10.0
        assert int(row_groups) == 2 * -(-int(per_arm) // 4)  # chunks of 4: one row group each
    assert any(line.startswith("extrapolated to 1,000,000 patients") for line in lines)


def test_parse_time_v_report() -> None:
    spec = importlib.util.spec_from_file_location("ketasim_memory_benchmark_parse", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        report = ("\tElapsed (wall clock) time (h:mm:ss or m:ss): 1:02.50\n"
                  "\tMaximum resident set size (kbytes): 204800\n")
        assert module._parse_time_v(report) == (200.0, 62.5)
    finally:
        sys.modules.pop(spec.name, None)
