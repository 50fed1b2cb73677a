"""Prediction intervals beside the tolerance score (trials.prediction_intervals)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from ketasim.apps.cli import main
from ketasim.trials.prediction_intervals import (
    between_trial_sd,
    family,
    format_prediction_intervals,
    prediction_intervals,
    published_size,
    published_variance,
)
from ketasim.trials.trial_spec import load_trial
from ketasim.trials.validate import TargetCheck, shipped_calibration_dir

N = 40  # published patients per arm of the synthetic targets
SIM_SE = 0.3  # MADRS points: the simulation's own standard error


def _synthetic(tau: float, files: int, per_file: int, seed: int, exact: bool = False) -> list[TargetCheck]:
    """change_mean targets whose published value = simulated + sampling noise (SD 10 / sqrt(N), plus the
    simulation's) + a between-trial deviation of SD `tau`; exact: the noise is +-1 SD exactly (no between-trial part)."""
    rng = np.random.default_rng(seed)
    within_sd = math.sqrt(10.0 ** 2 / N + SIM_SE ** 2)
    out = []
    for i in range(files * per_file):
        simulated = -15.0 + rng.normal(0.0, 3.0)
        error = within_sd * (1 if i % 2 else -1) if exact else rng.normal(0.0, within_sd) + rng.normal(0.0, tau)
        out.append(TargetCheck(f"trial-{i // per_file}.toml", f"arm {i % per_file}", "1 d", "change_mean",
                               simulated + error, simulated, 3.0, "synthetic",
                               simulated_ci=(simulated - 1.959964 * SIM_SE, simulated + 1.959964 * SIM_SE)))
    return out


def _size(check: TargetCheck) -> int:
    return N


def test_families_and_published_variances() -> None:
    assert family("change_mean") == "MADRS change" and family("change_sd") == "SD of change"
    assert {family(m) for m in ("response_rate", "relapse.rate", "ssi_remission_rate", "caps5_response_rate")} == {"rate"}
    assert family("item10_change_mean") == "item10_change_mean"
    rate = TargetCheck("f.toml", "a", "1 d", "response_rate", 0.2, 0.3, 0.1, "s")
    assert published_variance(rate, 100) == pytest.approx(0.2 * 0.8 / 100)
    sd = TargetCheck("f.toml", "a", "1 d", "change_sd", 12.0, 10.0, 3.0, "s")
    change = TargetCheck("f.toml", "a", "1 d", "change_mean", -18.0, -17.0, 3.0, "s")
    assert published_variance(sd, 17) == pytest.approx(144 / 32)
    assert published_variance(change, 17, [sd, change]) == pytest.approx(144 / 17)  # the file's own SD
    assert published_variance(change, 17) == pytest.approx(100 / 17)  # the default SD, 10 points
    diff = TargetCheck("f.toml", "a", "1 d", "change_mean", -5.0, -4.0, 4.0, "s", versus="b")
    assert published_variance(diff, (35, 33)) == pytest.approx(100 / 35 + 100 / 33)
    assert published_variance(diff, 35) is None and published_variance(change, None) is None


def test_every_shipped_target_states_its_published_n() -> None:
    """Every rate, change and SD target of the shipped set states its published n ([[published]] n): one count,
    or a pair [n_arm, n_versus] for a difference; check_targets carries it to the check."""
    cal = shipped_calibration_dir()
    for path in sorted(cal.glob("*.toml")):
        for t in load_trial(path).published:
            if family(t.metric) in ("MADRS change", "SD of change", "rate"):
                assert t.n is not None, (path.name, t.arms, t.metric, t.visit)
            if t.n is not None:
                assert isinstance(t.n, tuple) == bool(t.versus), (path.name, t.arms, t.metric)
                check = TargetCheck(path.name, t.arms[0], t.visit, t.metric, t.value, t.value, t.tolerance, t.source,
                                    published_n=t.n)
                assert published_size(check) == t.n


def test_tau_is_zero_for_pure_sampling_noise() -> None:
    exact = prediction_intervals(_synthetic(0.0, 10, 4, seed=1, exact=True), _size)
    (fam,) = exact.families
    assert fam.family == "MADRS change" and fam.tau == pytest.approx(0.0, abs=1e-6)
    noisy = prediction_intervals(_synthetic(0.0, 100, 4, seed=2), _size)
    within = math.sqrt(100 / N + SIM_SE ** 2)
    assert noisy.families[0].tau < 0.3 * within  # method-of-moments noise only (0 half the time)
    assert between_trial_sd([1.0, -1.0], [4.0, 4.0]) == 0.0  # truncated at 0, never imaginary


def test_tau_recovers_a_known_between_trial_sd() -> None:
    for seed in (3, 4):
        fam = prediction_intervals(_synthetic(3.0, 100, 4, seed=seed), _size).families[0]
        assert fam.tau == pytest.approx(3.0, abs=0.5)
        assert fam.files == 100 and len(fam.targets) == 400
        assert 0.92 <= fam.covered / len(fam.targets) <= 0.98  # near the nominal 95%
    low = prediction_intervals(_synthetic(0.5, 100, 4, seed=5), _size).families[0]
    assert low.tau < 1.3 and low.mean_width < fam.mean_width


def test_leave_one_file_out_differs_from_in_sample() -> None:
    """One file 4 points off (sampling SD 1.6) inflates tau in-sample enough to cover itself; without it (tau 0),
    its targets fall outside. The other files' residuals are +-1 point."""
    def check(file: str, arm: str, residual: float) -> TargetCheck:
        return TargetCheck(file, arm, "1 d", "change_mean", -15.0 + residual, -15.0, 3.0, "synthetic",
                           simulated_ci=(-15.0 - 1.959964 * SIM_SE, -15.0 + 1.959964 * SIM_SE))

    checks = [check(f"trial-{i}.toml", arm, r) for i in (1, 2, 3) for arm, r in (("a", 1.0), ("b", -1.0))]
    checks += [check("outlier.toml", arm, 4.0) for arm in ("a", "b")]
    result = prediction_intervals(checks, _size)
    (fam,) = result.families
    outlier = [t for t in result.targets if t.check.file == "outlier.toml"]
    assert all(t.loo_tau == 0.0 and t.tau is not None and t.tau > 1.0 for t in outlier)
    assert all(t.covered for t in outlier) and not any(t.loo_covered for t in outlier)
    others = [t for t in result.targets if t.check.file != "outlier.toml"]
    assert all(t.loo_tau is not None and t.tau is not None and t.loo_tau > t.tau for t in others)  # the outlier stays in
    assert (fam.covered, fam.loo_covered) == (8, 6) and fam.loo_mean_width != fam.mean_width
    text = format_prediction_intervals(result)
    assert "MADRS change" in text and "8/8 (100%)" in text and "6/8 (75%)" in text


def test_no_interval_without_enough_files_or_a_published_n() -> None:
    checks = _synthetic(1.0, 2, 3, seed=7)  # two files: below MIN_FILES
    result = prediction_intervals(checks, _size)
    assert result.families == [] and all(t.interval is None and t.note for t in result.targets)
    result = prediction_intervals(_synthetic(1.0, 4, 3, seed=8))  # checks without published_n: n unknown
    assert result.families == [] and all("unknown" in (t.note or "") for t in result.targets)
    rates = [TargetCheck(f"t{i}.toml", "a", "1 d", "response_rate", 0.02, 0.001, 0.1, "s", simulated_ci=(0.0, 0.003))
             for i in range(3)]
    (t, *_) = prediction_intervals(rates, lambda c: 50).targets
    assert t.interval is not None and t.interval[0] == 0.0  # a rate's interval stops at 0


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(argv))
    return code, out.getvalue()


