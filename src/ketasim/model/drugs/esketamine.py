"""Esketamine: nasal spray (Perez-Ruixo 2021 popPK, nasal and gut depots) or IV (ketamine-family S chain)."""

from __future__ import annotations

import numpy as np

from ketasim.model.drugs.base import (
    CL_FACTOR,
    V_FACTOR,
    CompartmentInput,
    DrugSpec,
    P,
    PkSystem,
    PkVariability,
)
from ketasim.model.drugs.compartments import fill_disposition, fill_effect_site, fill_metabolite, ki_mg_l, values
from ketasim.model.drugs.ketamine import KETAMINE_PARAMETERS, MW_KETAMINE, MW_NORKETAMINE, ketamine_iv_pk
from ketasim.model.parameters import Parameter

_PEREZ = "Perez-Ruixo C et al. 2021, Clin Pharmacokinet 60:501, Table 3 (sec.)"
_PEREZ_IIV = "Perez-Ruixo C et al. 2021, Clin Pharmacokinet 60:501 (IIV CV)"

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

#: patient fields of the nasal popPK (Perez-Ruixo 2021), in the order the population draws them
QH_FACTOR = PkVariability("qh_factor", "qh_cv", P(0.232, "1", _PEREZ_IIV, "hepatic flow CV"),
                          "hepatic blood flow (esketamine first pass)")
ESK_VC_FACTOR = PkVariability("esk_vc_factor", "esk_vc_cv", P(0.275, "1", _PEREZ_IIV, "esketamine central volume CV"),
                              "esketamine central volume")
ESK_VP1_FACTOR = PkVariability("esk_vp1_factor", "esk_vp1_cv",
                               P(0.493, "1", _PEREZ_IIV, "esketamine peripheral volume 1 CV"), "esketamine peripheral volume 1")
ESK_KA_NASAL_FACTOR = PkVariability("esk_ka_nasal_factor", "esk_ka_nasal_cv",
                                    P(0.615, "1", _PEREZ_IIV, "nasal absorption rate CV"), "esketamine nasal absorption rate")
ESK_NASAL_LOGIT = PkVariability(
    "esk_nasal_logit", "esk_nasal_fraction_sd_logit",
    P(0.71, "1", "Perez-Ruixo C et al. 2021, Clin Pharmacokinet 60:501 (IIV of the nasal fraction FRn, 71% on the logit scale)",
      "SD of the logit of the nasal fraction between patients"),
    "esketamine nasal fraction (shift of its logit)", scale="logit")


