"""The run store through the CLI: trial/simulate --store, runs list/show/compare/sql (real DuckDB and Parquet)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import ketasim as ks
from ketasim.apps.cli import main

TRIAL = Path(__file__).resolve().parents[1] / "src" / "ketasim" / "data" / "calibration" / "murrough-2013-ajp.toml"
METRICS = tuple(m.name for m in ks.VISIT_METRICS)  # every visit metric of the registry


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_trial_store_list_compare_sql(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    outputs = []
    for n in ("40", "60"):
        code, out, err = run_cli(capsys, "trial", str(TRIAL), "--json", "--patients-per-arm", n, "--store", str(store))
        assert code == 0, err
        assert "recorded run" in err
        outputs.append(json.loads(out))
    code, out, _ = run_cli(capsys, "runs", "list", "--store", str(store), "--json")
    runs = json.loads(out)
    assert code == 0 and len(runs) == 2
    assert all({"id", "name", "kind", "status", "seed", "engine", "version", "runtime_s"} <= set(r) for r in runs)
    assert {r["name"] for r in runs} == {outputs[0]["name"]} and {r["status"] for r in runs} == {"done"}
    newest, oldest = runs[0]["id"], runs[1]["id"]
    # newest first (times to the microsecond): the 60-patient run, then the 40-patient one

    # runs compare gives the differences of the two JSON outputs, arm by arm and visit by visit
    code, out, _ = run_cli(capsys, "runs", "compare", oldest, newest, "--store", str(store), "--json")
    rows = json.loads(out)
    def diff(x: float | None, y: float | None) -> float | None:  # none where the trial has no value (CAPS-5 here)
        return None if x is None or y is None else y - x

    expected = [(arm, visit, m, diff(v[m], outputs[1]["arms"][arm]["visits"][visit][m]))
                for arm, s in outputs[0]["arms"].items() for visit, v in s["visits"].items() for m in METRICS]
    assert [(r["arm"], r["visit"], r["metric"]) for r in rows] == [e[:3] for e in expected]
    assert [r["diff"] is None for r in rows] == [e[3] is None for e in expected]
    assert [r["diff"] for r in rows if r["diff"] is not None] == pytest.approx(
        [e[3] for e in expected if e[3] is not None], rel=1e-12, abs=1e-12)
    assert any(abs(r["diff"]) > 1e-6 for r in rows)  # different sizes: the numbers do differ
    code, text, _ = run_cli(capsys, "runs", "compare", oldest, newest, "--store", str(store))
    assert code == 0 and "ketamine" in text and "diff = b - a" in text

    # runs sql reads the runs table and the Parquet results through DuckDB
    query = "SELECT run_id, arm, visit, change_mean FROM visits ORDER BY run_id, arm, visit"
    code, out, _ = run_cli(capsys, "runs", "sql", query, "--store", str(store), "--json")
    visits = json.loads(out)
    assert code == 0 and len(visits) == 2 * 2 * 2  # runs x arms x visits
    first = next(v for v in visits if v["run_id"] == oldest and v["arm"] == "ketamine" and v["visit"] == "1 d")
    assert first["change_mean"] == pytest.approx(outputs[0]["arms"]["ketamine"]["visits"]["1 d"]["change_mean"])
    code, out, _ = run_cli(capsys, "runs", "sql", "SELECT count(*) AS n, min(seed) AS seed FROM runs", "--store", str(store),
                           "--json")
    assert json.loads(out) == [{"n": 2, "seed": 2013}]
    code, out, _ = run_cli(capsys, "runs", "sql", "SELECT arm, count(*) AS n FROM patients GROUP BY arm ORDER BY arm",
                           "--store", str(store), "--json")
    assert json.loads(out) == [{"arm": "ketamine", "n": 100}, {"arm": "midazolam", "n": 100}]

    # runs show: the record, the visit table and the input file
    code, out, _ = run_cli(capsys, "runs", "show", oldest, "--store", str(store))
    assert code == 0 and TRIAL.read_text().strip() in out and "midazolam" in out
    code, out, _ = run_cli(capsys, "runs", "show", oldest, "--store", str(store), "--json")
    shown = json.loads(out)
    assert shown["summary"]["arms"] == outputs[0]["arms"] and shown["input"] == TRIAL.read_text()


def test_sql_is_read_only_and_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s"
    code, _, err = run_cli(capsys, "runs", "sql", "DELETE FROM runs", "--store", str(store))
    assert code == 2 and err.startswith("ketasim: error: runs sql:") and err.count("\n") == 1
    code, _, err = run_cli(capsys, "runs", "show", "../../etc/passwd", "--store", str(store))
    assert code == 2 and "bad run id" in err
    code, _, err = run_cli(capsys, "runs", "show", "20260101-000000-abcdef", "--store", str(store))
    assert code == 2 and "no run '20260101-000000-abcdef'" in err
    code, _, err = run_cli(capsys, "report", "20260101-000000-abcdef", "--store", str(store), "-o", str(tmp_path / "r.html"))
    assert code == 2 and not (tmp_path / "r.html").exists()


def test_simulate_store_keeps_the_csv_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, csv = tmp_path / "store", tmp_path / "run.csv"
    code, _, err = run_cli(capsys, "simulate", "--regimen", "ketamine-iv-single", "--days", "3", "--set", "weight_kg=80",
                           "--csv", str(csv), "--store", str(store))
    assert code == 0, err
    code, out, _ = run_cli(capsys, "runs", "list", "--store", str(store), "--json")
    (run,) = json.loads(out)
    assert run["kind"] == "simulate" and run["name"] == "ketamine-iv-single"
    timecourse = pd.read_parquet(store / "results" / run["id"] / "timecourse.parquet").drop(columns="run_id")
    pd.testing.assert_frame_equal(timecourse, pd.read_csv(csv), check_exact=False, rtol=1e-12)
    code, out, _ = run_cli(capsys, "runs", "show", run["id"], "--store", str(store))
    assert "--set weight_kg=80.0" in out and "MADRS: baseline 33.0" in out


def test_default_store_is_documented_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KETASIM_STORE", str(tmp_path / "env-store"))
    code, out, _ = run_cli(capsys, "runs", "list", "--json")
    assert code == 0 and json.loads(out) == [] and not (tmp_path / "env-store").exists()  # reading creates nothing
    from ketasim.apps.store import RunStore

    assert RunStore().root == tmp_path / "env-store" and (tmp_path / "env-store" / "runs.duckdb").is_file()


def test_runs_left_running_by_a_stopped_server_become_failed(tmp_path: Path) -> None:
    from ketasim.apps.store import RunStore

    store = RunStore(tmp_path / "s")
    left = store.new_run("trial", "t", "name = 't'", seed=1, engine="fast", status="running")
    done = store.new_run("simulate", "s", "", engine="reference")
    store.set_status(done, "done", 0.1)
    assert store.mark_interrupted() == 1
    assert store.get(left)["status"] == "failed" and "stopped" in store.get(left)["message"]
    assert store.get(done)["status"] == "done"
