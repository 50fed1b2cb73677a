"""Trial-file checks at parse time and the trial's "outside the calibrated range" flags.

The shared pieces (dose ceilings, horizons, dose counts, the calibrated range) live in
`ketasim.checks`; this module adds what needs a parsed trial file and the virtual population.
"""

from __future__ import annotations

import math

from ketasim.checks.dose_limits import REFERENCE_WEIGHT_KG, check_regimen
from ketasim.checks.limits import check_dose_count, check_horizon
from ketasim.checks.plausibility import (
    CALIBRATED_AGE_Y,
    CALIBRATED_HORIZON_D,
    CALIBRATED_WEIGHT_KG,
    REFUSE_SHARE,
    WARN_SHARE,
    outside,
    warn,
    window_shares,
)
from ketasim.errors import KetasimInputError
from ketasim.trials.population import population_values


def check_trial_spec(spec: object) -> None:
    """Parse-time checks of a trial file: horizons, dose counts and ceilings, population windows."""
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
    if outside(pop.weight_kg, CALIBRATED_WEIGHT_KG):
        flags.append(f"population weight {pop.weight_kg[0]:g}-{pop.weight_kg[1]:g} kg, beyond the calibration "
                     f"trials' {CALIBRATED_WEIGHT_KG[0]:g}-{CALIBRATED_WEIGHT_KG[1]:g} kg")
    if outside(pop.age, CALIBRATED_AGE_Y):
        flags.append(f"population age {pop.age[0]:g}-{pop.age[1]:g} y, beyond the calibration trials' "
                     f"{CALIBRATED_AGE_Y[0]:g}-{CALIBRATED_AGE_Y[1]:g} y")
    return flags
