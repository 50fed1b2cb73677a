"""The assembled model: PK (closed form) -> receptors -> circuit -> plasticity -> symptoms, vitals.

An `ArmModel` holds one regimen for a batch of N patients over a time window. Its PD state per
patient is the vector STATE_NAMES; `rhs` is the right-hand side, segment by segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ketasim.errors import KetasimInputError
from ketasim.io.regimen import Regimen
from ketasim.model import circuit, monoamine, plasticity, symptoms, vitals
from ketasim.model.drugs import DRUGS, SERT_MAX_OCCUPANCY, build_pk, dose_inputs
from ketasim.model.parameters import Parameter, with_shipped_calibration
from ketasim.model.pk import ModalPk, segment_boundaries, solve_modal
from ketasim.model.receptors import nmda_occupancy, sedation, sert_occupancy

STATE_NAMES: tuple[str, ...] = (
    "interneuron_adaptation",  # network adaptation to disinhibition (0-1)
    "glutamate_excess",  # glutamate above baseline (multiples of baseline)
    "bdnf_excess",  # BDNF above baseline (fold - 1)
    "mtor_excess",  # TrkB/mTORC1 activation above baseline (fold - 1)
    "synaptic_proteins",  # mTOR-driven synaptic protein synthesis (a.u.)
    "spine_density",  # fraction of healthy spine density
    "autoreceptor_desensitised",  # fraction of 5-HT1A brake released (0-1)
    "monoaminergic_drive",  # slow serotonergic plasticity drive (a.u.)
    "dissociation_tolerance",  # 0-1
    "session_expectancy",  # expectancy from sessions, fraction of symptoms
)
N_STATES = len(STATE_NAMES)
IDX = {name: i for i, name in enumerate(STATE_NAMES)}


def _all_parameters() -> dict[str, Parameter]:
    out: dict[str, Parameter] = {}
    for module in (circuit, plasticity, monoamine, symptoms, vitals):
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
    """Untreated state (N, n_states): spines at the chronic-stress set-point, all signals at baseline."""
    n = len(patient["weight_kg"])
    y = np.zeros((n, N_STATES))
    y[:, IDX["spine_density"]] = 1.0 - patient["synapse_deficit"]
    return y


@dataclass(frozen=True)
class Session:
    """A dosing session (IV or intranasal dose of any drug) and its perceptible cue (0-1)."""

    time_h: float
    cue: float


class ArmModel:
    """One regimen for N patients between `start_h` and `end_h`, PK solved in closed form."""

    def __init__(self, regimen: Regimen, patient: dict[str, np.ndarray], params: dict[str, float],
                 start_h: float, end_h: float, initial_pk: dict[tuple[str, str], np.ndarray] | None = None) -> None:
        self.patient = patient
        self.params = params
        self.start_h, self.end_h = float(start_h), float(end_h)
        self.n_patients = len(patient["weight_kg"])
        weight = patient["weight_kg"]
        events = [e for e in regimen.events(end_h) if start_h <= e.time_h < end_h]
        # one session per time with any IV or intranasal dose; its cue is the most perceptible one
        cues: dict[float, float] = {}
        for e in events:
            if e.route in ("iv", "intranasal"):
                cue = DRUGS[e.drug].perceptible_cue.get(e.route, 0.0)
                cues[e.time_h] = max(cues.get(e.time_h, 0.0), cue)
        self.sessions: list[Session] = [Session(t, c) for t, c in sorted(cues.items())]
        self.systems: dict[tuple[str, str], tuple] = {}
        all_inputs = []
        pk_inputs: dict[tuple[str, str], list] = {}
        for drug, route in regimen.drugs:
            system = build_pk(drug, route, patient)
            if system is None:
                continue
            inputs = []
            for e in events:
                if (e.drug, e.route) == (drug, route):
                    amount = np.full(self.n_patients, e.amount.value_mg) * (weight if e.amount.per_kg else 1.0)
                    inputs += dose_inputs(drug, route, system, amount, e.time_h, e.infusion_h, patient)
            pk_inputs[(drug, route)] = inputs
            all_inputs += inputs
            self.systems[(drug, route)] = (system, inputs)
        self.boundaries = segment_boundaries(all_inputs, self.start_h, self.end_h, [s.time_h for s in self.sessions])
        self.modal: dict[tuple[str, str], ModalPk] = {}
        for key, (system, inputs) in self.systems.items():
            init = None if initial_pk is None else initial_pk.get(key)
            self.modal[key] = solve_modal(system, inputs, self.boundaries, init)
        self.has_nmda = any(m.system.nmda_terms for m in self.modal.values())
        # exposure rows: for each system, sum over its terms of (1/K) x eigenvector row, per kind
        # (NMDA, SERT, sedation), so one small product per system gives all three at any time
        self._exposure: list[tuple[ModalPk, np.ndarray, np.ndarray]] = []
        kinds = {"nmda": 0, "sert": 1, "sed": 2}
        for modal in self.modal.values():
            s = modal.system
            rows = np.zeros((self.n_patients, 3, len(s.state_names)))
            terms = [("nmda", t) for t in s.nmda_terms] + [("sert", t) for t in s.sert_terms] + \
                [("sed", t) for t in s.sedation_terms]
            if not terms:
                continue
            for kind, (state, k) in terms:
                rows[:, kinds[kind], state] += 1.0 / k
            vec_rows = np.einsum("pks,psj->pkj", rows, modal.vectors)
            particular = np.einsum("pks,gps->gpk", rows, modal.particular)
            self._exposure.append((modal, vec_rows, particular))

    def decay_rates(self) -> np.ndarray:
        """Constant first-order decay of each PD state (n_states,), 1/h (the linear part of rhs)."""
        p = self.params
        rates = np.zeros(N_STATES)
        rates[IDX["interneuron_adaptation"]] = -1.0 / p["adaptation_time_h"]
        rates[IDX["glutamate_excess"]] = -1.0 / p["glutamate_time_h"]
        rates[IDX["bdnf_excess"]] = -1.0 / p["bdnf_time_h"]
        rates[IDX["mtor_excess"]] = -1.0 / p["mtor_time_h"]
        rates[IDX["synaptic_proteins"]] = -1.0 / p["protein_time_h"]
        rates[IDX["autoreceptor_desensitised"]] = -1.0 / (p["autoreceptor_desensitisation_time_d"] * 24.0)
        rates[IDX["monoaminergic_drive"]] = -1.0 / (p["monoaminergic_drive_time_d"] * 24.0)
        rates[IDX["session_expectancy"]] = -1.0 / (p["expectancy_time_d"] * 24.0)
        return rates

    # ---- PK at a time ----------------------------------------------------------------------
    def segment_of(self, time_h: float) -> int:
        """Segment k with boundaries[k] <= t < boundaries[k+1] (the last segment includes its end)."""
        k = int(np.searchsorted(self.boundaries, time_h, side="right")) - 1
        return min(max(k, 0), len(self.boundaries) - 2)

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

    def exposure(self, segment: int, time_h: np.ndarray | float,
                 patients: slice | np.ndarray = slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """NMDA occupancy, SERT occupancy and perceptible sedation (each (N,)) at `time_h`."""
        n = len(self.patient["weight_kg"][patients])
        sums = np.zeros((n, 3))
        tau = np.asarray(time_h, dtype=float) - self.boundaries[segment]
        if tau.ndim:
            tau = tau[:, None]
        for modal, vec_rows, particular in self._exposure:
            z = modal.coefficients[segment][patients] * np.exp(modal.eigenvalues[patients] * tau)
            sums += np.einsum("pkj,pj->pk", vec_rows[patients], z) + particular[segment][patients]
        return (nmda_occupancy(sums[:, 0]), sert_occupancy(sums[:, 1], SERT_MAX_OCCUPANCY.value),
                sedation(sums[:, 2]))

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
    def session_jump(self, time_h: float) -> float:
        """Expectancy added at a session starting at `time_h` (0 if none)."""
        p = self.params
        for s in self.sessions:
            if abs(s.time_h - time_h) <= 1e-9:
                return p["session_expectancy"] + p["perceived_expectancy_rate_1_h"] * p["placebo_spray_cue"] * s.cue
        return 0.0

    def rhs(self, time_h: float, y: np.ndarray, segment: int, patients: slice | np.ndarray = slice(None)) -> np.ndarray:
        """dy/dt (N, n_states) in 1/h at `time_h`, inside `segment`."""
        p, pat = self.params, {k: v[patients] for k, v in self.patient.items()}
        occ, sert, sed = self.exposure(segment, time_h, patients)
        dy = np.empty_like(y)
        adaptation, glutamate, bdnf, mtor, proteins, spines, desens, drive, tolerance, expect = y.T
        silencing = circuit.interneuron_silencing(occ, p)
        capacity = circuit.pyramidal_capacity(occ, p)
        dy[:, 0] = circuit.adaptation_rate(silencing, adaptation, p)
        dy[:, 1] = circuit.glutamate_rate(silencing, adaptation, capacity, glutamate, p)
        dy[:, 2] = plasticity.first_order_rate(glutamate, bdnf, p["bdnf_time_h"])
        dy[:, 3] = plasticity.first_order_rate(bdnf, mtor, p["mtor_time_h"])
        dy[:, 4] = plasticity.first_order_rate(mtor, proteins, p["protein_time_h"])
        dy[:, 5] = plasticity.spine_rate(spines, proteins, drive, pat["synapse_deficit"], pat["plasticity_gain"], p)
        dy[:, 6] = monoamine.desensitisation_rate(sert, desens, p)
        dy[:, 7] = monoamine.drive_rate(sert, desens, drive, pat["monoaminergic_responsiveness"], p)
        dissociation = vitals.dissociation_fraction(occ, p) * pat["dissociation_sensitivity"]
        dy[:, 8] = vitals.tolerance_rate(dissociation, tolerance, p)
        perceived = np.maximum(np.minimum(dissociation * (1.0 - tolerance), 1.0), sed)
        dy[:, 9] = symptoms.expectancy_rate(perceived, expect, p)
        return dy

    def outputs(self, time_h: np.ndarray, states: np.ndarray) -> dict[str, np.ndarray]:
        """Named outputs (T, N) at `time_h` (T,) from PD states (T, N, n_states)."""
        p = self.params
        t_count = len(time_h)
        occ = np.zeros((t_count, self.n_patients))
        sert = np.zeros_like(occ)
        plasma: dict[str, np.ndarray] = {}
        for i, t in enumerate(time_h):
            seg = self.segment_of_output(float(t))
            occ[i], sert[i], _ = self.exposure(seg, float(t))
            for name, value in self.plasma(seg, float(t)).items():
                plasma.setdefault(name, np.zeros((t_count, self.n_patients)))[i] = value
        s = {name: states[..., i] for i, name in enumerate(STATE_NAMES)}
        pat = self.patient
        pressor = vitals.pressor_fraction(occ, p) * pat["cardiovascular_sensitivity"]
        dissociation = vitals.dissociation_fraction(occ, p) * pat["dissociation_sensitivity"]
        out = {
            "madrs": symptoms.madrs(s["spine_density"], s["mtor_excess"], s["session_expectancy"], time_h[:, None], pat, p),
            "nmda_occupancy": occ,
            "sert_occupancy": sert,
            "glutamate": 1.0 + s["glutamate_excess"],
            "bdnf": 1.0 + s["bdnf_excess"],
            "mtor": 1.0 + s["mtor_excess"],
            "synaptic_proteins": s["synaptic_proteins"],
            "spine_density": s["spine_density"],
            "autoreceptor_desensitised": s["autoreceptor_desensitised"],
            "monoaminergic_drive": s["monoaminergic_drive"],
            "expectancy": s["session_expectancy"],
            "sbp_mmhg": pat["sbp0_mmhg"] + p["sbp_max_mmhg"] * pressor,
            "dbp_mmhg": pat["dbp0_mmhg"] + p["dbp_max_mmhg"] * pressor,
            "hr_bpm": pat["hr0_bpm"] + p["hr_max_bpm"] * pressor,
            "cadss": p["cadss_max"] * dissociation * (1.0 - s["dissociation_tolerance"]),
        }
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
