"""Symptoms: MADRS (0-60) from the synapse deficit, an acute neurotrophic term that acts within
hours, and expectancy (larger when patients feel something; non-specific gains build over weeks)."""

from __future__ import annotations

from typing import Any

from ketasim.model.namespace import Array
from ketasim.model.parameters import Parameter as P

_CAL = "calibrated to data/calibration"

PARAMETERS: dict[str, P] = {
    "acute_relief_max": P(0.9, "1", _CAL, "largest fraction of symptoms relieved by the acute neurotrophic signal", valid=(0, 1)),
    "protein_relief_weight": P(10.0, "1", _CAL + "; synaptic proteins potentiate existing synapses from 2 h to 72 h "
                               "(Li N et al. 2010, Science 329:959)",
                               "acute signal per unit synaptic protein, in fold of mTORC1", valid=(0, 1000)),
    "acute_mtor50": P(0.5, "fold", _CAL + "; started at the mTOR rise of a 0.5 mg/kg dose",
                      "acute signal (mTORC1 + weighted proteins) for half-maximal acute relief", valid=(0.01, 100)),
    "contact_improvement_max": P(0.3487, "1", _CAL, "non-specific improvement from trial contact, fraction of symptoms",
                                 valid=(0, 1)),
    "contact_time_d": P(7.9, "d", _CAL + "; two-step build-up, half reached after 1.68 time constants (~13 d)",
                        "time constant of engagement in care and of the non-specific improvement it brings",
                        valid=(0.5, 365)),
    "session_expectancy": P(0.03, "1", "assumed: attending a session with nothing to feel lifts expectancy a little "
                            "(saline: 1-2% response at 24 h, Wilkinson 2019)",
                            "expectancy lift from attending a dosing session, fraction of symptoms", valid=(0, 1)),
    "perceived_expectancy_rate_1_h": P(0.3468, "1/h", _CAL, "expectancy lift per hour of clearly perceived drug effect",
                                       valid=(0, 100)),
    "placebo_spray_cue": P(0.7619, "1", _CAL + "; the placebo spray carries a bittering agent that patients taste "
                           "(esketamine trial methods, e.g. Daly 2018)",
                           "perceptible cue of a placebo spray, in hours of clear dissociation", valid=(0, 24)),
    "expectancy_time_d": P(1.8, "d", "assumed: session expectancy fades over days (Daly 2018 placebo: -9.7 at 2 h, "
                           "-5.7 at 1 d)", "decay time of session expectancy", valid=(0.05, 60)),
    "natural_course_time_d": P(28.0, "d", "assumed: depressive episodes drift by themselves over weeks to months; "
                               "wait-list patients improve by ~4 HAM-D points over 4-12 weeks with a wide spread "
                               "(Rutherford BR et al. 2012, J Psychiatr Res 46:1311, effect size 0.505)",
                               "time constant of a patient's natural-course drift", valid=(1, 3650)),
    "expectancy_fraction_max": P(0.9, "1", "assumed: expectancy cannot remove all symptoms", "cap on expectancy", valid=(0, 1)),
    "drug_relief_max": P(0.7964, "1", _CAL + "; part of a depression is not carried by the synapse deficit "
                         "(deep remissions are rarer than responses: 21% vs 52% at 24 h, Han 2016)",
                         "largest fraction of symptoms the synaptic and acute paths can relieve", valid=(0, 1)),
    "deficit_symptom_exponent": P(2.694, "1", _CAL + "; network function saturates in synapse number, so the first "
                                  "synapses restored relieve the most", "MADRS core ~ (deficit left)^exponent", valid=(0.1, 10)),
    "expectancy_overlap": P(0.8, "1", _CAL + "; active arms reach ~50% relief whether the control arm improved 14% "
                            "(Daly 2018 day 7) or 43% (TRANSFORM day 28)",
                            "how far drug relief and expectancy relieve the same symptoms (0 independent, 1 fully)",
                            valid=(0, 1)),
}


def contact_rates(in_care: Array, engagement: Array, benefit: Array, p: dict[str, float], hours_per_day: Any
                  ) -> tuple[Array, Array]:
    """d(engagement)/dt and d(contact benefit)/dt, 1/h: engagement follows being in care (visits,
    sessions, daily treatment), the non-specific benefit follows engagement; both fade when care stops.

    Two first-order steps give the slow start and build-up over weeks of trial contact (placebo arms
    improve little in the first days and most over 4-8 weeks), and a fall back once contact ends.
    """
    tau_h = p["contact_time_d"] * hours_per_day
    return (in_care - engagement) / tau_h, (engagement - benefit) / tau_h


def contact_benefit_after(xp: Any, duration_h: Array, p: dict[str, float]) -> Array:
    """Contact benefit (0-1) after `duration_h` hours in care from none: 1 - (1 + x) exp(-x), x = t / tau."""
    x = xp.maximum(duration_h, 0.0) / (p["contact_time_d"] * xp.hours_per_day)
    return 1.0 - (1.0 + x) * xp.exp(-x)


