"""Circuit layer: partial NMDA block disinhibits cortex and glutamate surges (an inverted U).

Interneurons are silenced at lower occupancy than pyramidal cells (Homayoun & Moghaddam 2007);
the network adapts to the disinhibition within hours, and high (anaesthetic) occupancy also
blocks pyramidal cells, so the surge falls again (Moghaddam 1997).
"""

from __future__ import annotations

from typing import Any

from ketasim.model.namespace import Array
from ketasim.model.parameters import Parameter as P

_SHAPE = "assumed: shape after Moghaddam B et al. 1997, J Neurosci 17:2921 (rodent; shapes, not numbers)"
#: how an occupancy threshold set on the former scale (Ebert 1997 in vitro Ki on total plasma) was carried to the
#: in vivo unbound scale of the compound files, keeping its plasma concentration (docs/mechanism-checks.md)
OCCUPANCY_SCALE_NOTE = ("on the in vivo unbound scale (effect site = unbound plasma x Kp,uu 1, Ki x 2.9; "
                        "docs/mechanism-checks.md, NMDA occupancy): {old} on the former scale (in vitro Ki on total "
                        "plasma) mapped to the same plasma concentration: r = o/(1-o) divided by 5.27 (= 2.9/0.55), "
                        "o' = r'/(1+r')")

PARAMETERS: dict[str, P] = {
    "interneuron_occupancy50": P(0.0752, "1", "calibrated to data/calibration (the shipped value: calibrated.toml); "
                                 "interneurons are silenced by partial block (Homayoun & Moghaddam 2007), low doses "
                                 "work (Fava 2018); default " + OCCUPANCY_SCALE_NOTE.format(old="0.30"),
                                 "NMDA occupancy silencing half of the interneuron drive", valid=(0.01, 0.99)),
    "nmda_circuit_link": P(1.0, "1", "structural: 1 = the link intact, 0 = cut (knock-out checks); NMDA block on "
                           "GABA interneurons disinhibits pyramidal cells (Homayoun H & Moghaddam B 2007, J Neurosci "
                           "27:11496)", "share of interneuron NMDA block that silences interneurons", valid=(0, 1)),
    "interneuron_hill": P(2.0, "1", _SHAPE, "steepness of interneuron silencing", valid=(0.5, 20)),
    "pyramidal_occupancy50": P(0.363, "1", _SHAPE + "; " + OCCUPANCY_SCALE_NOTE.format(old="0.75"),
                               "NMDA occupancy blocking half of pyramidal output (anaesthesia)",
                               valid=(0.01, 0.99)),
    "pyramidal_hill": P(8.0, "1", _SHAPE, "steepness of pyramidal block", valid=(0.5, 20)),
    "adaptation_time_h": P(1.5, "h", "assumed: the glutamate burst is transient, over within ~1-2 h (Moghaddam 1997)",
                           "homeostatic adaptation of the network to disinhibition", valid=(0.01, 48)),
    "glutamate_time_h": P(1.0 / 6.0, "h", "assumed: extracellular glutamate follows firing within ~10 min (microdialysis)",
                          "glutamate time constant", valid=(0.001, 24)),
    "glutamate_surge_max": P(2.0, "fold",
                             "assumed: about a doubling to tripling of prefrontal glutamate outflow (Moghaddam 1997)",
                             "maximal glutamate rise above baseline, in multiples of baseline", valid=(0, 10)),
}


def interneuron_silencing(xp: Any, nmda_occupancy: Array, p: dict[str, float]) -> Array:
    """Fraction of GABA interneuron drive removed by NMDA block (sensitive: low occupancy suffices)."""
    o = xp.maximum(nmda_occupancy, 0.0) ** p["interneuron_hill"]
    return p["nmda_circuit_link"] * o / (o + p["interneuron_occupancy50"] ** p["interneuron_hill"])


def pyramidal_capacity(xp: Any, nmda_occupancy: Array, p: dict[str, float]) -> Array:
    """Fraction of pyramidal output left at this occupancy (near-complete block suppresses it)."""
    o = xp.maximum(nmda_occupancy, 0.0) ** p["pyramidal_hill"]
    return 1.0 - o / (o + p["pyramidal_occupancy50"] ** p["pyramidal_hill"])


def adaptation_rate(silencing: Array, adaptation: Array, p: dict[str, float]) -> Array:
    """d(adaptation)/dt, 1/h: the network re-balances towards the current silencing."""
    return (silencing - adaptation) / p["adaptation_time_h"]


def glutamate_rate(xp: Any, silencing: Array, adaptation: Array, capacity: Array,
                   glutamate: Array, p: dict[str, float]) -> Array:
    """d(glutamate excess)/dt, fold/h: surge = unadapted disinhibition x pyramidal capacity."""
    target = p["glutamate_surge_max"] * xp.maximum(silencing - adaptation, 0.0) * capacity
    return (target - glutamate) / p["glutamate_time_h"]
