"""Property test (Hypothesis) over the web API's inputs: whatever the body, a 2xx or a 4xx whose `detail` is
one line, never a 5xx and never a traceback in the log. Trial text (JSON and upload), the forecast's patient
text and simulate JSON, deeply nested TOML and JSON included. Runs are not started: the job manager is
replaced by one that records what it was given (the workers' own failures are reported on the run)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ketasim.apps.cli import main
from ketasim.apps.store import RunStore
from ketasim.apps.web.app import create_app
from ketasim.apps.web.jobs import Job
from ketasim.apps.web.settings import Settings

STATIC = Path(__file__).resolve().parents[1] / "src" / "ketasim" / "apps" / "web" / "static"
TRIAL = (STATIC / "example-trial.toml").read_text()
PATIENT = (STATIC / "example-patient.toml").read_text()
DEEP = ["[" * 50_000, "a = " + "[" * 50_000, "b = " + "{b = " * 20_000, "[plan]\nx = " + "[" * 3000 + "]" * 3000,
        "a = " + "[" * 900 + "]" * 900]


class StubJobs:
    """Stands in for JobManager: every submitted run is answered at once as cancelled (nothing runs)."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, dict[str, Any]]] = []

    def submit(self, kind: str, name: str, input_text: str, kwargs: dict[str, Any], *, total: int, **_: Any) -> Job:
        self.submitted.append((kind, kwargs))
        job = Job("20000101-000000-000000", kind, total, status="cancelled", message="not run in this test")
        job.finished.set()
        return job

    def get(self, run_id: str) -> None:
        return None


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    app = create_app(RunStore(tmp_path_factory.mktemp("inputs") / "store"), Settings(max_patients=500))
    app.state.jobs = StubJobs()
    # the routes close over the manager they were built with: swap it there too
    for route in app.routes:
        endpoint = getattr(route, "endpoint", None)
        for cell in getattr(endpoint, "__closure__", None) or ():
            if type(cell.cell_contents).__name__ == "JobManager":
                cell.cell_contents = app.state.jobs
    return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)


def _settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def mutated(text: str) -> st.SearchStrategy[str]:
    """`text` cut, with a line dropped or doubled, a run of brackets inserted, or characters replaced."""
    lines = text.splitlines()

    def edit(data: tuple[int, int, str]) -> str:
        where, how, junk = data
        i = where % max(len(lines), 1)
        if how == 0:
            return text[: where % max(len(text), 1)]
        if how == 1:
            return "\n".join(lines[:i] + lines[i + 1:])
        if how == 2:
            return "\n".join(lines[:i] + [lines[i]] * 2 + lines[i + 1:])
        if how == 3:
            return "\n".join([*lines[:i], junk, *lines[i:]])
        return text[:where % max(len(text), 1)] + junk + text[where % max(len(text), 1) + len(junk):]
    junk = st.one_of(st.text(max_size=30), st.sampled_from(DEEP), st.integers(1, 5000).map(lambda n: "x = " + "[" * n),
                     st.integers(1, 5000).map(lambda n: "{a=" * n), st.sampled_from(['"', "'''", "\\u0000", "= =", "[[]]"]))
    return st.tuples(st.integers(0, 10_000), st.integers(0, 4), junk).map(edit)


def texts(valid: str) -> st.SearchStrategy[str]:
    return st.one_of(st.just(valid), mutated(valid), st.sampled_from(DEEP), st.text(max_size=200))


def nested_json(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


def check(response: Any, caplog: pytest.LogCaptureFixture) -> None:
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        detail = response.json()["detail"]
        if isinstance(detail, str):
            assert "\n" not in detail and "Traceback" not in detail
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]


@_settings(30)
@given(text=texts(TRIAL), upload=st.booleans())
def test_any_trial_text_is_a_202_or_a_4xx(client: TestClient, caplog: pytest.LogCaptureFixture, text: str,
                                            upload: bool) -> None:
    caplog.clear()
    if upload:
        response = client.post("/api/trials/upload", files={"file": ("t.toml", text.encode("utf-8", "surrogatepass"))})
    else:
        response = client.post("/api/trials", json={"text": text, "filename": "t.toml", "patients_per_arm": 10})
    if response.status_code == 413:
        return
    check(response, caplog)


