"""Export one patient's model to SBML Level 3 Version 2 (for libRoadRunner, COPASI, tellurium, ...).

The export is built from the same `ArmModel` that `simulate` uses, so it has exactly ketasim's
compartment inputs (e.g. the esketamine spray's nasal and swallowed parts):

- PK: every state of every drug system is a parameter with a rate rule, d x_i/dt = sum_j k_i_j x_j
  + u_i, with the patient's rate-matrix entries as parameters ``k_<drug>_<route>_<i>_<j>`` (1/h;
  1/(L h) from an amount to an effect-site concentration). Boluses are events that add a dose
  parameter (mg) to a state; zero-order inputs (IV infusions, the swallowed part of a spray) set a
  rate parameter ``u_<drug>_<route>_<i>`` (mg/h) at the times they start and stop. Dose
  amounts are parameters ``dose_<drug>_<route>_<n>`` (mg) and ``rate_<drug>_<route>_<n>`` (mg/h),
  numbered in the order of `ArmModel.systems`.
- PD: the 10 PD states as parameters with rate rules copying `ArmModel.rhs`; the session
  expectancy state is called ``expectancy`` (the CSV column), since ``session_expectancy`` is the
  name of the mechanism parameter. Each IV / intranasal session start is an event adding
  ``session_expectancy + perceived_expectancy_rate_1_h * session_cue_<drug>_<route>`` (the cue in
  hours of perceived effect).
- Outputs: assignment rules named as the `ketasim simulate --csv` columns.

Time is in hours. PK rate constants, plasma factors and dose amounts are numbers for this patient
(weight, clearance factors etc. are recorded as parameters but do not change PK in the SBML);
the PD patient parameters (`synapse_deficit`, `plasticity_gain`, ...) enter the equations.
At a dose time SBML simulators report the value after the event, while ketasim reports the value
just before it (the left limit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._drugs import DRUGS, SERT_MAX_OCCUPANCY
from ._errors import KetasimInputError
from ._model import STATE_NAMES, ArmModel, calibrated_parameters, model_values
from ._patient import PATIENT_FIELDS, Patient, patient_dict, stack_patients
from ._receptors import SEDATION_HILL
from ._regimen import Regimen
from ._simulate import CORE_COLUMNS, resolve_patient, resolve_regimen

#: unit id -> list of (kind, exponent, scale, multiplier); one unit = prod((multiplier * 10^scale * kind)^exponent)
UNIT_DEFINITIONS: dict[str, list[tuple[str, int, int, float]]] = {
    "hour": [("second", 1, 0, 3600.0)],
    "day": [("second", 1, 0, 86400.0)],
    "year": [("second", 1, 0, 31557600.0)],
    "per_hour": [("second", -1, 0, 3600.0)],
    "hour_per_day": [("dimensionless", 1, 0, 1.0 / 24.0)],
    "mg": [("gram", 1, -3, 1.0)],
    "mg_per_hour": [("gram", 1, -3, 1.0), ("second", -1, 0, 3600.0)],
    "mg_per_litre": [("gram", 1, -3, 1.0), ("litre", -1, 0, 1.0)],
    "per_litre_per_hour": [("litre", -1, 0, 1.0), ("second", -1, 0, 3600.0)],
    "litre_per_hour": [("litre", 1, 0, 1.0), ("second", -1, 0, 3600.0)],
    "ng_per_ml": [("gram", 1, -9, 1.0), ("litre", -1, -3, 1.0)],
    "ng_per_ml_per_mg": [("litre", -1, 3, 1.0)],
    "mmHg": [("pascal", 1, 0, 133.322387415)],
    "bpm": [("second", -1, 0, 60.0)],
}

#: ketasim Parameter.unit -> SBML unit id
_UNIT_OF: dict[str, str] = {"1": "dimensionless", "fold": "dimensionless", "CADSS points": "dimensionless",
                            "h": "hour", "d": "day", "1/h": "per_hour", "mmHg": "mmHg", "bpm": "bpm"}

_PATIENT_UNITS: dict[str, str] = {"weight_kg": "kilogram", "age_y": "year", "sbp0_mmhg": "mmHg",
                                  "dbp0_mmhg": "mmHg", "hr0_bpm": "bpm"}
#: patient fields that only enter the PK numbers (recorded, but they do not change the SBML PK)
_PK_ONLY_FIELDS = ("weight_kg", "age_y", "female", "cl_factor", "v_factor", "qh_factor", "esk_vc_factor",
                   "esk_vp1_factor", "esk_ka_nasal_factor", "ssri_cl_factor")

#: PD state ids in the SBML (STATE_NAMES, with session_expectancy renamed to its CSV column)
PD_STATE_IDS: tuple[str, ...] = tuple("expectancy" if s == "session_expectancy" else s for s in STATE_NAMES)

#: event times closer than this (h) are one event
_SAME_TIME_H = 1e-9


def _state_unit(name: str) -> str:
    return "mg_per_litre" if name.endswith("_mg_l") else "mg"


def _rate_unit(to_unit: str, from_unit: str) -> str:
    if to_unit == from_unit:
        return "per_hour"
    return "per_litre_per_hour" if to_unit == "mg_per_litre" else "litre_per_hour"


@dataclass
class _Param:
    value: float
    unit: str
    constant: bool = True
    name: str = ""


@dataclass
class _Spec:
    """Everything the SBML holds, as plain data (ids -> values, formulas)."""

    params: dict[str, _Param] = field(default_factory=dict)
    rate_rules: dict[str, str] = field(default_factory=dict)
    assignments: dict[str, str] = field(default_factory=dict)
    initial: dict[str, str] = field(default_factory=dict)
    #: (time h, [(variable, formula)])
    events: list[tuple[float, list[tuple[str, str]]]] = field(default_factory=list)


def _sys_id(key: tuple[str, str]) -> str:
    return f"{key[0]}_{key[1]}"


def _sum(terms: list[str], zero: str = "0 dimensionless") -> str:
    return " + ".join(terms) if terms else zero


def _hill(x: str, x50: str, n: str) -> str:
    xn = f"max({x}, 0 dimensionless)^{n}"
    return f"{xn} / ({xn} + {x50}^{n})"


def patient_parameter_values(model: ArmModel, row: int) -> dict[str, float]:
    """Values (SBML ids -> numbers) of every patient-specific parameter for patient `row` of `model`.

    These are what differs between patients of one arm: rate-matrix entries, plasma factors,
    dose amounts and rates, and the Patient fields. Used to re-use one loaded SBML model for many
    patients (e.g. libRoadRunner `setValue`).
    """
    out: dict[str, float] = {}
    for key, (system, inputs) in model.systems.items():
        sid = _sys_id(key)
        rate = system.rate_matrix[row]
        for i, j in zip(*np.nonzero(model.systems[key][0].rate_matrix.any(axis=0)), strict=True):
            out[f"k_{sid}_{i}_{j}"] = float(rate[i, j])
        for name, parts in system.plasma_outputs.items():
            for state, factor in parts:
                out[f"to_ng_ml_{sid}_{name}_{state}"] = float(np.asarray(factor)[row])
        for n, inp in enumerate(inputs):
            amount = float(np.asarray(inp.amount_mg)[row])
            if inp.duration_h > 0:
                out[f"rate_{sid}_{n}"] = amount / inp.duration_h
            else:
                out[f"dose_{sid}_{n}"] = amount
    for name in PATIENT_FIELDS:
        out[name] = float(model.patient[name][row])
    return out


def _pk(model: ArmModel, spec: _Spec, row: int) -> tuple[list[str], list[str], list[str], dict[str, list[str]]]:
    """PK parameters, rate rules and dose events; returns the NMDA, SERT, sedation ratio terms and plasma terms."""
    values = patient_parameter_values(model, row)
    nmda: list[str] = []
    sert: list[str] = []
    sed: list[str] = []
    plasma: dict[str, list[str]] = {}
    bolus: dict[float, dict[str, list[str]]] = {}
    rate_changes: dict[float, dict[str, str]] = {}
    for key, (system, inputs) in model.systems.items():
        sid = _sys_id(key)
        names = [f"{sid}_{s}" for s in system.state_names]
        units = [_state_unit(s) for s in system.state_names]
        for x, unit in zip(names, units, strict=True):
            spec.params[x] = _Param(0.0, unit, False, f"{key[0]} ({key[1]}) PK state")
        structure = system.rate_matrix.any(axis=0)
        infused = sorted({inp.state_index for inp in inputs if inp.duration_h > 0})
        for i, x in enumerate(names):
            terms = []
            for j in np.nonzero(structure[i])[0]:
                k = f"k_{sid}_{i}_{j}"
                spec.params[k] = _Param(values[k], _rate_unit(units[i], units[j]), True,
                                        f"rate-matrix entry, {system.state_names[j]} -> {system.state_names[i]}")
                terms.append(f"{k} * {names[j]}")
            if i in infused:
                u = f"u_{sid}_{i}"
                spec.params[u] = _Param(0.0, "mg_per_hour", False, f"zero-order input into {system.state_names[i]}")
                terms.append(u)
            spec.rate_rules[x] = _sum(terms, f"0 {units[i]}")
        for name, parts in system.plasma_outputs.items():
            for state, _ in parts:
                f = f"to_ng_ml_{sid}_{name}_{state}"
                spec.params[f] = _Param(values[f], "ng_per_ml_per_mg", True, f"plasma {name} per mg in the state")
                plasma.setdefault(name, []).append(f"{f} * {names[state]}")
        for kind, terms, out in (("nmda", system.nmda_terms, nmda), ("sert", system.sert_terms, sert),
                                 ("sedation", system.sedation_terms, sed)):
            for state, k_mg_l in terms:
                pid = f"K_{kind}_{sid}_{state}"
                spec.params[pid] = _Param(float(k_mg_l), "mg_per_litre", True,
                                          f"{kind} Ki / EC50 of {system.state_names[state]}")
                out.append(f"{names[state]} / {pid}")
        # doses: boluses add to a state; zero-order inputs set the state's input rate at every change
        changes: set[float] = set()
        for n, inp in enumerate(inputs):
            if inp.duration_h > 0:
                spec.params[f"rate_{sid}_{n}"] = _Param(values[f"rate_{sid}_{n}"], "mg_per_hour", True,
                                                        f"input {n}: {inp.duration_h:g} h from {inp.time_h:g} h")
                changes.update((inp.time_h, inp.time_h + inp.duration_h))
            else:
                spec.params[f"dose_{sid}_{n}"] = _Param(values[f"dose_{sid}_{n}"], "mg", True,
                                                        f"input {n}: bolus at {inp.time_h:g} h")
                bolus.setdefault(_key(inp.time_h), {}).setdefault(names[inp.state_index], []).append(f"dose_{sid}_{n}")
        for t0 in sorted(changes):
            if not model.start_h <= t0 < model.end_h:
                continue
            for i in infused:
                active = [f"rate_{sid}_{n}" for n, inp in enumerate(inputs)
                          if inp.duration_h > 0 and inp.state_index == i
                          and inp.time_h <= t0 + 1e-12 and t0 < inp.time_h + inp.duration_h - 1e-12]
                rate_changes.setdefault(_key(t0), {})[f"u_{sid}_{i}"] = _sum(active, "0 mg_per_hour")
    for time_h in sorted(set(bolus) | set(rate_changes)):
        assigns = [(x, f"{x} + {_sum(doses)}") for x, doses in bolus.get(time_h, {}).items()]
        assigns += list(rate_changes.get(time_h, {}).items())
        spec.events.append((time_h, assigns))
    return nmda, sert, sed, plasma


def _key(time_h: float) -> float:
    return round(time_h / _SAME_TIME_H) * _SAME_TIME_H


def _regimen_sessions(model: ArmModel, regimen: Regimen) -> list[tuple[float, str]]:
    """(time, cue parameter id) for each session of `model` (the first IV / intranasal dose at that time)."""
    events = [e for e in regimen.events(model.end_h) if model.start_h <= e.time_h < model.end_h]
    out = []
    for s in model.sessions:
        e = next(e for e in events if e.route in ("iv", "intranasal") and abs(e.time_h - s.time_h) <= 1e-9)
        out.append((s.time_h, f"session_cue_{e.drug}_{e.route}"))
    return out


def _build(regimen: Regimen, patient: Patient, days: float, parameters: dict[str, float] | None) -> tuple[_Spec, str]:
    if not (days > 0 and math.isfinite(days)):
        raise KetasimInputError(f"days must be a finite number > 0, got {days}")
    pat = stack_patients([patient])
    values = model_values(parameters)
    model = ArmModel(regimen, pat, values, 0.0, days * 24.0)
    spec = _Spec()
    described = calibrated_parameters()
    for name, value in values.items():
        unit = described[name].unit
        if unit not in _UNIT_OF:
            raise KetasimInputError(f"parameter {name}: no SBML unit for {unit!r}")
        spec.params[name] = _Param(value, _UNIT_OF[unit], True, described[name].description)
    spec.params["sert_max_occupancy"] = _Param(SERT_MAX_OCCUPANCY.value, "dimensionless", True,
                                               SERT_MAX_OCCUPANCY.description or "maximal SERT occupancy")
    spec.params["sedation_hill"] = _Param(SEDATION_HILL, "dimensionless", True, "steepness of perceptible sedation")
    spec.params["hours_per_day"] = _Param(24.0, "hour_per_day", True, "hours per day")
    for name, value in patient_dict(patient).items():
        note = " (PK rate constants here were computed for this value)" if name in _PK_ONLY_FIELDS else ""
        spec.params[name] = _Param(float(value), _PATIENT_UNITS.get(name, "dimensionless"), True,
                                   f"patient: {name}{note}")
    nmda, sert, sed, plasma = _pk(model, spec, 0)

    # receptors
    a = spec.assignments
    for sid, terms, what in (("nmda_ratio_sum", nmda, "NMDA"), ("sert_ratio_sum", sert, "SERT"),
                             ("sedation_ratio_sum", sed, "sedation")):
        spec.params[sid] = _Param(0.0, "dimensionless", False, f"sum of effect-site concentration / K ({what})")
        a[sid] = _sum(terms)
    a["nmda_occupancy"] = "max(nmda_ratio_sum, 0 dimensionless) / (1 dimensionless + max(nmda_ratio_sum, 0 dimensionless))"
    a["sert_occupancy"] = ("sert_max_occupancy * max(sert_ratio_sum, 0 dimensionless) / "
                           "(1 dimensionless + max(sert_ratio_sum, 0 dimensionless))")
    sed_n = "max(sedation_ratio_sum, 0 dimensionless)^sedation_hill"
    a["sedation"] = f"{sed_n} / (1 dimensionless + {sed_n})"
    # circuit, vitals
    a["interneuron_silencing"] = _hill("nmda_occupancy", "interneuron_occupancy50", "interneuron_hill")
    a["pyramidal_capacity"] = "1 dimensionless - " + _hill("nmda_occupancy", "pyramidal_occupancy50", "pyramidal_hill")
    a["pressor"] = _hill("nmda_occupancy", "pressor_occupancy50", "pressor_hill") + " * cardiovascular_sensitivity"
    a["dissociation"] = _hill("nmda_occupancy", "dissociation_occupancy50", "dissociation_hill") + \
        " * dissociation_sensitivity"
    a["perceived_effect"] = ("max(min(dissociation * (1 dimensionless - dissociation_tolerance), 1 dimensionless), "
                             "sedation)")
    for sid in ("interneuron_silencing", "pyramidal_capacity", "pressor", "dissociation", "perceived_effect",
                "nmda_occupancy", "sert_occupancy", "sedation"):
        spec.params[sid] = _Param(0.0, "dimensionless", False, sid.replace("_", " "))

    # PD states
    for sid in PD_STATE_IDS:
        spec.params[sid] = _Param(0.0, "dimensionless", False, f"PD state {sid}")
    spec.initial["spine_density"] = "1 dimensionless - synapse_deficit"
    days_h = "hours_per_day"
    r = spec.rate_rules
    r["interneuron_adaptation"] = "(interneuron_silencing - interneuron_adaptation) / adaptation_time_h"
    r["glutamate_excess"] = ("(glutamate_surge_max * max(interneuron_silencing - interneuron_adaptation, 0 dimensionless)"
                             " * pyramidal_capacity - glutamate_excess) / glutamate_time_h")
    r["bdnf_excess"] = "(glutamate_excess - bdnf_excess) / bdnf_time_h"
    r["mtor_excess"] = "(bdnf_excess - mtor_excess) / mtor_time_h"
    r["synaptic_proteins"] = "(mtor_excess - synaptic_proteins) / protein_time_h"
    r["spine_density"] = (
        f"(1 dimensionless - synapse_deficit - spine_density) / (spine_turnover_time_d * {days_h})"
        " + (synaptogenesis_rate_1_h * plasticity_gain * max(synaptic_proteins, 0 dimensionless)"
        " + monoaminergic_synaptogenesis_rate_1_h * max(monoaminergic_drive, 0 dimensionless))"
        " * max(1 dimensionless - spine_density, 0 dimensionless)")
    r["autoreceptor_desensitised"] = (f"(sert_occupancy - autoreceptor_desensitised) / "
                                      f"(autoreceptor_desensitisation_time_d * {days_h})")
    r["monoaminergic_drive"] = ("(sert_occupancy * autoreceptor_desensitised * monoaminergic_responsiveness"
                                f" - monoaminergic_drive) / (monoaminergic_drive_time_d * {days_h})")
    r["dissociation_tolerance"] = ("dissociation_tolerance_rate_1_h * dissociation * (1 dimensionless - "
                                   f"dissociation_tolerance) - dissociation_tolerance / "
                                   f"(dissociation_tolerance_time_d * {days_h})")
    r["expectancy"] = f"perceived_expectancy_rate_1_h * perceived_effect - expectancy / (expectancy_time_d * {days_h})"

    # sessions
    cues = {}
    for time_h, cue in _regimen_sessions(model, regimen):
        drug, route = cue.removeprefix("session_cue_").rsplit("_", 1)
        cues[cue] = DRUGS[drug].perceptible_cue.get(route, 0.0)
        jump = ("expectancy", f"expectancy + session_expectancy + perceived_expectancy_rate_1_h * {cue}")
        for t, assigns in spec.events:
            if abs(t - time_h) <= _SAME_TIME_H:
                assigns.append(jump)
                break
        else:
            spec.events.append((time_h, [jump]))
    spec.events.sort(key=lambda e: e[0])
    for cue, value in cues.items():
        spec.params[cue] = _Param(value, "hour", True, "perceptible cue of a session, as hours of perceived effect")

    # outputs
    a["glutamate"] = "1 dimensionless + glutamate_excess"
    a["bdnf"] = "1 dimensionless + bdnf_excess"
    a["mtor"] = "1 dimensionless + mtor_excess"
    a["contact_days"] = f"max(time, 0 hour) / {days_h}"
    a["contact_fraction"] = "contact_days^2 / (contact_days^2 + contact_half_time_d^2)"
    a["acute_relief"] = ("acute_relief_max * max(mtor_excess, 0 dimensionless) * plasticity_gain / "
                         "(max(mtor_excess, 0 dimensionless) * plasticity_gain + acute_mtor50)")
    a["expectancy_fraction"] = ("min(max(placebo_responsiveness * (contact_improvement_max * contact_fraction"
                                " + expectancy), 0 dimensionless), expectancy_fraction_max)")
    a["madrs"] = ("min(max(untreated_madrs * max(1 dimensionless - spine_density, 0 dimensionless)"
                  " / max(synapse_deficit, 1e-9 dimensionless) * (1 dimensionless - acute_relief)"
                  " * (1 dimensionless - expectancy_fraction), 0 dimensionless), 60 dimensionless)")
    a["sbp_mmhg"] = "sbp0_mmhg + sbp_max_mmhg * pressor"
    a["dbp_mmhg"] = "dbp0_mmhg + dbp_max_mmhg * pressor"
    a["hr_bpm"] = "hr0_bpm + hr_max_bpm * pressor"
    a["cadss"] = "cadss_max * dissociation * (1 dimensionless - dissociation_tolerance)"
    units = {"sbp_mmhg": "mmHg", "dbp_mmhg": "mmHg", "hr_bpm": "bpm"}
    spec.params["contact_days"] = _Param(0.0, "day", False, "days since the first trial visit (time 0), >= 0")
    for sid in ("glutamate", "bdnf", "mtor", "contact_fraction", "acute_relief", "expectancy_fraction", "madrs",
                "sbp_mmhg", "dbp_mmhg", "hr_bpm", "cadss"):
        spec.params[sid] = _Param(0.0, units.get(sid, "dimensionless"), False, sid.replace("_", " "))
    for name, terms in plasma.items():
        sid = f"plasma_{name}_ng_ml"
        spec.params[sid] = _Param(0.0, "ng_per_ml", False, f"plasma {name}")
        a[sid] = _sum(terms, "0 ng_per_ml")
    title = f"ketasim: {regimen.name or 'regimen'}, {days:g} d"
    return spec, title


def _document(spec: _Spec, title: str) -> object:
    import libsbml

    def check(code: int, what: str) -> None:
        if code != libsbml.LIBSBML_OPERATION_SUCCESS:
            raise RuntimeError(f"libsbml: could not set {what}: {libsbml.OperationReturnValue_toString(code)}")

    def math(formula: str, where: str) -> object:
        ast = libsbml.parseL3Formula(formula)
        if ast is None:
            raise RuntimeError(f"libsbml: cannot parse {where}: {formula!r}: {libsbml.getLastParseL3Error()}")
        return ast

    doc = libsbml.SBMLDocument(3, 2)
    model = doc.createModel()
    check(model.setId("ketasim"), "model id")
    model.setName(title)
    check(model.setTimeUnits("hour"), "time units")
    for uid, parts in UNIT_DEFINITIONS.items():
        ud = model.createUnitDefinition()
        check(ud.setId(uid), f"unit {uid}")
        for kind, exponent, scale, multiplier in parts:
            u = ud.createUnit()
            u.setKind(libsbml.UnitKind_forName(kind))
            u.setExponent(exponent)
            u.setScale(scale)
            u.setMultiplier(multiplier)
    for pid, p in spec.params.items():
        par = model.createParameter()
        check(par.setId(pid), f"parameter id {pid}")
        if p.name:
            par.setName(p.name)
        par.setValue(p.value)
        check(par.setUnits(p.unit), f"units of {pid}")
        par.setConstant(p.constant)
    for var, formula in spec.initial.items():
        ia = model.createInitialAssignment()
        ia.setSymbol(var)
        check(ia.setMath(math(formula, f"initial value of {var}")), f"initial value of {var}")
    for var, formula in spec.assignments.items():
        rule = model.createAssignmentRule()
        rule.setVariable(var)
        check(rule.setMath(math(formula, f"assignment rule for {var}")), f"rule for {var}")
    for var, formula in spec.rate_rules.items():
        rule = model.createRateRule()
        rule.setVariable(var)
        check(rule.setMath(math(formula, f"rate rule for {var}")), f"rate rule for {var}")
    for n, (time_h, assigns) in enumerate(spec.events):
        event = model.createEvent()
        event.setId(f"dose_event_{n}")
        event.setName(f"doses / sessions at {time_h:g} h")
        event.setUseValuesFromTriggerTime(True)
        trigger = event.createTrigger()
        trigger.setInitialValue(False)
        trigger.setPersistent(True)
        check(trigger.setMath(math(f"time >= {time_h!r} hour", f"event at {time_h} h")), "trigger")
        for var, formula in assigns:
            ea = event.createEventAssignment()
            ea.setVariable(var)
            check(ea.setMath(math(formula, f"event assignment to {var}")), f"event assignment to {var}")
    return doc


def sbml_document(regimen: Regimen | str, patient: Patient | str, days: float,
                  parameters: dict[str, float] | None = None) -> object:
    """The SBML document (a libsbml.SBMLDocument) for one patient; see `export_sbml`."""
    try:
        import libsbml  # noqa: F401
    except ImportError:
        raise KetasimInputError("SBML export needs python-libsbml (pip install 'ketasim[sbml]')") from None
    spec, title = _build(resolve_regimen(regimen), resolve_patient(patient), days, parameters)
    return _document(spec, title)


def consistency_messages(doc: object) -> tuple[list[str], list[str]]:
    """Run libsbml's consistency checks; returns (errors, warnings) as one line each."""
    import libsbml

    doc.checkConsistency()
    errors, warnings = [], []
    for i in range(doc.getNumErrors()):
        err = doc.getError(i)
        line = f"{err.getErrorId()} line {err.getLine()}: {' '.join(err.getMessage().split())}"
        (errors if err.getSeverity() >= libsbml.LIBSBML_SEV_ERROR else warnings).append(line)
    return errors, warnings


def export_sbml(regimen: Regimen | str, patient: Patient | str, days: float, path: str | Path | None = None,
                parameters: dict[str, float] | None = None) -> str:
    """SBML L3V2 text of one patient on `regimen` for `days` days (time in h); also written to `path` if given.

    `patient` is a Patient or a typical patient's name; `parameters` overrides mechanism
    parameters as in `simulate`. Output ids are the `ketasim simulate --csv` column names.
    """
    import libsbml

    doc = sbml_document(regimen, patient, days, parameters)
    text = libsbml.writeSBMLToString(doc)
    if path is not None:
        Path(path).write_text(text)
    return text


#: ids of the CSV columns every export has (plasma_<drug>_ng_ml columns are added per drug)
OUTPUT_IDS: tuple[str, ...] = CORE_COLUMNS[1:]
