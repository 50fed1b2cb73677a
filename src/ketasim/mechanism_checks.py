"""Mechanism checks: the layers between plasma and MADRS against human (and marked rodent) data.

The clinical validation scores the ends of the chain; these checks score its middle: NMDA
occupancy, the glutamate surge, BDNF, mTOR, synaptic proteins and spines, the symptom layer's
dependence on them (knock-outs), and SERT occupancy. Each check is data: a `[[check]]` table in a
file of `data/mechanism/` (one file per layer), citing its row of `shared/data/biomarkers.md`.

A check simulates one patient (`patient`, a typical patient) or a virtual cohort (`cohort`, N
unscreened patients of a population kind) on `doses`, computes one `metric` of one `output`, and
passes when the value lies in `range` (both ends included). Metrics:

- `value` (at `at`), `change_percent` (at `at`, % of the pre-dose value), `peak` and
  `peak_change_percent` (largest value in `window`), `time_of_peak_h` (h after the first dose);
- `parameter_ratio`: `numerator` / `denominator`, each "drug.parameter" (affinities);
- `ratio_to_reference`: the metric named by `of` (a peak change, say) divided by the same under
  `reference_doses` (the inverted U: anaesthetic exposure against the antidepressant dose);
- `knockout_fraction`: the drug effect (change on `doses` minus change on `control_doses`) at `at`
  with the `knockout` parameters set, as a fraction of the intact drug effect;
- `correlation`: across the cohort, Pearson r of the change of `output` at `at` with the change
  of `second_output` at `second_at`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ketasim.engines.solvers import ENGINES, SolverSettings
from ketasim.errors import KetasimInputError
from ketasim.io.toml_file import read_toml
from ketasim.io.units import parse_time_h
from ketasim.model.arm import ArmModel, calibrated_parameters, initial_state, model_values
from ketasim.model.drugs import DRUGS
from ketasim.model.mechanism import OUTPUT_NAMES
from ketasim.model.parameters import check_overrides
from ketasim.model.patient import TYPICAL_PATIENTS, stack_patients
from ketasim.model.regimen import Regimen, regimen_from_entries
from ketasim.trials.population import POPULATION_KINDS, PopulationSettings, draw_candidates, population_values

#: the layers between plasma and MADRS, in the order of the chain
LAYERS: tuple[str, ...] = ("receptor", "circuit", "neurotrophic", "synapse", "symptoms", "monoamine")
METRICS: tuple[str, ...] = ("value", "change_percent", "peak", "peak_change_percent", "time_of_peak_h",
                            "parameter_ratio", "ratio_to_reference", "knockout_fraction", "correlation")
SPECIES: tuple[str, ...] = ("human", "rodent")
_FILE_KEYS = ("layer", "check")
_CHECK_KEYS = ("name", "species", "metric", "output", "doses", "patient", "cohort", "at", "window", "range",
               "numerator", "denominator", "of", "reference_doses", "control_doses", "knockout", "second_output",
               "second_at", "biomarkers", "source", "note")
#: output spacing inside a window a peak is sought in (h)
_FINE_H = 2.0 / 60.0
#: a peak sought over more than two days (daily dosing for a week) is sought every 10 minutes: the layers
#: read there (BDNF, mTOR, spines) move with time constants of hours
LONG_WINDOW_H = 48.0
_LONG_STEP_H = 10.0 / 60.0


@dataclass(frozen=True)
class MechanismCheck:
    """One check of an intermediate layer: what to simulate, which number, the accepted range, the evidence."""

    file: str
    layer: str
    name: str
    species: str
    metric: str
    low: float
    high: float
    source: str
    biomarkers: str
    output: str = ""
    regimen: Regimen | None = None
    patient: str = "typical-trd"
    cohort: tuple[str, int, int] | None = None  # (kind, patients, seed)
    at_h: float | None = None
    window_h: tuple[float, float] | None = None
    numerator: str = ""
    denominator: str = ""
    of: str = ""
    reference: Regimen | None = None
    control: Regimen | None = None
    knockout: dict[str, float] = field(default_factory=dict)
    second_output: str = ""
    second_at_h: float | None = None
    note: str = ""


@dataclass(frozen=True)
class MechanismResult:
    check: MechanismCheck
    value: float

    @property
    def passed(self) -> bool:
        return math.isfinite(self.value) and self.check.low <= self.value <= self.check.high

    def as_dict(self) -> dict[str, Any]:
        c = self.check
        return {"file": c.file, "layer": c.layer, "name": c.name, "species": c.species, "metric": c.metric,
                "output": c.output, "simulated": self.value if math.isfinite(self.value) else None,
                "range": [c.low, c.high], "pass": self.passed, "biomarkers": c.biomarkers, "source": c.source,
                "note": c.note}


# ---- reading -------------------------------------------------------------------------------------

def shipped_mechanism_dir() -> Path:
    return Path(str(resources.files("ketasim") / "data" / "mechanism"))


def load_checks(paths: list[Path] | None = None) -> list[MechanismCheck]:
    """Every check of the given files (default: the shipped set), in file order."""
    files = sorted(shipped_mechanism_dir().glob("*.toml")) if not paths else paths
    return [check for path in files for check in parse_file(read_toml(path, "mechanism check file"), path.name)]


def parse_file(data: Mapping[str, Any], source: str) -> list[MechanismCheck]:
    """The checks of one file's TOML table; errors name the file and the place."""
    _keys(data, _FILE_KEYS, source, "")
    layer = data.get("layer")
    if layer not in LAYERS:
        raise KetasimInputError(f"{source}: layer: expected one of {', '.join(LAYERS)}, got {layer!r}")
    checks = data.get("check")
    if not isinstance(checks, list) or not checks:
        raise KetasimInputError(f"{source}: check: expected one or more [[check]] tables")
    return [_check(entry, source, layer, f"check[{i}]") for i, entry in enumerate(checks)]


