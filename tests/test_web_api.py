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

EXAMPLE = (Path(__file__).resolve().parents[1] / "src" / "ketasim" / "apps" / "web" / "static" / "example-trial.toml").read_text()
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
    assert httpx.post(url + "/api/forecast").status_code == 501


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
        assert row["diff"] == pytest.approx(b["arms"][row["arm"]]["visits"][row["visit"]][row["metric"]]
                                            - a["arms"][row["arm"]]["visits"][row["visit"]][row["metric"]])
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
    assert {row["diff"] for row in json.loads(capsys.readouterr().out)} == {0.0}
    # the server still writes to it afterwards
    assert httpx.post(url + "/api/simulate", json={"regimen": "ketamine-iv-single", "days": 1}, timeout=60).status_code == 200
    assert len(httpx.get(url + "/api/runs").json()) == len(web) + 1
