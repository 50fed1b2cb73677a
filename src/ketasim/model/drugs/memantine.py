"""Memantine, oral: an NMDA channel blocker that failed as an antidepressant (Zarate CA et al. 2006,
Am J Psychiatry 163:153: no separation from placebo over 8 weeks at 5-20 mg/day).

Gut depot -> one compartment (renal elimination, t1/2 ~70 h) -> brain effect site. Checked against:
20 mg/day gives steady-state plasma 70-150 ng/mL (0.5-1 uM) (Ebixa SmPC sec. 5.2, sec.). The brain site
settles at the CSF/plasma ratio, taken as the unbound brain concentration; ketamine's effect site
instead equals plasma (see `ketamine.py`), so the two Ki are applied to differently defined
concentrations (a known inconsistency, not tuned). Nothing here is fitted to any outcome.
"""

from __future__ import annotations

import numpy as np

from ketasim.model.drugs.base import (
    CL_FACTOR,
    V_FACTOR,
    DrugSpec,
    P,
    PkSystem,
    SimplePk,
)
from ketasim.model.drugs.compartments import ki_mg_l, oral_dosing, oral_effect_site_rates, values
from ketasim.model.parameters import Parameter

_LABEL = "Namenda label (memantine HCl), Clinical Pharmacology (sec.)"

MEMANTINE_PARAMETERS: dict[str, Parameter] = {
    "v_l": P(700.0, "L", _LABEL + ": Vd 9-11 L/kg; 10 L/kg x 70 kg", "volume of distribution"),
    "half_life_h": P(70.0, "h", _LABEL + ": terminal elimination half-life 60-80 h (mostly renal, ~48% unchanged); "
                     "the SmPC's CL 170 mL/min/1.73 m2 with Vd 10 L/kg would give ~48 h, so the label half-life is kept",
                     "elimination half-life (sets clearance = ln 2 x V / t1/2 = 6.9 L/h at 70 kg)"),
    "bioavailability": P(1.0, "1", _LABEL + ": absolute bioavailability ~100%", "oral bioavailability"),
    "ka_1_h": P(1.0, "1/h", "derived: Tmax 3-7 h (label) with t1/2 70 h needs ka 0.6-1.7 /h; 1 /h gives Tmax 4.7 h",
                "absorption rate"),
    "brain_partition": P(0.52, "1", "Ebixa SmPC (EMA) sec. 5.2 (sec.): mean CSF/serum ratio 0.52 at 5-30 mg/day; Valis M et "
                         "al. 2019, Front Pharmacol 10:943: 0.46-0.56 at 20 mg/day; CSF assumed to stand for the "
                         "unbound brain concentration", "brain effect site / plasma concentration at equilibrium"),
    "brain_ke0_1_h": P(0.5, "1/h", "assumed: brain equilibrates within hours (t1/2 1.4 h); irrelevant at steady state "
                       "(t1/2 70 h); kept apart from ka so that the PK eigenvalues stay distinct",
                       "plasma-to-brain effect-site rate constant"),
    "ki_nmda_um": P(1.0, "uM", "Parsons CG et al. 1999, Neuropharmacology 38:735 (review, sec.): IC50 ~1 uM "
                    "at -70 mV and [3H]MK-801 Ki 0.5-1 uM; physiological Mg2+ lowers its potency at GluN2A/2B "
                    "receptors further (Kotermanski SE & Johnson JW 2009, J Neurosci 29:2774; not modelled)",
                    "NMDA channel-block Ki of memantine"),
    "mw_g_mol": P(179.3, "g/mol", "derived: memantine free base C12H21N", "molar mass"),
}

MEMANTINE_STATES: tuple[str, ...] = ("gut_depot_mg", "central_mg", "brain_mg_l")


def build_memantine(patient: dict[str, np.ndarray]) -> PkSystem:
    """Oral memantine for N patients: clearance from V and t1/2, allometric, scaled by cl_factor and v_factor."""
    p = values(MEMANTINE_PARAMETERS)
    n = len(patient["weight_kg"])
    w = patient["weight_kg"] / 70.0
    v = p["v_l"] * w * patient["v_factor"]
    cl = np.log(2.0) * p["v_l"] / p["half_life_h"] * w**0.75 * patient["cl_factor"]
    rate = oral_effect_site_rates(n, v, cl, p["ka_1_h"], p["brain_ke0_1_h"], p["brain_partition"])
    return PkSystem("memantine", MEMANTINE_STATES, rate, {"memantine": [(1, 1000.0 / v)]},
                    nmda_terms=[(2, ki_mg_l(p["ki_nmda_um"], p["mw_g_mol"]))])


MEMANTINE = DrugSpec(
    "memantine", "NMDA channel blocker, oral, once daily (5-20 mg/day); not an antidepressant (Zarate 2006)",
    ("oral",), "nmda", {"oral": 0.0}, MEMANTINE_PARAMETERS,
    SimplePk(build_memantine, oral_dosing(MEMANTINE_PARAMETERS["bioavailability"].value)), cmt={"oral": 13},
    targets={"NMDA": ("ki_nmda_um", "brain_partition")}, variability=(CL_FACTOR, V_FACTOR))
