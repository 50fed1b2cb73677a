#!/usr/bin/env python3
"""Golden outputs for refactors: record, then compare, every number the CLI computes.

    python benchmarks/golden.py record DIR     # simulate CSVs for every preset (both typical patients,
                                               # fast and reference engines) and `trial --json` for every
                                               # shipped calibration file at 200 patients per arm
    python benchmarks/golden.py compare DIR    # rerun and compare within 1e-9 relative

Not a test: a refactor is checked against the numbers recorded before it started.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

KETASIM = str(Path(sys.executable).with_name("ketasim"))
PRESETS = ["ketamine-iv-single", "ketamine-iv-6x", "esketamine-label", "escitalopram-10mg-daily"]
PATIENTS = ["typical-trd", "typical-mdd"]
ENGINES = ["reference", "fast"]
RTOL = 1e-9


def calibration_files() -> list[Path]:
    import ketasim

    root = Path(ketasim.__file__).parent / "data" / "calibration"
    return sorted(root.glob("*.toml"))


def record(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for preset in PRESETS:
        for patient in PATIENTS:
            for engine in ENGINES:
                out = folder / f"simulate-{preset}-{patient}-{engine}.csv"
                subprocess.run([KETASIM, "simulate", "--regimen", preset, "--patient", patient, "--days", "28",
                                "--engine", engine, "--csv", str(out)], check=True, stdout=subprocess.DEVNULL)
                print("recorded", out.name, file=sys.stderr)
    for path in calibration_files():
        result = subprocess.run([KETASIM, "trial", str(path), "--json", "--patients-per-arm", "200"],
                                check=True, capture_output=True, text=True)
        (folder / f"trial-{path.stem}.json").write_text(result.stdout)
        print("recorded", path.stem, file=sys.stderr)


def _compare_json(a: object, b: object, where: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{where}.{key}: present in only one")
            else:
                _compare_json(a[key], b[key], f"{where}.{key}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: length {len(a)} vs {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _compare_json(x, y, f"{where}[{i}]", out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if not math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-12):
            out.append(f"{where}: {a!r} vs {b!r}")
    elif a != b:
        out.append(f"{where}: {a!r} vs {b!r}")


def compare(folder: Path) -> int:
    fresh = folder.with_name(folder.name + "-fresh")
    record(fresh)
    problems: list[str] = []
    for old in sorted(folder.iterdir()):
        new = fresh / old.name
        if old.suffix == ".csv":
            a, b = pd.read_csv(old), pd.read_csv(new)
            for column in sorted(set(a.columns) | set(b.columns)):
                if column not in a or column not in b:
                    problems.append(f"{old.name}: column {column} in only one")
                    continue
                x, y = a[column].to_numpy(float), b[column].to_numpy(float)
                if x.shape != y.shape or not np.allclose(x, y, rtol=RTOL, atol=1e-12):
                    worst = np.nanmax(np.abs(x - y) / np.maximum(np.abs(x), 1e-12)) if x.shape == y.shape else math.inf
                    problems.append(f"{old.name}: {column} differs (max relative {worst:.3g})")
        else:
            _compare_json(json.loads(old.read_text()), json.loads(new.read_text()), old.name, problems)
    for line in problems:
        print(line)
    print(f"{len(problems)} differences", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in {"record", "compare"}:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    target = Path(sys.argv[2])
    if sys.argv[1] == "record":
        record(target)
    else:
        sys.exit(compare(target))
