"""Inert controls: placebo (any route; the nasal placebo carries a bittering agent) and saline."""

from __future__ import annotations

from ketasim.model.drugs.base import DrugSpec, NoPk, P

_NASAL_CUE = ("assumed: the placebo spray carries a bittering agent that patients taste "
              "(esketamine trial methods, e.g. Daly 2018)")

PLACEBO = DrugSpec(
    "placebo", "inert; any route (the nasal placebo carries a bittering agent)", ("iv", "intranasal", "oral"), "inert",
    {"intranasal": 1.0},
    {"perceptible_cue_intranasal": P(1.0, "1", _NASAL_CUE + "; scaled by the calibrated placebo_spray_cue",
                                     "the spray is perceptible")},
    NoPk(), cmt={"iv": 9, "intranasal": 10, "oral": 11})

SALINE = DrugSpec("saline", "inert IV infusion", ("iv",), "inert", {"iv": 0.0}, {}, NoPk(), cmt={"iv": 12})
