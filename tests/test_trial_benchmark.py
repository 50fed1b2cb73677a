"""The trial-runtime benchmark still runs (at a tiny size: CI never times anything)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def test_trial_runtime_benchmark_runs_tiny(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "trial_runtime.py"
    spec = importlib.util.spec_from_file_location("trial_runtime", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--patients", "20", "--days", "15"])
    out = capsys.readouterr().out
    assert "patients/s" in out and "cost per patient" in out
