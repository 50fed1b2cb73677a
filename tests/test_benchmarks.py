"""The engines benchmark (benchmarks/engines.py) still runs, in its tiny mode (CI never times anything)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("libsbml")
pytest.importorskip("roadrunner")


def test_engines_benchmark_runs_tiny(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "engines.py"
    spec = importlib.util.spec_from_file_location("engines_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    module.main(["--tiny"])
    out = capsys.readouterr().out
    assert "patients/s" in out
    for row in ("fast ", "reference ", "roadrunner ", "roadrunner re-export", "fast / roadrunner", "fast / reference"):
        assert f"\n{row}" in out, row
    assert "roadrunner vs reference" in out
