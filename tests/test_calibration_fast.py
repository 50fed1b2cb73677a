"""The calibration's prepared trial set (trials.calibration_set) and the batched fast engine (engines.batch).

The exact path must give the very targets of run_trial (same method, bit-identical solves); the fit
path (looser tolerance, no daily course) must stay far inside the sampling intervals; a prepared set
must give the same targets when evaluated again, and take up new parameters.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from ketasim.engines.batch import solve_fast_batch
from ketasim.engines.fast import solve_fast
from ketasim.trials.calibrate import _split, calibrate, shipped_values
from ketasim.trials.calibration_set import FIT_SETTINGS, CalibrationSet
from ketasim.trials.trial import ArmJob, _prepare, run_trial, select_patients, trial_model
from ketasim.trials.trial_spec import load_trial
from ketasim.trials.validate import check_targets, shipped_calibration_dir

#: a TRD population with a background run-in (singh), one without (murrough), and vitals
FILES = ("murrough-2013-ajp.toml", "singh-2016.toml", "vitals-and-dissociation.toml")
N = 12


def _specs(names: tuple[str, ...] = FILES) -> list[tuple[str, object]]:
    return [(name, load_trial(shipped_calibration_dir() / name)) for name in names]


def _current(specs: list, model: dict[str, float], pop: dict[str, float], n: int = N) -> list:
    out = []
    for label, spec in specs:
        result = run_trial(spec, patients_per_arm=n, params=model, pop=pop, show_progress=False, keep_patients=False)
        out += check_targets(spec, result, label)
    return out


def test_batched_solve_is_bit_identical_to_the_fast_engine() -> None:
    problems = []
    for _, spec in _specs(("murrough-2013-ajp.toml", "singh-2016.toml")):
        for arm in range(len(spec.arms)):
            job = ArmJob.for_arm(spec, arm, keep_patients=False)
            accepted, _ = select_patients(job, 6, 256)
            enrolled = _prepare(job, accepted)
            problems.append((trial_model(job, enrolled), job.times.all_h, enrolled.y0))
    batched = solve_fast_batch(*zip(*problems, strict=True))
    for (model, times, y0), got in zip(problems, batched, strict=True):
        want = solve_fast(model, times, y0)
        np.testing.assert_array_equal(got.states, want.states)
        np.testing.assert_array_equal(got.status, want.status)
        np.testing.assert_array_equal(got.steps, want.steps)


def test_exact_path_equals_run_trial_and_repeats_itself() -> None:
    specs = _specs()
    model, pop = _split(shipped_values())
    prepared = CalibrationSet(specs, N)
    first = prepared.checks(model, pop)
    assert first == _current(specs, model, pop)  # every value and sampling interval, exactly
    assert prepared.checks(model, pop) == first  # nothing left over from the first evaluation
    assert prepared.evaluations == 2
    only = prepared.checks(model, pop, ("singh-2016.toml",))
    assert only == [c for c in first if c.file == "singh-2016.toml"]


def test_new_parameters_take_effect_and_match_run_trial() -> None:
    specs = _specs(FILES[:2])
    values = shipped_values()
    model, pop = _split(values)
    prepared = CalibrationSet(specs, N)
    before = prepared.checks(model, pop)
    # one mechanism parameter (drives the monoaminergic path and the screening courses) and one
    # population parameter (the patients drawn)
    changed = values | {"monoaminergic_synaptogenesis_rate_1_h": values["monoaminergic_synaptogenesis_rate_1_h"] * 3,
                        "placebo_sd_log": values["placebo_sd_log"] * 0.5}
    model2, pop2 = _split(changed)
    after = prepared.checks(model2, pop2)
    assert after != before
    assert after == _current(specs, model2, pop2)
    assert prepared.checks(model, pop) == before


def test_fit_path_stays_inside_the_sampling_intervals() -> None:
    specs = _specs()
    model, pop = _split(shipped_values())
    current = _current(specs, model, pop, 20)
    with CalibrationSet(specs, 20, FIT_SETTINGS, daily=False, workers=2) as fit:
        got = fit.checks(model, pop)
    assert len(got) == len(current)
    for c, f in zip(current, got, strict=True):
        assert (c.file, c.arm, c.visit, c.metric) == (f.file, f.arm, f.visit, f.metric)
        if c.simulated_ci is not None:
            half = (c.simulated_ci[1] - c.simulated_ci[0]) / 2
            assert abs(f.simulated - c.simulated) <= 0.1 * half, c


def test_calibrate_fast_path_reports_the_same_checks_as_the_old_one(tmp_path: Path) -> None:
    folder = tmp_path / "cal"
    folder.mkdir()
    for name in FILES[:2]:
        (folder / name).write_text((shipped_calibration_dir() / name).read_text())
    fast = calibrate([folder], patients_per_arm=8, max_evaluations=4, log=False)
    slow = calibrate([folder], patients_per_arm=8, max_evaluations=4, log=False, fast=False)
    assert fast.checks_before == slow.checks_before
    assert fast.checks_after == slow.checks_after
    assert fast.after == slow.after


def test_calibration_benchmark_runs_tiny(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "calibration_eval.py"
    spec = importlib.util.spec_from_file_location("calibration_eval_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    module.main(["--tiny", "--workers", "1"])
    out = capsys.readouterr().out
    assert "every target identical to the current path: yes" in out
    assert "(within every interval)" in out
    assert out.strip().splitlines()[-1].startswith("speedup ") and out.strip().endswith("x")
