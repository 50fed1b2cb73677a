"""Result tables of a run, as stored beside the run store (one Parquet file each).

trial:    visits (arm x visit, with 95% CIs), course (arm x time: mean MADRS and rates with 95% bands),
          targets (published targets against the simulation), patients (one row per patient)
simulate: timecourse (the `ketasim simulate --csv` table)

Units: MADRS points (0-60), rates fractions (0-1), times hours after the first dose.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

import ketasim as ks
from ketasim.apps import adapters as internal
from ketasim.trials.endpoints import VISIT_OUTPUTS

#: visit metrics (the public registry ks.VISIT_METRICS), as `runs compare` lists them
VISIT_METRICS: tuple[str, ...] = tuple(m.name for m in ks.VISIT_METRICS)
#: visit metrics with a 95% CI (<name>_ci in the JSON; <name>_lo, <name>_hi in the visits table)
CI_METRICS: tuple[str, ...] = tuple(m.name for m in ks.VISIT_METRICS if m.with_ci)


_MADRS = next(o for o in VISIT_OUTPUTS if o.name == "madrs")

def visits_table(summary: dict) -> pd.DataFrame:
    """One row per arm and visit from a trial JSON summary: n, baseline, the visit metrics and their 95% CIs."""
    rows = []
    for arm, s in summary["arms"].items():
        for visit, v in s["visits"].items():
            row = {"arm": arm, "visit": visit, "n": s["n"], "baseline_madrs_mean": s["baseline_madrs_mean"]}
            row.update({m: v.get(m) for m in VISIT_METRICS})
            for m in CI_METRICS:
                lo, hi = v.get(f"{m}_ci") or (None, None)
                row[f"{m}_lo"], row[f"{m}_hi"] = lo, hi
            rows.append(row)
    table = pd.DataFrame(rows)
    table["n"] = table["n"].astype("int64")
    for column in table.columns[3:]:
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
    return table


def _timeline(result: ks.TrialResult, arm: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times (h after the first dose), observed MADRS (T, N) of patients solved without failure, baselines (N,)."""
    good = arm.status == internal.STATUS_OK  # type: ignore[attr-defined]
    series: dict[float, np.ndarray] = {0.0: arm.baseline}  # type: ignore[attr-defined]
    course, course_h = arm.course, arm.course_times_h  # type: ignore[attr-defined]
    if course is not None and course_h is not None:
        series.update({round(float(t), 9): course[i] for i, t in enumerate(course_h) if t > 0})
    for v, t in enumerate(result.spec.endpoints.visit_times_h):
        series[round(float(t), 9)] = arm.visits[v]  # type: ignore[attr-defined]
    times = np.array(sorted(series))
    return times, np.array([series[t][good] for t in times], dtype=float), arm.baseline[good]  # type: ignore[attr-defined]


def course_table(result: ks.TrialResult) -> pd.DataFrame:
    """Per arm and time: mean MADRS with its 95% CI, response and remission rates with 95% Wilson CIs."""
    ep = result.spec.endpoints
    frames = []
    for name, arm in result.arms.items():
        times, madrs, base = _timeline(result, arm)
        n = madrs.shape[1]
        mean = madrs.mean(axis=1) if n else np.full(times.size, np.nan)
        half = internal.Z95 * madrs.std(axis=1, ddof=1) / math.sqrt(n) if n > 1 else np.zeros(times.size)
        frame = pd.DataFrame({"arm": name, "time_h": times, "n": n, "madrs_mean": mean,
                              "madrs_lo": mean - half, "madrs_hi": mean + half})
        for label, hits in (("response", internal.responders(base[None, :], madrs, ep.response_fraction)),
                            ("remission", madrs <= ep.remission_at_most + 1e-9)):
            counts = hits.sum(axis=1)
            frame[f"{label}_rate"] = counts / n if n else np.nan
            band = np.array([internal.wilson_interval(int(c), n) for c in counts], dtype=float).reshape(-1, 2)
            frame[f"{label}_lo"], frame[f"{label}_hi"] = band[:, 0], band[:, 1]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def targets_table(result: ks.TrialResult) -> pd.DataFrame:
    """The file's [[published]] targets against the simulation (empty when it has none)."""
    checks = internal.check_targets(result.spec, result, result.spec.name)
    columns = ["arm", "visit", "metric", "versus", "published", "simulated", "tolerance", "pass", "source"]
    rows = []
    for c in checks:
        row = c.to_json()
        for key in ("arm", "versus"):
            row[key] = " + ".join(row[key]) if isinstance(row.get(key), list) else row.get(key)
        rows.append({k: row[k] for k in columns})
    return pd.DataFrame(rows, columns=columns).astype({"published": float, "simulated": float, "tolerance": float})


def patients_table(result: ks.TrialResult) -> pd.DataFrame:
    """One row per patient: arm, patient, status, baseline_madrs and madrs_<visit, spaces as _> (points)."""
    frames = []
    keys = result.spec.endpoints.visit_keys
    for name, arm in result.arms.items():
        frame = pd.DataFrame({"arm": name, "patient": np.arange(arm.baseline.size, dtype=np.int64),
                              "candidate_index": np.asarray(arm.candidate_index, dtype=np.int64),
                              "status": np.asarray(arm.status, dtype=np.int64), "baseline_madrs": arm.baseline})
        for v, key in enumerate(keys):
            frame[_MADRS.column(key)] = arm.visits[v]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def trial_tables(result: ks.TrialResult, summary: dict) -> dict[str, pd.DataFrame]:
    """Every stored table of a trial run."""
    return {"visits": visits_table(summary), "course": course_table(result), "targets": targets_table(result),
            "patients": patients_table(result)}


def compare_trials(a: dict, b: dict) -> list[dict]:
    """Differences b - a between two trial JSON summaries, arm by arm and visit by visit (arms and visits in both)."""
    rows = []
    for arm, sa in a["arms"].items():
        sb = b["arms"].get(arm)
        if sb is None:
            continue
        for visit, va in sa["visits"].items():
            vb = sb["visits"].get(visit)
            if vb is None:
                continue
            for metric in VISIT_METRICS:
                x, y = va.get(metric), vb.get(metric)
                diff = None if x is None or y is None else y - x
                rows.append({"arm": arm, "visit": visit, "metric": metric, "a": x, "b": y, "diff": diff})
    return rows
