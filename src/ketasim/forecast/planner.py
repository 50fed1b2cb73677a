"""Forecasts from the posterior: MADRS bands without further doses and under each maintenance interval,
relapse probabilities, the plan table and the next session's blood pressure.

Definitions (times in h from the first dose; T_obs the last observation, T_end = T_obs + horizon):

- Bands: quantiles of the score a rater would record (model MADRS + visit noise, clipped to
  0-60) over resampled posterior draws, daily from T_obs to T_end.
- Relapse: the model's MADRS (without rater noise) at or above `relapse_madrs` at a daily
  assessment after T_obs. Without further sessions: P(relapse by week w) and the median time to
  relapse (None when under half relapse within the horizon).
- Plan with interval I: maintenance sessions at L + k I (k >= 1; L the last dose of the file)
  that fall after T_obs and before T_end. Its relapse risk is the largest, over the stretches between
  T_obs, the sessions and T_end, of P(relapse in that stretch, before the next session); a
  session's own day counts before it (output at a dose time is the pre-dose value). The
  recommended interval is the longest whose risk is at most `acceptable_risk`.
- Next session's blood pressure: the model's peak SBP over the 4 h from the first maintenance
  session's start (no reading noise); its mean and P(peak > 180 mmHg).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from ketasim.model.regimen import Dose, Regimen

from .posterior import Posterior, full_regimen, infer, noise_sd
from .records import PatientRecord, Plan, interval_label
from .result import QUANTILES, Forecast
from .simulator import SimState, noise, simulate_draws, take_state

#: SBP above this during a session is a common stop rule (mmHg)
SBP_STOP_MMHG = 180.0
_VITALS_WINDOW_H = 4.0
_VITALS_STEP_H = 5.0 / 60.0

Progress = Callable[[str], None]
_PLAN_COLUMNS = ("interval", "interval_h", "sessions", "relapse_risk", "risk_before_each_session", "next_session_h",
                 "sbp_peak_mean_mmhg", "p_sbp_over_180")


def _bands(scores: np.ndarray) -> dict[str, np.ndarray]:
    """Quantile columns madrs_pNN of scores (T, K) (a draw whose solve failed, NaN, is left out)."""
    return {f"madrs_p{round(q * 100):02d}": np.nanquantile(scores, q, axis=1) for q in QUANTILES}


def _sessions(record: PatientRecord, plan: Plan, interval_h: float) -> list[float]:
    last = record.doses.events(1e9)[-1].time_h
    t_obs, t_end = record.last_observation_h, record.last_observation_h + plan.horizon_h
    first = math.floor((t_obs - last) / interval_h + 1e-9) + 1
    times = []
    k = max(first, 1)
    while last + k * interval_h < t_end - 1e-9:
        times.append(last + k * interval_h)
        k += 1
    return times


def _with_sessions(base: Regimen, plan: Plan, sessions: list[float]) -> Regimen:
    if not sessions or plan.maintenance is None:
        return base
    m = plan.maintenance
    return base + Regimen.of(Dose(m.drug, m.route, m.amount, tuple(sessions), infusion_h=m.infusion_h))


def _relapsed(true_madrs: np.ndarray, threshold: float) -> np.ndarray:
    return true_madrs >= threshold - 1e-9


def _no_session_course(regimen: Regimen, traits: dict[str, np.ndarray], start: SimState, days: np.ndarray,
                       cuts: list[float], t_end: float) -> tuple[np.ndarray, dict[float, SimState]]:
    """Model MADRS (D, U) at `days` without further sessions, and the states at the times `cuts`.

    Solved piece by piece between the cuts (a continuation equals one run), so that each plan can
    start from its first session instead of re-solving the common stretch before it.
    """
    madrs = np.full((days.size, traits["weight_kg"].size), np.nan)
    states: dict[float, SimState] = {}
    state = start
    bounds = [start.time_h, *sorted(c for c in set(cuts) if start.time_h < c < t_end), t_end]
    for lo, hi in itertools.pairwise(bounds):
        inside = (days >= lo - 1e-9) & (days <= hi + 1e-9)
        times = np.unique(np.round(np.concatenate([days[inside], [hi]]), 9))
        out, state = simulate_draws(regimen, traits, times, start=state, end_h=hi)
        madrs[inside] = out["madrs"][np.searchsorted(times, np.round(days[inside], 9))]
        states[hi] = state
    return madrs, states


def run_forecast(record: PatientRecord, plan: Plan, *, draws: int = 4000, seed: int = 0, forecast_draws: int = 1000,
                 progress: Progress | None = None) -> Forecast:
    """Posterior, forecasts, relapse and the plan table for one patient (see the module docstring)."""
    posterior = infer(record, draws=draws, seed=seed, progress=progress)
    idx = posterior.resample(forecast_draws, seed)
    unique, inverse = np.unique(idx, return_inverse=True)
    traits = {k: v[unique] for k, v in posterior.traits.items()}
    start = take_state(posterior.state, unique)
    t_obs = record.last_observation_h
    days = t_obs + 24.0 * np.arange(0, math.floor(plan.horizon_h / 24.0 + 1e-9) + 1)
    t_end = t_obs + plan.horizon_h
    base = full_regimen(record)
    noisy = noise(seed, "forecast", np.arange(idx.size), days, noise_sd("madrs"))
    sessions = {interval: _sessions(record, plan, interval) for interval in plan.intervals_h}
    scenarios: list[float | None] = [None, *plan.intervals_h]
    results: dict[float | None, dict] = {}
    course: np.ndarray | None = None
    states: dict[float, SimState] = {}
    for j, interval in enumerate(scenarios):
        if progress is not None:
            name = "no further sessions" if interval is None else f"every {interval_label(interval)}"
            progress(f"forecast {j + 1}/{len(scenarios)}: {name}, {unique.size} draws")
        entry: dict = {"sessions": [] if interval is None else sessions[interval]}
        if interval is None:
            course, states = _no_session_course(base, traits, start, days, [s[0] for s in sessions.values() if s], t_end)
            true_u = course
        elif not entry["sessions"]:
            true_u = course
        else:
            first = entry["sessions"][0]
            vitals = first + np.arange(0.0, _VITALS_WINDOW_H + 1e-9, _VITALS_STEP_H)
            vitals = vitals[vitals <= t_end + 1e-9]
            later = days >= first - 1e-9
            grid = np.unique(np.round(np.concatenate([days[later], vitals, [t_end]]), 9))
            out, _ = simulate_draws(_with_sessions(base, plan, entry["sessions"]), traits, grid, start=states[first])
            true_u = course.copy()
            true_u[later] = out["madrs"][np.searchsorted(grid, np.round(days[later], 9))]
            peak = np.nanmax(out["sbp_mmhg"][np.searchsorted(grid, np.round(vitals, 9))], axis=0)
            entry["sbp_peak"] = peak[inverse]
        true = true_u[:, inverse]  # (D, K): resampled copies
        relapse = _relapsed(true, plan.relapse_madrs)
        relapse[0] = False  # T_obs itself is observed, not forecast
        entry.update(bands=_bands(np.clip(true + noisy, 0.0, 60.0)), relapse=relapse)
        results[interval] = entry
    return _assemble(record, plan, posterior, days, results, draws, seed)


def _stretch_risks(relapse: np.ndarray, days: np.ndarray, bounds: list[float]) -> list[float]:
    """P(relapse within each stretch (b_j, b_j+1]) over draws; relapse (D, K)."""
    risks = []
    for lo, hi in itertools.pairwise(bounds):
        inside = (days > lo + 1e-9) & (days <= hi + 1e-9)
        risks.append(float(relapse[inside].any(axis=0).mean()) if inside.any() else 0.0)
    return risks


def recommend(table: pd.DataFrame, acceptable_risk: float) -> pd.Series:
    """True for the longest interval whose relapse risk is at most `acceptable_risk` (all False if none)."""
    ok = table["relapse_risk"] <= acceptable_risk + 1e-12
    if not ok.any():
        return pd.Series(False, index=table.index)
    return table["interval_h"] == table.loc[ok, "interval_h"].max()


def _assemble(record: PatientRecord, plan: Plan, posterior: Posterior, days: np.ndarray, results: dict,
              draws: int, seed: int) -> Forecast:
    t_obs, t_end = record.last_observation_h, record.last_observation_h + plan.horizon_h
    none = results[None]
    forecast = pd.DataFrame({"time_h": days, **none["bands"]})
    # relapse without further sessions
    relapse = none["relapse"]
    first = np.where(relapse.any(axis=0), np.argmax(relapse, axis=0), -1)
    weeks = np.arange(1, math.floor(plan.horizon_h / 168.0 + 1e-9) + 1)
    by_week = [float(relapse[days <= t_obs + 168.0 * w + 1e-9].any(axis=0).mean()) for w in weeks]
    ever = float((first >= 0).mean())
    median_h = None
    if ever >= 0.5:
        crossing = np.where(first >= 0, days[np.maximum(first, 0)], np.inf)
        median_h = float(np.quantile(crossing, 0.5, method="inverted_cdf"))
    relapse_table = pd.DataFrame({"week": weeks, "time_h": t_obs + 168.0 * weeks, "probability": by_week})
    relapse_summary = {
        "relapse_madrs": plan.relapse_madrs, "by_week": [{"week": int(w), "probability": p} for w, p in zip(weeks, by_week,
                                                                                                          strict=True)],
        "probability_within_horizon": ever, "median_time_h": median_h,
        "median_days_after_last_observation": None if median_h is None else (median_h - t_obs) / 24.0,
    }
    rows, plan_bands = [], []
    for interval in plan.intervals_h:
        entry = results[interval]
        stretches = _stretch_risks(entry["relapse"], days, [t_obs, *entry["sessions"], t_end])
        peak = entry.get("sbp_peak")
        rows.append({
            "interval": interval_label(interval), "interval_h": interval, "sessions": len(entry["sessions"]),
            "relapse_risk": max(stretches), "risk_before_each_session": stretches,
            "next_session_h": entry["sessions"][0] if entry["sessions"] else None,
            "sbp_peak_mean_mmhg": None if peak is None else float(np.mean(peak)),
            "p_sbp_over_180": None if peak is None else float(np.mean(peak > SBP_STOP_MMHG)),
        })
        plan_bands.append(pd.DataFrame({"interval": interval_label(interval), "time_h": days, **entry["bands"]}))
    table = pd.DataFrame(rows, columns=list(_PLAN_COLUMNS))
    table["recommended"] = recommend(table, plan.acceptable_risk)
    bands = pd.concat(plan_bands, ignore_index=True) if plan_bands else pd.DataFrame(columns=["interval", *forecast.columns])
    return Forecast.build(record, plan, posterior, forecast, bands, relapse_table,
                          relapse_summary, table, draws=draws, seed=seed)
