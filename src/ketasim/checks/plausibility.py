"""Plausibility: refuse impossible inputs, flag outputs computed outside the calibrated range.

A flag is a short sentence; outputs carry them as "outside the calibrated range: <flag>"
(`simulate`: table.attrs["flags"], stdout and the figure; `trial`: "flags" in the JSON and the
figures). Each flag is also a warning on stderr. The calibrated range is that of the shipped
calibration trials: the usual doses and dosing intervals of data/dose_limits.toml, at most
CALIBRATED_HORIZON_D days, adults of CALIBRATED_WEIGHT_KG and CALIBRATED_AGE_Y.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

from scipy.special import ndtr

from ketasim.checks.dose_limits import check_regimen
from ketasim.model.regimen import Regimen

#: the longest calibration trial (KetECT: 26 days of infusions, then 12 months of follow-up)
CALIBRATED_HORIZON_D = 391.0
#: the population windows the calibration trials cover (kg, years; SUSTAIN-2 enrolled up to 90 years)
CALIBRATED_WEIGHT_KG = (45.0, 140.0)
CALIBRATED_AGE_Y = (18.0, 90.0)
#: a population window keeping less than this share of candidates is refused; less than WARN_SHARE warned
REFUSE_SHARE = 1e-4
WARN_SHARE = 0.02
FLAG_PREFIX = "outside the calibrated range"


def warn(message: str) -> None:
    """One warning line on stderr, with control characters escaped."""
    print(f"ketasim: warning: {escape(message)}", file=sys.stderr)


def escape(text: str) -> str:
    """`text` with control characters (terminal escape codes) shown as \\x.. escapes; newlines kept."""
    return "".join(c if c == "\n" or (c.isprintable() and c != "\x1b") else repr(c)[1:-1] for c in text)


def report(flags: Sequence[str]) -> list[str]:
    """Flags as output lines ('outside the calibrated range: ...'), each also warned on stderr."""
    lines = [f"{FLAG_PREFIX}: {flag}" for flag in dict.fromkeys(flags)]
    for line in lines:
        warn(line)
    return lines


def outside(value: tuple[float, float], calibrated: tuple[float, float]) -> bool:
    return value[0] < calibrated[0] or value[1] > calibrated[1]


def simulate_flags(regimen: Regimen, weight_kg: float, age_y: float, days: float, where: str) -> list[str]:
    """Refuse ceilings; warn about doses the period cuts off; the flags of one simulation."""
    end = days * 24.0
    flags = check_regimen(regimen, end, weight_kg, where)
    for d in regimen.doses:
        late = sum(t > end for t in d.times_h) if d.every_h is None else int(d.from_h > end)
        if late:
            warn(f"{where}: {late} {d.drug} dose time(s) after the simulated period ({days:g} d) are never given")
    for d in regimen.doses:
        if d.infusion_h > end:
            warn(f"{where}: a {d.drug} infusion lasts {d.infusion_h:g} h, longer than the simulated period ({end:g} h)")
    if days > CALIBRATED_HORIZON_D:
        flags.append(f"{days:g} d simulated, longer than the longest calibration trial ({CALIBRATED_HORIZON_D:g} d)")
    if outside((weight_kg, weight_kg), CALIBRATED_WEIGHT_KG):
        flags.append(f"weight {weight_kg:g} kg, outside the calibration trials' {CALIBRATED_WEIGHT_KG[0]:g}-"
                     f"{CALIBRATED_WEIGHT_KG[1]:g} kg")
    if outside((age_y, age_y), CALIBRATED_AGE_Y):
        flags.append(f"age {age_y:g} y, outside the calibration trials' {CALIBRATED_AGE_Y[0]:g}-{CALIBRATED_AGE_Y[1]:g} y")
    return flags


def _share_normal(lo: float, hi: float, mean: float, sd: float) -> float:
    return float(ndtr((hi - mean) / sd) - ndtr((lo - mean) / sd))


def window_shares(weight_kg: tuple[float, float], age_y: tuple[float, float], baseline_madrs: tuple[float, float],
                  pop: dict[str, float]) -> dict[str, float]:
    """Approximate share of candidates inside each inclusion window (before any TRD screening)."""
    sd_w = math.sqrt(math.log1p(pop["weight_cv"] ** 2))
    log_median = math.log(pop["weight_median_kg"])
    weight = _share_normal(math.log(weight_kg[0]), math.log(weight_kg[1]), log_median, sd_w)
    age = _share_normal(age_y[0], age_y[1], pop["age_mean_y"], pop["age_sd_y"])
    sd_m = math.hypot(pop["untreated_madrs_sd"], pop["visit_noise_sd_madrs"])
    madrs = _share_normal(baseline_madrs[0], baseline_madrs[1] + 1e-9, pop["untreated_madrs_mean"], sd_m)
    if baseline_madrs[1] >= 60.0:
        madrs = max(madrs, _share_normal(baseline_madrs[0], math.inf, pop["untreated_madrs_mean"], sd_m))
    return {"weight_kg": weight, "age": age, "baseline_madrs": madrs}