def expectancy_rate(xp: Any, perceived: Array, expectancy: Array, p: dict[str, float]) -> Array:
    """d(session expectancy)/dt, 1/h: perceived effects raise it towards 1 (a fraction of symptoms
    cannot exceed 1), it fades over days."""
    return (p["perceived_expectancy_rate_1_h"] * perceived * (1.0 - expectancy)
            - expectancy / (p["expectancy_time_d"] * xp.hours_per_day))


def acute_signal(xp: Any, mtor: Array, proteins: Array, p: dict[str, float]) -> Array:
    """The acute neurotrophic signal (fold of mTORC1): mTORC1 above baseline now, plus the synaptic proteins it has
    made (GluA1, PSD-95, synapsin: up from 2 h to 72 h after a dose, Li N et al. 2010, Science 329:959), which
    potentiate existing synapses before new spines form (Moda-Sava RN et al. 2019, Science 364:eaat8078)."""
    return xp.maximum(mtor, 0.0) + p["protein_relief_weight"] * xp.maximum(proteins, 0.0)


def acute_relief(xp: Any, acute: Array, p: dict[str, float]) -> Array:
    """Fraction of symptoms relieved by the acute neurotrophic signal (`acute_signal`, fold; it carries the
    patient's plasticity gain from the BDNF step), before new spines exist."""
    signal = xp.maximum(acute, 0.0)
    return p["acute_relief_max"] * signal / (signal + p["acute_mtor50"])


#: width (fraction of symptoms) over which the larger of two reliefs is smoothed (assumed: well below a
#: MADRS point on a 30-point score, so the smoothing changes no visit by more than a rounding)
RELIEF_SMOOTHING = 0.02


def smooth_larger(xp: Any, a: Array, b: Array) -> Array:
    """The larger of a and b, smoothed over RELIEF_SMOOTHING: (a + b + sqrt((a - b)^2 + w^2) - w) / 2, which is
    exact where they are equal (so at baseline, where both are 0), never above max(a, b), and w / 2 below
    it once they differ by a few w."""
    width = RELIEF_SMOOTHING
    return 0.5 * (a + b + ((a - b) ** 2 + width**2) ** 0.5 - width)


def combine_relief(xp: Any, drug: Array, expectancy: Array, overlap: float) -> Array:
    """Total fraction of symptoms relieved by two overlapping sources (0-1), smooth in both.

    overlap 0: independent, 1 - (1 - a)(1 - b); overlap 1: the larger one alone (smoothed, so the
    MADRS course has no kink where the two reliefs cross).
    """
    independent = drug + expectancy - drug * expectancy
    return (1.0 - overlap) * independent + overlap * smooth_larger(xp, drug, expectancy)


def natural_course_factor(xp: Any, time_h: Array, natural_course: Array, p: dict[str, float]) -> Array:
    """Untreated severity relative to day 0 as the episode drifts by itself (1 at day 0, 1 + drift after weeks)."""
    return 1.0 + natural_course * (1.0 - xp.exp(-xp.maximum(time_h, 0.0) / (p["natural_course_time_d"] * xp.hours_per_day)))


def madrs(xp: Any, spines: Array, acute: Array, expectancy: Array, contact_benefit: Array, time_h: Array,
          patient: dict[str, Array], p: dict[str, float], course_log_severity: Array | float = 0.0,
          contact_factor: Array | float = 1.0) -> Array:
    """MADRS (0-60) without visit noise: the untreated severity (drifting by the natural course) times
    what is left after relief.

    Drug relief: core symptoms scale with a power of the synapse deficit left (relative to the
    untreated deficit), acute neurotrophic relief removes a fraction of what is left, and at most
    `drug_relief_max` of all symptoms are reachable this way. Expectancy
    relief (contact benefit while in care + session expectancy) overlaps with it (`expectancy_overlap`).
    """
    deficit_left = xp.maximum(1.0 - spines, 0.0) / xp.maximum(patient["synapse_deficit"], 1e-9)
    synaptic = 1.0 - deficit_left ** p["deficit_symptom_exponent"] * (1.0 - acute_relief(xp, acute, p))
    drug = p["drug_relief_max"] * synaptic
    expect = patient["placebo_responsiveness"] * (p["contact_improvement_max"] * contact_factor * contact_benefit
                                                  + expectancy)
    expect = xp.clip(expect, 0.0, p["expectancy_fraction_max"])
    relief = combine_relief(xp, drug, expect, p["expectancy_overlap"])
    # the illness by itself: the patient's drift and random path of untreated severity
    severity = (patient["untreated_madrs"] * natural_course_factor(xp, time_h, patient["natural_course"], p)
                * xp.exp(course_log_severity))
    return xp.clip(severity * (1.0 - relief), 0.0, 60.0)
