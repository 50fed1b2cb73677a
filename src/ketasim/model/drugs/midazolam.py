"""Midazolam IV, the active placebo: one compartment and a sedation effect site, no antidepressant action."""

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
from ketasim.model.drugs.compartments import fill_effect_site, iv_central_inputs, values
from ketasim.model.parameters import Parameter

MIDAZOLAM_PARAMETERS: dict[str, Parameter] = {
    "v_l": P(77.0, "L", "midazolam label: Vd 1-3.1 L/kg (sec.); 1.1 L/kg x 70 kg", "volume of distribution"),
    "cl_l_h": P(26.6, "L/h", "midazolam label: 0.25-0.54 L/h/kg (sec.); 0.38 L/h/kg x 70 kg", "clearance"),
    "ke0_1_h": P(4.0, "1/h", "assumed: sedation follows plasma within ~10 min", "plasma-to-effect-site rate constant"),
    "sedation_ec50_ng_ml": P(30.0, "ng/mL", "assumed: light, perceptible sedation at 30-40 ng/mL (midazolam label, sec.)",
                             "effect-site concentration for half-maximal perceptible sedation"),
}


def build_midazolam(patient: dict[str, np.ndarray]) -> PkSystem:
    """Midazolam IV, one compartment and a sedation effect site."""
    p = values(MIDAZOLAM_PARAMETERS)
    n = len(patient["weight_kg"])
    w = patient["weight_kg"] / 70.0
    v = p["v_l"] * w * patient["v_factor"]
    cl = p["cl_l_h"] * w**0.75 * patient["cl_factor"]
    rate = np.zeros((n, 2, 2))
    rate[:, 0, 0] = -cl / v
    fill_effect_site(rate, 1, 0, v, p["ke0_1_h"])
    return PkSystem("midazolam", ("central_mg", "effect_mg_l"), rate, {"midazolam": [(0, 1000.0 / v)]},
                    sedation_terms=[(1, p["sedation_ec50_ng_ml"] * 1e-3)])


MIDAZOLAM = DrugSpec(
    "midazolam", "active placebo: sedation patients can feel, no antidepressant action", ("iv",), "sedative", {},
    MIDAZOLAM_PARAMETERS, SimplePk(build_midazolam, iv_central_inputs), cmt={"iv": 8},
    targets={"sedation": ("sedation_ec50_ng_ml",)}, variability=(CL_FACTOR, V_FACTOR))
