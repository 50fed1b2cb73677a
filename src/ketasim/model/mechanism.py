"""The mechanism, written once: the PD states, the outputs, the vector field and the observables.

Every back-end runs this one source. The functions take an array namespace `xp`
(`model.namespace.NUMPY`, the JAX engine's `jax.numpy` twin, or the sympy namespace that
generates the SBML rules), so the numpy engines, the JAX engine and the SBML export cannot drift
apart. Data flow: receptor occupancy (from the PK exposure) -> `signals` (algebraic quantities of
the circuit and side-effect layers) -> `rates` (d state / dt) and `observables` (MADRS, vitals...).

To add a state: one row in STATES and one rate in `rates`; to add an output: one row in OUTPUTS and
one entry in `observables`. The engines, the CSV columns, the plots and the SBML follow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ketasim.model import circuit, monoamine, plasticity, ptsd, receptors, suicidality, symptoms, vitals
from ketasim.model.namespace import Array


@dataclass(frozen=True)
class StateSpec:
    """One PD state: its name, unit, layer, the parameter of its first-order decay time constant
    (None: no constant linear decay) and the plot panel it is drawn in."""

    name: str
    unit: str
    layer: str
    time_constant: str | None
    panel: str
    description: str


@dataclass(frozen=True)
class OutputSpec:
    """One output column of `simulate`: name, unit, plot panel and meaning."""

    name: str
    unit: str
    panel: str
    description: str


#: The PD state vector, fast states first (the fast engine's integrating factor takes a prefix).
STATES: tuple[StateSpec, ...] = (
    StateSpec("interneuron_adaptation", "1", "circuit", "adaptation_time_h", "glutamate",
              "network adaptation to disinhibition (0-1)"),
    StateSpec("glutamate_excess", "fold", "circuit", "glutamate_time_h", "glutamate",
              "glutamate above baseline, in multiples of baseline"),
    StateSpec("bdnf_excess", "fold", "plasticity", "bdnf_time_h", "bdnf", "BDNF above baseline (fold - 1)"),
    StateSpec("mtor_excess", "fold", "plasticity", "mtor_time_h", "bdnf", "TrkB/mTORC1 activation above baseline (fold - 1)"),
    StateSpec("synaptic_proteins", "a.u.", "plasticity", "protein_time_h", "spines", "mTOR-driven synaptic protein synthesis"),
    StateSpec("spinogenesis_drive", "a.u.", "plasticity", "spine_maturation_time_h", "spines",
              "synaptic proteins assembled into new spines (delayed drive of spine formation)"),
    StateSpec("spine_density", "1", "plasticity", None, "spines", "fraction of healthy spine density"),
    StateSpec("autoreceptor_desensitised", "1", "monoamine", "autoreceptor_desensitisation_time_d", "monoamine",
              "fraction of the 5-HT1A brake released (0-1)"),
    StateSpec("monoaminergic_drive", "a.u.", "monoamine", "monoaminergic_drive_time_d", "monoamine",
              "slow serotonergic plasticity drive"),
    StateSpec("dissociation_tolerance", "1", "vitals", None, "cadss", "tolerance to dissociation (0-1)"),
    StateSpec("session_expectancy", "1", "symptoms", "expectancy_time_d", "madrs",
              "expectancy from sessions, fraction of symptoms"),
    StateSpec("contact_engagement", "1", "symptoms", "contact_time_d", "madrs",
              "engagement in care (0-1): builds while the patient is in care, fades after"),
    StateSpec("contact_benefit", "1", "symptoms", "contact_time_d", "madrs",
              "non-specific benefit of care (0-1 of its maximum), following engagement"),
    StateSpec("si_fast_relief", "1", "suicidality", "si_fast_time_d", "si",
              "fast relief of suicidal ideation by the acute neurotrophic signal (0-1)"),
    StateSpec("si_care", "1", "suicidality", "si_care_time_d", "si",
              "effect of acute care on suicidal ideation (0-1 of its maximum)"),
)
STATE_NAMES: tuple[str, ...] = tuple(s.name for s in STATES)
N_STATES = len(STATES)
IDX: dict[str, int] = {name: i for i, name in enumerate(STATE_NAMES)}

#: The outputs every simulation has, in column order; plasma_<drug>_ng_ml columns follow (see `arm.ArmModel.plasma`).
OUTPUTS: tuple[OutputSpec, ...] = (
    OutputSpec("madrs", "MADRS points", "madrs", "MADRS total (0-60), without visit noise"),
    OutputSpec("nmda_occupancy", "1", "occupancy", "NMDA receptor occupancy at the effect site"),
    OutputSpec("sert_occupancy", "1", "occupancy", "serotonin transporter occupancy"),
    OutputSpec("glutamate", "fold", "glutamate", "prefrontal glutamate, multiples of baseline"),
    OutputSpec("bdnf", "fold", "bdnf", "BDNF, multiples of baseline"),
    OutputSpec("mtor", "fold", "bdnf", "TrkB/mTORC1 activation, multiples of baseline"),
    OutputSpec("synaptic_proteins", "a.u.", "spines", "mTOR-driven synaptic protein synthesis"),
    OutputSpec("spine_density", "1", "spines", "fraction of healthy spine density"),
    OutputSpec("autoreceptor_desensitised", "1", "monoamine", "fraction of the 5-HT1A brake released"),
    OutputSpec("monoaminergic_drive", "a.u.", "monoamine", "slow serotonergic plasticity drive"),
    OutputSpec("expectancy", "1", "madrs", "session expectancy, fraction of symptoms"),
    OutputSpec("sbp_mmhg", "mmHg", "vitals", "systolic blood pressure"),
    OutputSpec("dbp_mmhg", "mmHg", "vitals", "diastolic blood pressure"),
    OutputSpec("hr_bpm", "bpm", "vitals", "heart rate"),
    OutputSpec("cadss", "CADSS points", "cadss", "dissociation (CADSS total)"),
    OutputSpec("madrs_item10", "MADRS points", "si", "MADRS item 10, suicidal thoughts (0-6, expected score; <= MADRS)"),
    OutputSpec("ssi", "SSI points", "si", "Scale for Suicidal Ideation (0-38), from item 10"),
    OutputSpec("caps5", "CAPS-5 points", "ptsd", "CAPS-5 total, PTSD symptoms (0-80; 0 without PTSD)"),
)
OUTPUT_NAMES: tuple[str, ...] = tuple(o.name for o in OUTPUTS)

#: the patient fields the vector field and the observables read
PD_PATIENT_FIELDS: tuple[str, ...] = (
    "synapse_deficit", "plasticity_gain", "monoaminergic_responsiveness", "dissociation_sensitivity",
    "cardiovascular_sensitivity", "placebo_responsiveness", "natural_course", "untreated_madrs", "sbp0_mmhg",
    "dbp0_mmhg", "hr0_bpm", "suicidal_ideation", "si_fast_responsiveness", "untreated_caps5")


#: the exposure sums sum(C/K) the PK hands the receptor layer, in this order (the engines' (N, 4) arrays):
#: NMDA binding, SERT, sedation, and NMDA block under physiological Mg2+ (each ligand's C/Ki scaled by its
#: compound file's `nmda.block_at_rest_physiological_mg`)
EXPOSURE_KINDS: tuple[str, ...] = ("nmda", "sert", "sedation", "nmda_mg")
N_EXPOSURE = len(EXPOSURE_KINDS)


@dataclass(frozen=True)
class Occupancy:
    """What the arm's schedule hands the mechanism: NMDA and SERT occupancy (0-1) and perceptible
    sedation (0-1) from the PK exposure, whether the patient is in care (1) or not (0), and the NMDA
    block that survives physiological Mg2+ (0-1; None: the same as `nmda`)."""

    nmda: Array
    sert: Array
    sedation: Array
    in_care: Array = 0.0
    nmda_mg: Array | None = None

    @property
    def nmda_block(self) -> Array:
        """NMDA channel block under physiological Mg2+ at rest (0-1): what the NMDA-dependent layers read."""
        return self.nmda if self.nmda_mg is None else self.nmda_mg


def occupancy(xp: Any, nmda_ratio: Array, sert_ratio: Array, sedation_ratio: Array, sert_max: Array,
              in_care: Array = 0.0, nmda_mg_ratio: Array | None = None) -> Occupancy:
    """Receptor layer: occupancies from sum(effect-site concentration / K) over ligands (law of mass action);
    the block under physiological Mg2+ from the same sum with each ligand's potency scaled by its block at rest."""
    block = None if nmda_mg_ratio is None else receptors.nmda_block_physiological_mg(xp, nmda_mg_ratio)
    return Occupancy(receptors.nmda_occupancy(xp, nmda_ratio), receptors.sert_occupancy(xp, sert_ratio, sert_max),
                     receptors.sedation(xp, sedation_ratio), in_care, block)


