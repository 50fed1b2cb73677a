"""The web explorer's API on a real `ketasim serve` (uvicorn subprocess, DuckDB store, worker processes)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import ketasim as ks
from _web_server import served, wait_for
from ketasim.apps import adapters
from ketasim.apps.cli import main
from ketasim.apps.store import RunStore

STATIC = Path(__file__).resolve().parents[1] / "src" / "ketasim" / "apps" / "web" / "static"
EXAMPLE = (STATIC / "example-trial.toml").read_text()
PATIENT = (STATIC / "example-patient.toml").read_text()
MAX_UPLOAD = 65536
STORE: list[Path] = []


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("web") / "store"
    STORE[:] = [store]
    with served(store, "--workers", "2", "--max-patients", "3000", "--max-upload-bytes", str(MAX_UPLOAD)) as base:
        yield base


def cli_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The message `ketasim ARGV` prints after 'ketasim: error: ' (exit status 2)."""
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("ketasim: error: ")
    return err.removeprefix("ketasim: error: ")


def finish(base: str, run_id: str, timeout_s: float = 120.0) -> dict:
    def done() -> dict | None:
        state = httpx.get(f"{base}/api/runs/{run_id}", timeout=10).json()["state"]
        return state if state["status"] in ("done", "failed", "cancelled") else None
    return wait_for(done, timeout_s, 0.25)


def with_seed(text: str, seed: int) -> str:
    return re.sub(r"(?m)^seed = \d+", f"seed = {seed}", text)