def _keys(table: Any, allowed: tuple[str, ...], source: str, place: str) -> None:
    if not isinstance(table, Mapping):
        raise KetasimInputError(f"{source}: {place or 'file'}: expected a table")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise KetasimInputError(f"{source}: {place + ': ' if place else ''}unknown key(s) {', '.join(unknown)}; "
                                f"expected {', '.join(allowed)}")


def _check(e: Any, source: str, layer: str, place: str) -> MechanismCheck:
    _keys(e, _CHECK_KEYS, source, place)

    def need(key: str) -> Any:
        if key not in e:
            raise KetasimInputError(f"{source}: {place}.{key}: missing")
        return e[key]

    def text(key: str, default: str = "") -> str:
        value = e.get(key, default)
        if not isinstance(value, str):
            raise KetasimInputError(f"{source}: {place}.{key}: expected text, got {value!r}")
        return value

    def hours(key: str) -> float | None:
        return None if key not in e else parse_time_h(e[key], f"{source}: {place}.{key}")

    def doses(key: str) -> Regimen | None:
        return None if key not in e else regimen_from_entries(e[key], f"{source}: {place}.{key}", name=key)

    metric, species = need("metric"), e.get("species", "human")
    if metric not in METRICS:
        raise KetasimInputError(f"{source}: {place}.metric: expected one of {', '.join(METRICS)}, got {metric!r}")
    if species not in SPECIES:
        raise KetasimInputError(f"{source}: {place}.species: expected human or rodent, got {species!r}")
    bounds = need("range")
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int | float) and not isinstance(b, bool)
                                                                   for b in bounds) and bounds[0] <= bounds[1]):
        raise KetasimInputError(f"{source}: {place}.range: expected [low, high] with low <= high, got {bounds!r}")
    output = text("output")
    for key in ("output", "second_output"):
        if e.get(key) and e[key] not in OUTPUT_NAMES:
            raise KetasimInputError(f"{source}: {place}.{key}: unknown output {e[key]!r}; outputs: {', '.join(OUTPUT_NAMES)}")
    if metric != "parameter_ratio" and (not output or "doses" not in e):
        raise KetasimInputError(f"{source}: {place}: metric {metric!r} needs output and doses")
    if metric in ("value", "change_percent", "knockout_fraction", "correlation") and "at" not in e:
        raise KetasimInputError(f"{source}: {place}.at: metric {metric!r} needs the time it is read at")
    if metric in ("peak", "peak_change_percent", "time_of_peak_h") and "window" not in e:
        raise KetasimInputError(f"{source}: {place}.window: metric {metric!r} needs [from, until]")
    window = None
    if "window" in e:
        w = e["window"]
        if not (isinstance(w, list) and len(w) == 2):
            raise KetasimInputError(f"{source}: {place}.window: expected [from, until], got {w!r}")
        window = (parse_time_h(w[0], f"{source}: {place}.window[0]"), parse_time_h(w[1], f"{source}: {place}.window[1]"))
    knockout = e.get("knockout", {})
    if not isinstance(knockout, Mapping):
        raise KetasimInputError(f"{source}: {place}.knockout: expected a table of parameter = value")
    knockout = check_overrides(dict(knockout), calibrated_parameters(), f"{source}: {place}.knockout", "model parameter")
    patient = text("patient", "typical-trd")
    if patient not in TYPICAL_PATIENTS:
        raise KetasimInputError(f"{source}: {place}.patient: expected one of {', '.join(TYPICAL_PATIENTS)}, got {patient!r}")
    cohort = None
    if "cohort" in e:
        c = e["cohort"]
        _keys(c, ("kind", "patients", "seed"), source, f"{place}.cohort")
        if c.get("kind", "mdd") not in POPULATION_KINDS or not isinstance(c.get("patients", 200), int) \
                or not 10 <= c.get("patients", 200) <= 5000:
            raise KetasimInputError(f"{source}: {place}.cohort: expected kind in {', '.join(POPULATION_KINDS)} and "
                                    "10-5000 patients")
        cohort = (c.get("kind", "mdd"), c.get("patients", 200), int(c.get("seed", 1)))
    if metric == "correlation" and (cohort is None or not e.get("second_output") or "second_at" not in e):
        raise KetasimInputError(f"{source}: {place}: metric 'correlation' needs cohort, second_output and second_at")
    for key in ("numerator", "denominator"):
        if metric == "parameter_ratio":
            _drug_parameter(need(key), f"{source}: {place}.{key}")
    if metric == "ratio_to_reference" and ("reference_doses" not in e or e.get("of") not in METRICS[:5]):
        raise KetasimInputError(f"{source}: {place}: metric 'ratio_to_reference' needs reference_doses and of "
                                f"(one of {', '.join(METRICS[:5])})")
    if metric == "knockout_fraction" and (not knockout or "control_doses" not in e):
        raise KetasimInputError(f"{source}: {place}: metric 'knockout_fraction' needs knockout and control_doses")
    return MechanismCheck(
        file=source, layer=layer, name=text("name") or f"{place}", species=species, metric=metric,
        low=float(bounds[0]), high=float(bounds[1]), source=text("source"), biomarkers=text("biomarkers"),
        output=output, regimen=doses("doses"), patient=patient, cohort=cohort, at_h=hours("at"), window_h=window,
        numerator=text("numerator"), denominator=text("denominator"), of=text("of"),
        reference=doses("reference_doses"), control=doses("control_doses"), knockout=knockout,
        second_output=text("second_output"), second_at_h=hours("second_at"), note=text("note"))


