"""The GPU benchmark script runs end to end in tiny mode (on the CPU here) and prints its table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("jax")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"


def test_tiny_benchmark_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("ketasim_gpu_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    assert module.main(["--tiny"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("compile_s" in line and "patients/s" in line for line in lines)
    rows = [line.split() for line in lines if line.split()[:1] == ["50"]]
    assert [row[1] for row in rows] == ["jax", "fast"]
    assert all(row[7] == "0" for row in rows)  # no failed patients
    assert rows[1][-1].endswith("x")  # the numpy baseline carries the speedup
