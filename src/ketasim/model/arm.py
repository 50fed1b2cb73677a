"""One arm's frozen arguments for the mechanism: PK solved in closed form, sessions, patients, parameters.

An `ArmModel` holds one regimen for a batch of N patients over a time window: the PK exposure
(closed form, segment by segment; every dose a boundary), the sessions and their expectancy
jumps, the patients' traits and the mechanism parameters. The equations live in `mechanism`
(written once for numpy, JAX and SBML); `rhs` and `outputs` evaluate them with numpy. The
engines read only the public, read-only attributes and methods documented here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ketasim.errors import KetasimInputError
from ketasim.model import circuit, mechanism, monoamine, plasticity, suicidality, symptoms, vitals
from ketasim.model.drugs import (
    DRUGS,
    SERT_MAX_OCCUPANCY,
    SESSION_ROUTES,
    CompartmentInput,
    PkSystem,
    build_pk,
    dose_inputs,
)
from ketasim.model.mechanism import IDX, N_EXPOSURE, N_STATES, STATE_NAMES, Occupancy
from ketasim.model.namespace import NUMPY
from ketasim.model.parameters import Parameter, with_shipped_calibration
from ketasim.model.pk import ModalPk, segment_boundaries, solve_modal
from ketasim.model.regimen import Regimen

__all__ = ["IDX", "N_STATES", "STATE_NAMES", "ArmModel", "ExposureTerms", "Session", "calibrated_parameters",
           "initial_state", "model_values"]


def _all_parameters() -> dict[str, Parameter]:
    out: dict[str, Parameter] = {}
    for module in (circuit, plasticity, monoamine, symptoms, vitals, suicidality):
        out.update(module.PARAMETERS)
    return out


DEFAULT_PARAMETERS: dict[str, Parameter] = _all_parameters()


@lru_cache(maxsize=1)
def calibrated_parameters() -> dict[str, Parameter]:
    """Mechanism parameters with the shipped calibration applied (`calibrated.toml`)."""
    return with_shipped_calibration(DEFAULT_PARAMETERS, "model")


def model_values(overrides: dict[str, float] | None = None) -> dict[str, float]:
    """Parameter values by name (calibrated defaults, then `overrides`)."""
    values = {k: p.value for k, p in calibrated_parameters().items()}
    for name, value in (overrides or {}).items():
        if name not in values:
            raise KetasimInputError(f"unknown model parameter {name!r}; see `ketasim parameters`")
        values[name] = float(value)
    return values


def initial_state(patient: dict[str, np.ndarray]) -> np.ndarray:
    """Untreated state (N, n_states): `mechanism.initial_state` for every patient."""
    n = len(patient["weight_kg"])
    y = np.zeros((n, N_STATES))
    for i, value in enumerate(mechanism.initial_state(patient)):
        y[:, i] = value
    return y


@dataclass(frozen=True)
class Session:
    """A dosing session (IV, intranasal, IM or SC dose of any drug) and its perceptible cue (0-1)."""

    time_h: float
    cue: float


@dataclass(frozen=True)
class ExposureTerms:
    """One PK system's share of receptor exposure, ready to evaluate at any time of a segment.

    For each kind of `mechanism.EXPOSURE_KINDS` (NMDA, SERT, sedation, NMDA at rest) the sum over the
    system's ligands of (1/K) x eigenvector row, so one small product gives sum(C/K) of all four:
    eigenvalues (N, n) in 1/h, rows (N, 4, n) in 1/(mg/L) per mode, coefficients per segment (N, n)
    and the particular part per segment (N, 4).
    """

    eigenvalues: np.ndarray
    rows: np.ndarray
    coefficients: Sequence[np.ndarray] | Mapping[int, np.ndarray]
    particular: Sequence[np.ndarray] | Mapping[int, np.ndarray]

    def ratio_sums(self, segment: int, tau_h: np.ndarray | float, patients: slice | np.ndarray = slice(None)) -> np.ndarray:
        """sum(C/K) per kind (N, 4) at `tau_h` hours after the start of `segment`."""
        z = self.coefficients[segment][patients] * np.exp(self.eigenvalues[patients] * tau_h)
        return np.einsum("pkj,pj->pk", self.rows[patients], z) + self.particular[segment][patients]

    def restricted(self, segment: int, idx: np.ndarray) -> ExposureTerms:
        """The same terms for patients `idx` in `segment` only (gathered once, not at every evaluation)."""
        return ExposureTerms(self.eigenvalues[idx], self.rows[idx], {segment: self.coefficients[segment][idx]},
                             {segment: self.particular[segment][idx]})


@dataclass(frozen=True)
class PkSystemInputs:
    """One drug and route of the regimen: its compartment system and its inputs (doses) in this window."""

    system: PkSystem
    inputs: tuple[CompartmentInput, ...]


class ArmModel:
    """One regimen for N patients between `start_h` and `end_h`, PK solved in closed form.

    Public, read-only after construction: `patient` (field -> (N,)), `params` (name -> value),
    `start_h`, `end_h`, `n_patients`, `sessions`, `systems` ((drug, route) -> PkSystemInputs),
    `boundaries` (segment boundaries, h), `modal` ((drug, route) -> ModalPk), `exposure_terms`,
    `session_jumps` (expectancy lift at each boundary, `mechanism.after_session`), `in_care` (per segment, 0 or 1;
    care from time 0 to `care_until_h`) and `decay` (linear decay of each state, 1/h).
    """

    def __init__(self, regimen: Regimen, patient: dict[str, np.ndarray], params: dict[str, float],
                 start_h: float, end_h: float, initial_pk: dict[tuple[str, str], np.ndarray] | None = None,
                 care_until_h: float | None = None) -> None:
        self.patient = patient
        self.params = params
        self.start_h, self.end_h = float(start_h), float(end_h)
        self.n_patients = len(patient["weight_kg"])
        weight = patient["weight_kg"]
        events = [e for e in regimen.events(end_h) if start_h <= e.time_h < end_h]
        # one session per time with any dose given in a session (IV, intranasal, IM, SC); its cue is the most perceptible one
        cues: dict[float, float] = {}
        for e in events:
            if e.route in SESSION_ROUTES:
                cue = DRUGS[e.drug].perceptible_cue.get(e.route, 0.0)
                cues[e.time_h] = max(cues.get(e.time_h, 0.0), cue)
        self.sessions: tuple[Session, ...] = tuple(Session(t, c) for t, c in sorted(cues.items()))
        self.systems: dict[tuple[str, str], PkSystemInputs] = {}
        all_inputs: list[CompartmentInput] = []
        for drug, route in regimen.drugs:
            system = build_pk(drug, route, patient)
            if system is None:
                continue
            inputs: list[CompartmentInput] = []
            for e in events:
                if (e.drug, e.route) == (drug, route):
                    amount = np.full(self.n_patients, e.amount.value_mg) * (weight if e.amount.per_kg else 1.0)
                    inputs += dose_inputs(drug, route, system, amount, e.time_h, e.infusion_h, patient)
            all_inputs += inputs
            self.systems[(drug, route)] = PkSystemInputs(system, tuple(inputs))
        self.care_until_h = care_end_h(regimen, end_h) if care_until_h is None else float(care_until_h)
        care_changes = [t for t in (0.0, self.care_until_h) if self.start_h < t < self.end_h]
        self.boundaries = segment_boundaries(all_inputs, self.start_h, self.end_h,
                                             [s.time_h for s in self.sessions] + care_changes)
        if len(self.boundaries) == 1:  # an empty window [start, start]: one segment of zero length, no doses
            self.boundaries = np.repeat(self.boundaries, 2)
        #: 1 in the segments where the patient is in care (from time 0 to care_until_h), else 0
        self.in_care = np.array([1.0 if 0.0 <= t < self.care_until_h else 0.0 for t in self.boundaries[:-1]])
        self.modal: dict[tuple[str, str], ModalPk] = {}
        for key, pk in self.systems.items():
            init = None if initial_pk is None else initial_pk.get(key)
            self.modal[key] = solve_modal(pk.system, list(pk.inputs), self.boundaries, init)
        self.exposure_terms: tuple[ExposureTerms, ...] = tuple(
            terms for terms in (_exposure_terms(modal, self.n_patients) for modal in self.modal.values()) if terms)
        self.session_jumps = np.array([self._jump_at(float(t)) for t in self.boundaries])
        self.decay = np.array(mechanism.decay_rates(params))

    def _jump_at(self, time_h: float) -> float:
        for s in self.sessions:
            if abs(s.time_h - time_h) <= 1e-9:
                return mechanism.session_jump(s.cue, self.params)
        return 0.0

    def decay_rates(self) -> np.ndarray:
        """Constant first-order decay of each PD state (n_states,), 1/h (the linear part of rhs)."""
        return self.decay.copy()

    def restricted(self, segment: int, idx: np.ndarray) -> ArmModel:
        """This arm for patients `idx` in `segment` only: its rhs(t, y, segment) equals rhs(t, y, segment, idx),
        with the per-patient PK and patient data gathered once, not at every evaluation."""
        if idx.size == self.n_patients:
            return self
        sub = copy.copy(self)
        sub.patient = {name: values[idx] for name, values in self.patient.items()}
        sub.n_patients = int(idx.size)
        sub.exposure_terms = tuple(terms.restricted(segment, idx) for terms in self.exposure_terms)
        return sub

    # ---- PK at a time ----------------------------------------------------------------------
    def pk_states(self, key: tuple[str, str], segment: int, time_h: np.ndarray | float,
                  rows: list[int] | None = None, patients: slice | np.ndarray = slice(None)) -> np.ndarray:
        """PK state (N, n) or selected `rows` (N, len(rows)) at `time_h` inside `segment`."""
        modal = self.modal[key]
        tau = np.asarray(time_h, dtype=float) - self.boundaries[segment]
        if tau.ndim:
            tau = tau[:, None]
        vec = modal.vectors[patients] if rows is None else modal.vectors[patients][:, rows, :]
        z = modal.coefficients[segment][patients] * np.exp(modal.eigenvalues[patients] * tau)
        part = modal.particular[segment][patients]
        part = part if rows is None else part[:, rows]
        return np.einsum("pij,pj->pi", vec, z) + part

    def occupancy(self, segment: int, time_h: np.ndarray | float, patients: slice | np.ndarray = slice(None)) -> Occupancy:
        """NMDA occupancy, SERT occupancy and perceptible sedation (each (N,)) at `time_h`."""
        n = len(self.patient["weight_kg"][patients])
        sums = np.zeros((n, N_EXPOSURE))
        tau = np.asarray(time_h, dtype=float) - self.boundaries[segment]
        if tau.ndim:
            tau = tau[:, None]
        for terms in self.exposure_terms:
            sums += terms.ratio_sums(segment, tau, patients)
        return mechanism.occupancy(NUMPY, sums[:, 0], sums[:, 1], sums[:, 2], SERT_MAX_OCCUPANCY.value,
                                   self.in_care[min(segment, len(self.in_care) - 1)], sums[:, 3])

    def plasma(self, segment: int, time_h: np.ndarray | float) -> dict[str, np.ndarray]:
        """Plasma concentrations (ng/mL) of each drug and metabolite given."""
        out: dict[str, np.ndarray] = {}
        for key, modal in self.modal.items():
            for name, parts in modal.system.plasma_outputs.items():
                rows = [state for state, _ in parts]
                states = self.pk_states(key, segment, time_h, rows)
                total = sum(states[:, i] * factor for i, (_, factor) in enumerate(parts))
                out[name] = out.get(name, 0.0) + total
        return out

    # ---- PD -------------------------------------------------------------------------------
    def rhs(self, time_h: float | np.ndarray, y: np.ndarray, segment: int,
            patients: slice | np.ndarray = slice(None)) -> np.ndarray:
        """dy/dt (N, n_states) in 1/h at `time_h`, inside `segment`: `mechanism.vector_field` with numpy."""
        pat = self.patient if isinstance(patients, slice) and patients == slice(None) else \
            {k: v[patients] for k, v in self.patient.items()}
        occ = self.occupancy(segment, time_h, patients)
        dy = np.empty_like(y)
        for i, rate in enumerate(mechanism.vector_field(NUMPY, time_h, y.T, occ, pat, self.params)):
            dy[:, i] = rate
        return dy

    def outputs(self, time_h: np.ndarray, states: np.ndarray, course_log_severity: np.ndarray | float = 0.0,
                contact_factor: float = 1.0) -> dict[str, np.ndarray]:
        """Named outputs (T, N) at `time_h` (T,) from PD states (T, N, n_states): `mechanism.observables`
        and the plasma concentrations (ng/mL) of every drug and metabolite given. `course_log_severity`
        (T, N): each patient's natural-course path of log untreated severity (0: the typical course);
        `contact_factor`: multiplier of the trial-contact improvement (a trial's setting, trials.design)."""
        t_count = len(time_h)
        occ = np.zeros((t_count, self.n_patients))
        sert, block = np.zeros_like(occ), np.zeros_like(occ)
        plasma: dict[str, np.ndarray] = {}
        for i, t in enumerate(time_h):
            seg = self.segment_of_output(float(t))
            at = self.occupancy(seg, float(t))
            occ[i], sert[i], block[i] = at.nmda, at.sert, at.nmda_block
            for name, value in self.plasma(seg, float(t)).items():
                plasma.setdefault(name, np.zeros((t_count, self.n_patients)))[i] = value
        rows = tuple(states[..., i] for i in range(N_STATES))
        out = mechanism.observables(NUMPY, time_h[:, None], rows, Occupancy(occ, sert, np.zeros_like(occ), 0.0, block),
                                    self.patient, self.params, course_log_severity, contact_factor)
        for name, value in plasma.items():
            out[f"plasma_{name}_ng_ml"] = value
        return out

    def segment_of_output(self, time_h: float) -> int:
        """Segment whose closed interval (boundaries[k], boundaries[k+1]] holds an output time.

        An output exactly at a dose time is the pre-dose value (left limit)."""
        k = int(np.searchsorted(self.boundaries, time_h, side="left")) - 1
        return min(max(k, 0), len(self.boundaries) - 2)

    def pk_end_state(self) -> dict[tuple[str, str], np.ndarray]:
        """PK states at `end_h` (to continue in a later window)."""
        last = len(self.boundaries) - 2
        return {key: self.pk_states(key, last, self.end_h) for key in self.modal}


#: care lasts this long after the last dose when nothing else says (assumed: about one visit interval)
CARE_AFTER_LAST_DOSE_H = 7 * 24.0


def care_end_h(regimen: Regimen, end_h: float) -> float:
    """When care ends for a plain regimen: CARE_AFTER_LAST_DOSE_H after its last dose (0 without doses)."""
    times = [e.time_h for e in regimen.events(end_h)]
    return max(times) + CARE_AFTER_LAST_DOSE_H if times else 0.0


def _exposure_terms(modal: ModalPk, n_patients: int) -> ExposureTerms | None:
    """The system's exposure terms, or None when it binds no receptor the mechanism reads."""
    s = modal.system
    terms = [(0, t) for t in s.nmda_terms] + [(1, t) for t in s.sert_terms] + [(2, t) for t in s.sedation_terms] \
        + [(3, t) for t in s.nmda_mg_terms]
    if not terms:
        return None
    rows = np.zeros((n_patients, N_EXPOSURE, len(s.state_names)))
    for kind, (state, k) in terms:
        rows[:, kind, state] += 1.0 / k
    vec_rows = np.einsum("pks,psj->pkj", rows, modal.vectors)
    particular = np.einsum("pks,gps->gpk", rows, modal.particular)
    return ExposureTerms(modal.eigenvalues, vec_rows, modal.coefficients, particular)
