"""Statistics of trial endpoints: 95% intervals (Wilson, normal mean), response, relapse.

Which metrics a trial reports is the registry in :mod:`ketasim.trials.endpoints`.
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (Wilson EB 1927, JASA 22:209)."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1.0 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: np.ndarray) -> tuple[float, float]:
    """95% normal-approximation interval for a mean."""
    n = values.size
    if n < 2:
        return (math.nan, math.nan)
    m, se = float(values.mean()), float(values.std(ddof=1)) / math.sqrt(n)
    return (m - Z95 * se, m + Z95 * se)


def responders(baseline: np.ndarray, madrs: np.ndarray, response_fraction: float) -> np.ndarray:
    """Response: MADRS at least `response_fraction` below baseline."""
    return madrs <= (1.0 - response_fraction) * baseline + 1e-9


def relapse_summary(baseline: np.ndarray, madrs_at: np.ndarray, assessments: np.ndarray, assessment_days: np.ndarray,
                    among: str, response_fraction: float, remission_at_most: float, madrs_at_least: float) -> dict:
    """Relapse among responders (or remitters) at `at`: any later daily MADRS >= threshold.

    assessments: (D, N) MADRS at `assessment_days` (days after `at`). median_days is the median
    time to relapse over the eligible patients (None if fewer than half relapse).
    """
    if among == "remitters":
        eligible = madrs_at <= remission_at_most + 1e-9
    else:
        eligible = responders(baseline, madrs_at, response_fraction)
    eligible &= np.all(np.isfinite(assessments), axis=0)
    count = int(eligible.sum())
    if count == 0:
        return {"among": among, "count": 0, "rate": None, "median_days": None, "rate_ci": [None, None]}
    hit = assessments[:, eligible] >= madrs_at_least - 1e-9
    relapsed = hit.any(axis=0)
    first_day = np.where(relapsed, assessment_days[np.argmax(hit, axis=0)], np.inf)
    n_relapsed = int(relapsed.sum())
    # median time to relapse: the first day by which half of the eligible patients relapsed
    median = float(np.sort(first_day)[math.ceil(count / 2) - 1])
    return {"among": among, "count": count, "rate": n_relapsed / count, "median_days": median if math.isfinite(median) else None,
            "rate_ci": list(wilson_interval(n_relapsed, count))}
