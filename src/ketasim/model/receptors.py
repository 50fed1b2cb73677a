"""Receptor layer: NMDA receptor occupancy from all blockers at the effect site, SERT occupancy.

Occupancies combine competing ligands on one site, sum(C_i / K_i) / (1 + sum(C_i / K_i)), so
they can never exceed 1 (or the SERT plateau).
"""

from __future__ import annotations

from typing import Any

from ketasim.model.namespace import Array


def combined_occupancy(xp: Any, ratio_sum: Array) -> Array:
    """Fraction of sites bound given sum(C_i / K_i) >= 0 over all ligands (law of mass action)."""
    ratio = xp.maximum(ratio_sum, 0.0)
    return ratio / (1.0 + ratio)


def nmda_occupancy(xp: Any, ratio_sum: Array) -> Array:
    """NMDA receptor occupancy (0-1) from sum of effect-site concentration / Ki over blockers."""
    return combined_occupancy(xp, ratio_sum)


def nmda_block_physiological_mg(xp: Any, mg_ratio_sum: Array) -> Array:
    """NMDA channel block under physiological Mg2+ (0-1): mass action on sum(f_i C_i / Ki_i), f_i the share of
    ligand i's potency that survives Mg2+ at rest relative to ketamine (compound files'
    `nmda.block_at_rest_physiological_mg`; Mg2+ competes with the blocker in the channel: Kotermanski SE &
    Johnson JW 2009, J Neurosci 29:2774; Gideons ES et al. 2014, PNAS 111:8649)."""
    return combined_occupancy(xp, mg_ratio_sum)


def sert_occupancy(xp: Any, ratio_sum: Array, max_occupancy: float) -> Array:
    """SERT occupancy (0-max_occupancy) from sum of effect-site concentration / EC50 over SSRIs."""
    return max_occupancy * combined_occupancy(xp, ratio_sum)


#: steepness of perceptible sedation (assumed: sedation is felt above a threshold, not in the tail)
SEDATION_HILL = 3.0


def sedation(xp: Any, ratio_sum: Array) -> Array:
    """Perceptible sedation (0-1) from effect-site concentration / EC50 (midazolam), a steep Hill curve."""
    r = xp.maximum(ratio_sum, 0.0) ** SEDATION_HILL
    return r / (1.0 + r)