def _drug_parameter(name: str, where: str) -> float:
    drug, _, parameter = name.partition(".")
    if drug not in DRUGS or parameter not in DRUGS[drug].parameters:
        raise KetasimInputError(f"{where}: expected DRUG.PARAMETER (e.g. ketamine.species.s_ketamine.nmda.ki), got {name!r}")
    return float(DRUGS[drug].parameters[parameter].value)


# ---- evaluating ----------------------------------------------------------------------------------

def _times(end_h: float, window_h: tuple[float, float] | None, extra: list[float]) -> np.ndarray:
    """Output times: 0, the times read, every 2 minutes inside the window a peak is sought in (every 10 minutes
    in a window longer than LONG_WINDOW_H, where the outputs sought move over hours), up to end_h."""
    grid = {0.0, end_h, *np.round(extra, 9).tolist()}
    if window_h is not None:
        step = _FINE_H if window_h[1] - window_h[0] <= LONG_WINDOW_H else _LONG_STEP_H
        grid.update(np.round(np.arange(window_h[0], window_h[1] + 1e-9, step), 9).tolist())
    return np.array(sorted(t for t in grid if 0.0 <= t <= end_h + 1e-9))


def _patients(check: MechanismCheck) -> dict[str, np.ndarray]:
    if check.cohort is None:
        return stack_patients([TYPICAL_PATIENTS[check.patient]])
    kind, n, seed = check.cohort
    return draw_candidates(seed, 0, np.arange(n, dtype=np.uint64), population_values(), PopulationSettings(kind=kind))