def test_pages_openapi_and_assets_are_served(url: str) -> None:
    for path in ("/", "/trial", "/validation", "/runs", "/forecast", "/docs"):
        response = httpx.get(url + path)
        assert response.status_code == 200 and "text/html" in response.headers["content-type"], path
    assert "It informs; it does not prescribe." in httpx.get(url + "/").text
    paths = httpx.get(url + "/openapi.json").json()["paths"]
    for path in ("/api/simulate", "/api/trials", "/api/trials/upload", "/api/validation", "/api/runs",
                 "/api/runs/{run_id}/events", "/api/runs/{run_id}/cancel", "/api/forecast"):
        assert path in paths, path
    plotly = httpx.get(url + "/vendor/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000  # served from the package: works offline
    assert "[patient]" in httpx.get(url + "/api/forecast/example").text


def test_simulate_csv_matches_the_cli(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = {"regimen": "ketamine-iv-single", "patient": "typical-trd", "days": 3, "set": {"weight_kg": 80}}
    result = httpx.post(url + "/api/simulate", json=body, timeout=60).raise_for_status().json()
    assert result["summary"]["doses"][0]["time_h"] == 0.0 and len(result["columns"]["madrs"]) > 100
    csv = httpx.get(f"{url}/api/runs/{result['run_id']}/simulation.csv").raise_for_status().text
    out = tmp_path / "cli.csv"
    assert main(["simulate", "--regimen", "ketamine-iv-single", "--days", "3", "--set", "weight_kg=80", "--csv", str(out)]) == 0
    assert csv == out.read_text()
    # custom doses, as a regimen file would give them
    doses = [{"drug": "ketamine", "route": "iv", "amount": "0.5 mg/kg", "infusion": "40 min", "at": ["0 d", "2 d"]}]
    result = httpx.post(url + "/api/simulate", json={"doses": doses, "days": 4}, timeout=60).raise_for_status().json()
    regimen_file = tmp_path / "two.toml"
    regimen_file.write_text('doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", '
                            'at = ["0 d", "2 d"] } ]\n')
    assert main(["simulate", "--regimen", str(regimen_file), "--days", "4", "--csv", str(out)]) == 0
    web_csv = httpx.get(f"{url}/api/runs/{result['run_id']}/simulation.csv").text
    assert web_csv == out.read_text()
    # the recorded input reruns it: saved as regimen.toml, with the command on its first line
    text = httpx.get(f"{url}/api/runs/{result['run_id']}").json()["input"]
    assert text.startswith("# ketasim simulate --regimen regimen.toml ")
    (tmp_path / "regimen.toml").write_text(text)
    argv = text.splitlines()[0].removeprefix("# ketasim ").split()
    argv[argv.index("regimen.toml")] = str(tmp_path / "regimen.toml")
    assert main([*argv, "--csv", str(out)]) == 0
    assert out.read_text() == web_csv
    capsys.readouterr()


def test_bad_input_gets_the_cli_message_and_the_server_keeps_serving(url: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    # unknown preset
    response = httpx.post(url + "/api/simulate", json={"regimen": "ketamine-im-weekly"})
    assert response.status_code == 400
    assert response.json()["detail"] == cli_error(capsys, "simulate", "--regimen", "ketamine-im-weekly")
    # unknown patient and parameter
    response = httpx.post(url + "/api/simulate", json={"regimen": "ketamine-iv-single", "patient": "typical-old"})
    assert response.json()["detail"] == cli_error(capsys, "simulate", "--regimen", "ketamine-iv-single", "--patient",
                                                  "typical-old")
    response = httpx.post(url + "/api/simulate", json={"regimen": "ketamine-iv-single", "days": -1})
    assert response.json()["detail"] == cli_error(capsys, "simulate", "--regimen", "ketamine-iv-single", "--days", "-1")
    response = httpx.post(url + "/api/simulate", json={"regimen": "ketamine-iv-single", "set": {"wieght_kg": 80}})
    assert response.status_code == 400
    assert response.json()["detail"] == cli_error(capsys, "simulate", "--regimen", "ketamine-iv-single", "--set",
                                                  "wieght_kg=80")
    # malformed trial files: bad TOML and a contract error, as an upload and as text
    for name, text in (("broken.toml", "name = 'x'\nseed = [\n"),
                       ("unknown-drug.toml", EXAMPLE.replace('drug = "midazolam"', 'drug = "midazolan"'))):
        (tmp_path / name).write_text(text)
        import os

        cwd = os.getcwd()
        os.chdir(tmp_path)
        try:
            expected = cli_error(capsys, "trial", name)
        finally:
            os.chdir(cwd)
        upload = httpx.post(url + "/api/trials/upload", files={"file": (name, text.encode(), "text/plain")})
        assert upload.status_code == 400 and upload.json()["detail"] == expected
        posted = httpx.post(url + "/api/trials", json={"text": text, "filename": name})
        assert posted.status_code == 400 and posted.json()["detail"] == expected
    # a path as a file name is reported by its last part only
    posted = httpx.post(url + "/api/trials", json={"text": "seed = [", "filename": "../../etc/passwd"})
    assert posted.json()["detail"].startswith("passwd: invalid TOML")
    # oversized upload: 413 before the body is read
    big = EXAMPLE + "#" * (MAX_UPLOAD + 10)
    response = httpx.post(url + "/api/trials/upload", files={"file": ("big.toml", big.encode(), "text/plain")})
    assert response.status_code == 413
    assert response.json()["detail"].startswith("request too large") and str(MAX_UPLOAD) in response.json()["detail"]
    # too many patients for this server
    response = httpx.post(url + "/api/trials", json={"text": EXAMPLE, "patients_per_arm": 2000})
    assert response.status_code == 400 and "at most 3000" in response.json()["detail"]
    # run ids are checked, never used as paths
    assert httpx.get(url + "/api/runs/..%2F..%2Fetc").status_code in (400, 404)
    assert httpx.get(url + "/api/runs/20260101-000000-abcdef").status_code == 404
    assert httpx.get(url + "/api/runs/not-an-id/summary.json").status_code == 400
    # still serving
    assert httpx.get(url + "/api/options").status_code == 200
    ok = httpx.post(url + "/api/simulate", json={"regimen": "ketamine-iv-single", "days": 1}, timeout=60)
    assert ok.status_code == 200


def test_ten_concurrent_trials_complete_correctly(url: str) -> None:
    n = 30
    results: dict[int, dict] = {}

    def one(seed: int) -> None:
        started = httpx.post(url + "/api/trials", json={"text": with_seed(EXAMPLE, seed), "patients_per_arm": n},
                             timeout=30).raise_for_status().json()
        state = finish(url, started["id"], 240.0)
        summary = httpx.get(f"{url}/api/runs/{started['id']}/summary.json").json() if state["status"] == "done" else None
        results[seed] = {"state": state, "summary": summary}

    start = time.perf_counter()
    threads = [threading.Thread(target=one, args=(seed,)) for seed in range(1, 11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    elapsed = time.perf_counter() - start
    print(f"\n10 concurrent API trial requests (2 arms x {n} patients each, 2 workers): {elapsed:.1f} s")
    assert sorted(results) == list(range(1, 11))
    for seed, got in results.items():
        assert got["state"]["status"] == "done", got["state"]
        spec = adapters.trial_from_text(with_seed(EXAMPLE, seed), "x.toml")
        expected = json.loads(adapters.trial_json(ks.run_trial(spec, patients_per_arm=n, show_progress=False)))
        assert got["summary"] == expected, seed  # each request got its own run, with its own seed
    assert len({json.dumps(r["summary"]["arms"]) for r in results.values()}) == 10


def test_progress_events_and_cancel(url: str) -> None:
    started = httpx.post(url + "/api/trials", json={"text": EXAMPLE, "patients_per_arm": 40}).json()
    states = []
    with httpx.stream("GET", f"{url}/api/runs/{started['id']}/events", timeout=120) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                states.append(json.loads(line[6:]))
    assert states[-1]["status"] == "done" and states[-1]["done"] == states[-1]["total"] == 80
    assert any(s["status"] == "running" for s in states)

    # a long trial (reference engine), cancelled while it runs
    started = httpx.post(url + "/api/trials", json={"text": EXAMPLE, "patients_per_arm": 1000, "engine": "reference"}).json()
    wait_for(lambda: httpx.get(f"{url}/api/runs/{started['id']}").json()["state"]["status"] == "running", 60)
    # the long run is in a worker process: the server still answers, and runs a simulation meanwhile
    tick = time.perf_counter()
    assert httpx.get(url + "/api/options", timeout=10).status_code == 200
    assert time.perf_counter() - tick < 2.0
    assert httpx.post(url + "/api/simulate", json={"regimen": "ketamine-iv-single", "days": 1}, timeout=60).status_code == 200
    assert httpx.get(f"{url}/api/runs/{started['id']}").json()["state"]["status"] == "running"
    cancelled = httpx.post(f"{url}/api/runs/{started['id']}/cancel", timeout=30)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    record = httpx.get(f"{url}/api/runs/{started['id']}").json()
    assert record["status"] == "cancelled" and record["summary"] is None
    assert httpx.post(f"{url}/api/runs/{started['id']}/cancel").status_code == 409
    # the server is free for the next run
    again = httpx.post(url + "/api/trials", json={"text": EXAMPLE, "patients_per_arm": 20}).json()
    assert finish(url, again["id"])["status"] == "done"
    runs = httpx.get(url + "/api/runs").json()
    assert {r["id"]: r["status"] for r in runs}[started["id"]] == "cancelled"


def test_compare_tables_and_downloads(url: str) -> None:
    ids = []
    for seed in (3, 4):
        started = httpx.post(url + "/api/trials", json={"text": with_seed(EXAMPLE, seed), "patients_per_arm": 25}).json()
        assert finish(url, started["id"])["status"] == "done"
        ids.append(started["id"])
    rows = httpx.get(url + "/api/runs/compare", params={"a": ids[0], "b": ids[1]}).json()
    a, b = (httpx.get(f"{url}/api/runs/{i}/summary.json").json() for i in ids)
    for row in rows:
        x = a["arms"][row["arm"]]["visits"][row["visit"]][row["metric"]]
        y = b["arms"][row["arm"]]["visits"][row["visit"]][row["metric"]]
        # a metric the trial has no value for (CAPS-5 in a depression trial) has no difference
        assert row["diff"] is None if x is None or y is None else row["diff"] == pytest.approx(y - x)
    parquet = httpx.get(f"{url}/api/runs/{ids[0]}/patients.parquet")
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"
    import io

    import pandas as pd

    patients = pd.read_parquet(io.BytesIO(parquet.content))
    assert len(patients) == 50 and set(patients["arm"]) == {"ketamine", "midazolam"}
    assert httpx.get(f"{url}/api/runs/{ids[0]}/secrets.parquet").status_code == 400
    targets = httpx.get(f"{url}/api/runs/{ids[0]}/tables/targets").json()
    assert targets["metric"] == ["change_mean"] and targets["source"][0].startswith("Murrough")
    report = httpx.get(f"{url}/api/runs/{ids[0]}/report.html")
    assert report.status_code == 200 and "data:image/png;base64," in report.text


def test_the_cli_reads_the_store_while_the_server_runs(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    started = httpx.post(url + "/api/trials", json={"text": EXAMPLE, "patients_per_arm": 20}).json()
    assert finish(url, started["id"])["status"] == "done"
    web = httpx.get(url + "/api/runs").json()
    assert main(["runs", "list", "--store", str(STORE[0]), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == [r["id"] for r in web] and started["id"] in {r["id"] for r in listed}
    trial = next(r for r in listed if r["id"] == started["id"])
    assert main(["runs", "compare", trial["id"], trial["id"], "--store", str(STORE[0]), "--json"]) == 0
    # every difference 0, or none where the trial has no value (CAPS-5 in a depression trial)
    assert {row["diff"] for row in json.loads(capsys.readouterr().out)} - {None} == {0.0}
    # the server still writes to it afterwards
    assert httpx.post(url + "/api/simulate", json={"regimen": "ketamine-iv-single", "days": 1}, timeout=60).status_code == 200
    assert len(httpx.get(url + "/api/runs").json()) == len(web) + 1


def close(a: object, b: object, path: str = "") -> None:
    """Equal JSON values, numbers to 1e-9 (the web JSON writes |x| < 1e-12 as 0)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), path
        for key in a:
            close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, f"{path}[{i}]")
    elif isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), path
    else:
        assert a == b, path


def test_forecast_matches_the_cli_and_its_record_reruns_it(url: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    plan = {"acceptable_risk": 0.3, "intervals": ["1 wk", "2 wk"]}
    started = httpx.post(url + "/api/forecast", json={"text": PATIENT, "draws": 300, "seed": 3, "plan": plan})
    assert started.status_code == 202 and started.json()["total"] == 2 + 1 + 2  # sampler rounds, no session, 2 intervals
    run_id = started.json()["id"]
    assert finish(url, run_id)["status"] == "done"
    run = httpx.get(f"{url}/api/runs/{run_id}").json()
    web = run["summary"]
    assert run["kind"] == "forecast" and web["kind"] == "forecast" and [r["interval"] for r in web["plan"]] == ["1 wk", "2 wk"]
    # the recorded input is a patient file (the form's plan written in) that reruns it through the CLI
    record = tmp_path / "patient.toml"
    record.write_text(run["input"])
    assert run["input"].startswith("# ketasim forecast patient.toml --draws 300 --seed 3")
    assert main(["forecast", str(record), "--json", "--draws", "300", "--seed", "3"]) == 0
    cli = json.loads(capsys.readouterr().out)
    close({k: v for k, v in web.items() if k not in ("kind", "source")}, {k: v for k, v in cli.items() if k != "source"})
    # tables as Parquet, JSON download, a self-contained report with the figure
    bands = httpx.get(f"{url}/api/runs/{run_id}/tables/forecast").json()
    assert bands["madrs_p50"] == pytest.approx([row["madrs_p50"] for row in web["forecast"]])
    assert httpx.get(f"{url}/api/runs/{run_id}/plan.parquet").content[:4] == b"PAR1"
    assert json.loads(httpx.get(f"{url}/api/runs/{run_id}/summary.json").text)["plan"] == web["plan"]
    report = httpx.get(f"{url}/api/runs/{run_id}/report.html").text
    assert "Maintenance plan" in report and "data:image/png;base64," in report and "<script" not in report
    assert "It informs; it does not prescribe." in report
    # the CLI reads it from the store
    assert main(["runs", "show", run_id, "--store", str(STORE[0])]) == 0
    shown = capsys.readouterr().out
    assert "kind: forecast" in shown and "recommended interval:" in shown and "relapse_risk" in shown
    # `ketasim forecast --store` records the same run
    assert main(["forecast", str(record), "--draws", "300", "--seed", "3", "--store", str(tmp_path / "cli-store")]) == 0
    cli_run = RunStore(tmp_path / "cli-store").list(1)[0]
    assert cli_run["kind"] == "forecast" and cli_run["status"] == "done"
    close(RunStore(tmp_path / "cli-store").summary(cli_run["id"])["plan"], web["plan"])


def test_forecast_with_a_csv_and_bad_patient_files(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    csv = ("ID,TIME,AMT,RATE,EVID,CMT,DV,DVID,MDV\n"
           "7,100,40,60,1,1,.,.,1\n"   # ketamine 40 mg over 40 min at 100 h (the first dose)
           "7,100,0,0,0,.,31,1,0\n"    # baseline MADRS
           "7,124,0,0,0,.,20,1,0\n")
    text = '[patient]\nweight_kg = 70\ndata = "../private/visits.csv"\nid = 7\n'
    started = httpx.post(url + "/api/forecast", json={"text": text, "data_csv": csv, "data_filename": "visits.csv",
                                                      "draws": 300})
    assert started.status_code == 202
    assert finish(url, started.json()["id"])["status"] == "done"
    run = httpx.get(f"{url}/api/runs/{started.json()['id']}").json()
    assert "save them as visits.csv" in run["input"] and "# 7,124,0,0,0,.,20,1,0" in run["input"]
    assert [o["value"] for o in run["summary"]["observations"]] == [31.0, 20.0]
    # the server reads no files: a `data` without its CSV is refused, naming the place
    refused = httpx.post(url + "/api/forecast", json={"text": text})
    assert refused.status_code == 400 and refused.json()["detail"].startswith("patient.toml: patient.data: ")
    # a bad CSV is reported under the name the file gives it, not a server path
    bad_csv = csv.replace("7,124,0,0,0", "7,90,0,0,0")
    detail = httpx.post(url + "/api/forecast", json={"text": text, "data_csv": bad_csv}).json()["detail"]
    assert detail.startswith("../private/visits.csv line 4, column TIME") and "/tmp" not in detail
    # a malformed patient file and too few draws: the CLI's messages
    monkeypatch.chdir(tmp_path)
    for name, bad in (("broken.toml", "[patient\n"), ("unknown-key.toml", PATIENT.replace("weight_kg", "wieght_kg"))):
        (tmp_path / name).write_text(bad)
        posted = httpx.post(url + "/api/forecast", json={"text": bad, "filename": name})
        assert posted.status_code == 400 and posted.json()["detail"] == cli_error(capsys, "forecast", name)
    (tmp_path / "patient.toml").write_text(PATIENT)
    few = httpx.post(url + "/api/forecast", json={"text": PATIENT, "draws": 10})
    assert few.status_code == 400 and few.json()["detail"] == cli_error(capsys, "forecast", "patient.toml", "--draws", "10")
    bad_plan = httpx.post(url + "/api/forecast", json={"text": PATIENT, "plan": {"acceptable_risk": 1.5}})
    assert bad_plan.status_code == 400 and "plan.acceptable_risk" in bad_plan.json()["detail"]
    assert httpx.get(url + "/api/options").status_code == 200