@_settings(30)
@given(text=texts(PATIENT), plan=st.booleans())
def test_any_patient_text_is_a_202_or_a_4xx(client: TestClient, caplog: pytest.LogCaptureFixture, text: str,
                                              plan: bool) -> None:
    caplog.clear()
    body: dict[str, Any] = {"text": text, "filename": "p.toml", "draws": 300}
    if plan:
        body["plan"] = {"horizon": "4 wk", "intervals": ["1 wk", "2 wk"]}
    response = client.post("/api/forecast", json=body)
    if response.status_code != 413:
        check(response, caplog)


SIMULATE = st.fixed_dictionaries({}, optional={
    "regimen": st.one_of(st.sampled_from(["ketamine-iv-single", "esketamine-twice-weekly", "nope"]), st.text(max_size=20)),
    "doses": st.one_of(st.just([{"drug": "ketamine", "route": "iv", "amount": "0.5 mg/kg", "at": ["0 d"]}]),
                       st.lists(st.dictionaries(st.sampled_from(["drug", "route", "amount", "at", "every", "x"]),
                                                st.one_of(st.text(max_size=10), st.integers(), st.floats()),
                                                max_size=5), max_size=3),
                       st.integers(1, 3000).map(lambda d: [{"at": nested_json(d)}])),
    "patient": st.sampled_from(["typical-trd", "p.toml", "nobody", ""]),
    "set": st.dictionaries(st.sampled_from(["weight_kg", "age_y", "nonsense", "ec50"]),
                           st.floats(allow_nan=False, allow_infinity=False), max_size=3),
    "days": st.one_of(st.floats(-10, 1e6, allow_nan=False), st.just(0)),
    "engine": st.sampled_from(["reference", "fast", "other"])})


@_settings(40)
@given(body=SIMULATE)
def test_any_simulate_body_is_answered_without_a_5xx(client: TestClient, caplog: pytest.LogCaptureFixture,
                                                     body: dict[str, Any]) -> None:
    caplog.clear()
    check(client.post("/api/simulate", json=body), caplog)


@pytest.mark.parametrize("text", DEEP[:3])
def test_deeply_nested_toml_gives_the_cli_message(client: TestClient, caplog: pytest.LogCaptureFixture,
                                                  capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str) -> None:
    (tmp_path / "t.toml").write_text(text)
    assert main(["trial", str(tmp_path / "t.toml")]) == 2
    cli = capsys.readouterr().err.strip().splitlines()[-1].removeprefix("ketasim: error: ")
    assert text.startswith("[[") or "nested too deeply" in cli
    for response in (client.post("/api/trials", json={"text": text, "filename": "t.toml"}),
                     client.post("/api/trials/upload", files={"file": ("t.toml", text.encode())})):
        assert response.status_code == 400 and response.json()["detail"] == cli.replace(str(tmp_path) + "/", "")
    response = client.post("/api/forecast", json={"text": text, "filename": "t.toml", "draws": 300})
    assert response.status_code == 400 and response.json()["detail"] == cli.replace(str(tmp_path) + "/", "")
    response = client.post("/api/forecast", json={"text": PATIENT + "\n" + text, "filename": "t.toml", "draws": 300,
                                                  "plan": {"horizon": "4 wk"}})
    assert response.status_code == 400 and "t.toml" in response.json()["detail"]
    check(response, caplog)


def test_deeply_nested_json_is_a_4xx(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    for depth in (100, 5000, 60_000):
        deep = "[" * depth + "1" + "]" * depth
        for body in ('{"regimen": "ketamine-iv-single", "set": ' + deep + "}", '{"doses": [{"at": ' + deep + "}]}",
                     '{"text": ' + deep + "}", deep):
            for path in ("/api/simulate", "/api/trials", "/api/forecast"):
                response = client.post(path, content=body, headers={"content-type": "application/json"})
                if response.status_code != 413:
                    check(response, caplog)
