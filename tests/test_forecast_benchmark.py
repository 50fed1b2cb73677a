"""The forecast benchmark still runs (at a small size: CI never times anything)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def test_forecast_benchmark_runs_small(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "forecast.py"
    spec = importlib.util.spec_from_file_location("forecast_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--draws", "300"])
    out = capsys.readouterr().out
    assert "whole forecast" in out and "ESS" in out


def test_forecast_sbc_script_runs_tiny(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "forecast_sbc.py"
    spec = importlib.util.spec_from_file_location("forecast_sbc", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--patients", "2", "--draws", "300"])
    out = capsys.readouterr().out
    assert "90% band" in out and "median ESS" in out
