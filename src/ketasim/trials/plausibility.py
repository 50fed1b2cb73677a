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

from ketasim.errors import KetasimInputError
from ketasim.io.dose_limits import REFERENCE_WEIGHT_KG, check_regimen
from ketasim.io.regimen import Regimen
from ketasim.trials.limits import check_dose_count, check_horizon

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


def _outside(value: tuple[float, float], calibrated: tuple[float, float]) -> bool:
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
    if _outside((weight_kg, weight_kg), CALIBRATED_WEIGHT_KG):
        flags.append(f"weight {weight_kg:g} kg, outside the calibration trials' {CALIBRATED_WEIGHT_KG[0]:g}-"
                     f"{CALIBRATED_WEIGHT_KG[1]:g} kg")
    if _outside((age_y, age_y), CALIBRATED_AGE_Y):
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


def check_trial_spec(spec: object) -> None:
    """Parse-time checks of a trial file: horizons, dose counts and ceilings, population windows."""
    from ketasim.trials.population import population_values

    path = spec.path  # type: ignore[attr-defined]
    ep = spec.endpoints  # type: ignore[attr-defined]
    for key, hours in zip(ep.visit_keys, ep.visit_times_h, strict=True):
        check_horizon(hours, f"{path}: endpoints.visits: {key!r}")
    if ep.relapse is not None:
        check_horizon(ep.relapse.until_h, f"{path}: endpoints.relapse.until")
    horizon = trial_horizon_h(spec)
    background = spec.population.background  # type: ignore[attr-defined]
    for i, arm in enumerate(spec.arms):  # type: ignore[attr-defined]
        regimen = arm.regimen
        first = regimen.first_dose_h()
        check_horizon(first, f"{path}: arms[{i}].doses: first dose")
        end = first + horizon
        check_dose_count(regimen, end, f"{path}: arms[{i}].doses")
        check_regimen(regimen if background is None else regimen + background, end, REFERENCE_WEIGHT_KG,
                      f"{path}: arms[{i}].doses")
        for d in regimen.doses:
            late = sum(t > end for t in d.times_h) if d.every_h is None else int(d.from_h > end)
            if late:
                warn(f"{path}: arms[{i}].doses: {late} {d.drug} dose time(s) after the last visit are never given")
            if d.infusion_h > horizon:
                warn(f"{path}: arms[{i}].doses: a {d.drug} infusion lasts {d.infusion_h:g} h, longer than the trial "
                     f"({horizon:g} h after the first dose)")
    pop = spec.population  # type: ignore[attr-defined]
    shares = window_shares(pop.weight_kg, pop.age, pop.baseline_madrs, population_values())
    total = math.prod(shares.values())
    narrowest = min(shares, key=shares.__getitem__)
    if total < REFUSE_SHARE:
        raise KetasimInputError(f"{path}: population.{narrowest}: the inclusion windows keep about {total:.2g} of "
                                f"candidates (this window {shares[narrowest]:.2g}); nearly nobody qualifies: widen it")
    if total < WARN_SHARE:
        warn(f"{path}: population: the inclusion windows keep only about {total:.1%} of candidates "
             f"(narrowest: {narrowest}); screening will be slow")


def trial_horizon_h(spec: object) -> float:
    """Hours after the first dose that a trial simulates (last visit or relapse assessment)."""
    ep = spec.endpoints  # type: ignore[attr-defined]
    return max([*ep.visit_times_h, *(() if ep.relapse is None else (ep.relapse.until_h,)), 4.0 if ep.vitals else 0.0])


def trial_flags(spec: object) -> list[str]:
    """The 'outside the calibrated range' flags of a trial (70-kg reference patient for mg/kg limits)."""
    flags: list[str] = []
    horizon = trial_horizon_h(spec)
    background = spec.population.background  # type: ignore[attr-defined]
    for arm in spec.arms:  # type: ignore[attr-defined]
        regimen = arm.regimen if background is None else arm.regimen + background
        first = arm.regimen.first_dose_h()
        flags += [f"arm {arm.name!r}: {f}" for f in check_regimen(regimen, first + horizon, REFERENCE_WEIGHT_KG, "")]
    if horizon / 24.0 > CALIBRATED_HORIZON_D:
        flags.append(f"{horizon / 24.0:g} d, longer than the longest calibration trial ({CALIBRATED_HORIZON_D:g} d)")
    pop = spec.population  # type: ignore[attr-defined]
    if _outside(pop.weight_kg, CALIBRATED_WEIGHT_KG):
        flags.append(f"population weight {pop.weight_kg[0]:g}-{pop.weight_kg[1]:g} kg, beyond the calibration "
                     f"trials' {CALIBRATED_WEIGHT_KG[0]:g}-{CALIBRATED_WEIGHT_KG[1]:g} kg")
    if _outside(pop.age, CALIBRATED_AGE_Y):
        flags.append(f"population age {pop.age[0]:g}-{pop.age[1]:g} y, beyond the calibration trials' "
                     f"{CALIBRATED_AGE_Y[0]:g}-{CALIBRATED_AGE_Y[1]:g} y")
    return flags