def _course(regimen: Regimen, patients: dict[str, np.ndarray], end_h: float, extra: list[float],
            overrides: dict[str, float], window_h: tuple[float, float] | None = None
            ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Outputs (T, N) of `patients` on `regimen` from 0 to end_h (fast engine, default tolerances)."""
    times = _times(end_h, window_h, extra)
    model = ArmModel(regimen, patients, model_values(overrides), 0.0, end_h)
    solution = ENGINES["fast"](model, times, initial_state(patients), SolverSettings())
    return times, model.outputs(times, solution.states)


def _end_h(check: MechanismCheck) -> float:
    points = [check.at_h or 0.0, check.second_at_h or 0.0, *(check.window_h or (0.0, 0.0))]
    return max(max(points), 1.0)


def _at(times: np.ndarray, series: np.ndarray, t: float) -> np.ndarray:
    return series[int(np.argmin(np.abs(times - t)))]


def _read(metric: str, times: np.ndarray, series: np.ndarray, check: MechanismCheck) -> float:
    """One number (the cohort mean where there are several patients) of one output's course (T, N)."""
    base = series[0]
    if metric == "value":
        return float(np.mean(_at(times, series, check.at_h or 0.0)))
    if metric == "change_percent":
        return float(np.mean(100.0 * (_at(times, series, check.at_h or 0.0) / base - 1.0)))
    lo, hi = check.window_h or (0.0, times[-1])
    inside = (times >= lo - 1e-9) & (times <= hi + 1e-9)
    window, mean = times[inside], np.mean(series[inside], axis=1)
    if metric == "peak":
        return float(np.max(mean))
    if metric == "peak_change_percent":
        return float(100.0 * (np.max(mean) / np.mean(base) - 1.0))
    return float(window[int(np.argmax(mean))])  # time_of_peak_h


def evaluate(check: MechanismCheck) -> MechanismResult:
    """The simulated value of one check."""
    if check.metric == "parameter_ratio":
        return MechanismResult(check, _drug_parameter(check.numerator, check.file)
                               / _drug_parameter(check.denominator, check.file))
    patients, end = _patients(check), _end_h(check)
    extra = [t for t in (check.at_h, check.second_at_h) if t is not None]
    assert check.regimen is not None
    if check.metric == "ratio_to_reference":
        assert check.reference is not None
        values = [_read(check.of, *_one(regimen, patients, end, extra, check.output, {}, check.window_h), check)
                  for regimen in (check.regimen, check.reference)]
        return MechanismResult(check, values[0] / values[1] if values[1] else math.nan)
    if check.metric == "knockout_fraction":
        assert check.control is not None

        def effect(overrides: dict[str, float]) -> float:
            drug = _one(check.regimen, patients, end, extra, check.output, overrides)  # type: ignore[arg-type]
            control = _one(check.control, patients, end, extra, check.output, overrides)  # type: ignore[arg-type]
            at = check.at_h or 0.0
            return float(np.mean((_at(*drug, at) - drug[1][0]) - (_at(*control, at) - control[1][0])))
        intact = effect({})
        return MechanismResult(check, effect(check.knockout) / intact if intact else math.nan)
    times, out = _course(check.regimen, patients, end, extra, check.knockout, check.window_h)
    if check.metric == "correlation":
        first = _at(times, out[check.output], check.at_h or 0.0) - out[check.output][0]
        second = _at(times, out[check.second_output], check.second_at_h or 0.0) - out[check.second_output][0]
        return MechanismResult(check, float(np.corrcoef(first, second)[0, 1]))
    return MechanismResult(check, _read(check.metric, times, out[check.output], check))


def _one(regimen: Regimen, patients: dict[str, np.ndarray], end: float, extra: list[float], output: str,
         overrides: dict[str, float], window_h: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    times, out = _course(regimen, patients, end, extra, overrides, window_h)
    return times, out[output]


def run_checks(paths: list[Path] | None = None) -> list[MechanismResult]:
    """Every check of the given files (default: the shipped set), evaluated."""
    return [evaluate(check) for check in load_checks(paths)]


def summary(results: list[MechanismResult]) -> dict[str, Any]:
    """The JSON form: every check, and the score for human and rodent checks apart."""
    def score(species: str) -> dict[str, int]:
        chosen = [r for r in results if r.check.species == species]
        return {"passed": sum(r.passed for r in chosen), "total": len(chosen)}
    return {"checks": [r.as_dict() for r in results], "human": score("human"), "rodent": score("rodent"),
            "passed": sum(r.passed for r in results), "total": len(results)}


def format_mechanism_table(results: list[MechanismResult]) -> str:
    """The mechanism table (text): layer, species, check, simulated, accepted range, result; a score line each
    for human and rodent-derived checks."""
    header = f"{'layer':12s} {'species':7s} {'check':74s} {'simulated':>10s} {'range':>17s}  result"
    lines = [header, "-" * len(header)]
    for r in results:
        c = r.check
        value = "n/a" if not math.isfinite(r.value) else f"{r.value:.3g}"
        lines.append(f"{c.layer:12s} {c.species:7s} {c.name[:74]:74s} {value:>10s} {f'{c.low:g} to {c.high:g}':>17s}  "
                     f"{'pass' if r.passed else 'MISS'}")
    s = summary(results)
    lines.append(f"mechanism: {s['human']['passed']} of {s['human']['total']} human checks and "
                 f"{s['rodent']['passed']} of {s['rodent']['total']} rodent-derived checks pass")
    return "\n".join(lines)


def mechanism_files(paths: list[str | Path]) -> list[Path]:
    """Check files named directly or found in folders (*.toml)."""
    out: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            out += sorted(entry.glob("*.toml"))
        elif entry.is_file():
            out.append(entry)
        else:
            raise KetasimInputError(f"--mechanism: {str(entry)!r}: no such file or folder")
    return out
