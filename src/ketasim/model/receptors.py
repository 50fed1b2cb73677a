"""Receptor layer: NMDA receptor occupancy from all blockers at the effect site, SERT occupancy.

Occupancies combine competing ligands on one site, sum(C_i / K_i) / (1 + sum(C_i / K_i)), so
they can never exceed 1 (or the SERT plateau).
"""

from __future__ import annotations

import numpy as np


def combined_occupancy(ratio_sum: np.ndarray) -> np.ndarray:
    """Fraction of sites bound given sum(C_i / K_i) >= 0 over all ligands (law of mass action)."""
    ratio = np.maximum(ratio_sum, 0.0)
    return ratio / (1.0 + ratio)


def nmda_occupancy(ratio_sum: np.ndarray) -> np.ndarray:
    """NMDA receptor occupancy (0-1) from sum of effect-site concentration / Ki over blockers."""
    return combined_occupancy(ratio_sum)


def sert_occupancy(ratio_sum: np.ndarray, max_occupancy: float) -> np.ndarray:
    """SERT occupancy (0-max_occupancy) from sum of effect-site concentration / EC50 over SSRIs."""
    return max_occupancy * combined_occupancy(ratio_sum)


#: steepness of perceptible sedation (assumed: sedation is felt above a threshold, not in the tail)
SEDATION_HILL = 3.0


def sedation(ratio_sum: np.ndarray) -> np.ndarray:
    """Perceptible sedation (0-1) from effect-site concentration / EC50 (midazolam), a steep Hill curve."""
    r = np.maximum(ratio_sum, 0.0) ** SEDATION_HILL
    return r / (1.0 + r)