def decay_rates(p: Mapping[str, float], hours_per_day: float = 24.0) -> list[float]:
    """Constant first-order decay rate of each state (1/h; 0 where it has none): the linear part of `rates`."""
    out = []
    for state in STATES:
        if state.time_constant is None:
            out.append(0.0)
        elif state.time_constant.endswith("_d"):
            out.append(-1.0 / (p[state.time_constant] * hours_per_day))
        else:
            out.append(-1.0 / p[state.time_constant])
    return out


def initial_state(patient: Mapping[str, Array]) -> tuple[Array, ...]:
    """Untreated state: spines at the chronic-stress set-point 1 - deficit, every signal at baseline (0)."""
    deficit = patient["synapse_deficit"]
    return tuple(1.0 - deficit if s.name == "spine_density" else 0.0 * deficit for s in STATES)


def signals(xp: Any, occ: Occupancy, y: Sequence[Array], patient: Mapping[str, Array], p: Mapping[str, Array]
            ) -> dict[str, Array]:
    """Algebraic quantities of the circuit and side-effect layers that the rates read."""
    # every NMDA-dependent layer reads the block that survives physiological Mg2+ (Gideons ES et al. 2014, PNAS
    # 111:8649: memantine, unlike ketamine, leaves NMDA receptors at rest unblocked and eEF2/BDNF unchanged)
    block = occ.nmda_block
    silencing = circuit.interneuron_silencing(xp, block, p)
    dissociation = vitals.dissociation_fraction(xp, block, p) * patient["dissociation_sensitivity"]
    return {
        "interneuron_silencing": silencing,
        "pyramidal_capacity": circuit.pyramidal_capacity(xp, block, p),
        "dissociation": dissociation,
        # felt drug effect: dissociation left after tolerance, or sedation (midazolam), whichever is larger
        "perceived_effect": xp.maximum(xp.minimum(dissociation * (1.0 - y[IDX["dissociation_tolerance"]]), 1.0),
                                       occ.sedation),
    }


