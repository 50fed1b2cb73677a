"""Property test (Hypothesis): generated trial files, regimens and NONMEM CSVs, valid and mutated.

Whatever the input, `ketasim` gives either a result (exit 0: finite numbers, every output file)
or exit 2 with exactly one line `ketasim: error: ...` naming the file, never a traceback, never a
non-finite number in an output, and never a file left behind that looks complete. Exit 1 (an arm
without a usable patient) must say so and leave no files either. Deterministic (derandomize) and
bounded (max_examples) so the three properties take well under a minute on 2 cores.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketasim.apps.cli import main


def _settings(examples: int) -> settings:
    """Deterministic (derandomize, no example database) and bounded; searched at 300 examples and 3 seeds when written."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---- a small TOML writer (inline tables everywhere) ------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"


def to_toml(document: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in document.items())


# ---- generators -------------------------------------------------------------------------------------------

TIMES = st.sampled_from(["0 h", "30 min", "2 h", "1 d", "2 d", "0.5 wk", "1e400 h", "inf h", "-1 d", "3 parsecs",
                         "100000 wk", "", "1 s"])
AMOUNTS = st.sampled_from(["0.5 mg/kg", "56 mg", "10 mg", "500 ug/kg", "0 mg", "2 mg/kg", "1e400 mg", "-1 mg",
                           "100000 mg", "mg", "1e308 mg"])
SCALARS = st.one_of(st.integers(-10**13, 10**13), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                    st.text(max_size=8), TIMES, AMOUNTS)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=6)


