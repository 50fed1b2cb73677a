"""Drugs as data: PK structure, parameters (unit + source per row), routes and receptor targets.

Each drug is one linear compartment system (amounts in mg, effect sites as concentrations in
mg/L). Its parameters are per 70 kg and scaled allometrically (clearances by (W/70)^0.75,
volumes by W/70; Anderson BJ & Holford NHG 2008, Annu Rev Pharmacol Toxicol 48:303).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ketasim.errors import KetasimInputError
from ketasim.model.parameters import Parameter

P = Parameter
MW_KETAMINE = P(237.7, "g/mol", "ketamine free base (data/pharmacology.md unit note)")
MW_NORKETAMINE = P(223.7, "g/mol", "norketamine free base, C12H14ClNO")

_FANTA = "Fanta S et al. 2015, Eur J Clin Pharmacol 71:441 (via nlmixr2lib, sec.)"
_OTTO = "Otto ME et al. 2021, Eur J Clin Pharmacol 77:1181, Table 3 (sec.)"
_PEREZ = "Perez-Ruixo C et al. 2021, Clin Pharmacokinet 60:501, Table 3 (sec.)"
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

ESKETAMINE_NASAL_PARAMETERS: dict[str, Parameter] = {
    "vc_l": P(192.0, "L", _PEREZ, "esketamine central volume"),
    "cl_l_h": P(114.0, "L/h", _PEREZ, "esketamine clearance (hepatic, well-stirred)"),
    "q1_l_h": P(84.3, "L/h", _PEREZ, "inter-compartmental clearance 1"),
    "vp1_l": P(143.0, "L", _PEREZ, "peripheral volume 1"),
    "q2_l_h": P(37.6, "L/h", _PEREZ, "inter-compartmental clearance 2"),
    "vp2_l": P(417.0, "L", _PEREZ, "peripheral volume 2"),
    "device_mg": P(28.0, "mg", "Spravato label: 28 mg per device", "esketamine per nasal device"),
    "device_interval_h": P(5.0 / 60.0, "h", "Spravato label: devices 5 min apart", "time between devices"),
    "nasal_fraction": P(0.54, "1", _PEREZ, "fraction of a device absorbed through the nose (FRn)"),
    "nasal_fraction_later_devices": P(0.62, "1", _PEREZ, "FRn multiplier for the 2nd and later devices"),
    "ka_nasal_1_h": P(2.93, "1/h", _PEREZ, "nasal absorption rate constant"),
    "swallow_duration_h": P(0.53, "h", _PEREZ, "zero-order transfer of the swallowed part to the gut"),
    "ka_gut_1_h": P(1.45, "1/h", _PEREZ, "gut absorption rate constant"),
    "f_gut": P(0.64, "1", _PEREZ, "fraction escaping gut-wall loss"),
    "hepatic_flow_l_h": P(151.0, "L/h", _PEREZ, "hepatic blood flow Qh (age <= 60 y)"),
    "hepatic_flow_loss_per_year_l_h": P(2.19, "L/h per year", _PEREZ, "fall of Qh per year of age above 60"),
    "nor_vc_l": P(70.0, "L", _PEREZ, "noresketamine central volume (Vcn/F)"),
    "nor_vp_l": P(115.0, "L", _PEREZ, "noresketamine peripheral volume (Vpn/F)"),
    "nor_q_l_h": P(26.1, "L/h", _PEREZ, "noresketamine inter-compartmental clearance (Q3/F)"),
    "nor_cl_l_h": P(38.0, "L/h", _PEREZ, "noresketamine clearance (CL/F)"),
    "fraction_to_noresketamine": P(
        1.0, "1", "assumed: the popPK metabolite parameters are apparent (/F), so all esketamine clearance forms noresketamine",
        "fraction of esketamine clearance forming noresketamine"),
}

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

MIDAZOLAM_PARAMETERS: dict[str, Parameter] = {
    "v_l": P(77.0, "L", "midazolam label: Vd 1-3.1 L/kg (sec.); 1.1 L/kg x 70 kg", "volume of distribution"),
    "cl_l_h": P(26.6, "L/h", "midazolam label: 0.25-0.54 L/h/kg (sec.); 0.38 L/h/kg x 70 kg", "clearance"),
    "ke0_1_h": P(4.0, "1/h", "assumed: sedation follows plasma within ~10 min", "plasma-to-effect-site rate constant"),
    "sedation_ec50_ng_ml": P(30.0, "ng/mL", "assumed: light, perceptible sedation at 30-40 ng/mL (midazolam label, sec.)",
                             "effect-site concentration for half-maximal perceptible sedation"),
}

SERT_MAX_OCCUPANCY = P(0.86, "1", "derived: fit to Klein 2006/2007 (0.864); Meyer JH et al. 2001/2004 report a plateau "
                       "at ~85%", "maximal SERT occupancy")


@dataclass(frozen=True)
class PkSystem:
    """One drug's linear compartment system for a batch of N patients.

    rate_matrix: (N, n, n) in 1/h, d state/dt = rate_matrix @ state + input.
    States are amounts (mg) except effect sites, which are concentrations (mg/L).
    """

    drug: str
    state_names: tuple[str, ...]
    rate_matrix: np.ndarray
    #: plasma output name -> list of (state index, per-patient factor (N,)) giving ng/mL
    plasma_outputs: dict[str, list[tuple[int, np.ndarray]]]
    #: NMDA blockers at the effect site: (state index, Ki in mg/L)
    nmda_terms: list[tuple[int, float]] = field(default_factory=list)
    #: SERT ligands at the effect site: (state index, EC50 in mg/L)
    sert_terms: list[tuple[int, float]] = field(default_factory=list)
    #: perceptible sedation: (state index, EC50 in mg/L)
    sedation_terms: list[tuple[int, float]] = field(default_factory=list)


@dataclass(frozen=True)
class CompartmentInput:
    """A bolus (duration 0) or zero-order input into one state, amounts per patient (mg)."""

    time_h: float
    state_index: int
    amount_mg: np.ndarray
    duration_h: float = 0.0


@dataclass(frozen=True)
class DrugSpec:
    """A drug as data: its routes, what it does, its parameters, and its PK builder."""

    name: str
    description: str
    routes: tuple[str, ...]
    action: str  # "nmda", "ssri", "sedative", "inert"
    #: perceptible cue of a session beyond the drug's own effects (the placebo spray's taste), by route:
    #: 0 none, 1 as much as an hour of clear dissociation; active drugs are felt through their effects
    perceptible_cue: dict[str, float]
    parameters: dict[str, Parameter]


def _col(x: np.ndarray | float, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(x, dtype=float), (n,)).copy()


def _ketamine_chain(
    rate: np.ndarray, names: list[str], prefix: str, v1: np.ndarray, cl: np.ndarray, vp1: np.ndarray,
    q1: np.ndarray, vp2: np.ndarray, q2: np.ndarray, nor: dict[str, np.ndarray], fm: float, ke0: float,
) -> dict[str, int]:
    """Fill one enantiomer chain: 3-compartment parent -> 2-compartment nor-metabolite, with brain effect sites."""
    base = len(names)
    idx = {k: base + i for i, k in enumerate(["c", "p1", "p2", "nc", "np", "ce", "nce"])}
    names += [f"{prefix}_{k}" for k in ["central_mg", "periph1_mg", "periph2_mg", "nor_central_mg", "nor_periph_mg",
                                       "brain_mg_l", "nor_brain_mg_l"]]
    c, p1, p2, nc, np_, ce, nce = (idx[k] for k in ["c", "p1", "p2", "nc", "np", "ce", "nce"])
    # distribution and elimination of the parent (mass-conserving transfers)
    rate[:, c, c] = -(cl + q1 + q2) / v1
    rate[:, p1, c] = q1 / v1
    rate[:, c, p1] = q1 / vp1
    rate[:, p1, p1] = -q1 / vp1
    rate[:, p2, c] = q2 / v1
    rate[:, c, p2] = q2 / vp2
    rate[:, p2, p2] = -q2 / vp2
    # N-demethylation: a fraction of parent clearance forms the metabolite
    rate[:, nc, c] = fm * cl / v1
    rate[:, nc, nc] = -(nor["cl"] + nor["q"]) / nor["v"]
    rate[:, np_, nc] = nor["q"] / nor["v"]
    rate[:, nc, np_] = nor["q"] / nor["vp"]
    rate[:, np_, np_] = -nor["q"] / nor["vp"]
    # brain effect sites follow plasma concentration with rate ke0
    rate[:, ce, c] = ke0 / v1
    rate[:, ce, ce] = -ke0
    rate[:, nce, nc] = ke0 / nor["v"]
    rate[:, nce, nce] = -ke0
    return idx


def ki_mg_l(ki_um: float, mw_g_mol: float) -> float:
    """Convert a Ki in uM to mg/L (uM x g/mol = ug/L)."""
    return ki_um * mw_g_mol * 1e-3


def build_ketamine_family(drug: str, patient: dict[str, np.ndarray]) -> PkSystem:
    """Racemic ketamine, arketamine (R) or esketamine given IV (S): enantiomer chains with metabolites."""
    p = {k: v.value for k, v in KETAMINE_PARAMETERS.items()}
    n = len(patient["weight_kg"])
    w = patient["weight_kg"] / 70.0
    cl_scale = w**0.75 * patient["cl_factor"]
    v_scale = w * patient["v_factor"]
    enantiomers = {"ketamine": ["s", "r"], "arketamine": ["r"], "esketamine": ["s"]}[drug]
    size = 7 * len(enantiomers)
    rate = np.zeros((n, size, size))
    names: list[str] = []
    nor = {"v": p["nor_v_l"] * v_scale, "cl": p["nor_cl_l_h"] * cl_scale, "vp": p["nor_vp_l"] * v_scale,
           "q": p["nor_q_l_h"] * cl_scale}
    plasma: dict[str, list[tuple[int, np.ndarray]]] = {drug: [], f"nor{drug}": []}
    nmda: list[tuple[int, float]] = []
    for e in enantiomers:
        cl_ratio = 1.0 if e == "s" else p["r_to_s_clearance_ratio"]
        v1 = p["s_v1_l"] * v_scale
        idx = _ketamine_chain(
            rate, names, f"{e}_ketamine", v1, p["s_cl_l_h"] * cl_ratio * cl_scale, p["s_vp1_l"] * v_scale,
            p["s_q1_l_h"] * cl_scale, p["s_vp2_l"] * v_scale, p["s_q2_l_h"] * cl_scale, nor,
            p["fraction_to_norketamine"], p["brain_ke0_1_h"])
        plasma[drug].append((idx["c"], 1000.0 / v1))
        plasma[f"nor{drug}"].append((idx["nc"], 1000.0 / nor["v"]))
        nmda.append((idx["ce"], ki_mg_l(p[f"ki_{e}_ketamine_um"], MW_KETAMINE.value)))
        nmda.append((idx["nce"], ki_mg_l(p[f"ki_{e}_norketamine_um"], MW_NORKETAMINE.value)))
    return PkSystem(drug, tuple(names), rate, plasma, nmda_terms=nmda)


def esketamine_hepatic(patient: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Hepatic clearance (L/h) and hepatic availability (1) of esketamine, well-stirred liver.

    Intrinsic clearance is fixed so that CL = 114 L/h at Qh = 151 L/h; Qh falls with age > 60 y
    and varies between patients (Perez-Ruixo 2021).
    """
    p = {k: v.value for k, v in ESKETAMINE_NASAL_PARAMETERS.items()}
    w = patient["weight_kg"] / 70.0
    qh_typical = p["hepatic_flow_l_h"]
    cl_int = p["cl_l_h"] * qh_typical / (qh_typical - p["cl_l_h"])
    qh = (qh_typical - p["hepatic_flow_loss_per_year_l_h"] * np.maximum(patient["age_y"] - 60.0, 0.0))
    qh = qh * w**0.75 * patient["qh_factor"]
    cl_int = cl_int * w**0.75 * patient["cl_factor"]
    return qh * cl_int / (qh + cl_int), qh / (qh + cl_int)