def esketamine_hepatic(patient: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Hepatic clearance (L/h) and hepatic availability (1) of esketamine, well-stirred liver.

    Intrinsic clearance is fixed so that CL = 114 L/h at Qh = 151 L/h; Qh falls with age > 60 y
    and varies between patients (Perez-Ruixo 2021).
    """
    p = values(ESKETAMINE_NASAL_PARAMETERS)
    w = patient["weight_kg"] / 70.0
    qh_typical = p["hepatic_flow_l_h"]
    cl_int = p["cl_l_h"] * qh_typical / (qh_typical - p["cl_l_h"])
    qh = (qh_typical - p["hepatic_flow_loss_per_year_l_h"] * np.maximum(patient["age_y"] - 60.0, 0.0))
    qh = qh * w**0.75 * patient["qh_factor"]
    cl_int = cl_int * w**0.75 * patient["cl_factor"]
    return qh * cl_int / (qh + cl_int), qh / (qh + cl_int)


def build_esketamine_nasal(patient: dict[str, np.ndarray]) -> PkSystem:
    """Esketamine + noresketamine, 3+2 compartments, with nasal and gut depots (Perez-Ruixo 2021)."""
    p = values(ESKETAMINE_NASAL_PARAMETERS)
    k = values(KETAMINE_PARAMETERS)
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
    fill_disposition(rate, c, p1, p2, vc, cl, q1, vp1, q2, vp2)
    nor = {"v": p["nor_vc_l"] * v_scale, "vp": p["nor_vp_l"] * v_scale, "q": p["nor_q_l_h"] * cl_scale,
           "cl": p["nor_cl_l_h"] * cl_scale * patient["cl_factor"]}
    fill_metabolite(rate, c, nc, np_, vc, cl, p["fraction_to_noresketamine"], nor)
    fill_effect_site(rate, ce, c, vc, k["brain_ke0_1_h"])
    fill_effect_site(rate, nce, nc, nor["v"], k["brain_ke0_1_h"])
    plasma = {"esketamine": [(c, 1000.0 / vc)], "noresketamine": [(nc, 1000.0 / nor["v"])]}
    nmda = [(ce, ki_mg_l(k["ki_s_ketamine_um"], MW_KETAMINE.value)),
            (nce, ki_mg_l(k["ki_s_norketamine_um"], MW_NORKETAMINE.value))]
    return PkSystem("esketamine", tuple(names), rate, plasma, nmda_terms=nmda)


def nasal_fraction(typical: float, patient: dict[str, np.ndarray]) -> np.ndarray:
    """Each patient's fraction of a device absorbed through the nose: the typical FRn with the
    patient's logit shift (Perez-Ruixo 2021: nasal absorption varies widely between patients)."""
    shift = patient.get("esk_nasal_logit", 0.0)
    return 1.0 / (1.0 + np.exp(-(np.log(typical / (1.0 - typical)) + shift)))


def esketamine_spray_inputs(
    names: tuple[str, ...], amount_mg: np.ndarray, time_h: float, patient: dict[str, np.ndarray],
) -> list[CompartmentInput]:
    """Devices of 28 mg 5 min apart; each: nasal fraction to the nasal depot, the rest swallowed."""
    p = values(ESKETAMINE_NASAL_PARAMETERS)
    total = float(np.max(amount_mg)) if np.size(amount_mg) else 0.0
    n_devices = max(1, int(np.ceil(total / p["device_mg"] - 1e-9)))
    _, hepatic_availability = esketamine_hepatic(patient)
    inputs = []
    for k in range(n_devices):
        device_amount = np.minimum(np.maximum(amount_mg - k * p["device_mg"], 0.0), p["device_mg"])
        fr = nasal_fraction(p["nasal_fraction"], patient) * (p["nasal_fraction_later_devices"] if k else 1.0)
        t = time_h + k * p["device_interval_h"]
        inputs.append(CompartmentInput(t, names.index("nasal_depot_mg"), device_amount * fr, 0.0))
        swallowed = device_amount * (1.0 - fr) * p["f_gut"] * hepatic_availability
        inputs.append(CompartmentInput(t, names.index("gut_depot_mg"), swallowed, p["swallow_duration_h"]))
    return inputs


class EsketaminePk:
    """Plug-in of esketamine: intranasal (depots, devices) or IV (the ketamine family's S chain)."""

    def __init__(self) -> None:
        self.iv = ketamine_iv_pk("esketamine")

    def build_pk(self, route: str, patient: dict[str, np.ndarray]) -> PkSystem | None:
        return build_esketamine_nasal(patient) if route == "intranasal" else self.iv.build_pk(route, patient)

    def dose_inputs(self, route: str, system: PkSystem, amount_mg: np.ndarray, time_h: float, duration_h: float,
                    patient: dict[str, np.ndarray]) -> list[CompartmentInput]:
        if route == "intranasal":
            return esketamine_spray_inputs(system.state_names, amount_mg, time_h, patient)
        return self.iv.dose_inputs(route, system, amount_mg, time_h, duration_h, patient)


ESKETAMINE = DrugSpec(
    "esketamine", "S-ketamine; nasal spray (28 mg devices, 5 min apart) or IV", ("intranasal", "iv"), "nmda", {},
    {**ESKETAMINE_NASAL_PARAMETERS, **KETAMINE_PARAMETERS}, EsketaminePk(), cmt={"intranasal": 2, "iv": 3},
    targets={"NMDA": ("ki_s_ketamine_um", "ki_s_norketamine_um")},
    variability=(CL_FACTOR, V_FACTOR, QH_FACTOR, ESK_VC_FACTOR, ESK_VP1_FACTOR, ESK_KA_NASAL_FACTOR, ESK_NASAL_LOGIT))
