"""Building blocks of drug PK systems: compartment transfers, effect sites, dosing rules, unit conversion."""

from __future__ import annotations

import numpy as np

from ketasim.model.drugs.base import CompartmentInput, Dosing, PkSystem
from ketasim.model.parameters import Parameter


def values(parameters: dict[str, Parameter]) -> dict[str, float]:
    """Parameter values by name."""
    return {k: v.value for k, v in parameters.items()}


def ki_mg_l(ki_um: float, mw_g_mol: float) -> float:
    """Convert a Ki in uM to mg/L (uM x g/mol = ug/L)."""
    return ki_um * mw_g_mol * 1e-3


def iv_central_inputs(system: PkSystem, amount_mg: np.ndarray, time_h: float,
                      duration_h: float) -> list[CompartmentInput]:
    """IV dose split equally between the parent central compartments (one per enantiomer chain)."""
    names = system.state_names
    centrals = [i for i, nm in enumerate(names) if nm.endswith("central_mg") and "nor_" not in nm]
    share = amount_mg / len(centrals)
    return [CompartmentInput(time_h, i, share, duration_h) for i in centrals]


def oral_dosing(bioavailability: float) -> Dosing:
    """Oral dosing rule: the absorbed fraction (bioavailability, 1) of each dose into the gut depot as a bolus."""
    def inputs(system: PkSystem, amount_mg: np.ndarray, time_h: float, duration_h: float) -> list[CompartmentInput]:
        return [CompartmentInput(time_h, system.state_names.index("gut_depot_mg"), amount_mg * bioavailability, 0.0)]
    return inputs


def oral_effect_site_rates(n: int, v: np.ndarray, cl: np.ndarray, ka: float, ke0: float,
                           partition: float = 1.0) -> np.ndarray:
    """Rate matrix (N, 3, 3) of gut depot -> one compartment -> effect site.

    v in L, cl in L/h, ka and ke0 in 1/h; the effect site (mg/L) settles at `partition` x plasma.
    States: 0 gut depot (mg), 1 central (mg), 2 effect site (mg/L).
    """
    gut, c, ce = 0, 1, 2
    rate = np.zeros((n, 3, 3))
    rate[:, gut, gut] = -ka
    rate[:, c, gut] = ka
    rate[:, c, c] = -cl / v
    rate[:, ce, c] = ke0 * partition / v
    rate[:, ce, ce] = -ke0
    return rate


def fill_disposition(rate: np.ndarray, c: int, p1: int, p2: int, v1: np.ndarray, cl: np.ndarray, q1: np.ndarray,
                     vp1: np.ndarray, q2: np.ndarray, vp2: np.ndarray) -> None:
    """Three-compartment distribution and elimination of a parent drug (mass-conserving transfers).

    Volumes in L, clearances in L/h, per patient (N,); writes rows/columns c, p1, p2 of `rate`.
    """
    rate[:, c, c] = -(cl + q1 + q2) / v1
    rate[:, p1, c] = q1 / v1
    rate[:, c, p1] = q1 / vp1
    rate[:, p1, p1] = -q1 / vp1
    rate[:, p2, c] = q2 / v1
    rate[:, c, p2] = q2 / vp2
    rate[:, p2, p2] = -q2 / vp2


def fill_metabolite(rate: np.ndarray, parent: int, nc: int, np_: int, parent_v: np.ndarray, parent_cl: np.ndarray,
                    fraction: float, nor: dict[str, np.ndarray]) -> None:
    """Two-compartment metabolite formed from a `fraction` (1) of parent clearance.

    `nor` holds the metabolite's v, vp (L), cl and q (L/h) per patient.
    """
    rate[:, nc, parent] = fraction * parent_cl / parent_v
    rate[:, nc, nc] = -(nor["cl"] + nor["q"]) / nor["v"]
    rate[:, np_, nc] = nor["q"] / nor["v"]
    rate[:, nc, np_] = nor["q"] / nor["vp"]
    rate[:, np_, np_] = -nor["q"] / nor["vp"]


def fill_effect_site(rate: np.ndarray, site: int, source: int, source_v: np.ndarray, ke0: float) -> None:
    """Effect site (mg/L) following the concentration of amount state `source` (volume L) with rate ke0 (1/h)."""
    rate[:, site, source] = ke0 / source_v
    rate[:, site, site] = -ke0