def build_esketamine_nasal(patient: dict[str, np.ndarray]) -> PkSystem:
    """Esketamine + noresketamine, 3+2 compartments, with nasal and gut depots (Perez-Ruixo 2021)."""
    p = {k: v.value for k, v in ESKETAMINE_NASAL_PARAMETERS.items()}
    k = {kk: v.value for kk, v in KETAMINE_PARAMETERS.items()}
    n = len(patient["weight_kg"])
    w = patient["weight_kg"] / 70.0
    v_scale = w * patient["v_factor"]
    cl_scale = w**0.75
    names = ["nasal_depot_mg", "gut_depot_mg", "central_mg", "periph1_mg", "periph2_mg", "nor_central_mg",
             "nor_periph_mg", "brain_mg_l", "nor_brain_mg_l"]
    nasal, gut, c, p1, p2, nc, np_, ce, nce = range(len(names))
    rate = np.zeros((n, len(names), len(names)))
    vc = p["vc_l"] * v_scale * patient["esk_vc_factor"]
    vp1 = p["vp1_l"] * v_scale * patient["esk_vp1_factor"]
    vp2 = p["vp2_l"] * v_scale
    q1, q2 = p["q1_l_h"] * cl_scale, p["q2_l_h"] * cl_scale
    cl, _ = esketamine_hepatic(patient)
    ka_n = p["ka_nasal_1_h"] * patient["esk_ka_nasal_factor"]
    # nasal and gut absorption (first order)
    rate[:, nasal, nasal] = -ka_n
    rate[:, c, nasal] = ka_n
    rate[:, gut, gut] = -p["ka_gut_1_h"]
    rate[:, c, gut] = p["ka_gut_1_h"]  # gut-wall and hepatic first-pass losses are applied to the swallowed amount
    # disposition
    rate[:, c, c] = -(cl + q1 + q2) / vc
    rate[:, p1, c] = q1 / vc
    rate[:, c, p1] = q1 / vp1
    rate[:, p1, p1] = -q1 / vp1
    rate[:, p2, c] = q2 / vc
    rate[:, c, p2] = q2 / vp2
    rate[:, p2, p2] = -q2 / vp2
    vn, vpn = p["nor_vc_l"] * v_scale, p["nor_vp_l"] * v_scale
    qn, cln = p["nor_q_l_h"] * cl_scale, p["nor_cl_l_h"] * cl_scale * patient["cl_factor"]
    rate[:, nc, c] = p["fraction_to_noresketamine"] * cl / vc
    rate[:, nc, nc] = -(cln + qn) / vn
    rate[:, np_, nc] = qn / vn
    rate[:, nc, np_] = qn / vpn
    rate[:, np_, np_] = -qn / vpn
    ke0 = k["brain_ke0_1_h"]
    rate[:, ce, c] = ke0 / vc
    rate[:, ce, ce] = -ke0
    rate[:, nce, nc] = ke0 / vn
    rate[:, nce, nce] = -ke0
    plasma = {"esketamine": [(c, 1000.0 / vc)], "noresketamine": [(nc, 1000.0 / vn)]}
    nmda = [(ce, ki_mg_l(k["ki_s_ketamine_um"], MW_KETAMINE.value)),
            (nce, ki_mg_l(k["ki_s_norketamine_um"], MW_NORKETAMINE.value))]
    return PkSystem("esketamine", tuple(names), rate, plasma, nmda_terms=nmda)


