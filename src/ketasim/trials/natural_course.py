"""The course of the illness by itself: each patient's untreated severity follows a random path.

Depressive episodes fluctuate, remit by themselves and return, also under continued effective treatment
(Geddes JR et al. 2003, Lancet 361:653: 18% relapse within a year on a continued antidepressant). The
path is exogenous: a known input of time per patient, drawn from the patient's own random key (so it does
not depend on chunking, engine or output times), that multiplies the untreated MADRS in the outputs
(`ArmModel.outputs(..., course_log_severity=...)`); no state depends on it, so the engines agree given it.

Two parts, both on log untreated severity relative to the baseline visit (0 there):
- an Ornstein-Uhlenbeck fluctuation, exact on a daily grid and linear between days: stationary SD
  `natural_course_sd`, time scale `natural_course_path_time_d`;
- natural remission at a constant hazard that depends on the population kind (untreated major depression
  remits, treatment-resistant depression hardly ever), after which untreated severity falls to
  `natural_remission_madrs`.
"""

from __future__ import annotations

import numpy as np

from ketasim.trials import random_streams

HOURS_PER_DAY = 24.0

#: natural remission hazard (1/d) of an untreated episode by population kind. "mdd" and "suicidal":
#: Whiteford HA et al. 2013, Psychol Med 43:1569 (untreated major depression, systematic review: 23% remit
#: within 3 months, 32% within 6, 53% within 12: -ln(1 - 0.23) / 91 d = 0.0029/d, -ln(1 - 0.53) / 365 d =
#: 0.0021/d; 0.0025/d between them). "trd": Dunner DL et al. 2006, J Clin Psychiatry 67:688 (TRD under
#: treatment as usual: 3.6% remitted at 12 months, 7.8% at 24: -ln(1 - 0.036) / 365 d = 1.0e-4/d,
#: -ln(1 - 0.078) / 730 d = 1.1e-4/d).
NATURAL_REMISSION_PER_DAY: dict[str, float] = {"mdd": 0.0025, "suicidal": 0.0025, "trd": 1e-4}


def remission_hazard_per_day(kind: str) -> float:
    """Natural remission hazard (1/d) for a population kind (0 for a kind without published data)."""
    return NATURAL_REMISSION_PER_DAY.get(kind, 0.0)


def course_log_severity(seed: int, arm: int, index: np.ndarray, times_h: np.ndarray, origin_h: float,
                        untreated_madrs: np.ndarray, kind: str, pop: dict[str, float]) -> np.ndarray:
    """Log untreated severity relative to the baseline visit at `origin_h` (T, N) at `times_h` (h), for
    patients `index` of arm `arm` with untreated MADRS `untreated_madrs` (N,); 0 at and before `origin_h`."""
    days = (np.asarray(times_h, dtype=float) - origin_h) / HOURS_PER_DAY
    index = np.asarray(index)
    path = np.zeros((days.size, index.size))
    if index.size == 0 or days.size == 0:
        return path
    last_day = int(np.ceil(max(float(days.max()), 0.0))) + 1
    sd, tau = pop["natural_course_sd"], pop["natural_course_path_time_d"]
    if sd > 0.0:
        path += _interpolate(_ou_daily(seed, arm, index, last_day, sd, tau), days)
    hazard = remission_hazard_per_day(kind)
    if hazard > 0.0:
        u = random_streams.uniform(seed, arm, index, "natural_remission")
        remission_day = -np.log(u) / hazard
        drop = np.log(np.minimum(1.0, pop["natural_remission_madrs"] / np.maximum(untreated_madrs, 1e-9)))
        path += np.where(days[:, None] >= remission_day[None, :], drop[None, :], 0.0)
    return path


def _ou_daily(seed: int, arm: int, index: np.ndarray, last_day: int, sd: float, tau_d: float) -> np.ndarray:
    """Ornstein-Uhlenbeck path (last_day + 1, N) at days 0..last_day from 0 (exact transition per day):
    x[k] = x[k-1] exp(-1/tau) + sd sqrt(1 - exp(-2/tau)) z[k]."""
    decay = float(np.exp(-1.0 / tau_d))
    step_sd = sd * float(np.sqrt(1.0 - decay**2))
    z = random_streams.normal(seed, arm, index[None, :], "natural_course_path",
                              np.arange(1, last_day + 1, dtype=np.uint64)[:, None])
    x = np.zeros((last_day + 1, index.size))
    for k in range(1, last_day + 1):
        x[k] = x[k - 1] * decay + step_sd * z[k - 1]
    return x


def _interpolate(daily: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Daily path (D, N) linearly interpolated to `days` (T,); 0 before day 0."""
    d = np.clip(days, 0.0, daily.shape[0] - 1)
    lo = np.floor(d).astype(int)
    hi = np.minimum(lo + 1, daily.shape[0] - 1)
    w = (d - lo)[:, None]
    return daily[lo] * (1.0 - w) + daily[hi] * w
