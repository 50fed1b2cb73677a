"""Plasticity layer: glutamate -> fast BDNF translation -> TrkB/mTORC1 -> synaptic proteins -> (assembly) -> spines.

Chronic stress holds spine density at a deficit; mTOR-driven protein synthesis adds spines
(within a day) and the monoaminergic path adds a slow drive; new spines fade back towards the
stress set-point over days to about two weeks.
"""

from __future__ import annotations

from typing import Any

from ketasim.model.namespace import Array
from ketasim.model.parameters import Parameter as P

_LINK = "structural: 1 = the link intact, 0 = cut"

PARAMETERS: dict[str, P] = {
    "bdnf_time_h": P(0.5, "h", "assumed: BDNF translation de-suppressed within minutes (Autry AE et al. 2011, Nature 475:91)",
                     "BDNF time constant", valid=(0.01, 48)),
    "mtor_time_h": P(1.0, "h", "assumed: mTORC1 signalling raised within the first hour and for hours after a dose "
                     "(Li N et al. 2010, Science 329:959)",
                     "TrkB/mTORC1 activation time constant", valid=(0.01, 48)),
    "protein_time_h": P(16.0, "h", "assumed: synaptic proteins raised from 2 h to 72 h after a dose (Li N et al. 2010, "
                        "Science 329:959)",
                        "synaptic protein synthesis time constant", valid=(0.1, 240)),
    "spine_maturation_time_h": P(16.0, "h", "assumed: new spines form 12-24 h after a dose, not at 3-6 h, although "
                                 "mTOR-driven synaptic proteins rise within 2 h (Moda-Sava RN et al. 2019, Science "
                                 "364:eaat8078; Li N et al. 2010, Science 329:959); after protein_time_h (16 h) it puts "
                                 "the fastest rise of spine density ~12 h after a dose (typical patient, 0.5 mg/kg IV)",
                                 "delay from synaptic proteins to new spines (assembly: actin remodelling, new contacts)",
                                 valid=(0.1, 240)),
    "spine_turnover_time_d": P(7.0, "d", "new spines keep density raised for up to ~2 weeks after one dose, some "
                               "persisting (Phoumthipphavong V et al. 2016, eNeuro ENEURO.0133-15.2016): 7 d leaves 13% "
                               "of the rise at 14 d; no longer fitted (the joint fit cannot identify it and moved it to "
                               "4-5 d, which weakens the SSRI path below its timing: docs/validation-log.md)",
                               "return of spine density to the stress set-point", valid=(0.5, 120)),
    "synaptogenesis_rate_1_h": P(0.836, "1/h", "calibrated to data/calibration",
                                 "spine formation per unit synaptic protein drive", valid=(0, 100)),
    # links of the chain, 1 = intact: set one to 0 to cut it (knock-out checks, `--set bdnf_mtor_link=0`)
    "glutamate_bdnf_link": P(1.0, "1", _LINK + "; a glutamate surge releases BDNF (Autry AE et al. 2011, Nature 475:91)",
                             "share of the glutamate surge that reaches BDNF translation", valid=(0, 1)),
    "bdnf_mtor_link": P(1.0, "1", _LINK + "; rapamycin blocks mTORC1 and ketamine's effects in rodents (Li N et al. "
                        "2010, Science 329:959)", "share of the BDNF rise that activates TrkB/mTORC1", valid=(0, 1)),
    "mtor_protein_link": P(1.0, "1", _LINK + "; mTORC1 drives synaptic protein synthesis (Li N et al. 2010)",
                           "share of mTORC1 activation that drives synaptic protein synthesis", valid=(0, 1)),
    "monoaminergic_synaptogenesis_rate_1_h": P(0.001765, "1/h", "calibrated to data/calibration",
                                               "spine formation per unit monoaminergic drive", valid=(0, 1)),
}


def first_order_rate(target: Array, state: Array, time_h: float) -> Array:
    """d(state)/dt for a state relaxing to `target` with time constant `time_h` (1/h)."""
    return (target - state) / time_h


def bdnf_rate(glutamate: Array, bdnf: Array, plasticity_gain: Array, p: dict[str, float]) -> Array:
    """d(BDNF excess)/dt, fold/h: the glutamate surge releases BDNF (activity-dependent release; Autry AE et al.
    2011, Nature 475:91), times the patient's plasticity gain (1 typical). The gain sits here because
    activity-dependent BDNF release is where people differ measurably: the Val66Met allele impairs it (Egan MF et
    al. 2003, Cell 112:257), Met carriers respond less to ketamine (Laje G et al. 2012, Biol Psychiatry 72:e27) and
    lose its synaptogenesis in mice (Liu RJ et al. 2012, Biol Psychiatry 71:996), and the plasma BDNF rise at 4 h
    tracks the MADRS response (Haile CN et al. 2014, Int J Neuropsychopharmacol 17:331). The chain below is linear,
    so every downstream layer carries the gain."""
    return first_order_rate(p["glutamate_bdnf_link"] * plasticity_gain * glutamate, bdnf, p["bdnf_time_h"])


def spine_rate(xp: Any, spines: Array, spinogenesis: Array, monoaminergic_drive: Array, synapse_deficit: Array,
               p: dict[str, float]) -> Array:
    """d(spine density)/dt (fraction of healthy per h).

    Turnover pulls density back to the chronic-stress set-point 1 - deficit; the spinogenesis drive (synaptic
    proteins assembled into spines, which carries the patient's plasticity gain from the BDNF step) and the
    monoaminergic drive add spines, the more the further below healthy density.
    """
    setpoint = 1.0 - synapse_deficit
    turnover = (setpoint - spines) / (p["spine_turnover_time_d"] * xp.hours_per_day)
    formation = (p["synaptogenesis_rate_1_h"] * xp.maximum(spinogenesis, 0.0)
                 + p["monoaminergic_synaptogenesis_rate_1_h"] * xp.maximum(monoaminergic_drive, 0.0))
    return turnover + formation * xp.maximum(1.0 - spines, 0.0)