def rates(xp: Any, y: Sequence[Array], occ: Occupancy, sig: Mapping[str, Array], patient: Mapping[str, Array],
          p: Mapping[str, Array]) -> tuple[Array, ...]:
    """d state / dt (1/h), in STATES order, one line per mechanism of BRIEF section 2."""
    adaptation, glutamate, bdnf, mtor, proteins, spinogenesis, spines, desens, drive, tolerance, expect, engagement, \
        benefit, si_fast, si_care = y
    silencing = sig["interneuron_silencing"]
    return (
        circuit.adaptation_rate(silencing, adaptation, p),  # the network re-balances to disinhibition
        circuit.glutamate_rate(xp, silencing, adaptation, sig["pyramidal_capacity"], glutamate, p),  # glutamate surge
        # glutamate -> activity-dependent BDNF release, scaled by the patient's plasticity gain (BDNF Val66Met and the
        # like act here: Egan MF et al. 2003, Cell 112:257; Laje G et al. 2012, Biol Psychiatry 72:e27)
        plasticity.bdnf_rate(glutamate, bdnf, patient["plasticity_gain"], p),
        plasticity.first_order_rate(p["bdnf_mtor_link"] * bdnf, mtor, p["mtor_time_h"]),  # BDNF -> TrkB/mTORC1
        plasticity.first_order_rate(p["mtor_protein_link"] * mtor, proteins, p["protein_time_h"]),  # mTORC1 -> proteins
        # proteins are assembled into new spines with a delay: formation up at 12-24 h, not at 3-6 h (Moda-Sava 2019)
        plasticity.first_order_rate(proteins, spinogenesis, p["spine_maturation_time_h"]),
        plasticity.spine_rate(xp, spines, spinogenesis, drive, patient["synapse_deficit"], p),
        monoamine.desensitisation_rate(xp, occ.sert, desens, p),  # 5-HT1A autoreceptors desensitise
        monoamine.drive_rate(xp, occ.sert, desens, drive, patient["monoaminergic_responsiveness"], p),
        vitals.tolerance_rate(xp, sig["dissociation"], tolerance, p),  # tolerance to dissociation
        symptoms.expectancy_rate(xp, sig["perceived_effect"], expect, p),  # felt effects lift expectancy
        # being in care (visits, sessions, daily treatment) brings a non-specific benefit that fades without it
        *symptoms.contact_rates(occ.in_care, engagement, benefit, p, xp.hours_per_day),
        # suicidal ideation: its own fast path (acute neurotrophic signal) and the effect of acute care
        suicidality.fast_relief_rate(xp, mtor, si_fast, patient["si_fast_responsiveness"], p),
        suicidality.care_rate(xp, occ.in_care, si_care, p),
    )


