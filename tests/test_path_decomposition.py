"""benchmarks/path_decomposition.py runs, and each cut removes what its path carries and nothing else."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_cutting_plasticity_removes_most_of_ketamines_difference(capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = ROOT / "benchmarks" / "path_decomposition.py"
    spec = importlib.util.spec_from_file_location("path_decomposition", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    trial = ROOT / "src" / "ketasim" / "data" / "calibration" / "murrough-2013-ajp.toml"
    assert module.main([str(trial), "--patients-per-arm", "200", "--visits", "1 d"]) == 0
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines()[1:]:
        drug, control, diff = (float(x) for x in re.search(r"1 d:\s+(-?[\d.]+) /\s+(-?[\d.]+)\s+diff\s+(-?[\d.]+)",
                                                          line).groups())
        rows[line[:32].strip()] = (drug, control, diff)
    assert set(rows) == set(module.CUTS)
    # ketamine beats midazolam at 24 h (by 3.5 points at 400 per arm, published 7.7: docs/validation-log.md)
    assert rows["shipped model"][2] < -2.0
    # ketamine's own path gone: its arm loses more than 3 points of change, midazolam's arm does not move
    assert rows["no fast plasticity"][0] > rows["shipped model"][0] + 3.0
    assert rows["no fast plasticity"][1] == pytest.approx(rows["shipped model"][1], abs=0.05)
    # expectancy gone: the midazolam arm keeps little of its 24-h improvement
    assert rows["no session expectancy at all"][1] > rows["shipped model"][1] + 3.0
