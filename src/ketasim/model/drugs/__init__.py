"""Drugs as data: one compound file per drug (`data/compounds/*.toml`, docs/compound-file.md: parameters with
unit and source, routes, targets, NONMEM CMT numbers, patient PK fields), built by one generic plug-in
(`compound_pk`) and collected in a registry that dispatches `build_pk` and `dose_inputs` through each entry.

Adding a drug: write its compound file; shipped ones are listed in `compounds.SHIPPED`, a user's is loaded
with `register_compound_file` (trial files: `compounds = [...]`; CLI: `--compound FILE`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ketasim.model.drugs.base import (
    PK_COVARIATES,
    SERT_MAX_OCCUPANCY,
    CompartmentInput,
    DrugPk,
    DrugSpec,
    NoPk,
    P,
    PkSystem,
    PkVariability,
    SimplePk,
)
from ketasim.model.drugs.compound_file import Compound, parse_compound, parse_compound_text, read_compound
from ketasim.model.drugs.compound_pk import CompoundPk, compound_spec, logit_fraction
from ketasim.model.drugs.compounds import (
    SHIPPED,
    compound_spec_from_file,
    register_compound_file,
    shipped_compound_specs,
    shipped_compound_text,
)
from ketasim.model.drugs.registry import (
    DRUGS,
    ROUTES,
    SESSION_ROUTES,
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

for _spec in shipped_compound_specs():
    register(_spec)

#: names of the shipped drugs (drugs registered later are in DRUGS only)
DRUG_NAMES: tuple[str, ...] = tuple(DRUGS)


def ki_mg_l(ki_um: float, mw_g_mol: float) -> float:
    """Convert a Ki in uM to mg/L (uM x g/mol = ug/L)."""
    return ki_um * mw_g_mol * 1e-3


def _builder(name: str, route: str) -> Callable[[dict[str, np.ndarray]], PkSystem]:
    def build(patient: dict[str, np.ndarray]) -> PkSystem:
        system = DRUGS[name].pk.build_pk(route, patient)
        assert system is not None
        return system
    build.__doc__ = f"The PK system of {name} given {route} for N patients (from its compound file)."
    return build


build_memantine = _builder("memantine", "oral")
build_midazolam = _builder("midazolam", "iv")
build_esketamine_nasal = _builder("esketamine", "intranasal")


def build_ketamine_family(drug: str, patient: dict[str, np.ndarray]) -> PkSystem:
    """Ketamine, arketamine or esketamine given IV, from their compound files."""
    return _builder(drug, "iv")(patient)


def build_ssri(drug: str, patient: dict[str, np.ndarray]) -> PkSystem:
    """An oral SSRI (escitalopram, citalopram, sertraline), from its compound file."""
    return _builder(drug, "oral")(patient)


#: parameter tables of the shipped drugs, keyed by the dotted key in their compound files
KETAMINE_PARAMETERS = DRUGS["ketamine"].parameters
ESKETAMINE_NASAL_PARAMETERS = DRUGS["esketamine"].parameters
MEMANTINE_PARAMETERS = DRUGS["memantine"].parameters
MIDAZOLAM_PARAMETERS = DRUGS["midazolam"].parameters
ESCITALOPRAM_PARAMETERS = DRUGS["escitalopram"].parameters
CITALOPRAM_PARAMETERS = DRUGS["citalopram"].parameters
SERTRALINE_PARAMETERS = DRUGS["sertraline"].parameters
MW_KETAMINE = KETAMINE_PARAMETERS["molar_mass_g_mol"]
MW_NORKETAMINE = KETAMINE_PARAMETERS["species.s_norketamine.molar_mass"]


def esketamine_hepatic(patient: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Hepatic clearance (L/h) and availability (1) of nasal esketamine (well-stirred liver, Perez-Ruixo 2021)."""
    pk = DRUGS["esketamine"].pk
    assert isinstance(pk, CompoundPk)
    return pk.hepatic(pk.compound.routes["intranasal"].parents[0].disposition, patient)


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
    "SESSION_ROUTES",
    "SHIPPED",
    "CompartmentInput",
    "Compound",
    "CompoundPk",
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
    "compound_spec",
    "compound_spec_from_file",
    "dose_inputs",
    "esketamine_hepatic",
    "get_drug",
    "ki_mg_l",
    "logit_fraction",
    "parse_compound",
    "parse_compound_text",
    "pk_patient_fields",
    "pk_variability",
    "pk_variability_parameters",
    "read_compound",
    "register",
    "register_compound_file",
    "shipped_compound_specs",
    "shipped_compound_text",
    "unregister",
]
