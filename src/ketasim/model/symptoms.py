"""Symptoms: MADRS (0-60) from the synapse deficit, an acute neurotrophic term that acts within
hours, and expectancy (larger when patients feel something; non-specific gains build over weeks)."""

from __future__ import annotations

from typing import Any

from ketasim.model.namespace import Array
from ketasim.model.parameters import Parameter as P

_CAL = "calibrated to data/calibration"

PARAMETERS: dict[str, P] = {
    "acute_relief_max": P(0.9, "1", _CAL, "largest fraction of symptoms relieved by the acute neurotrophic signal", valid=(0, 1)),
    "acute_mtor50": P(0.5, "fold", _CAL + "; started at the mTOR rise of a 0.5 mg/kg dose",
                      "mTOR activation for half-maximal acute relief", valid=(0.01, 100)),
    "contact_improvement_max": P(0.3487, "1", _CAL, "non-specific improvement from trial contact, fraction of symptoms",
                                 valid=(0, 1)),
    "contact_half_time_d": P(20.02, "d", _CAL, "time to half of the non-specific improvement (sigmoid build-up over weeks)",
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


def contact_fraction(xp: Any, time_h: Array, p: dict[str, float]) -> Array:
    """Non-specific improvement build-up (0-1) since the first trial visit at time 0.

    Sigmoid (t^2 / (t^2 + t50^2)): little in the first days, most of it over weeks of contact.
    """
    t = xp.maximum(time_h, 0.0) / xp.hours_per_day
    return t**2 / (t**2 + p["contact_half_time_d"] ** 2)


def expectancy_rate(xp: Any, perceived: Array, expectancy: Array, p: dict[str, float]) -> Array:
    """d(session expectancy)/dt, 1/h: perceived effects raise it, it fades over days."""
    return p["perceived_expectancy_rate_1_h"] * perceived - expectancy / (p["expectancy_time_d"] * xp.hours_per_day)


def acute_relief(xp: Any, mtor: Array, plasticity_gain: Array, p: dict[str, float]) -> Array:
    """Fraction of symptoms relieved by the acute neurotrophic signal, before new spines exist."""
    signal = xp.maximum(mtor, 0.0) * plasticity_gain
    return p["acute_relief_max"] * signal / (signal + p["acute_mtor50"])


def combine_relief(xp: Any, drug: Array, expectancy: Array, overlap: float) -> Array:
    """Total fraction of symptoms relieved by two overlapping sources (0-1).

    overlap 0: independent, 1 - (1 - a)(1 - b); overlap 1: the larger one alone.
    """
    larger, smaller = xp.maximum(drug, expectancy), xp.minimum(drug, expectancy)
    return larger + (1.0 - overlap) * smaller * (1.0 - larger)


def madrs(xp: Any, spines: Array, mtor: Array, expectancy: Array, time_h: Array,
          patient: dict[str, Array], p: dict[str, float]) -> Array:
    """MADRS (0-60) without visit noise.

    Drug relief: core symptoms scale with a power of the synapse deficit left (relative to the
    untreated deficit), acute neurotrophic relief removes a fraction of what is left, and at most
    `drug_relief_max` of all symptoms are reachable this way. Expectancy
    relief (trial contact + sessions) overlaps with it (`expectancy_overlap`).
    """
    deficit_left = xp.maximum(1.0 - spines, 0.0) / xp.maximum(patient["synapse_deficit"], 1e-9)
    synaptic = 1.0 - deficit_left ** p["deficit_symptom_exponent"] * (1.0 - acute_relief(xp, mtor, patient["plasticity_gain"], p))
    drug = p["drug_relief_max"] * synaptic
    expect = patient["placebo_responsiveness"] * (p["contact_improvement_max"] * contact_fraction(xp, time_h, p) + expectancy)
    expect = xp.clip(expect, 0.0, p["expectancy_fraction_max"])
    relief = combine_relief(xp, drug, expect, p["expectancy_overlap"])
    return xp.clip(patient["untreated_madrs"] * (1.0 - relief), 0.0, 60.0)
