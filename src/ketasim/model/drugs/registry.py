"""The drug registry: entries by name, and the dispatch of PK building and dosing to each entry's plug-in.

Nothing here names a drug. Derived tables (NONMEM CMT numbers, patient PK fields, their population
CVs) are computed from the registered entries.
"""

from __future__ import annotations

import numpy as np

from ketasim.errors import KetasimInputError
from ketasim.model.drugs.base import PK_COVARIATES, CompartmentInput, DrugSpec, PkSystem, PkVariability
from ketasim.model.drugs.compound_file import ROUTE_NAMES
from ketasim.model.parameters import Parameter
from ketasim.model.patient import PATIENT_FIELDS

ROUTES: tuple[str, ...] = ROUTE_NAMES
#: routes given in a supervised dosing session (clinic visit): each such dose time is a session (expectancy,
#: perceptible cue); oral, sublingual and extended-release doses are taken at home
SESSION_ROUTES: tuple[str, ...] = ("iv", "intranasal", "im", "sc")

#: registered drugs by name, in registration order
DRUGS: dict[str, DrugSpec] = {}


def register(spec: DrugSpec) -> DrugSpec:
    """Add a drug entry; its routes, CMT numbers and patient fields are checked against the others."""
    where = f"drug {spec.name!r}"
    if spec.name in DRUGS:
        raise KetasimInputError(f"{where}: already registered")
    unknown = [r for r in spec.routes if r not in ROUTES]
    if unknown:
        raise KetasimInputError(f"{where}: unknown route(s) {', '.join(unknown)}; known routes: {', '.join(ROUTES)}")
    if set(spec.cmt) != set(spec.routes):
        raise KetasimInputError(f"{where}: needs one NONMEM CMT number per route {spec.routes}, got {spec.cmt}")
    taken = {cmt: pair for cmt, pair in cmt_table().items() if cmt in spec.cmt.values()}
    if taken or len(set(spec.cmt.values())) != len(spec.cmt):
        raise KetasimInputError(f"{where}: CMT numbers {spec.cmt} collide ({taken or 'within the entry'})")
    known = {v.name: v for v in pk_variability()}
    for v in spec.variability:
        if v.name not in PATIENT_FIELDS:
            raise KetasimInputError(f"{where}: patient field {v.name!r} is not a Patient field (add it to model/patient.py)")
        if v.name in known and known[v.name] != v:
            raise KetasimInputError(f"{where}: patient field {v.name!r} is declared differently by another drug")
    missing = [name for names in spec.targets.values() for name in names if name not in spec.parameters]
    if missing:
        raise KetasimInputError(f"{where}: target parameter(s) {', '.join(missing)} not in its parameter table")
    DRUGS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a drug entry (for drugs registered at run time, e.g. in tests)."""
    get_drug(name)
    del DRUGS[name]


def get_drug(name: str, where: str = "drug") -> DrugSpec:
    """The drug called `name`, or a clear error listing the known ones."""
    if name not in DRUGS:
        raise KetasimInputError(f"{where}: unknown drug {name!r}; known drugs: {', '.join(DRUGS)}")
    return DRUGS[name]


def check_route(drug: str, route: str, where: str = "route") -> None:
    """Raise unless `drug` can be given by `route`."""
    spec = get_drug(drug, where)
    if route not in ROUTES:
        raise KetasimInputError(f"{where}: unknown route {route!r}; known routes: {', '.join(ROUTES)}")
    if route not in spec.routes:
        raise KetasimInputError(f"{where}: {drug} cannot be given {route}; its routes: {', '.join(spec.routes)}")


def build_pk(drug: str, route: str, patient: dict[str, np.ndarray]) -> PkSystem | None:
    """The PK system for `drug` given by `route` (None for inert drugs), built by the drug's plug-in."""
    return get_drug(drug).pk.build_pk(route, patient)


def dose_inputs(
    drug: str, route: str, system: PkSystem, amount_mg: np.ndarray, time_h: float, duration_h: float,
    patient: dict[str, np.ndarray],
) -> list[CompartmentInput]:
    """Expand one clinical dose into compartment inputs (one dose may become several events)."""
    return get_drug(drug).pk.dose_inputs(route, system, amount_mg, time_h, duration_h, patient)


def cmt_table() -> dict[int, tuple[str, str]]:
    """NONMEM CMT number -> (drug, route), from the registered entries, by number."""
    pairs = {cmt: (spec.name, route) for spec in DRUGS.values() for route, cmt in spec.cmt.items()}
    return dict(sorted(pairs.items()))


def pk_variability() -> tuple[PkVariability, ...]:
    """Patient PK variability fields declared by the registered drugs (first declaration order, no repeats)."""
    out: dict[str, PkVariability] = {}
    for spec in DRUGS.values():
        for v in spec.variability:
            out.setdefault(v.name, v)
    return tuple(out.values())


def pk_variability_parameters() -> dict[str, Parameter]:
    """Population CV parameters of those fields, by CV name."""
    return {v.cv_name: v.cv for v in pk_variability()}


def pk_patient_fields() -> tuple[str, ...]:
    """Patient fields that only enter PK numbers: the covariates and every declared variability field."""
    return PK_COVARIATES + tuple(v.name for v in pk_variability())
