"""Property test (Hypothesis) over patient files, as tests/test_fuzz.py over trial files.

Any valid record (generated covariates, doses and MADRS observations) gives a finite forecast whose
quantile bands are ordered and whose relapse risks are probabilities. Any mutated record (a field
of the wrong type, out of range or unknown; the text cut or broken) is refused at parsing with exit 2
and one line `ketasim: error: FILE: <section>...` naming the place, never a traceback. Forecasts take
seconds each: few examples, 300 draws; the mutations are checked at the parse level only (fast).
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketasim import KetasimInputError
from ketasim.apps.cli import main
from ketasim.forecast import forecast, load_patient_file
from test_fuzz import to_toml


def _settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def patient_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid patient file: ketamine sessions, MADRS observations from the first dose on, a short plan."""
    sessions = sorted(draw(st.sets(st.integers(0, 14), min_size=1, max_size=6)) | {0})
    times = sorted(draw(st.sets(st.integers(1, 21), min_size=0, max_size=4)))
    observations = [{"at": "0 d", "madrs": draw(st.integers(22, 50))}]
    observations += [{"at": f"{t} d", "madrs": draw(st.integers(0, 50))} for t in times]
    patient = {"weight_kg": draw(st.integers(45, 130)), "age": draw(st.integers(18, 80)),
               "sex": draw(st.sampled_from(["female", "male"])), "failed_treatments": draw(st.integers(0, 6)),
               "doses": [{"drug": "ketamine", "route": "iv", "amount": draw(st.sampled_from(["0.5 mg/kg", "0.75 mg/kg"])),
                          "infusion": "40 min", "at": [f"{d} d" for d in sessions]}],
               "observations": observations}
    plan = {"horizon": draw(st.sampled_from(["3 wk", "4 wk"])), "relapse_madrs": draw(st.integers(18, 26)),
            "acceptable_risk": draw(st.sampled_from([0.1, 0.2, 0.3])), "intervals": ["1 wk", "2 wk"]}
    return {"patient": patient, "plan": plan}


def to_file(document: dict[str, Any]) -> str:
    plain = {k: v for k, v in document.items() if not isinstance(v, dict)}  # a section replaced by a value
    return to_toml(plain) + "".join(f"[{section}]\n{to_toml(table)}\n" for section, table in document.items()
                                    if isinstance(table, dict))


@_settings(4)
@given(patient_documents())
def test_any_valid_record_gives_a_finite_forecast_with_ordered_quantiles(document: dict[str, Any]) -> None:
    with _file(to_file(document)) as path:
        record, plan = load_patient_file(path)
    result = forecast(record, plan, draws=300, seed=0)
    bands = result.forecast[["madrs_p05", "madrs_p25", "madrs_p50", "madrs_p75", "madrs_p95"]].to_numpy()
    assert len(bands) > 0 and np.isfinite(bands).all()
    assert (np.diff(bands, axis=1) >= -1e-9).all() and (bands >= -1e-9).all() and (bands <= 60 + 1e-9).all()
    risks = result.plan["relapse_risk"].to_numpy(dtype=float)
    assert np.isfinite(risks).all() and ((risks >= 0) & (risks <= 1)).all()
    assert set(result.to_json()) >= {"forecast", "plan", "relapse", "posterior"}


# ---- mutated records: refused at parsing, naming the place ------------------------------------------------

BAD_VALUES = st.sampled_from(["", "x", "3 parsecs", "-1 d", "inf h", "1e400 mg", -1, 0, 1e9, math.nan, math.inf, True,
                              [], {}, [1, 2], {"a": 1}, "0.5 mg/kg", "ear", "female"])


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in the document (tables and lists included)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_documents(draw: st.DrawFn) -> tuple[str, str]:
    """(file text, the section the mutation is in); the file is not a valid patient file, or is (then skipped)."""
    document = draw(patient_documents())
    how = draw(st.sampled_from(["value", "drop", "unknown key", "text"]))
    if how == "text":
        text = to_file(document)
        cut = draw(st.integers(1, len(text) - 1))
        return text[:cut] + draw(st.sampled_from(["", "[", "= =", '"', "\n[patient]\n", "x = [[[["])), ""
    paths = [p for p in _paths(document) if p[0] in ("patient", "plan")]
    path = draw(st.sampled_from(paths))
    mutated = copy.deepcopy(document)
    parent: Any = mutated
    for key in path[:-1]:
        parent = parent[key]
    if how == "drop" and isinstance(parent, dict):
        del parent[path[-1]]
    elif how == "unknown key" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["colour", "madrs_score", "weight", "intervalz"]))] = 1
    else:
        parent[path[-1]] = draw(BAD_VALUES)
    return to_file(mutated), path[0]


@_settings(120)
@given(mutated_documents())
def test_any_mutated_record_is_one_error_line_naming_the_place(case: tuple[str, str]) -> None:
    text, section = case
    with _file(text) as path:
        try:
            load_patient_file(path)
        except KetasimInputError as err:
            message = " ".join(str(err).split())
            assert message.startswith(f"{path}:"), message
            assert not section or section in message or "invalid TOML" in message, message
            out, errors = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(errors):
                code = main(["forecast", str(path), "--draws", "300"])
            lines = errors.getvalue().strip().splitlines()
            assert code == 2 and out.getvalue() == "" and len(lines) == 1, errors.getvalue()
            assert lines[0].startswith(f"ketasim: error: {path}:") and "Traceback" not in errors.getvalue()
        # a mutation that leaves a valid file (a value that happens to fit): nothing to check here


@contextlib.contextmanager
def _file(text: str):  # type: ignore[no-untyped-def]
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "patient.toml"
        path.write_text(text)
        yield path