@st.composite
def dose_lines(draw: st.DrawFn) -> dict[str, Any]:
    drug, route, amount = draw(st.sampled_from([("ketamine", "iv", "0.5 mg/kg"), ("esketamine", "intranasal", "56 mg"),
                                                ("escitalopram", "oral", "10 mg"), ("midazolam", "iv", "0.045 mg/kg"),
                                                ("saline", "iv", "0 mg")]))
    line: dict[str, Any] = {"drug": drug, "route": route, "amount": amount}
    if draw(st.booleans()):
        line.update(every=draw(st.sampled_from(["1 d", "3.5 d", "12 h"])), until="3 d")
    else:
        line["at"] = draw(st.sampled_from(["0 d", ["0 d", "2 d"]]))
    if route == "iv" and draw(st.booleans()):
        line["infusion"] = "40 min"
    return line


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indices) inside a nested document."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """`document` with 0-2 mutations: a value replaced, a key removed, or an unknown key added."""
    doc = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(0, 2))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        *parent_path, last = path
        parent: Any = doc
        for key in parent_path:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            parent[last] = draw(VALUES)
        elif action == "remove" and isinstance(parent, dict):
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=6))] = draw(VALUES)
    return doc


@st.composite
def trial_documents(draw: st.DrawFn) -> dict[str, Any]:
    base = {
        "name": "fuzz", "seed": draw(st.integers(0, 5)), "patients_per_arm": 2,
        "population": draw(st.sampled_from([
            {"kind": "mdd", "baseline_madrs": [10, 60]},
            {"kind": "trd", "baseline_madrs": [20, 60], "weight_kg": [50, 120]},
            {"kind": "trd", "min_failed_treatments": 1, "baseline_madrs": [20, 60],
             "background": [{"drug": "escitalopram", "route": "oral", "amount": "10 mg", "every": "1 d"}]}])),
        "arms": [{"name": "a", "doses": [draw(dose_lines())]}, {"name": "b", "doses": [draw(dose_lines())]}],
        "endpoints": {"visits": ["2 h", "1 d"], "response": "50%", "remission": 10},
    }
    return draw(mutated(base))


@st.composite
def regimen_documents(draw: st.DrawFn) -> dict[str, Any]:
    return draw(mutated({"doses": draw(st.lists(dose_lines(), min_size=1, max_size=3))}))


def _maybe_corrupt(draw: st.DrawFn, text: str) -> bytes:
    """The text as UTF-8, sometimes with a few random bytes inserted (not UTF-8, broken syntax)."""
    data = text.encode()
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


CELLS = st.one_of(st.sampled_from(["", ".", "0", "1", "24", "35", "1e308", "-1", "nan", "inf", "abc", "2.5", "12"]),
                  st.integers(0, 20).map(str))
COLUMNS = ["ID", "TIME", "AMT", "RATE", "EVID", "CMT", "II", "ADDL", "DRUG", "ROUTE", "SS"]


@st.composite
def nonmem_files(draw: st.DrawFn) -> str:
    header = draw(st.lists(st.sampled_from(COLUMNS), min_size=3, max_size=8, unique=True))
    if draw(st.booleans()):
        header = list(dict.fromkeys(["ID", "TIME", "AMT", "CMT", *header]))
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        valid = {"ID": "1", "TIME": draw(st.sampled_from(["0", "24"])), "AMT": "35", "RATE": "0", "EVID": "1",
                 "CMT": draw(st.sampled_from(["1", "5", "12"])), "II": "0", "ADDL": "0", "DRUG": "", "ROUTE": "",
                 "SS": "0"}
        row = [valid[c] if draw(st.integers(0, 3)) else draw(CELLS) for c in header]
        rows.append(",".join(row))
    return "\n".join([",".join(header), *rows]) + "\n"


# ---- the property -----------------------------------------------------------------------------------------


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)  # any exception escaping here is a traceback: the property fails
    return code, out.getvalue(), err.getvalue()


def _strict_json(text: str) -> Any:
    def refuse(token: str) -> None:
        raise AssertionError(f"non-finite number {token} in the JSON")

    return json.loads(text, parse_constant=refuse)


def _numbers(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in _numbers(v)]
    return [float(value)] if isinstance(value, int | float) and not isinstance(value, bool) else []


def _check_failure(code: int, err: str, source: Path, outputs: list[Path]) -> None:
    lines = err.strip().splitlines()
    if code == 2:
        errors = [line for line in lines if line.startswith("ketasim: error: ")]
        assert len(errors) == 1 and errors[0] == lines[-1], err
        assert source.name in errors[0], err  # names the file (and, after it, the place)
        assert "Traceback" not in err
    else:
        assert code == 1 and ("error: no usable patient" in err or "error: the solver did not finish" in err), (code, err)
    for path in outputs:
        assert not path.exists() or (path.is_dir() and not any(path.iterdir())), f"{path} left behind"


@_settings(40)
@given(trial_documents(), st.data())
def test_any_trial_file_gives_a_result_or_one_error_line(document: dict[str, Any], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / "trial.toml", Path(folder) / "out"
        source.write_bytes(_maybe_corrupt(data.draw, to_toml(document)))
        code, stdout, err = _run(["trial", str(source), "--json", "--out", str(out)])
        if code != 0:
            _check_failure(code, err, source, [out])
            return
        result = _strict_json(stdout)
        assert all(math.isfinite(x) for x in _numbers(result))
        assert {p.name for p in out.iterdir()} == {"patients.parquet", "summary.json", "madrs.png", "response.png"}
        table = pd.read_parquet(out / "patients.parquet")
        assert np.isfinite(table.select_dtypes("number").to_numpy()).all()


@_settings(60)
@given(regimen_documents(), st.data())
def test_any_regimen_file_gives_a_result_or_one_error_line(document: dict[str, Any], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source, csv = Path(folder) / "regimen.toml", Path(folder) / "run.csv"
        source.write_bytes(_maybe_corrupt(data.draw, to_toml(document)))
        code, _, err = _run(["simulate", "--regimen", str(source), "--days", "2", "--engine", "fast", "--csv", str(csv)])
        if code != 0:
            _check_failure(code, err, source, [csv])
            return
        assert np.isfinite(pd.read_csv(csv).to_numpy()).all()


@_settings(100)
@given(nonmem_files(), st.data())
def test_any_nonmem_csv_gives_a_result_or_one_error_line(text: str, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source, csv = Path(folder) / "doses.csv", Path(folder) / "run.csv"
        source.write_bytes(_maybe_corrupt(data.draw, text))
        code, _, err = _run(["simulate", "--regimen", str(source), "--days", "2", "--engine", "fast", "--csv", str(csv)])
        if code != 0:
            _check_failure(code, err, source, [csv])
            return
        assert np.isfinite(pd.read_csv(csv).to_numpy()).all()
