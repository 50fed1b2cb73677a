"""`ketasim trial` and `ketasim validate`: the trial-spec JSON contract, determinism, errors, output files."""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ketasim.apps.cli import main

N = 20
VISITS = ["2 h", "1 d"]
VISIT_KEYS = {"madrs_mean", "change_mean", "change_sd", "response_rate", "remission_rate"}
RELAPSE_KEYS = {"among", "count", "rate", "median_days"}
VITALS_KEYS = {"sbp_peak_change_mean", "dbp_peak_change_mean", "hr_peak_change_mean", "cadss_peak_mean"}
TARGET_KEYS = {"file", "arm", "visit", "metric", "published", "simulated", "simulated_ci", "tolerance", "pass", "source",
               "indication"}

KETAMINE = '{ drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = "0 d" }'
SALINE = '{ drug = "saline", route = "iv", amount = "0 mg", infusion = "40 min", at = "0 d" }'

TRIAL = f"""
name = "ketamine vs saline, short"
seed = 11
patients_per_arm = 2000

[population]
kind = "trd"
baseline_madrs = [22, 60]

[[arms]]
name = "ketamine"
doses = [ {KETAMINE} ]

[[arms]]
name = "saline"
doses = [ {SALINE} ]

[endpoints]
visits = {json.dumps(VISITS)}
response = "50%"
remission = 10
vitals = true

[endpoints.relapse]
among = "responders"
at = "2 h"
madrs_at_least = 22
until = "5 d"
"""

PUBLISHED = """
[[published]]
arm = "ketamine"
visit = "1 d"
metric = "change_mean"
value = 25.0
tolerance = 0.5
source = "made up: far from anything the model gives, so it is missed"

[[published]]
arm = ["ketamine", "saline"]
visit = "2 h"
metric = "response_rate"
value = 0.5
tolerance = 1.0
source = "made up: any rate passes"

[[published]]
arm = "ketamine"
metric = "vitals.sbp_peak_change_mean"
value = 10.0
tolerance = 1000.0
source = "made up: any value passes"
"""