def test_validate_json_has_prediction_intervals(tmp_path: Path) -> None:
    """Three small shipped files at 6 patients per arm: the change family has 3 files and gets its intervals."""
    for name in ("murrough-2013-ajp.toml", "correia-melo-2020.toml", "canuso-2018.toml"):
        shutil.copy(shipped_calibration_dir() / name, tmp_path / name)
    code, out = _run("validate", str(tmp_path), "--json", "--patients-per-arm", "6", "--workers", "1")
    assert code == 0
    data = json.loads(out)
    assert {"targets", "passed", "total", "indications", "differences"} < set(data)  # the old keys stay
    pi = data["prediction_intervals"]
    assert len(pi["targets"]) == data["total"] == 9
    (fam,) = pi["families"]
    assert fam["family"] == "MADRS change" and fam["files"] == 3 and fam["targets"] == 7 == pi["total"]
    for t in pi["targets"]:
        if t["family"] == "MADRS change":
            low, high = t["interval"]
            assert low < t["simulated"] < high and t["covered"] == (low <= t["published"] <= high)
            assert t["loo_interval"] is not None and t["published_n"] is not None
        else:  # two remission rates in one file
            assert t["interval"] is None and t["note"]
    canuso = [t for t in pi["targets"] if t["file"] == "canuso-2018.toml"]
    assert all(t["versus"] == "placebo" and t["published_n"] == [35, 33] for t in canuso)
    code, text = _run("validate", str(tmp_path), "--patients-per-arm", "6", "--workers", "1")
    assert "prediction intervals, 95%" in text and "MADRS change" in text


