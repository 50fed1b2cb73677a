"""PTSD symptoms: the CAPS-5 total (Clinician-Administered PTSD Scale for DSM-5, 0-80 points).

CAPS-5 is its own output with its own untreated score (`untreated_caps5`, 0 for a patient without
PTSD), linked to the same stress-driven synapse deficit as MADRS: chronic stress removes prefrontal
synapses in PTSD as in depression, and fewer synapses go with worse symptoms in both (Holmes SE et
al. 2019, Nat Commun 10:1529, SV2A PET in MDD and PTSD; the synaptic-loss account of PTSD and of
ketamine's effect in it: Krystal JH et al. 2017, Curr Psychiatry Rep 19:74). So the same relief acts on
it, with no parameter of its own: the synaptic and acute neurotrophic paths (reachable share
`drug_relief_max`) and, overlapping with them, the non-specific relief of care and expectancy.

What differs from MADRS: no natural-course drift. Trial PTSD is chronic (Feder 2021: median duration
14 years), while the drift of `symptoms.natural_course_factor` describes depressive episodes.
"""

from __future__ import annotations

from typing import Any

from ketasim.model.namespace import Array
from ketasim.model.symptoms import acute_relief, combine_relief

CAPS5_MAX = 80.0  #: CAPS-5 total range 0-80 (20 items x 0-4; Weathers FW et al. 2018, Psychol Assess 30:383)


def caps5(xp: Any, spines: Array, acute: Array, expectancy: Array, contact_benefit: Array,
          patient: dict[str, Array], p: dict[str, float]) -> Array:
    """CAPS-5 total (0-80, points): the untreated score times what the relief of `symptoms.madrs` leaves.

    The relief is the one MADRS has (same synapse deficit, same acute signal, same expectancy and care),
    so one patient's CAPS-5 and MADRS improve by the same fraction before MADRS's natural-course drift.
    """
    deficit_left = xp.maximum(1.0 - spines, 0.0) / xp.maximum(patient["synapse_deficit"], 1e-9)
    synaptic = 1.0 - deficit_left ** p["deficit_symptom_exponent"] * (1.0 - acute_relief(xp, acute, p))
    drug = p["drug_relief_max"] * synaptic
    expect = patient["placebo_responsiveness"] * (p["contact_improvement_max"] * contact_benefit + expectancy)
    expect = xp.clip(expect, 0.0, p["expectancy_fraction_max"])
    relief = combine_relief(xp, drug, expect, p["expectancy_overlap"])
    return xp.clip(patient["untreated_caps5"] * (1.0 - relief), 0.0, CAPS5_MAX)