_SSRI_TABLES = {"escitalopram": ESCITALOPRAM_PARAMETERS, "citalopram": CITALOPRAM_PARAMETERS,
                "sertraline": SERTRALINE_PARAMETERS}


def build_ssri(drug: str, patient: dict[str, np.ndarray]) -> PkSystem:
    """Oral SSRI: gut depot -> one compartment -> SERT binding site (slow, so occupancy lags plasma)."""
    p = {k: v.value for k, v in _SSRI_TABLES[drug].items()}
    n = len(patient["weight_kg"])
    w = patient["weight_kg"] / 70.0
    v = p["v_l"] * w * patient["v_factor"]
    cl = 0.6931471805599453 * p["v_l"] / p["half_life_h"] * w**0.75 * patient["ssri_cl_factor"]
    gut, c, ce = 0, 1, 2
    rate = np.zeros((n, 3, 3))
    rate[:, gut, gut] = -p["ka_1_h"]
    rate[:, c, gut] = p["ka_1_h"]
    rate[:, c, c] = -cl / v
    rate[:, ce, c] = p["sert_ke0_1_h"] / v
    rate[:, ce, ce] = -p["sert_ke0_1_h"]
    return PkSystem(drug, ("gut_depot_mg", "central_mg", "sert_site_mg_l"), rate, {drug: [(c, 1000.0 / v)]},
                    sert_terms=[(ce, p["sert_ec50_ng_ml"] * 1e-3)])