_OWN_TRIAL = """\
name = "my trial {i}"
seed = {i}
patients_per_arm = 6

[population]
kind = "trd"
baseline_madrs = [22, 60]

[[arms]]
name = "ketamine"
doses = [ {{ drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = "0 d" }} ]

[[arms]]
name = "saline"
doses = [ {{ drug = "saline", route = "iv", amount = "0 mg", infusion = "40 min", at = "0 d" }} ]

[endpoints]
visits = ["1 d"]
response = "50%"
remission = 10

[[published]]
arm = "ketamine"
visit = "1 d"
metric = "change_mean"
value = -15.0
n = {n}
tolerance = 4.0
source = "my own trial"

[[published]]
arm = "ketamine"
versus = "saline"
visit = "1 d"
metric = "change_mean"
value = -8.0
n = [{n}, 20]
tolerance = 4.0
source = "my own trial"

[[published]]
arm = "saline"
visit = "1 d"
metric = "change_mean"
value = -7.0
tolerance = 4.0
source = "my own trial, no n stated"
"""


def test_own_trial_files_with_n_get_intervals(tmp_path: Path) -> None:
    """A user's trial files (not shipped) that state n get intervals from it; a target without n gets none."""
    sizes = (30, 45, 60)
    for i, n in enumerate(sizes):
        (tmp_path / f"mine-{i}.toml").write_text(_OWN_TRIAL.format(i=i, n=n))
    code, out = _run("validate", str(tmp_path), "--json", "--workers", "1")
    assert code == 0
    pi = json.loads(out)["prediction_intervals"]
    (fam,) = pi["families"]
    assert fam["family"] == "MADRS change" and fam["files"] == 3 and fam["targets"] == 6 == pi["total"]
    for t in pi["targets"]:
        n = sizes[int(t["file"][len("mine-")])]
        if "versus" in t:
            assert t["published_n"] == [n, 20] and t["interval"] is not None
            assert t["within_sd"] > math.sqrt(100 / n + 100 / 20)  # SD 10 per arm at the file's sizes
        elif t["arm"] == "ketamine":
            assert t["published_n"] == n and t["interval"] is not None
            assert t["within_sd"] > math.sqrt(100 / n)
        else:
            assert t["published_n"] is None and t["interval"] is None and "unknown" in t["note"]
