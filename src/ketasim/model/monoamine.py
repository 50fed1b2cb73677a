"""Monoaminergic path: SSRIs occupy SERT within days, but 5-HT1A autoreceptors hold transmission
back until they desensitise over weeks; only then does the slow plasticity drive build up."""

from __future__ import annotations

from typing import Any

from ketasim.model.namespace import Array
from ketasim.model.parameters import Parameter as P

PARAMETERS: dict[str, P] = {
    "autoreceptor_desensitisation_time_d": P(
        7.0, "d", "assumed: somatodendritic 5-HT1A desensitisation over ~2 weeks (Blier P & de Montigny C 1994, TIPS)",
        "autoreceptor desensitisation time constant", valid=(0.5, 120)),
    "monoaminergic_drive_time_d": P(4.0, "d", "assumed: slow BDNF gene expression with chronic SSRI (weeks)",
                                    "build-up time of the slow plasticity drive", valid=(0.5, 120)),
}


def desensitisation_rate(xp: Any, sert_occupancy: Array, desensitised: Array, p: dict[str, float]) -> Array:
    """d(fraction of autoreceptor brake released)/dt, 1/h: follows sustained SERT occupancy slowly."""
    return (sert_occupancy - desensitised) / (p["autoreceptor_desensitisation_time_d"] * xp.hours_per_day)


def drive_rate(xp: Any, sert_occupancy: Array, desensitised: Array, drive: Array, responsiveness: Array,
               p: dict[str, float]) -> Array:
    """d(monoaminergic plasticity drive)/dt, 1/h: transmission = occupancy x released brake."""
    transmission = sert_occupancy * desensitised * responsiveness
    return (transmission - drive) / (p["monoaminergic_drive_time_d"] * xp.hours_per_day)