def build_midazolam(patient: dict[str, np.ndarray]) -> PkSystem:
    """Midazolam IV, one compartment and a sedation effect site."""
    p = {k: v.value for k, v in MIDAZOLAM_PARAMETERS.items()}
    n = len(patient["weight_kg"])
    w = patient["weight_kg"] / 70.0
    v = p["v_l"] * w * patient["v_factor"]
    cl = p["cl_l_h"] * w**0.75 * patient["cl_factor"]
    rate = np.zeros((n, 2, 2))
    rate[:, 0, 0] = -cl / v
    rate[:, 1, 0] = p["ke0_1_h"] / v
    rate[:, 1, 1] = -p["ke0_1_h"]
    return PkSystem("midazolam", ("central_mg", "effect_mg_l"), rate, {"midazolam": [(0, 1000.0 / v)]},
                    sedation_terms=[(1, p["sedation_ec50_ng_ml"] * 1e-3)])


_NASAL_CUE = ("assumed: the placebo spray carries a bittering agent that patients taste "
              "(esketamine trial methods, e.g. Daly 2018)")

DRUGS: dict[str, DrugSpec] = {
    "ketamine": DrugSpec("ketamine", "racemic ketamine (S and R tracked separately, with norketamine)", ("iv",),
                         "nmda", {}, KETAMINE_PARAMETERS),
    "esketamine": DrugSpec("esketamine", "S-ketamine; nasal spray (28 mg devices, 5 min apart) or IV",
                           ("intranasal", "iv"), "nmda", {},
                           {**ESKETAMINE_NASAL_PARAMETERS, **KETAMINE_PARAMETERS}),
    "arketamine": DrugSpec("arketamine", "R-ketamine, IV", ("iv",), "nmda", {}, KETAMINE_PARAMETERS),
    "escitalopram": DrugSpec("escitalopram", "SSRI, oral, once daily", ("oral",), "ssri", {"oral": 0.0},
                             {**ESCITALOPRAM_PARAMETERS, "sert_max_occupancy": SERT_MAX_OCCUPANCY}),
    "citalopram": DrugSpec("citalopram", "SSRI (racemate; S is escitalopram), oral", ("oral",), "ssri",
                           {"oral": 0.0}, {**CITALOPRAM_PARAMETERS, "sert_max_occupancy": SERT_MAX_OCCUPANCY}),
    "sertraline": DrugSpec("sertraline", "SSRI, oral", ("oral",), "ssri", {"oral": 0.0},
                           {**SERTRALINE_PARAMETERS, "sert_max_occupancy": SERT_MAX_OCCUPANCY}),
    "midazolam": DrugSpec("midazolam", "active placebo: sedation patients can feel, no antidepressant action",
                          ("iv",), "sedative", {}, MIDAZOLAM_PARAMETERS),
    "placebo": DrugSpec("placebo", "inert; any route (the nasal placebo carries a bittering agent)",
                        ("iv", "intranasal", "oral"), "inert", {"intranasal": 1.0},
                        {"perceptible_cue_intranasal": P(1.0, "1", _NASAL_CUE + "; scaled by the calibrated "
                                                         "placebo_spray_cue", "the spray is perceptible")}),
    "saline": DrugSpec("saline", "inert IV infusion", ("iv",), "inert", {"iv": 0.0}, {}),
}

