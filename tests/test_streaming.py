"""patients.parquet is streamed chunk by chunk (one row group per chunk) and equals the file written at the end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from ketasim.apps.cli import main
from ketasim.apps.report import PatientsWriter, patients_frame
from ketasim.trials.trial import run_trial
from ketasim.trials.trial_spec import TrialSpec, load_trial

TRIAL = """\
name = "streaming: ketamine vs saline in MDD"
seed = 3
patients_per_arm = 7

[population]
kind = "mdd"
baseline_madrs = [20, 60]

[[arms]]
name = "ketamine"
doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = "0 d" } ]

[[arms]]
name = "saline"
doses = [ { drug = "saline", route = "iv", amount = "0 mg", infusion = "40 min", at = "0 d" } ]

[endpoints]
visits = ["4 h", "1 d", "3 d"]
response = "50%"
remission = 12
"""
N, CHUNK = 7, 3


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> TrialSpec:
    path = tmp_path_factory.mktemp("streaming") / "trial.toml"
    path.write_text(TRIAL)
    return load_trial(path)


def test_streamed_file_equals_the_file_written_at_the_end(spec: TrialSpec, tmp_path: Path) -> None:
    kept = run_trial(spec, chunk_size=CHUNK, show_progress=False)
    at_end = tmp_path / "at_end.parquet"
    patients_frame(kept).to_parquet(at_end, index=False)  # how patients.parquet was written before streaming

    streamed = tmp_path / "patients.parquet"
    with PatientsWriter(streamed, spec) as writer:
        result = run_trial(spec, chunk_size=CHUNK, show_progress=False, on_chunk=writer.write_chunk)
    assert writer.rows == 2 * N
    assert not streamed.with_name("patients.parquet.partial").exists()

    expected, got = pd.read_parquet(at_end), pd.read_parquet(streamed)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert pq.read_schema(streamed).equals(pq.read_schema(at_end))
    # one row group per chunk: ceil(7 / 3) per arm
    assert pq.ParquetFile(streamed).num_row_groups == 2 * math.ceil(N / CHUNK) > 1
    # the same trial, but the parameters went to the file only
    assert json.dumps(result.to_json(), sort_keys=True) == json.dumps(kept.to_json(), sort_keys=True)
    assert all(arm.patients == {} for arm in result.arms.values())
    assert all(arm.patients for arm in kept.arms.values())


def test_a_failed_run_leaves_no_patients_file(spec: TrialSpec, tmp_path: Path) -> None:
    path = tmp_path / "patients.parquet"
    calls = []

    def write_then_fail(*args: object) -> None:
        writer.write_chunk(*args)  # type: ignore[arg-type]
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError, match="worker lost"), PatientsWriter(path, spec) as writer:
        run_trial(spec, chunk_size=CHUNK, show_progress=False, on_chunk=write_then_fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_cli_out_streams_one_row_group_per_chunk(spec: TrialSpec, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["trial", str(spec.path), "--json", "--chunk-size", str(CHUNK), "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    path = out / "patients.parquet"
    assert pq.ParquetFile(path).num_row_groups == 2 * math.ceil(N / CHUNK)
    kept = run_trial(spec, chunk_size=CHUNK, show_progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(path), patients_frame(kept), check_exact=True)
    assert json.loads(text) == json.loads(json.dumps(kept.to_json()))
    assert sorted(p.name for p in out.iterdir()) == ["madrs.png", "patients.parquet", "response.png", "summary.json"]
