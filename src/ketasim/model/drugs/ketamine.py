"""Ketamine family given IV: racemic ketamine (S and R chains) and arketamine (R), with norketamine.

Each enantiomer is a 3-compartment parent feeding a 2-compartment nor-metabolite, both with a
brain effect site that blocks NMDA receptors (Ki by enantiomer). Esketamine IV uses the same
builder with the S chain only (see `esketamine.py`).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ketasim.model.drugs.base import (
    CL_FACTOR,
    V_FACTOR,
    DrugSpec,
    P,
    PkSystem,
    SimplePk,
)
from ketasim.model.drugs.compartments import (
    fill_disposition,
    fill_effect_site,
    fill_metabolite,
    iv_central_inputs,
    ki_mg_l,
    values,
)
from ketasim.model.parameters import Parameter

MW_KETAMINE = P(237.7, "g/mol", "ketamine free base (data/pharmacology.md unit note)")
MW_NORKETAMINE = P(223.7, "g/mol", "norketamine free base, C12H14ClNO")

_FANTA = "Fanta S et al. 2015, Eur J Clin Pharmacol 71:441 (via nlmixr2lib, sec.)"
_OTTO = "Otto ME et al. 2021, Eur J Clin Pharmacol 77:1181, Table 3 (sec.)"
_EBERT = "Ebert B et al. 1997, Eur J Pharmacol ([3H]MK-801, rat brain)"

#: Parameters shared by the ketamine family (racemate, esketamine IV, arketamine).
KETAMINE_PARAMETERS: dict[str, Parameter] = {
    "s_v1_l": P(133.0, "L", _FANTA, "S-ketamine central volume"),
    "s_cl_l_h": P(95.2, "L/h", _FANTA, "S-ketamine clearance"),
    "s_vp1_l": P(187.0, "L", _FANTA, "S-ketamine slow peripheral volume"),
    "s_q1_l_h": P(23.2, "L/h", _FANTA, "S-ketamine slow inter-compartmental clearance"),
    "s_vp2_l": P(98.8, "L", _FANTA, "S-ketamine fast peripheral volume"),
    "s_q2_l_h": P(157.0, "L/h", _FANTA, "S-ketamine fast inter-compartmental clearance"),
    "r_to_s_clearance_ratio": P(
        15.8 / 18.4, "1", "Wang J et al. 2019, Drug Des Devel Ther: R 15.8 vs S 18.4 mL/min/kg in the racemate",
        "R-ketamine clearance relative to S (volumes assumed equal)"),
    "nor_v_l": P(98.6, "L", _OTTO, "norketamine central volume (S; R assumed equal)"),
    "nor_cl_l_h": P(57.7, "L/h", _OTTO, "norketamine clearance"),
    "nor_vp_l": P(160.0, "L", _OTTO, "norketamine peripheral volume"),
    "nor_q_l_h": P(42.8, "L/h", _OTTO, "norketamine inter-compartmental clearance"),
    "fraction_to_norketamine": P(
        0.8, "1", "assumed: N-demethylation (CYP3A4/2B6) is the main route of ketamine clearance (labels, sec.)",
        "fraction of ketamine clearance forming norketamine"),
    "brain_ke0_1_h": P(
        8.3, "1/h", "assumed: rapid plasma-brain equilibration of the lipophilic base (t1/2,ke0 = 5 min)",
        "plasma-to-brain effect-site rate constant"),
    "ki_s_ketamine_um": P(0.30, "uM", _EBERT, "NMDA Ki of S-ketamine"),
    "ki_r_ketamine_um": P(1.4, "uM", _EBERT, "NMDA Ki of R-ketamine"),
    "ki_s_norketamine_um": P(1.7, "uM", _EBERT, "NMDA Ki of S-norketamine"),
    "ki_r_norketamine_um": P(13.0, "uM", _EBERT, "NMDA Ki of R-norketamine"),
}

#: NMDA target parameters of the family (for `DrugSpec.targets`)
KETAMINE_NMDA_TARGETS: tuple[str, ...] = ("ki_s_ketamine_um", "ki_r_ketamine_um", "ki_s_norketamine_um",
                                          "ki_r_norketamine_um")


def fill_ketamine_chain(
    rate: np.ndarray, names: list[str], prefix: str, v1: np.ndarray, cl: np.ndarray, vp1: np.ndarray,
    q1: np.ndarray, vp2: np.ndarray, q2: np.ndarray, nor: dict[str, np.ndarray], fm: float, ke0: float,
) -> dict[str, int]:
    """Fill one enantiomer chain: 3-compartment parent -> 2-compartment nor-metabolite, with brain effect sites."""
    base = len(names)
    idx = {k: base + i for i, k in enumerate(["c", "p1", "p2", "nc", "np", "ce", "nce"])}
    names += [f"{prefix}_{k}" for k in ["central_mg", "periph1_mg", "periph2_mg", "nor_central_mg", "nor_periph_mg",
                                       "brain_mg_l", "nor_brain_mg_l"]]
    c, p1, p2, nc, np_, ce, nce = (idx[k] for k in ["c", "p1", "p2", "nc", "np", "ce", "nce"])
    fill_disposition(rate, c, p1, p2, v1, cl, q1, vp1, q2, vp2)
    # N-demethylation: a fraction of parent clearance forms the metabolite
    fill_metabolite(rate, c, nc, np_, v1, cl, fm, nor)
    # brain effect sites follow plasma concentration with rate ke0
    fill_effect_site(rate, ce, c, v1, ke0)
    fill_effect_site(rate, nce, nc, nor["v"], ke0)
    return idx


#: enantiomer chains of each ketamine-family drug given IV
ENANTIOMERS: dict[str, tuple[str, ...]] = {"ketamine": ("s", "r"), "arketamine": ("r",), "esketamine": ("s",)}


def build_ketamine_family(drug: str, patient: dict[str, np.ndarray],
                          enantiomers: tuple[str, ...] | None = None) -> PkSystem:
    """Racemic ketamine, arketamine (R) or esketamine given IV (S): enantiomer chains with metabolites.

    `enantiomers` ("s", "r") defaults to ENANTIOMERS[drug]; plasma outputs are named drug and nor<drug>.
    """
    p = values(KETAMINE_PARAMETERS)
    n = len(patient["weight_kg"])
    w = patient["weight_kg"] / 70.0
    cl_scale = w**0.75 * patient["cl_factor"]
    v_scale = w * patient["v_factor"]
    chains = ENANTIOMERS[drug] if enantiomers is None else enantiomers
    size = 7 * len(chains)
    rate = np.zeros((n, size, size))
    names: list[str] = []
    nor = {"v": p["nor_v_l"] * v_scale, "cl": p["nor_cl_l_h"] * cl_scale, "vp": p["nor_vp_l"] * v_scale,
           "q": p["nor_q_l_h"] * cl_scale}
    plasma: dict[str, list[tuple[int, np.ndarray]]] = {drug: [], f"nor{drug}": []}
    nmda: list[tuple[int, float]] = []
    for e in chains:
        cl_ratio = 1.0 if e == "s" else p["r_to_s_clearance_ratio"]
        v1 = p["s_v1_l"] * v_scale
        idx = fill_ketamine_chain(
            rate, names, f"{e}_ketamine", v1, p["s_cl_l_h"] * cl_ratio * cl_scale, p["s_vp1_l"] * v_scale,
            p["s_q1_l_h"] * cl_scale, p["s_vp2_l"] * v_scale, p["s_q2_l_h"] * cl_scale, nor,
            p["fraction_to_norketamine"], p["brain_ke0_1_h"])
        plasma[drug].append((idx["c"], 1000.0 / v1))
        plasma[f"nor{drug}"].append((idx["nc"], 1000.0 / nor["v"]))
        nmda.append((idx["ce"], ki_mg_l(p[f"ki_{e}_ketamine_um"], MW_KETAMINE.value)))
        nmda.append((idx["nce"], ki_mg_l(p[f"ki_{e}_norketamine_um"], MW_NORKETAMINE.value)))
    return PkSystem(drug, tuple(names), rate, plasma, nmda_terms=nmda)


def ketamine_iv_pk(drug: str) -> SimplePk:
    """Plug-in for a ketamine-family drug given IV (bolus or zero-order infusion into each chain)."""
    return SimplePk(partial(build_ketamine_family, drug), iv_central_inputs)


KETAMINE = DrugSpec(
    "ketamine", "racemic ketamine (S and R tracked separately, with norketamine)", ("iv",), "nmda", {},
    KETAMINE_PARAMETERS, ketamine_iv_pk("ketamine"), cmt={"iv": 1}, targets={"NMDA": KETAMINE_NMDA_TARGETS},
    variability=(CL_FACTOR, V_FACTOR))

ARKETAMINE = DrugSpec(
    "arketamine", "R-ketamine, IV", ("iv",), "nmda", {}, KETAMINE_PARAMETERS, ketamine_iv_pk("arketamine"),
    cmt={"iv": 4}, targets={"NMDA": ("ki_r_ketamine_um", "ki_r_norketamine_um")}, variability=(CL_FACTOR, V_FACTOR))