def _write(folder: Path, body: str = TRIAL, name: str = "trial.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(body)
    return path


def _run(*argv: str) -> tuple[int, str, str]:
    """main(argv) with stdout and stderr captured: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trial_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory.mktemp("trial"))


@pytest.fixture(scope="module")
def trial_json(trial_file: Path) -> str:
    """stdout of `ketasim trial FILE --json --patients-per-arm N`."""
    code, out, err = _run("trial", str(trial_file), "--json", "--patients-per-arm", str(N))
    assert code == 0, err
    return out


def _finite_or_none(value: object) -> bool:
    return value is None or (isinstance(value, int | float) and math.isfinite(value))


def test_trial_json_contract(trial_json: str) -> None:
    assert "NaN" not in trial_json and "Infinity" not in trial_json
    data = json.loads(trial_json)  # the whole of stdout is one JSON object
    assert data["name"] == "ketamine vs saline, short" and data["seed"] == 11
    assert list(data["arms"]) == ["ketamine", "saline"]
    for arm in data["arms"].values():
        assert arm["n"] == N
        assert 22.0 <= arm["baseline_madrs_mean"] <= 60.0
        assert list(arm["visits"]) == VISITS  # keys as written in the file
        for visit in arm["visits"].values():
            assert VISIT_KEYS <= set(visit)
            assert all(_finite_or_none(visit[k]) for k in VISIT_KEYS)
            assert 0.0 <= visit["response_rate"] <= 1.0 and 0.0 <= visit["remission_rate"] <= 1.0
            assert visit["remission_rate"] <= visit["response_rate"]  # baseline >= 22: remission implies response
            assert visit["change_mean"] == pytest.approx(visit["madrs_mean"] - arm["baseline_madrs_mean"])
        relapse = arm["relapse"]
        assert RELAPSE_KEYS <= set(relapse) and relapse["among"] == "responders"
        assert 0 <= relapse["count"] <= N
        assert relapse["rate"] is None or 0.0 <= relapse["rate"] <= 1.0
        assert relapse["median_days"] is None or relapse["median_days"] > 0.0
        assert VITALS_KEYS <= set(arm["vitals"])
        assert all(_finite_or_none(arm["vitals"][k]) for k in VITALS_KEYS)
    ketamine, saline = data["arms"]["ketamine"], data["arms"]["saline"]
    assert ketamine["visits"]["2 h"]["change_mean"] < saline["visits"]["2 h"]["change_mean"]
    assert ketamine["vitals"]["cadss_peak_mean"] > saline["vitals"]["cadss_peak_mean"]


def test_trial_optional_sections_absent(tmp_path: Path) -> None:
    body = TRIAL.split("[endpoints.relapse]")[0].replace("vitals = true\n", "")
    code, out, err = _run("trial", str(_write(tmp_path, body)), "--json", "--patients-per-arm", "4")
    assert code == 0, err
    for arm in json.loads(out)["arms"].values():
        assert "relapse" not in arm and "vitals" not in arm


def test_trial_is_deterministic(trial_file: Path, trial_json: str) -> None:
    code, again, _ = _run("trial", str(trial_file), "--json", "--patients-per-arm", str(N))
    assert code == 0 and again == trial_json
    code, chunked, _ = _run("trial", str(trial_file), "--json", "--patients-per-arm", str(N), "--chunk-size", "7")
    assert code == 0 and chunked == trial_json


def test_trial_text_report(trial_file: Path) -> None:
    code, out, err = _run("trial", str(trial_file), "--patients-per-arm", "6")
    assert code == 0, err
    assert "ketamine vs saline, short" in out and "not a medical device" in out.splitlines()[-1]
    rows = [line.split() for line in out.splitlines()]
    assert [r[:3] for r in rows if r[:1] in (["ketamine"], ["saline"]) and r[1] in ("2", "1")] == [
        ["ketamine", "2", "h"], ["ketamine", "1", "d"], ["saline", "2", "h"], ["saline", "1", "d"]]
    assert "relapse" in out and "SBP (mmHg)" in out and "CADSS" in out
    assert "[95% CI]" in out
    assert "ketasim: " in err  # progress and timing on stderr


ERRORS = [
    ("unknown drug", lambda s: s.replace('drug = "ketamine"', 'drug = "ketamin"'), "unknown drug"),
    ("unknown route", lambda s: s.replace('route = "iv", amount = "0.5', 'route = "rectal", amount = "0.5'),
     "route"),
    ("amount in minutes", lambda s: s.replace('"0.5 mg/kg"', '"5 min"'), "amount"),
    ("negative amount", lambda s: s.replace('"0.5 mg/kg"', '"-0.5 mg/kg"'), "negative"),
    ("from after until", lambda s: s.replace('at = "0 d" }', 'every = "1 d", from = "5 d", until = "2 d" }', 1),
     "until"),
    ("empty arm", lambda s: s.replace(f"doses = [ {SALINE} ]", "doses = []"), "arms[1]"),
    ("missing endpoints", lambda s: s.split("[endpoints]")[0], "endpoints"),
]


@pytest.mark.parametrize(("case", "edit", "words"), ERRORS, ids=[e[0] for e in ERRORS])
def test_trial_errors(tmp_path: Path, case: str, edit: Callable[[str], str], words: str) -> None:
    path = _write(tmp_path, edit(TRIAL), name="bad-trial.toml")
    assert edit(TRIAL) != TRIAL, case
    code, out, err = _run("trial", str(path), "--json", "--patients-per-arm", "4")
    assert code == 2
    assert out == ""  # no partial JSON
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ketasim: error: "), err
    assert "bad-trial.toml" in lines[0] and words in lines[0]


@pytest.mark.parametrize("argv", [["--patients-per-arm", "0"], ["--chunk-size", "-3"], ["--engine", "euler"]])
def test_trial_bad_options(trial_file: Path, argv: list[str]) -> None:
    code, out, err = _run("trial", str(trial_file), "--json", *argv)
    assert code == 2 and out == "" and err.startswith("ketasim: error: ")


def test_trial_missing_file(tmp_path: Path) -> None:
    code, out, err = _run("trial", str(tmp_path / "nope.toml"), "--json")
    assert code == 2 and out == "" and "nope.toml" in err


def test_trial_out_files(trial_file: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "results" / "run1"
    code, out, err = _run("trial", str(trial_file), "--json", "--patients-per-arm", "8", "--out", str(out_dir))
    assert code == 0, err
    assert json.loads((out_dir / "summary.json").read_text()) == json.loads(out)
    table = pd.read_parquet(out_dir / "patients.parquet")
    assert len(table) == 2 * 8
    fixed = ["arm", "patient", "candidate_index", "status", "baseline_madrs", "madrs_2_h", "madrs_1_d",
             "baseline_madrs_item10", "madrs_item10_2_h", "madrs_item10_1_d", "baseline_ssi", "ssi_2_h", "ssi_1_d",
             "baseline_caps5", "caps5_2_h", "caps5_1_d"]
    assert list(table.columns[: len(fixed)]) == fixed
    item10 = table[["baseline_madrs_item10", "madrs_item10_2_h", "madrs_item10_1_d"]].to_numpy()
    assert np.array_equal(item10, np.round(item10)) and ((item10 >= 0) & (item10 <= 6)).all()
    params = [c for c in table.columns if c.startswith("param_")]
    assert {"param_weight_kg", "param_age_y"} <= set(params) and len(table.columns) == len(fixed) + len(params)
    assert table["arm"].tolist() == ["ketamine"] * 8 + ["saline"] * 8
    assert table["patient"].tolist() == list(range(8)) * 2
    assert table["baseline_madrs"].between(22, 60).all()
    summary = json.loads(out)["arms"]["ketamine"]
    ketamine = table[table["arm"] == "ketamine"]
    assert ketamine["baseline_madrs"].mean() == pytest.approx(summary["baseline_madrs_mean"])
    assert ketamine["madrs_1_d"].mean() == pytest.approx(summary["visits"]["1 d"]["madrs_mean"])
    for name in ("madrs.png", "response.png"):
        assert (out_dir / name).stat().st_size > 10_000


def test_trial_out_does_not_change_numbers(tmp_path: Path) -> None:
    body = TRIAL.split("[endpoints.relapse]")[0].replace(json.dumps(VISITS), '["2 h", "3 d"]')
    path = _write(tmp_path, body)
    argv = ["trial", str(path), "--json", "--patients-per-arm", "6"]
    plain, with_out = _run(*argv), _run(*argv, "--out", str(tmp_path / "out"))
    assert plain[0] == with_out[0] == 0
    assert plain[1] == with_out[1]


def test_report_figures_have_units_and_footer(trial_file: Path, tmp_path: Path) -> None:
    from ketasim.apps.report import plot_madrs, plot_response
    from ketasim.disclaimer import FIGURE_FOOTER as DISCLAIMER
    from ketasim.trials.trial import run_trial
    from ketasim.trials.trial_spec import load_trial

    result = run_trial(load_trial(trial_file), patients_per_arm=5, with_course=True, show_progress=False)
    for plot in (plot_madrs, plot_response):
        fig = plot(result, tmp_path / f"{plot.__name__}.png")
        (ax,) = fig.axes
        assert "(d)" in ax.get_xlabel() and "(" in ax.get_ylabel()
        assert DISCLAIMER in [t.get_text() for t in fig.texts]
        assert len(ax.get_lines()) >= 2


@pytest.fixture
def fake_distributed(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """A stand-in ketasim.trials.distributed whose make_mapper records the address and maps in-process."""
    calls: list[str | None] = []

    @contextlib.contextmanager
    def make_mapper(address: str | None) -> Iterator[Callable]:
        calls.append(address)
        yield lambda function, items: [function(item) for item in items]

    module = types.ModuleType("ketasim.trials.distributed")
    module.make_mapper = make_mapper  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ketasim.trials.distributed", module)
    return calls


def test_trial_scheduler_option_and_env(trial_file: Path, trial_json: str, fake_distributed: list[str | None],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    argv = ["trial", str(trial_file), "--json", "--patients-per-arm", str(N)]
    code, out, err = _run(*argv, "--scheduler", "tcp://scheduler:8786")
    assert code == 0, err
    assert out == trial_json
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://from-env:8786")
    code, _, _ = _run(*argv[:-1], "3")
    assert code == 0
    assert fake_distributed == ["tcp://scheduler:8786", "tcp://from-env:8786"]


def test_trial_scheduler_without_dask(trial_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.setitem(sys.modules, "ketasim.trials.distributed", None)  # import fails, as without dask
    code, out, err = _run("trial", str(trial_file), "--json", "--scheduler", "tcp://nowhere:8786")
    assert code == 2 and out == "" and "--scheduler" in err
    code, out, _ = _run("trial", str(trial_file), "--json", "--patients-per-arm", "2")  # in-process needs no dask
    assert code == 0 and json.loads(out)["arms"]["saline"]["n"] == 2


def test_trial_on_a_dask_cluster(trial_file: Path, trial_json: str, monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    with cluster:
        code, out, err = _run("trial", str(trial_file), "--json", "--patients-per-arm", str(N),
                              "--scheduler", cluster.scheduler_address)
    assert code == 0, err
    assert out == trial_json


def test_validate_json(tmp_path: Path) -> None:
    folder = tmp_path / "calibration"
    _write(folder, TRIAL + PUBLISHED)
    code, out, err = _run("validate", str(folder), "--json", "--patients-per-arm", "10")
    assert code == 0, err  # exit 0 even though a target is missed
    data = json.loads(out)
    assert set(data) == {"targets", "passed", "total", "indications", "differences", "prediction_intervals"}
    assert data["total"] == 3 and data["passed"] == sum(t["pass"] for t in data["targets"]) == 2
    missed, pooled, vitals = data["targets"]
    for target in data["targets"]:
        assert set(target) == TARGET_KEYS and target["file"] == "trial.toml"
    assert missed["pass"] is False and missed["visit"] == "1 d" and missed["published"] == 25.0
    assert pooled["arm"] == ["ketamine", "saline"] and 0.0 <= pooled["simulated"] <= 1.0
    assert vitals["visit"] is None and vitals["metric"] == "vitals.sbp_peak_change_mean"
    assert "elapsed" in err


def test_validate_table_and_errors(tmp_path: Path) -> None:
    path = _write(tmp_path, TRIAL + PUBLISHED)
    code, out, _ = _run("validate", str(path), "--patients-per-arm", "4")
    assert code == 0
    assert "MISS" in out and "pass" in out and out.strip().splitlines()[-1] == "2 of 3 targets within tolerance"
    code, out, err = _run("validate", str(tmp_path / "missing"), "--json")
    assert code == 2 and out == "" and err.startswith("ketasim: error: ") and "missing" in err
    assert len(err.strip().splitlines()) == 1
    bad = _write(tmp_path / "bad", TRIAL.replace('"ketamine", route', '"ketamin", route') + PUBLISHED)
    code, out, err = _run("validate", str(bad.parent), "--json")
    assert code == 2 and out == "" and "trial.toml" in err


def test_validate_with_a_parameter_file(tmp_path: Path) -> None:
    """`validate --parameters FILE` scores another fit without installing it: the shipped values written out give
    the same numbers as no file, a changed value changes them, and a bad file is one clear error."""
    from ketasim.trials.calibrate import shipped_values
    from ketasim.trials.population import POPULATION_PARAMETERS

    path = _write(tmp_path, TRIAL + PUBLISHED)
    values = shipped_values()

    def parameter_file(name: str, **changed: float) -> Path:
        model = {k: changed.get(k, v) for k, v in values.items() if k not in POPULATION_PARAMETERS}
        population = {k: changed.get(k, v) for k, v in values.items() if k in POPULATION_PARAMETERS}
        lines = ['source = "a test fit"', "[model]", *(f"{k} = {v!r}" for k, v in model.items()),
                 "[population]", *(f"{k} = {v!r}" for k, v in population.items())]
        out = tmp_path / name
        out.write_text("\n".join(lines) + "\n")
        return out

    def simulated(*extra: str) -> list[float]:
        code, out, err = _run("validate", str(path), "--json", "--patients-per-arm", "8", *extra)
        assert code == 0, err
        return [t["simulated"] for t in json.loads(out)["targets"]]

    shipped = simulated()
    assert simulated("--parameters", str(parameter_file("same.toml"))) == shipped
    weaker = simulated("--parameters", str(parameter_file("weaker.toml", drug_relief_max=0.2)))
    assert weaker[0] > shipped[0] + 1.0  # ketamine's day-1 MADRS change (negative) is smaller with less relief
    _, _, err = _run("validate", str(path), "--patients-per-arm", "8", "--parameters", str(parameter_file("s.toml")))
    assert "with the parameters of" in err and "mechanism checks skipped" in err

    bad_files = {
        "unknown.toml": ("[model]\nplasticity_mystery = 1.0\n", "plasticity_mystery"),
        "range.toml": ("[model]\ndrug_relief_max = 1.5\n", "drug_relief_max"),
        "section.toml": ("[modle]\ndrug_relief_max = 0.5\n", "'modle'"),
        "text.toml": ('[population]\nplacebo_sd_log = "wide"\n', "placebo_sd_log"),
        "broken.toml": ("[model\n", "not valid TOML"),
        "empty.toml": ('source = "nothing"\n', "no parameter"),
    }
    for name, (text, said) in bad_files.items():
        (tmp_path / name).write_text(text)
        code, out, err = _run("validate", str(path), "--json", "--parameters", str(tmp_path / name))
        assert code == 2 and out == "" and said in err and name in err, (name, err)
        assert len(err.strip().splitlines()) == 1
    code, _, err = _run("validate", str(path), "--parameters", str(tmp_path / "absent.toml"))
    assert code == 2 and "no such parameter file" in err
    code, _, err = _run("validate", str(path), "--cross-validate", "--parameters", str(parameter_file("cv.toml")))
    assert code == 2 and "not with --cross-validate" in err
    code, _, err = _run("validate", str(path), "--mechanism", str(tmp_path), "--parameters", str(parameter_file("m.toml")))
    assert code == 2 and "not with --mechanism" in err


def test_help_lists_trial_and_validate() -> None:
    code, out, _ = _run("--help")
    assert code == 0 and "trial" in out and "validate" in out


@pytest.mark.slow
def test_validate_shipped_calibration_set() -> None:
    # two worker processes (CI has 2 cores): the numbers do not depend on it, every file is seeded by itself
    code, out, err = _run("validate", "--json", "--patients-per-arm", "5", "--workers", "2")
    assert code == 0, err  # whatever the score
    data = json.loads(out)
    assert data["total"] == len(data["targets"]) > 0
    assert all(set(t) - {"versus"} == TARGET_KEYS for t in data["targets"])  # "versus" only on difference targets