DRUG_NAMES: tuple[str, ...] = tuple(DRUGS)
ROUTES: tuple[str, ...] = ("iv", "intranasal", "oral")


def get_drug(name: str, where: str = "drug") -> DrugSpec:
    """The drug called `name`, or a clear error listing the known ones."""
    if name not in DRUGS:
        raise KetasimInputError(f"{where}: unknown drug {name!r}; known drugs: {', '.join(DRUG_NAMES)}")
    return DRUGS[name]


def check_route(drug: str, route: str, where: str = "route") -> None:
    """Raise unless `drug` can be given by `route`."""
    spec = get_drug(drug, where)
    if route not in ROUTES:
        raise KetasimInputError(f"{where}: unknown route {route!r}; known routes: {', '.join(ROUTES)}")
    if route not in spec.routes:
        raise KetasimInputError(f"{where}: {drug} cannot be given {route}; its routes: {', '.join(spec.routes)}")


def build_pk(drug: str, route: str, patient: dict[str, np.ndarray]) -> PkSystem | None:
    """The PK system for `drug` given by `route` (None for inert drugs)."""
    if drug in ("ketamine", "arketamine") or (drug == "esketamine" and route == "iv"):
        return build_ketamine_family(drug, patient)
    if drug == "esketamine":
        return build_esketamine_nasal(patient)
    if drug in _SSRI_TABLES:
        return build_ssri(drug, patient)
    if drug == "midazolam":
        return build_midazolam(patient)
    return None


