"""What a drug entry is made of: the PK system it builds, its dose inputs, its plug-in, its entry type.

Each drug is one linear compartment system (amounts in mg, effect sites as concentrations in
mg/L). Its parameters are per 70 kg and scaled allometrically (clearances by (W/70)^0.75,
volumes by W/70; Anderson BJ & Holford NHG 2008, Annu Rev Pharmacol Toxicol 48:303).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ketasim.model.parameters import Parameter

P = Parameter

#: patient covariates any PK builder may read (drawn by the population, not per drug)
PK_COVARIATES: tuple[str, ...] = ("weight_kg", "age_y", "female")


@dataclass(frozen=True)
class PkSystem:
    """One drug's linear compartment system for a batch of N patients.

    rate_matrix: (N, n, n) in 1/h, d state/dt = rate_matrix @ state + input.
    States are amounts (mg) except effect sites, which are concentrations (mg/L).
    """

    drug: str
    state_names: tuple[str, ...]
    rate_matrix: np.ndarray
    #: plasma output name -> list of (state index, per-patient factor (N,)) giving ng/mL
    plasma_outputs: dict[str, list[tuple[int, np.ndarray]]]
    #: NMDA blockers at the effect site: (state index, Ki in mg/L)
    nmda_terms: list[tuple[int, float]] = field(default_factory=list)
    #: SERT ligands at the effect site: (state index, EC50 in mg/L)
    sert_terms: list[tuple[int, float]] = field(default_factory=list)
    #: perceptible sedation: (state index, EC50 in mg/L)
    sedation_terms: list[tuple[int, float]] = field(default_factory=list)
    #: NMDA block at rest under physiological Mg2+: (state index, Ki / block_at_rest in mg/L); a blocker with
    #: no block at rest has no term
    nmda_mg_terms: list[tuple[int, float]] = field(default_factory=list)


@dataclass(frozen=True)
class CompartmentInput:
    """A bolus (duration 0) or zero-order input into one state, amounts per patient (mg)."""

    time_h: float
    state_index: int
    amount_mg: np.ndarray
    duration_h: float = 0.0


class DrugPk(Protocol):
    """A drug's plug-in: builds its PK system and turns one clinical dose into compartment inputs."""

    def build_pk(self, route: str, patient: dict[str, np.ndarray]) -> PkSystem | None:
        """The PK system for `route` for N patients (dict of (N,) arrays); None if the drug has no PK."""
        ...

    def dose_inputs(self, route: str, system: PkSystem, amount_mg: np.ndarray, time_h: float, duration_h: float,
                    patient: dict[str, np.ndarray]) -> list[CompartmentInput]:
        """Compartment inputs for one dose of `amount_mg` (N,) mg at `time_h` h (infusion `duration_h` h)."""
        ...


class NoPk:
    """Plug-in of inert drugs (placebo, saline): no PK system, no inputs."""

    def build_pk(self, route: str, patient: dict[str, np.ndarray]) -> PkSystem | None:
        return None

    def dose_inputs(self, route: str, system: PkSystem, amount_mg: np.ndarray, time_h: float, duration_h: float,
                    patient: dict[str, np.ndarray]) -> list[CompartmentInput]:
        return []


#: a route-independent dosing rule: (system, amount mg (N,), time h, infusion duration h) -> inputs
Dosing = Callable[[PkSystem, np.ndarray, float, float], list[CompartmentInput]]


@dataclass(frozen=True)
class SimplePk:
    """Plug-in of a drug with one PK system for all its routes: a builder and a dosing rule."""

    build: Callable[[dict[str, np.ndarray]], PkSystem]
    dosing: Dosing

    def build_pk(self, route: str, patient: dict[str, np.ndarray]) -> PkSystem | None:
        return self.build(patient)

    def dose_inputs(self, route: str, system: PkSystem, amount_mg: np.ndarray, time_h: float, duration_h: float,
                    patient: dict[str, np.ndarray]) -> list[CompartmentInput]:
        return self.dosing(system, amount_mg, time_h, duration_h)


@dataclass(frozen=True)
class PkVariability:
    """A patient field that varies a PK parameter between patients.

    scale "log": a lognormal factor, mean 1, CV `cv` (the field is the factor, 1 = typical);
    scale "logit": a normal shift of the parameter's logit, SD `cv` (the field is the shift, 0 = typical),
    for fractions such as a bioavailability. `name` is the `Patient` field; `cv_name` is the
    population parameter holding its CV or SD, drawn by `trials.population.draw_candidates`.
    """

    name: str
    cv_name: str
    cv: Parameter
    description: str
    scale: str = "log"


#: variability shared by several drugs (declared once; entries list the ones their PK reads)
CL_FACTOR = PkVariability("cl_factor", "cl_cv", P(
    0.30, "1", "assumed: ketamine clearance IIV ~30% (Kamp J et al. 2020 report 69-90 L/h between studies)",
    "ketamine/esketamine/midazolam/memantine clearance CV"), "clearance (ketamine, esketamine, midazolam, memantine)")
#: maximal SERT occupancy of every SERT ligand (the model's; a compound file's sert.max_occupancy is carried only)
SERT_MAX_OCCUPANCY = P(0.86, "1", "derived: fit to Klein 2006/2007 (0.864); Meyer JH et al. 2001/2004 report a plateau "
                       "at ~85%", "maximal SERT occupancy")
V_FACTOR = PkVariability("v_factor", "v_cv", P(0.20, "1", "assumed: volume IIV ~20%", "volume CV"),
                         "volumes of distribution")


@dataclass(frozen=True)
class DrugSpec:
    """A drug as data: its routes, what it does, its parameters, and its PK plug-in.

    `cmt` gives the fixed NONMEM compartment number of each route; `targets` names, per target
    (NMDA, SERT, sedation), the parameters that set its affinity; `variability` lists the patient
    fields its PK reads.
    """

    name: str
    description: str
    routes: tuple[str, ...]
    action: str  # "nmda", "ssri", "sedative", "inert"
    #: perceptible cue of a session beyond the drug's own effects (the placebo spray's taste), by route:
    #: 0 none, 1 as much as an hour of clear dissociation; active drugs are felt through their effects
    perceptible_cue: dict[str, float]
    parameters: dict[str, Parameter]
    pk: DrugPk = field(default_factory=NoPk)
    cmt: dict[str, int] = field(default_factory=dict)
    targets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    variability: tuple[PkVariability, ...] = ()
    #: the compound file the entry was read from ("" for an entry built in code)
    source_file: str = ""
