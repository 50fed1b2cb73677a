"""What a trial's design (written in its file) changes for its patients, each with its evidence.

- Expectancy follows the chance of receiving the study drug (Rutherford BR & Roose SP 2013, Am J
  Psychiatry 170:723; Rutherford BR et al. 2017, Psychol Med 47:2116: patients told they will
  surely get the drug expect more improvement than those told the chance is 50%). In an
  open-label trial the chance is 1; in a blinded one it is the share of arms given an active
  drug that not every arm gets (equal allocation). A two-arm placebo-controlled trial (chance
  0.5) is the reference.
- Multicentre trials have larger placebo responses at their endpoint than single-centre ones: relative
  risk of a placebo response 1.32 (95% CI 1.11-1.57) across 252 antidepressant trials (Furukawa TA et al.
  2016, Lancet Psychiatry 3:1059), whose pooled placebo response since 1991 is 35-40%. It is read as more
  non-specific improvement from the trial's care (sites, raters, visits build up over weeks; a session's
  expectancy is not changed): the contact improvement of every patient scales with their lognormal placebo
  responsiveness, so a response threshold crossed by a fraction p of patients is crossed by RR * p once
  `contact_improvement_max` is multiplied by exp(sd_log * (z(RR * p) - z(p))).
- Care (visits, sessions, the trial's daily treatment) lasts from day 0 until a week after the
  arm's last dose or its last scheduled visit, whichever is later; follow-up assessments for
  relapse do not count as care.
- A new antidepressant started in an arm is not one the patient failed before: it draws its own
  drug-specific course factor (STAR*D level 2: about a quarter of patients who failed one SSRI
  respond to the next; Rush AJ et al. 2006, Am J Psychiatry 163:1905).
"""

from __future__ import annotations

import math

from scipy.special import ndtri

from ketasim.model.arm import CARE_AFTER_LAST_DOSE_H
from ketasim.model.drugs import DRUGS
from ketasim.trials.trial_spec import TrialSpec

#: chance of active treatment in the reference design (two arms, one of them placebo)
REFERENCE_ACTIVE_PROBABILITY = 0.5


def is_active(drug: str) -> bool:
    """Whether a drug does anything a patient could feel or benefit from (not saline or placebo)."""
    return DRUGS[drug].action != "inert"


def active_probability(spec: TrialSpec) -> float:
    """Chance, as a patient sees it, of receiving the study drug: 1 open-label; else the share of arms with
    an active drug that not every arm gets (a drug all arms share, such as TRANSFORM's new oral
    antidepressant, is not what the blind is about); 1 when no arm differs that way."""
    if not spec.design.blinded:
        return 1.0
    actives = [{drug for drug, _ in arm.regimen.drugs if is_active(drug)} for arm in spec.arms]
    shared = set.intersection(*actives) if actives else set()
    studied = [bool(active - shared) for active in actives]
    return sum(studied) / len(studied) if any(studied) else 1.0


def expectancy_factor(spec: TrialSpec, exponent: float) -> float:
    """Multiplier of every patient's placebo responsiveness in this trial: (p_active / 0.5) ** exponent."""
    return (active_probability(spec) / REFERENCE_ACTIVE_PROBABILITY) ** exponent


#: Furukawa 2016: relative risk of a placebo response, multicentre vs single-centre trials
MULTICENTRE_PLACEBO_RR = 1.32
#: Furukawa 2016: placebo response rate of antidepressant trials since 1991 (35-40%, most of them multicentre)
MULTICENTRE_PLACEBO_RESPONSE = 0.375
#: the probit shift of the response threshold that turns the single-centre rate into the multicentre one
MULTICENTRE_PROBIT_SHIFT = float(ndtri(MULTICENTRE_PLACEBO_RESPONSE)
                                 - ndtri(MULTICENTRE_PLACEBO_RESPONSE / MULTICENTRE_PLACEBO_RR))


def multicentre_factor(spec: TrialSpec, placebo_sd_log: float) -> float:
    """Multiplier of the trial-contact improvement (`contact_improvement_max`) at a multicentre trial (1 at one site):
    exp(placebo_sd_log * MULTICENTRE_PROBIT_SHIFT), the lognormal shift that gives Furukawa 2016's relative risk."""
    return float(math.exp(placebo_sd_log * MULTICENTRE_PROBIT_SHIFT)) if spec.design.multicentre else 1.0


def care_until_h(spec: TrialSpec, arm_index: int, end_h: float) -> float:
    """End of care (h from day 0): a week after the arm's last dose before `end_h`, or its last scheduled visit if later."""
    doses = [e.time_h for e in spec.arms[arm_index].regimen.events(end_h)]
    last_visit = max(spec.endpoints.visit_times_h, default=0.0)
    return max(max(doses, default=0.0) + CARE_AFTER_LAST_DOSE_H, last_visit)


def starts_new_antidepressant(spec: TrialSpec, arm_index: int) -> bool:
    """Whether the arm itself (not the background) starts a monoaminergic antidepressant."""
    return any(DRUGS[drug].action == "ssri" for drug, _ in spec.arms[arm_index].regimen.drugs)