def dose_inputs(
    drug: str, route: str, system: PkSystem, amount_mg: np.ndarray, time_h: float, duration_h: float,
    patient: dict[str, np.ndarray],
) -> list[CompartmentInput]:
    """Expand one clinical dose into compartment inputs (one dose may become several events)."""
    names = system.state_names
    if drug == "esketamine" and route == "intranasal":
        return _esketamine_spray_inputs(names, amount_mg, time_h, patient)
    if route == "oral":
        f = _SSRI_TABLES[drug]["bioavailability"].value
        return [CompartmentInput(time_h, names.index("gut_depot_mg"), amount_mg * f, 0.0)]
    # IV: split the racemate equally between the enantiomer chains' central compartments
    centrals = [i for i, nm in enumerate(names) if nm.endswith("central_mg") and "nor_" not in nm]
    share = amount_mg / len(centrals)
    return [CompartmentInput(time_h, i, share, duration_h) for i in centrals]


def _esketamine_spray_inputs(
    names: tuple[str, ...], amount_mg: np.ndarray, time_h: float, patient: dict[str, np.ndarray],
) -> list[CompartmentInput]:
    """Devices of 28 mg 5 min apart; each: nasal fraction to the nasal depot, the rest swallowed."""
    p = {k: v.value for k, v in ESKETAMINE_NASAL_PARAMETERS.items()}
    total = float(np.max(amount_mg)) if np.size(amount_mg) else 0.0
    n_devices = max(1, int(np.ceil(total / p["device_mg"] - 1e-9)))
    _, hepatic_availability = esketamine_hepatic(patient)
    inputs = []
    for k in range(n_devices):
        device_amount = np.minimum(np.maximum(amount_mg - k * p["device_mg"], 0.0), p["device_mg"])
        fr = p["nasal_fraction"] * (p["nasal_fraction_later_devices"] if k else 1.0)
        t = time_h + k * p["device_interval_h"]
        inputs.append(CompartmentInput(t, names.index("nasal_depot_mg"), device_amount * fr, 0.0))
        swallowed = device_amount * (1.0 - fr) * p["f_gut"] * hepatic_availability
        inputs.append(CompartmentInput(t, names.index("gut_depot_mg"), swallowed, p["swallow_duration_h"]))
    return inputs
