"""Export one patient's model to SBML Level 3 Version 2 (for libRoadRunner, COPASI, tellurium, ...).

The export is built from the same `ArmModel` that `simulate` uses, so it has exactly ketasim's
compartment inputs (e.g. the esketamine spray's nasal and swallowed parts). All quantities are
parameters (no compartments or reactions); time is in hours.

- PK: every state of every drug system is a parameter ``<drug>_<route>_<state>`` with a rate rule
  d x_i/dt = sum_j k_i_j x_j (+ u_i). The patient's rate-matrix entries are parameters
  ``k_<drug>_<route>_<i>_<j>`` (from state j to state i; 1/h, or 1/(L h) from an amount in mg to
  an effect-site concentration in mg/L). A bolus is an event adding a parameter
  ``dose_<drug>_<route>_<n>`` (mg) to a state; a zero-order input (IV infusion, the swallowed
  part of a spray) is a parameter ``rate_<drug>_<route>_<n>`` (mg/h) that events switch into the
  state's input rate ``u_<drug>_<route>_<i>`` while it runs (n numbers the inputs in
  `ArmModel.systems` order). All dose events at one time are one event.
- Receptors, circuit, plasticity, monoamines, vitals, symptoms: generated, not hand-written: the
  functions of `model.mechanism` (the ones every engine integrates) are evaluated on sympy
  symbols and printed as assignment rules (occupancies, signals, outputs) and rate rules (the PD
  states), so the export cannot drift from the model (`io.sbml_math`). Mechanism parameters
  carry ketasim's names (`model_values`), patient parameters the `Patient` field names. The
  session expectancy state is called ``expectancy`` (its CSV column), as ``session_expectancy``
  names the mechanism parameter; each session start (an IV, intranasal, IM or SC dose) is an event adding
  `mechanism.session_jump` with one cue parameter ``session_cue_<n>`` per session (hours of perceived effect).
- Outputs: the `ketasim simulate --csv` columns, under the same ids.

PK rate constants, plasma factors and dose amounts are numbers for this patient: weight,
clearance factors etc. are recorded as parameters but changing them does not change the PK
(`patient_parameter_values` gives the numbers for another patient of the same arm). At a dose
time an SBML simulator reports the value after the event, ketasim the value just before it.

libRoadRunner note: give CVODE a vector of absolute tolerances (``rr.integrator.absolute_tolerance
= [atol] * n``); with a scalar, roadrunner scales each state's tolerance by its current value
at every event, and the glutamate kink (max(silencing - adaptation, 0)) then stalls CVODE when
it is crossed while glutamate_excess is ~1e-80.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ketasim.errors import KetasimInputError
from ketasim.interchange.sbml_math import infix, symbols, sympy_namespace
from ketasim.model import mechanism
from ketasim.model.arm import STATE_NAMES, ArmModel, calibrated_parameters, model_values
from ketasim.model.drugs import SERT_MAX_OCCUPANCY, pk_patient_fields
from ketasim.model.patient import PATIENT_FIELDS, Patient, patient_dict, stack_patients
from ketasim.model.regimen import Regimen
from ketasim.simulation import CORE_COLUMNS, resolve_patient, resolve_regimen

#: unit id -> (kind, exponent, scale, multiplier) parts; one unit = prod((multiplier * 10^scale * kind)^exponent)
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
    "ng_per_ml": [("gram", 1, -9, 1.0), ("litre", -1, -3, 1.0)],  # = 1e-3 mg/L
    "ng_per_ml_per_mg": [("litre", -1, 3, 1.0)],  # (ng/mL) / mg = 1e-3 / L
    "mmHg": [("pascal", 1, 0, 133.322387415)],
    "bpm": [("second", -1, 0, 60.0)],
}

#: ketasim Parameter.unit -> SBML unit id
_UNIT_OF: dict[str, str] = {"1": "dimensionless", "fold": "dimensionless", "CADSS points": "dimensionless",
                            "h": "hour", "d": "day", "1/h": "per_hour", "mmHg": "mmHg", "bpm": "bpm"}

_PATIENT_UNITS: dict[str, str] = {"weight_kg": "kilogram", "age_y": "year", "sbp0_mmhg": "mmHg",
                                  "dbp0_mmhg": "mmHg", "hr0_bpm": "bpm"}
#: patient fields that only enter the PK numbers (recorded; changing them in the SBML changes nothing)
_PK_ONLY_FIELDS = pk_patient_fields()

#: PD state ids in the SBML: STATE_NAMES, with session_expectancy under its CSV column name
PD_STATE_IDS: tuple[str, ...] = tuple("expectancy" if s == "session_expectancy" else s for s in STATE_NAMES)

#: output ids every export has; plasma_<drug>_ng_ml follow for each drug and metabolite given
OUTPUT_IDS: tuple[str, ...] = CORE_COLUMNS[1:]

#: dose times closer than this (h) are one event (as ketasim's segment boundaries)
_SAME_TIME_H = 1e-9


@dataclass
class _Param:
    value: float
    unit: str
    constant: bool = True
    name: str = ""


@dataclass
class _Spec:
    """Everything the SBML holds, as plain data. Formulas are SBML L3 infix; unit-less numbers are dimensionless."""

    params: dict[str, _Param] = field(default_factory=dict)
    initial: dict[str, str] = field(default_factory=dict)
    assignments: dict[str, str] = field(default_factory=dict)
    rate_rules: dict[str, str] = field(default_factory=dict)
    #: event time (h) -> assignments (variable, formula)
    events: dict[float, list[tuple[str, str]]] = field(default_factory=dict)

    def event_at(self, time_h: float) -> list[tuple[str, str]]:
        """The assignment list of the event at `time_h` (within _SAME_TIME_H), created if needed."""
        for t, assigns in self.events.items():
            if abs(t - time_h) <= _SAME_TIME_H:
                return assigns
        return self.events.setdefault(time_h, [])

    def output(self, sid: str, formula: str, unit: str = "dimensionless", name: str = "") -> None:
        """An assignment-rule variable."""
        self.params[sid] = _Param(0.0, unit, False, name or sid.replace("_", " "))
        self.assignments[sid] = formula


def _sys_id(key: tuple[str, str]) -> str:
    return f"{key[0]}_{key[1]}"


def _sum(terms: list[str], zero: str = "0") -> str:
    return " + ".join(terms) if terms else zero


def _state_unit(state_name: str) -> str:
    return "mg_per_litre" if state_name.endswith("_mg_l") else "mg"


def _rate_unit(to_unit: str, from_unit: str) -> str:
    if to_unit == from_unit:
        return "per_hour"
    return "per_litre_per_hour" if to_unit == "mg_per_litre" else "litre_per_hour"


def patient_parameter_values(model: ArmModel, row: int) -> dict[str, float]:
    """SBML id -> value of every patient-specific parameter, for patient `row` of `model`.

    Rate-matrix entries, plasma factors, dose amounts and rates, and the Patient fields: what
    differs between patients of one arm, so one loaded SBML model can serve them all (e.g. with
    libRoadRunner's `setValue`).
    """
    out: dict[str, float] = {}
    for key, pk in model.systems.items():
        system, inputs = pk.system, pk.inputs
        sid = _sys_id(key)
        rate = system.rate_matrix[row]
        for i, j in zip(*np.nonzero(system.rate_matrix.any(axis=0)), strict=True):
            out[f"k_{sid}_{i}_{j}"] = float(rate[i, j])
        for name, parts in system.plasma_outputs.items():
            for state, factor in parts:
                out[f"to_ng_ml_{sid}_{name}_{state}"] = float(np.asarray(factor)[row])
        for n, inp in enumerate(inputs):
            amount = float(np.broadcast_to(inp.amount_mg, (model.n_patients,))[row])
            if inp.duration_h > 0:
                out[f"rate_{sid}_{n}"] = amount / inp.duration_h
            else:
                out[f"dose_{sid}_{n}"] = amount
    for name in PATIENT_FIELDS:
        out[name] = float(model.patient[name][row])
    return out


def _add_pk(model: ArmModel, spec: _Spec) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """PK states, rate constants and dose events of patient 0; returns receptor ratio terms and plasma terms."""
    values = patient_parameter_values(model, 0)
    ratios: dict[str, list[str]] = {kind: [] for kind in mechanism.EXPOSURE_KINDS}
    plasma: dict[str, list[str]] = {}
    for key, pk in model.systems.items():
        system, inputs = pk.system, pk.inputs
        sid = _sys_id(key)
        names = [f"{sid}_{s}" for s in system.state_names]
        units = [_state_unit(s) for s in system.state_names]
        structure = system.rate_matrix.any(axis=0)
        infused = sorted({inp.state_index for inp in inputs if inp.duration_h > 0})
        for i, x in enumerate(names):
            spec.params[x] = _Param(0.0, units[i], False, f"{key[0]} ({key[1]}): {system.state_names[i]}")
            terms = []
            for j in np.nonzero(structure[i])[0]:
                k = f"k_{sid}_{i}_{j}"
                spec.params[k] = _Param(values[k], _rate_unit(units[i], units[j]), True,
                                        f"rate-matrix entry {system.state_names[j]} -> {system.state_names[i]}")
                terms.append(f"{k} * {names[j]}")
            if i in infused:
                u = f"u_{sid}_{i}"
                spec.params[u] = _Param(0.0, "mg_per_hour", False, f"zero-order input into {system.state_names[i]}")
                terms.append(u)
            spec.rate_rules[x] = _sum(terms, f"0 {units[i]}")
        for name, parts in system.plasma_outputs.items():
            for state, _ in parts:
                f = f"to_ng_ml_{sid}_{name}_{state}"
                spec.params[f] = _Param(values[f], "ng_per_ml_per_mg", True, f"plasma {name} (ng/mL) per mg in the state")
                plasma.setdefault(name, []).append(f"{f} * {names[state]}")
        for kind, terms in (("nmda", system.nmda_terms), ("sert", system.sert_terms),
                            ("sedation", system.sedation_terms), ("nmda_mg", system.nmda_mg_terms)):
            for state, k_mg_l in terms:
                pid = f"K_{kind}_{sid}_{state}"
                spec.params[pid] = _Param(float(k_mg_l), "mg_per_litre", True,
                                          f"{kind} Ki / EC50 of {system.state_names[state]}")
                ratios[kind].append(f"{names[state]} / {pid}")
        # boluses add to a state; a zero-order input rate is re-set wherever an input starts or stops
        boluses: dict[float, dict[str, list[str]]] = {}
        changes: set[float] = set()
        for n, inp in enumerate(inputs):
            if inp.duration_h > 0:
                spec.params[f"rate_{sid}_{n}"] = _Param(values[f"rate_{sid}_{n}"], "mg_per_hour", True,
                                                        f"input {n}: over {inp.duration_h:g} h from {inp.time_h:g} h")
                changes.update((inp.time_h, inp.time_h + inp.duration_h))
            else:
                spec.params[f"dose_{sid}_{n}"] = _Param(values[f"dose_{sid}_{n}"], "mg", True,
                                                        f"input {n}: bolus at {inp.time_h:g} h")
                boluses.setdefault(inp.time_h, {}).setdefault(names[inp.state_index], []).append(f"dose_{sid}_{n}")
        for time_h, by_state in boluses.items():
            spec.event_at(time_h).extend((x, f"{x} + {_sum(doses)}") for x, doses in by_state.items())
        for t0 in sorted(t for t in changes if model.start_h <= t < model.end_h):
            for i in infused:
                active = [f"rate_{sid}_{n}" for n, inp in enumerate(inputs)
                          if inp.duration_h > 0 and inp.state_index == i  # as _pk.solve_modal
                          and inp.time_h <= t0 + 1e-12 and t0 < inp.time_h + inp.duration_h - 1e-12]
                assigns = spec.event_at(t0)
                if not any(var == f"u_{sid}_{i}" for var, _ in assigns):
                    assigns.append((f"u_{sid}_{i}", _sum(active, "0 mg_per_hour")))
    return ratios, plasma


def _add_care(model: ArmModel, spec: _Spec) -> None:
    """`in_care` (ArmModel.in_care): 1 from time 0 to the end of care, switched by events."""
    spec.params["in_care"] = _Param(float(model.in_care[0]), "dimensionless", False,
                                    f"1 while in care (0 h to {model.care_until_h:g} h), else 0")
    for time_h, value in ((0.0, 1.0), (model.care_until_h, 0.0)):
        if model.start_h < time_h < model.end_h:
            spec.event_at(time_h).append(("in_care", repr(value)))


def _add_sessions(model: ArmModel, regimen: Regimen, spec: _Spec) -> None:
    """Session-expectancy jumps (ArmModel.session_jump), with one cue parameter per session."""
    for number, session in enumerate(model.sessions):
        cue = f"session_cue_{number}"
        spec.params[cue] = _Param(session.cue, "hour", True,
                                  f"perceptible cue of the session at {session.time_h:g} h (hours of perceived effect)")
        jump = mechanism.session_jump(symbols([cue])[cue], symbols(model.params))
        after = mechanism.after_session(symbols(["expectancy"])["expectancy"], jump)
        spec.event_at(session.time_h).append(("expectancy", infix(after)))


def _build(regimen: Regimen, patient: Patient, days: float, parameters: dict[str, float] | None) -> tuple[_Spec, str]:
    if not (days > 0 and math.isfinite(days)):
        raise KetasimInputError(f"days must be a finite number > 0, got {days}")
    values = model_values(parameters)
    model = ArmModel(regimen, stack_patients([patient]), values, 0.0, days * 24.0)
    spec = _Spec()
    described = calibrated_parameters()
    for name, value in values.items():
        unit = described[name].unit
        if unit not in _UNIT_OF:
            raise KetasimInputError(f"parameter {name}: no SBML unit for {unit!r}")
        spec.params[name] = _Param(value, _UNIT_OF[unit], True, described[name].description)
    spec.params["sert_max_occupancy"] = _Param(SERT_MAX_OCCUPANCY.value, "dimensionless", True, "maximal SERT occupancy")
    spec.params["hours_per_day"] = _Param(24.0, "hour_per_day", True, "hours per day")
    for name, value in patient_dict(patient).items():
        note = " (recorded: the PK numbers were computed for it)" if name in _PK_ONLY_FIELDS else ""
        spec.params[name] = _Param(float(value), _PATIENT_UNITS.get(name, "dimensionless"), True,
                                   f"patient {name}{note}")
    ratios, plasma = _add_pk(model, spec)
    _add_sessions(model, regimen, spec)
    _add_care(model, spec)
    _add_mechanism(spec, ratios)
    out = spec.output
    for name, terms in plasma.items():
        out(f"plasma_{name}_ng_ml", _sum(terms, "0 ng_per_ml"), "ng_per_ml", f"plasma {name}")
    return spec, f"ketasim: {regimen.name or 'regimen'}, {days:g} d"


def _add_mechanism(spec: _Spec, ratios: dict[str, list[str]]) -> None:
    """Receptor, circuit, plasticity, monoamine, symptom and vitals rules, generated from `model.mechanism`.

    The mechanism's functions are evaluated on sympy symbols named after the SBML ids (parameters,
    patient fields, states, `time`, `hours_per_day`) and printed as L3 infix: named intermediate
    signals and the receptor occupancies become assignment rules, the rates rate rules, the
    observables the output rules, `mechanism.initial_state` the initial assignments.
    """
    xp = sympy_namespace()
    params = symbols(model_values())
    patient = symbols(mechanism.PD_PATIENT_FIELDS)
    states = list(symbols(PD_STATE_IDS).values())
    time = symbols(["time"])["time"]
    for kind, terms in ratios.items():
        spec.output(f"{kind}_ratio_sum", _sum(terms), name=f"sum of effect-site concentration / K ({kind})")
    ratio = symbols([f"{kind}_ratio_sum" for kind in ratios])
    occ = mechanism.occupancy(xp, ratio["nmda_ratio_sum"], ratio["sert_ratio_sum"], ratio["sedation_ratio_sum"],
                              symbols(["sert_max_occupancy"])["sert_max_occupancy"],
                              nmda_mg_ratio=ratio["nmda_mg_ratio_sum"])
    in_care = symbols(["in_care"])["in_care"]
    for sid, value in (("nmda_occupancy", occ.nmda), ("sert_occupancy", occ.sert), ("sedation", occ.sedation),
                       ("nmda_block", occ.nmda_block)):
        spec.output(sid, infix(value))
    occ_ids = mechanism.Occupancy(*symbols(["nmda_occupancy", "sert_occupancy", "sedation"]).values(), in_care,
                                  symbols(["nmda_block"])["nmda_block"])
    signals = mechanism.signals(xp, occ_ids, states, patient, params)
    for name, value in signals.items():
        spec.output(name, infix(value))
    rates = mechanism.rates(xp, states, occ_ids, symbols(signals), patient, params)
    for sid, state, rate, initial in zip(PD_STATE_IDS, mechanism.STATES, rates, mechanism.initial_state(patient),
                                         strict=True):
        spec.params[sid] = _Param(0.0, "dimensionless", False, f"PD state {state.name}: {state.description}")
        spec.rate_rules[sid] = infix(rate)
        if initial != 0:
            spec.initial[sid] = infix(initial)
    for name, value in mechanism.observables(xp, time, states, occ_ids, patient, params).items():
        if str(value) == name:
            continue  # the output is a state or an occupancy, already defined
        described = OUTPUT_SPECS[name]
        spec.output(name, infix(value), _SBML_OUTPUT_UNITS.get(described.unit, "dimensionless"), described.description)


#: output unit (mechanism.OUTPUTS) -> SBML unit id
_SBML_OUTPUT_UNITS = {"mmHg": "mmHg", "bpm": "bpm"}
OUTPUT_SPECS = {o.name: o for o in mechanism.OUTPUTS}


def _document(spec: _Spec, title: str) -> Any:
    """The libsbml.SBMLDocument for `spec`."""
    import libsbml

    def check(code: int, what: str) -> None:
        if code != libsbml.LIBSBML_OPERATION_SUCCESS:
            raise RuntimeError(f"libsbml: cannot set {what}: {libsbml.OperationReturnValue_toString(code)}")

    def math(formula: str, what: str) -> Any:
        ast = libsbml.parseL3Formula(formula)
        if ast is None:
            raise RuntimeError(f"libsbml: cannot parse {what}: {formula!r}: {libsbml.getLastParseL3Error()}")
        stack = [ast]
        while stack:  # numbers written without units are dimensionless
            node = stack.pop()
            if node.isNumber() and not node.hasUnits():
                node.setUnits("dimensionless")
            stack.extend(node.getChild(i) for i in range(node.getNumChildren()))
        return ast

    doc = libsbml.SBMLDocument(3, 2)
    model = doc.createModel()
    check(model.setId("ketasim"), "model id")
    model.setName(title)
    check(model.setTimeUnits("hour"), "time units")
    for uid, parts in UNIT_DEFINITIONS.items():
        definition = model.createUnitDefinition()
        check(definition.setId(uid), f"unit {uid}")
        for kind, exponent, scale, multiplier in parts:
            unit = definition.createUnit()
            unit.setKind(libsbml.UnitKind_forName(kind))
            unit.setExponent(exponent)
            unit.setScale(scale)
            unit.setMultiplier(multiplier)
    for pid, p in spec.params.items():
        par = model.createParameter()
        check(par.setId(pid), f"parameter id {pid}")
        par.setName(p.name)
        par.setValue(p.value)
        check(par.setUnits(p.unit), f"units of {pid}")
        par.setConstant(p.constant)
    for var, formula in spec.initial.items():
        initial = model.createInitialAssignment()
        check(initial.setSymbol(var), f"initial assignment to {var}")
        check(initial.setMath(math(formula, f"initial value of {var}")), f"initial value of {var}")
    for kind, rules in (("assignment", spec.assignments), ("rate", spec.rate_rules)):
        for var, formula in rules.items():
            rule = model.createAssignmentRule() if kind == "assignment" else model.createRateRule()
            rule.setVariable(var)
            check(rule.setMath(math(formula, f"{kind} rule for {var}")), f"{kind} rule for {var}")
    for n, time_h in enumerate(sorted(spec.events)):
        event = model.createEvent()
        event.setId(f"event_{n}")
        event.setName(f"doses / session at {time_h:g} h")
        event.setUseValuesFromTriggerTime(True)
        trigger = event.createTrigger()
        trigger.setInitialValue(False)
        trigger.setPersistent(True)
        check(trigger.setMath(math(f"time >= {time_h!r} hour", f"trigger at {time_h} h")), "trigger")
        for var, formula in spec.events[time_h]:
            assignment = event.createEventAssignment()
            assignment.setVariable(var)
            check(assignment.setMath(math(formula, f"event assignment to {var}")), f"event assignment to {var}")
    return doc


def sbml_document(regimen: Regimen | str, patient: Patient | str, days: float,
                  parameters: dict[str, float] | None = None) -> Any:
    """The libsbml.SBMLDocument for one patient (see `export_sbml`)."""
    try:
        import libsbml  # noqa: F401
    except ImportError:
        raise KetasimInputError("SBML export needs python-libsbml: pip install 'ketasim[sbml]'") from None
    spec, title = _build(resolve_regimen(regimen), resolve_patient(patient), days, parameters)
    return _document(spec, title)


def consistency_messages(doc: Any) -> tuple[list[str], list[str]]:
    """libsbml's consistency checks (units included) as (errors, warnings), one line each."""
    import libsbml

    doc.checkConsistency()
    errors: list[str] = []
    warnings: list[str] = []
    for i in range(doc.getNumErrors()):
        err = doc.getError(i)
        line = f"{err.getErrorId()}: {' '.join(err.getMessage().split())}"
        (errors if err.getSeverity() >= libsbml.LIBSBML_SEV_ERROR else warnings).append(line)
    return errors, warnings


def export_sbml(regimen: Regimen | str, patient: Patient | str, days: float, path: str | Path | None = None,
                parameters: dict[str, float] | None = None) -> str:
    """SBML L3V2 text for one patient on `regimen` over `days` days (time in h); also written to `path` if given.

    `regimen` is a Regimen or a preset name, `patient` a Patient or a typical patient's name,
    `parameters` overrides mechanism parameters as in `simulate`. The outputs have the ids of the
    `ketasim simulate --csv` columns (MADRS points, fractions, mmHg, bpm, ng/mL).
    """
    import libsbml

    text = libsbml.writeSBMLToString(sbml_document(regimen, patient, days, parameters))
    if path is not None:
        Path(path).write_text(text)
    return text