def vector_field(xp: Any, time_h: Array, y: Sequence[Array], occ: Occupancy, patient: Mapping[str, Array],
                 p: Mapping[str, Array]) -> tuple[Array, ...]:
    """d state / dt (1/h) at `time_h` for states `y` (one array per state), given the receptor occupancy."""
    return rates(xp, y, occ, signals(xp, occ, y, patient, p), patient, p)


def observables(xp: Any, time_h: Array, y: Sequence[Array], occ: Occupancy, patient: Mapping[str, Array],
                p: Mapping[str, Array], course_log_severity: Array | float = 0.0, contact_factor: Array | float = 1.0
                ) -> dict[str, Array]:
    """The OUTPUTS (MADRS points, fractions, fold, mmHg, bpm, CADSS points) from the states at `time_h`;
    `course_log_severity`: the natural-course path of untreated severity (log, 0 = typical), `contact_factor`: the
    trial setting's multiplier of the contact improvement (1 = typical); see `symptoms.madrs`."""
    s = dict(zip(STATE_NAMES, y, strict=True))
    pressor = vitals.pressor_fraction(xp, occ.nmda_block, p) * patient["cardiovascular_sensitivity"]
    dissociation = vitals.dissociation_fraction(xp, occ.nmda_block, p) * patient["dissociation_sensitivity"]
    # the acute signal: mTORC1 now plus the synaptic proteins it has made, which potentiate existing synapses
    acute = symptoms.acute_signal(xp, s["mtor_excess"], s["synaptic_proteins"], p)
    madrs = symptoms.madrs(xp, s["spine_density"], acute, s["session_expectancy"], s["contact_benefit"],
                           time_h, patient, p, course_log_severity, contact_factor)
    item10 = suicidality.item10(xp, madrs, s["si_fast_relief"], s["si_care"], patient, p)
    return {
        "madrs": madrs,
        "nmda_occupancy": occ.nmda,
        "sert_occupancy": occ.sert,
        "glutamate": 1.0 + s["glutamate_excess"],
        "bdnf": 1.0 + s["bdnf_excess"],
        "mtor": 1.0 + s["mtor_excess"],
        "synaptic_proteins": s["synaptic_proteins"],
        "spine_density": s["spine_density"],
        "autoreceptor_desensitised": s["autoreceptor_desensitised"],
        "monoaminergic_drive": s["monoaminergic_drive"],
        "expectancy": s["session_expectancy"],
        "sbp_mmhg": patient["sbp0_mmhg"] + p["sbp_max_mmhg"] * pressor,
        "dbp_mmhg": patient["dbp0_mmhg"] + p["dbp_max_mmhg"] * pressor,
        "hr_bpm": patient["hr0_bpm"] + p["hr_max_bpm"] * pressor,
        "cadss": p["cadss_max"] * dissociation * (1.0 - s["dissociation_tolerance"]),
        "madrs_item10": item10,
        "ssi": suicidality.ssi(xp, item10, p),
        # PTSD symptoms: the same synapse-deficit relief acting on the patient's own CAPS-5 (model/ptsd.py)
        "caps5": ptsd.caps5(xp, s["spine_density"], acute, s["session_expectancy"], s["contact_benefit"],
                            patient, p),
    }


def session_jump(cue: float, p: Mapping[str, Array]) -> Array:
    """Expectancy lift when a dosing session starts (fraction of what is left to 1): attending, plus what
    the session's cue (hours of clearly perceived effect, e.g. the placebo spray's taste) promises."""
    return p["session_expectancy"] + p["perceived_expectancy_rate_1_h"] * p["placebo_spray_cue"] * cue


def after_session(expectancy: Array, jump: Array) -> Array:
    """Session expectancy just after a session starts: the jump closes that fraction of the gap to 1,
    so expectancy stays within 0-1 however often sessions come."""
    return expectancy + jump * (1.0 - expectancy)
