"""Oral SSRIs (escitalopram, citalopram, sertraline): gut depot -> one compartment -> SERT binding site."""

from __future__ import annotations

from functools import partial

import numpy as np

from ketasim.model.drugs.base import (
    V_FACTOR,
    DrugSpec,
    P,
    PkSystem,
    PkVariability,
    SimplePk,
)
from ketasim.model.drugs.compartments import oral_dosing, oral_effect_site_rates, values
from ketasim.model.parameters import Parameter

ESCITALOPRAM_PARAMETERS: dict[str, Parameter] = {
    "v_l": P(1100.0, "L", "Sogaard B et al. 2005, J Clin Pharmacol 45:1400", "volume of distribution"),
    "half_life_h": P(30.0, "h", "label: 27-33 h (sec.); Sogaard's CL 31 L/h with V 1100 L would give 24.6 h",
                     "elimination half-life"),
    "bioavailability": P(0.80, "1", "Sogaard 2005; label (sec.)", "oral bioavailability"),
    "ka_1_h": P(1.0, "1/h", "derived: Tmax 3-5 h (label) with the half-life above gives ka ~1 /h", "absorption rate"),
    "sert_ke0_1_h": P(2.0, "1/h", "derived: least-squares fit to Klein N et al. 2006 (single 5/10/20 mg) and 2007 "
                      "(10 mg/d x 10 d, 6 h and 54 h); poorly identified (1.6-3.9 /h fit equally)",
                      "plasma-to-SERT binding rate constant"),
    "sert_ec50_ng_ml": P(1.7, "ng/mL", "derived: same fit to Klein 2006/2007 (residuals <= 0.044 occupancy)",
                         "effect-site concentration for half of maximal SERT occupancy"),
}

CITALOPRAM_PARAMETERS: dict[str, Parameter] = {
    "v_l": P(840.0, "L", "Celexa label: 12 L/kg (sec.), 70 kg", "volume of distribution"),
    "half_life_h": P(35.0, "h", "label: ~35 h (data/pharmacology.md)", "elimination half-life"),
    "bioavailability": P(0.80, "1", "Celexa label: ~80% (sec.)", "oral bioavailability"),
    "ka_1_h": P(1.0, "1/h", "assumed as escitalopram (Tmax ~4 h, label)", "absorption rate"),
    "sert_ke0_1_h": P(2.0, "1/h", "assumed as escitalopram", "plasma-to-SERT binding rate constant"),
    "sert_ec50_ng_ml": P(3.4, "ng/mL", "derived: only the S-enantiomer (half of the racemate) binds SERT: 2x escitalopram; "
                         "gives ~80% at 20 mg/day (Meyer JH et al. 2004)",
                         "effect-site racemate concentration for half-maximal SERT occupancy"),
}

SERTRALINE_PARAMETERS: dict[str, Parameter] = {
    "v_l": P(1400.0, "L", "Zoloft label: > 20 L/kg (sec.), 70 kg; apparent (V/F)", "volume of distribution"),
    "half_life_h": P(26.0, "h", "label: ~26 h (22-36) (data/pharmacology.md)", "elimination half-life"),
    "bioavailability": P(1.0, "1", "assumed: V and CL are apparent (/F)", "oral bioavailability"),
    "ka_1_h": P(0.5, "1/h", "derived: Tmax 4.5-8.4 h (label) gives ka ~0.5 /h", "absorption rate"),
    "sert_ke0_1_h": P(2.0, "1/h", "assumed as escitalopram", "plasma-to-SERT binding rate constant"),
    "sert_ec50_ng_ml": P(4.2, "ng/mL", "derived: 50 mg/day gives ~80% SERT occupancy at steady state (Meyer JH et al. 2004, "
                         "Am J Psychiatry 161:826); desmethylsertraline (~8x weaker) ignored",
                         "effect-site concentration for half-maximal SERT occupancy"),
}

SERT_MAX_OCCUPANCY = P(0.86, "1", "derived: fit to Klein 2006/2007 (0.864); Meyer JH et al. 2001/2004 report a plateau "
                       "at ~85%", "maximal SERT occupancy")

SSRI_TABLES: dict[str, dict[str, Parameter]] = {"escitalopram": ESCITALOPRAM_PARAMETERS,
                                                "citalopram": CITALOPRAM_PARAMETERS, "sertraline": SERTRALINE_PARAMETERS}

SSRI_CL_FACTOR = PkVariability("ssri_cl_factor", "ssri_cl_cv", P(
    0.40, "1", "assumed: SSRI clearance IIV ~40% (CYP2C19/2D6 polymorphism)", "SSRI clearance CV"),
    "SSRI clearance (CYP2C19 / CYP2D6 variability)")


def build_ssri(drug: str, patient: dict[str, np.ndarray]) -> PkSystem:
    """Oral SSRI: gut depot -> one compartment -> SERT binding site (slow, so occupancy lags plasma)."""
    p = values(SSRI_TABLES[drug])
    n = len(patient["weight_kg"])
    w = patient["weight_kg"] / 70.0
    v = p["v_l"] * w * patient["v_factor"]
    cl = 0.6931471805599453 * p["v_l"] / p["half_life_h"] * w**0.75 * patient["ssri_cl_factor"]
    rate = oral_effect_site_rates(n, v, cl, p["ka_1_h"], p["sert_ke0_1_h"])
    return PkSystem(drug, ("gut_depot_mg", "central_mg", "sert_site_mg_l"), rate, {drug: [(1, 1000.0 / v)]},
                    sert_terms=[(2, p["sert_ec50_ng_ml"] * 1e-3)])


def _ssri(name: str, description: str, cmt: int) -> DrugSpec:
    """The entry of one oral SSRI: its table, one plug-in (gut depot at its bioavailability), its CMT number."""
    pk = SimplePk(partial(build_ssri, name), oral_dosing(SSRI_TABLES[name]["bioavailability"].value))
    return DrugSpec(name, description, ("oral",), "ssri", {"oral": 0.0},
                    {**SSRI_TABLES[name], "sert_max_occupancy": SERT_MAX_OCCUPANCY}, pk, cmt={"oral": cmt},
                    targets={"SERT": ("sert_ec50_ng_ml", "sert_max_occupancy")}, variability=(V_FACTOR, SSRI_CL_FACTOR))


ESCITALOPRAM = _ssri("escitalopram", "SSRI, oral, once daily", 5)
CITALOPRAM = _ssri("citalopram", "SSRI (racemate; S is escitalopram), oral", 6)
SERTRALINE = _ssri("sertraline", "SSRI, oral", 7)
