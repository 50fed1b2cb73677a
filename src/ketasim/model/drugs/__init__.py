"""Drugs as data: one module per drug family (parameter table with unit and source, routes, targets,
NONMEM CMT numbers, patient PK fields, one PK plug-in), collected in a registry that dispatches
`build_pk` and `dose_inputs` through each entry's plug-in.

Adding a drug: write its module (entry + plug-in) and register it below; see README "Adding a drug".
"""

from __future__ import annotations

from ketasim.model.drugs.base import (
    PK_COVARIATES,
    CompartmentInput,
    DrugPk,
    DrugSpec,
    NoPk,
    P,
    PkSystem,
    PkVariability,
    SimplePk,
)
from ketasim.model.drugs.compartments import ki_mg_l
from ketasim.model.drugs.esketamine import (
    ESKETAMINE,
    ESKETAMINE_NASAL_PARAMETERS,
    build_esketamine_nasal,
    esketamine_hepatic,
)
from ketasim.model.drugs.inert import PLACEBO, SALINE
from ketasim.model.drugs.ketamine import (
    ARKETAMINE,
    KETAMINE,
    KETAMINE_PARAMETERS,
    MW_KETAMINE,
    MW_NORKETAMINE,
    build_ketamine_family,
)
from ketasim.model.drugs.memantine import MEMANTINE, MEMANTINE_PARAMETERS, build_memantine
from ketasim.model.drugs.midazolam import MIDAZOLAM, MIDAZOLAM_PARAMETERS, build_midazolam
from ketasim.model.drugs.registry import (
    DRUGS,
    ROUTES,
    build_pk,
    check_route,
    cmt_table,
    dose_inputs,
    get_drug,
    pk_patient_fields,
    pk_variability,
    pk_variability_parameters,
    register,
    unregister,
)
from ketasim.model.drugs.ssri import (
    CITALOPRAM,
    CITALOPRAM_PARAMETERS,
    ESCITALOPRAM,
    ESCITALOPRAM_PARAMETERS,
    SERT_MAX_OCCUPANCY,
    SERTRALINE,
    SERTRALINE_PARAMETERS,
    build_ssri,
)

for _spec in (KETAMINE, ESKETAMINE, ARKETAMINE, ESCITALOPRAM, CITALOPRAM, SERTRALINE, MIDAZOLAM, PLACEBO, SALINE,
              MEMANTINE):
    register(_spec)

#: names of the shipped drugs (drugs registered later are in DRUGS only)
DRUG_NAMES: tuple[str, ...] = tuple(DRUGS)

__all__ = [
    "CITALOPRAM_PARAMETERS",
    "DRUGS",
    "DRUG_NAMES",
    "ESCITALOPRAM_PARAMETERS",
    "ESKETAMINE_NASAL_PARAMETERS",
    "KETAMINE_PARAMETERS",
    "MEMANTINE_PARAMETERS",
    "MIDAZOLAM_PARAMETERS",
    "MW_KETAMINE",
    "MW_NORKETAMINE",
    "PK_COVARIATES",
    "ROUTES",
    "SERTRALINE_PARAMETERS",
    "SERT_MAX_OCCUPANCY",
    "CompartmentInput",
    "DrugPk",
    "DrugSpec",
    "NoPk",
    "P",
    "PkSystem",
    "PkVariability",
    "SimplePk",
    "build_esketamine_nasal",
    "build_ketamine_family",
    "build_memantine",
    "build_midazolam",
    "build_pk",
    "build_ssri",
    "check_route",
    "cmt_table",
    "dose_inputs",
    "esketamine_hepatic",
    "get_drug",
    "ki_mg_l",
    "pk_patient_fields",
    "pk_variability",
    "pk_variability_parameters",
    "register",
    "unregister",
]
