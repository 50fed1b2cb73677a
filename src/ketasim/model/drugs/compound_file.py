"""Compound files (docs/compound-file.md): one TOML file per drug, what the literature reports, every value
with its unit and source. `parse_compound` checks a decoded file and converts its units; every problem is
one KetasimInputError ``FILE: KEY: what was expected``. No code is ever run from a file.

Internal units: volumes L, flows and clearances L/h, rate constants 1/h, times h, amounts mg, fractions 1,
affinities mg/L (molar ones through the species' molar mass), molar masses g/mol.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from ketasim.errors import KetasimInputError
from ketasim.io.toml_file import parse_toml, read_toml
from ketasim.model.parameters import Parameter

#: dimension -> unit -> factor to the internal unit (per-kg units are per kg of the reference weight)
UNITS: dict[str, dict[str, float]] = {
    "volume": {"L": 1.0, "mL": 1e-3},
    "flow": {"L/h": 1.0, "L/min": 60.0, "mL/min": 0.06, "mL/h": 1e-3},
    "rate": {"1/h": 1.0, "1/min": 60.0, "1/d": 1.0 / 24.0, "1/s": 3600.0},
    "time": {"h": 1.0, "min": 1.0 / 60.0, "d": 24.0, "wk": 168.0, "s": 1.0 / 3600.0},
    "fraction": {"1": 1.0, "%": 0.01},
    "amount": {"mg": 1.0, "ug": 1e-3, "g": 1e3},
    "molar_mass": {"g/mol": 1.0},
    "flow_per_year": {"L/h/y": 1.0},
    "age": {"y": 1.0},
    "weight": {"kg": 1.0},
    "mmHg": {"mmHg": 1.0},
    "points": {"points": 1.0},
    "association": {"1/uM/s": 1.0, "1/M/s": 1e-6},  # carried only, in 1/(uM s)
    # affinities: mass concentrations to mg/L; molar ones (uM) are converted with the molar mass
    "affinity": {"mg/L": 1.0, "ng/mL": 1e-3, "ug/L": 1e-3, "uM": math.nan, "nM": math.nan, "mM": math.nan},
}
#: per-kg units: unit -> (dimension, factor per kg to the internal unit)
PER_KG_UNITS: dict[str, tuple[str, float]] = {"L/kg": ("volume", 1.0), "L/h/kg": ("flow", 1.0),
                                             "mL/min/kg": ("flow", 0.06)}
MOLAR_UM: dict[str, float] = {"uM": 1.0, "nM": 1e-3, "mM": 1e3}
ROUTE_NAMES: tuple[str, ...] = ("iv", "intranasal", "oral", "im", "sc", "sublingual", "oral_er")
#: the absorption kind each route takes
ROUTE_KINDS: dict[str, str] = {"iv": "intravenous", "intranasal": "nasal", "oral": "first_order", "im": "first_order",
                               "sc": "first_order", "sublingual": "first_order", "oral_er": "first_order"}
ABSORPTION_KINDS: tuple[str, ...] = ("intravenous", "first_order", "nasal")
MAX_PERIPHERAL = 2

_TOP = ("name", "description", "molar_mass_g_mol", "cmt", "perceptible_cue", "inert_routes", "allometry", "variability",
        "species", "routes", "effects")
_VALUE = ("value", "unit", "source", "description", "variability")
_SPECIES = ("molar_mass", "fraction_unbound", "effect_site", "nmda", "sert", "sedation", "other_targets")
_EFFECT_SITE = ("ke0", "partition", "state")
_NMDA = ("ki", "ic50", "trapping", "block_at_rest_physiological_mg", "kon", "koff")
_SERT = ("ec50", "max_occupancy")
_SEDATION = ("ec50",)
#: a target the model has no term for (carried only: sigma-1, a monoamine transporter, the NMDA glycine site, ...)
_OTHER_TARGET = ("ki", "ic50", "ec50", "intrinsic_efficacy", "action", "description")
#: targets the model uses: they have their own species keys
_MODEL_TARGETS = ("nmda", "sert", "sedation")
_ROUTE = ("absorption", "parents")
_ABSORPTION = {"intravenous": ("kind",),
               "first_order": ("kind", "ka", "bioavailability", "lag", "release_duration", "first_pass_to_metabolites"),
               "nasal": ("kind", "ka", "nasal_fraction", "later_device_factor", "device", "device_interval",
                         "swallowed")}
_SWALLOWED = ("ka", "duration", "gut_availability")
_PARENT = ("species", "dose_fraction", "state_prefix", "output", "disposition", "metabolites")
_METABOLITE = ("species", "fraction_formed", "output", "state_prefix", "disposition")
_DISPOSITION = ("central_volume", "clearance", "half_life", "peripheral", "hepatic")
_PERIPHERAL = ("volume", "clearance")
_HEPATIC = ("blood_flow", "blood_flow_loss_per_year", "loss_from_age")
_ALLOMETRY = ("reference_weight", "clearance_exponent", "volume_exponent")
_VARIABILITY = ("cv_name", "cv", "description", "scale")
_EFFECTS = ("peak_dissociation", "peak_systolic_rise")
_EFFECT = ("value", "unit", "source", "description", "dose")


@dataclass(frozen=True)
class Quantity:
    """One value of a compound file: as written (`parameter`), in internal units (`si`), and the patient
    variability fields that scale it."""

    parameter: Parameter
    si: float
    variability: tuple[str, ...] = ()


@dataclass(frozen=True)
class Disposition:
    """Linear disposition: central volume, clearance (or one derived from a half-life), peripherals, liver."""

    central_volume: Quantity
    clearance: Quantity | None
    half_life: Quantity | None
    peripheral: tuple[tuple[Quantity, Quantity], ...]  # (volume, inter-compartmental clearance)
    hepatic_flow: Quantity | None = None
    hepatic_loss_per_year: Quantity | None = None
    hepatic_loss_from_age: Quantity | None = None


@dataclass(frozen=True)
class Metabolite:
    species: str
    fraction_formed: Quantity
    output: str
    state_prefix: str
    disposition: Disposition


@dataclass(frozen=True)
class Parent:
    species: str
    dose_fraction: Quantity
    state_prefix: str
    disposition: Disposition
    metabolites: tuple[Metabolite, ...]
    #: plasma output name; "" = the compound's name (a fixed-dose combination names each substance's)
    output: str = ""


@dataclass(frozen=True)
class Absorption:
    kind: str
    ka: Quantity | None = None
    bioavailability: Quantity | None = None
    lag: Quantity | None = None
    nasal_fraction: Quantity | None = None
    later_device_factor: Quantity | None = None
    device: Quantity | None = None
    device_interval: Quantity | None = None
    swallowed_ka: Quantity | None = None
    swallowed_duration: Quantity | None = None
    gut_availability: Quantity | None = None
    release_duration: Quantity | None = None
    first_pass_to_metabolites: Quantity | None = None


@dataclass(frozen=True)
class Route:
    absorption: Absorption
    parents: tuple[Parent, ...]


@dataclass(frozen=True)
class Species:
    """A chemical entity (a parent or a metabolite): its effect site and what it binds there (mg/L)."""

    molar_mass: Quantity
    ke0: Quantity | None
    partition: Quantity | None
    site_state: str
    nmda: Quantity | None
    sert: Quantity | None
    sedation: Quantity | None
    #: share of the NMDA potency (1/Ki) that acts at rest under physiological Mg2+, relative to racemic
    #: ketamine's (1 when the file gives none; the chain downstream is calibrated on ketamine)
    nmda_rest: float = 1.0


@dataclass(frozen=True)
class VariabilityDecl:
    name: str
    cv_name: str
    cv: Parameter
    description: str
    scale: str


@dataclass(frozen=True)
class Compound:
    """A checked compound file; `parameters` holds every value by its dotted key, for tables and display."""

    name: str
    description: str
    source: str
    molar_mass: Quantity
    cmt: dict[str, int]
    perceptible_cue: dict[str, float]
    reference_weight_kg: float
    clearance_exponent: float
    volume_exponent: float
    variability: tuple[VariabilityDecl, ...]
    variability_used: tuple[str, ...]
    species: dict[str, Species]
    routes: dict[str, Route]
    parameters: dict[str, Parameter]
    targets: dict[str, tuple[str, ...]]
    inert_routes: tuple[str, ...] = ()

    @property
    def action(self) -> str:
        """What the compound does in the model: nmda, ssri, sedative or inert (from its targets)."""
        for target, action in (("NMDA", "nmda"), ("SERT", "ssri"), ("sedation", "sedative")):
            if target in self.targets:
                return action
        return "inert"


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Reader:
    """Typed access to a decoded compound file; every error names the file and the dotted key."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.parameters: dict[str, Parameter] = {}
        self.used: list[str] = []
        self.varied: list[tuple[str, tuple[str, ...]]] = []
        self.reference_weight = 70.0

    def fail(self, path: str, message: str) -> NoReturn:
        raise KetasimInputError(f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}")

    def table(self, value: object, path: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(path, f"expected a table with keys {', '.join(allowed)}, got {_show(value)}")
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail(f"{path}.{key}" if path else str(key),
                          f"unknown key {key!r}{hint}; allowed keys here: {', '.join(allowed)}")
        return value

    def require(self, table: Mapping[str, Any], key: str, path: str, expected: str) -> Any:
        if key not in table:
            self.fail(f"{path}.{key}" if path else key, f"missing key (expected {expected})")
        return table[key]

    def string(self, value: object, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"expected a non-empty string, got {_show(value)}")
        return value

    def name(self, value: object, path: str) -> str:
        text = self.string(value, path)
        if not (text.replace("_", "").isascii() and text.replace("_", "").isalnum() and text[0].isalpha()):
            self.fail(path, f"expected a name of letters, digits and '_' starting with a letter, got {text!r}")
        return text

    def quantity(self, value: object, path: str, dimension: str, *, positive: bool = True, upper: float | None = None,
                 molar_mass: float | None = None, variability: bool = True) -> Quantity:
        """One value entry `{ value, unit, source }`, converted to the internal unit of `dimension`."""
        entry = self.table(value, path, _VALUE if variability else _VALUE[:-1])
        raw = self.require(entry, "value", path, "a number")
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            self.fail(f"{path}.value", f"expected a finite number, got {_show(raw)}")
        number = float(raw)
        unit = self.require(entry, "unit", path, f"a unit: {', '.join(_units_of(dimension))}")
        source = self.string(self.require(entry, "source", path, "a citation, 'derived: ...' or 'assumed: ...'"),
                             f"{path}.source")
        description = self.string(entry["description"], f"{path}.description") if "description" in entry else ""
        if unit in PER_KG_UNITS and PER_KG_UNITS[unit][0] == dimension:
            factor = PER_KG_UNITS[unit][1] * self.reference_weight
        elif unit in UNITS.get(dimension, {}):
            factor = UNITS[dimension][unit]
        else:
            self.fail(f"{path}.unit", f"expected one of {', '.join(_units_of(dimension))}, got {_show(unit)}")
        if dimension == "affinity" and unit in MOLAR_UM:
            assert molar_mass is not None
            si = number * MOLAR_UM[unit] * molar_mass * 1e-3  # uM x g/mol = ug/L
        else:
            si = number * factor
        if positive and not si > 0.0:
            self.fail(f"{path}.value", f"expected a number > 0, got {_show(raw)}")
        if not positive and si < 0.0:
            self.fail(f"{path}.value", f"expected a number >= 0, got {_show(raw)}")
        if upper is not None and si > upper:
            self.fail(f"{path}.value", f"expected a number <= {upper:g} {unit}, got {_show(raw)}")
        fields: tuple[str, ...] = ()
        if "variability" in entry:
            names = entry["variability"]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                self.fail(f"{path}.variability", f"expected a list of patient variability fields, got {_show(names)}")
            fields = tuple(names)
            self.varied.append((path, fields))
            self.used += [n for n in fields if n not in self.used]
        self.parameters[path] = Parameter(number, str(unit), source, description)
        return Quantity(self.parameters[path], si, fields)

    def optional(self, table: Mapping[str, Any], key: str, path: str, dimension: str, **kw: Any) -> Quantity | None:
        return self.quantity(table[key], f"{path}.{key}", dimension, **kw) if key in table else None


def _units_of(dimension: str) -> list[str]:
    return list(UNITS.get(dimension, {})) + [u for u, (d, _) in PER_KG_UNITS.items() if d == dimension]


def read_compound(path: str | os.PathLike[str]) -> Compound:
    """Read and check a compound file (TOML 1.1: inline tables may span lines)."""
    return parse_compound(read_toml(path, "compound file", toml_1_1=True), os.fspath(path))


def parse_compound_text(text: str | bytes, source: str) -> Compound:
    """Check compound file text; errors name `source`."""
    return parse_compound(parse_toml(text, source, toml_1_1=True), source)


def parse_compound(data: Mapping[str, Any], source: str) -> Compound:
    """Check a decoded compound file and convert its units (errors: ``source: key: what was expected``)."""
    r = _Reader(source)
    top = r.table(data, "", _TOP)
    name = r.name(r.require(top, "name", "", "the compound's name"), "name")
    description = r.string(top.get("description", name), "description")
    allometry = r.table(top.get("allometry", {}), "allometry", _ALLOMETRY)
    ref = r.optional(allometry, "reference_weight", "allometry", "weight", variability=False)
    r.reference_weight = ref.parameter.value if ref else 70.0
    exps = []
    for key, default in (("clearance_exponent", 0.75), ("volume_exponent", 1.0)):
        q = r.optional(allometry, key, "allometry", "fraction", positive=False, upper=2.0, variability=False)
        exps.append(q.si if q else default)
    if "molar_mass_g_mol" in top or "routes" in top:
        molar_mass = r.quantity(r.require(top, "molar_mass_g_mol", "", "{ value, unit = \"g/mol\", source }"),
                                "molar_mass_g_mol", "molar_mass", variability=False)
    else:  # an inert compound (inert_routes only) needs none
        molar_mass = Quantity(Parameter(math.nan, "g/mol", "none: inert"), math.nan)
    cmt: dict[str, int] = {}
    for route, number in r.table(top.get("cmt", {}), "cmt", ROUTE_NAMES).items():
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            r.fail(f"cmt.{route}", f"expected an integer >= 1, got {_show(number)}")
        cmt[route] = number
    cue: dict[str, float] = {}
    for route, value in r.table(top.get("perceptible_cue", {}), "perceptible_cue", ROUTE_NAMES).items():
        if isinstance(value, Mapping):
            cue[route] = r.quantity(value, f"perceptible_cue.{route}", "fraction", positive=False, upper=1.0,
                                    variability=False).si
        elif isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
            cue[route] = float(value)
        else:
            r.fail(f"perceptible_cue.{route}", f"expected a number from 0 to 1 or a value entry, got {_show(value)}")
    declared = _variability(r, top.get("variability", {}))
    species = {r.name(key, f"species.{key}"): _species(r, value, f"species.{key}", molar_mass.si)
               for key, value in r.table(top.get("species", {}), "species", tuple(top.get("species", {}))).items()}
    routes_table = r.table(top.get("routes", {}), "routes", ROUTE_NAMES)
    parsed: dict[str, Route] = {}
    for route, value in sorted(routes_table.items(), key=lambda kv: _shares_parents(kv[1])):
        parsed[route] = _route(r, value, f"routes.{route}", species, name, parsed)
    routes = {route: parsed[route] for route in routes_table}
    inert = top.get("inert_routes", [])
    if not isinstance(inert, list) or any(x not in ROUTE_NAMES for x in inert) or len(set(inert)) != len(inert):
        r.fail("inert_routes", f"expected a list of distinct routes ({', '.join(ROUTE_NAMES)}), got {_show(inert)}")
    if bool(routes) == bool(inert):
        r.fail("routes", "expected [routes.ROUTE] tables, or inert_routes for a compound without PK (not both)")
    effects = r.table(top.get("effects", {}), "effects", _EFFECTS)
    for key, dim in (("peak_dissociation", "points"), ("peak_systolic_rise", "mmHg")):
        if key in effects:
            entry = r.table(effects[key], f"effects.{key}", _EFFECT)
            if "dose" in entry:
                r.string(entry["dose"], f"effects.{key}.dose")
            r.quantity({k: v for k, v in entry.items() if k != "dose"}, f"effects.{key}", dim, positive=False,
                       variability=False)
    logit = {d.name for d in declared if d.scale == "logit"}
    for path, fields in r.varied:
        for field in fields:
            if (field in logit) != path.endswith(".nasal_fraction"):
                r.fail(f"{path}.variability", f"{field!r}: logit-scale fields vary a nasal fraction, and a nasal "
                                              "fraction varies only by logit-scale fields")
    targets: dict[str, list[str]] = {}
    for key, sp in species.items():
        for target, q in (("NMDA", sp.nmda), ("SERT", sp.sert), ("sedation", sp.sedation)):
            if q is not None:
                targets.setdefault(target, []).append(next(k for k, p in r.parameters.items()
                                                           if p is q.parameter and k.startswith(f"species.{key}.")))
    for key, sp in species.items():
        if (sp.nmda or sp.sert or sp.sedation) and sp.ke0 is None:
            r.fail(f"species.{key}.effect_site", "missing (a species with a target needs an effect site with ke0)")
    return Compound(name, description, source, molar_mass, cmt, cue, r.reference_weight, exps[0], exps[1],
                    declared, tuple(r.used), species, routes, dict(r.parameters),
                    {k: tuple(v) for k, v in targets.items()}, tuple(inert))


def _variability(r: _Reader, value: object) -> tuple[VariabilityDecl, ...]:
    out = []
    for key, entry in r.table(value, "variability", tuple(value) if isinstance(value, Mapping) else ()).items():
        path = f"variability.{key}"
        t = r.table(entry, path, _VARIABILITY)
        scale = t.get("scale", "log")
        if scale not in ("log", "logit"):
            r.fail(f"{path}.scale", f"expected 'log' or 'logit', got {_show(scale)}")
        cv = r.quantity(r.require(t, "cv", path, "{ value, unit = \"1\", source }"), f"{path}.cv", "fraction",
                        positive=False, upper=5.0, variability=False)
        cv_name = r.name(r.require(t, "cv_name", path, "the population parameter holding the CV"), f"{path}.cv_name")
        desc = r.string(r.require(t, "description", path, "what the field varies"), f"{path}.description")
        out.append(VariabilityDecl(r.name(key, path), cv_name, cv.parameter, desc, scale))
    return tuple(out)


def _species(r: _Reader, value: object, path: str, default_mw: float) -> Species:
    t = r.table(value, path, _SPECIES)
    mw = r.optional(t, "molar_mass", path, "molar_mass", variability=False)
    mass = mw.si if mw else default_mw
    r.optional(t, "fraction_unbound", path, "fraction", upper=1.0, variability=False)
    ke0 = partition = None
    state = "brain"
    if "effect_site" in t:
        site = r.table(t["effect_site"], f"{path}.effect_site", _EFFECT_SITE)
        ke0 = r.quantity(r.require(site, "ke0", f"{path}.effect_site", "a rate constant"), f"{path}.effect_site.ke0",
                         "rate")
        partition = r.optional(site, "partition", f"{path}.effect_site", "fraction", upper=100.0)
        if "state" in site:
            state = r.name(site["state"], f"{path}.effect_site.state")
    nmda = sert = sedation = rest = None
    if "nmda" in t:
        n = r.table(t["nmda"], f"{path}.nmda", _NMDA)
        keys = [k for k in ("ki", "ic50") if k in n]
        if len(keys) != 1:
            r.fail(f"{path}.nmda", "expected exactly one of 'ki' or 'ic50' (the affinity the model uses)")
        nmda = r.quantity(n[keys[0]], f"{path}.nmda.{keys[0]}", "affinity", molar_mass=mass)
        r.optional(n, "trapping", f"{path}.nmda", "fraction", positive=False, upper=1.0, variability=False)
        rest = r.optional(n, "block_at_rest_physiological_mg", f"{path}.nmda", "fraction", positive=False,
                          upper=1.0, variability=False)
        r.optional(n, "kon", f"{path}.nmda", "association", variability=False)
        r.optional(n, "koff", f"{path}.nmda", "rate", variability=False)
    if "sert" in t:
        s = r.table(t["sert"], f"{path}.sert", _SERT)
        sert = r.quantity(r.require(s, "ec50", f"{path}.sert", "an EC50"), f"{path}.sert.ec50", "affinity",
                          molar_mass=mass)
        r.optional(s, "max_occupancy", f"{path}.sert", "fraction", upper=1.0, variability=False)
    if "sedation" in t:
        s = r.table(t["sedation"], f"{path}.sedation", _SEDATION)
        sedation = r.quantity(r.require(s, "ec50", f"{path}.sedation", "an EC50"), f"{path}.sedation.ec50",
                              "affinity", molar_mass=mass)
    if "other_targets" in t:
        _other_targets(r, t["other_targets"], f"{path}.other_targets", mass)
    mq = mw or Quantity(Parameter(mass, "g/mol", "compound molar mass"), mass)
    return Species(mq, ke0, partition, state, nmda, sert, sedation, 1.0 if rest is None else rest.si)


def _other_targets(r: _Reader, value: object, path: str, mass: float) -> None:
    """Targets the model has no term for: checked and carried (parameter table), never used."""
    for key, entry in r.table(value, path, tuple(value) if isinstance(value, Mapping) else ()).items():
        tp = f"{path}.{r.name(key, f'{path}.{key}')}"
        if key in _MODEL_TARGETS:
            r.fail(tp, f"the model uses {key}: give it as species.NAME.{key}, not under other_targets")
        e = r.table(entry, tp, _OTHER_TARGET)
        if not any(k in e for k in _OTHER_TARGET[:4]):
            r.fail(tp, f"expected at least one of {', '.join(_OTHER_TARGET[:4])}")
        for k in ("ki", "ic50", "ec50"):
            r.optional(e, k, tp, "affinity", molar_mass=mass, variability=False)
        r.optional(e, "intrinsic_efficacy", tp, "fraction", positive=False, upper=10.0, variability=False)
        for k in ("action", "description"):
            if k in e:
                r.string(e[k], f"{tp}.{k}")


def _disposition(r: _Reader, value: object, path: str, hepatic_ok: bool) -> Disposition:
    t = r.table(value, path, _DISPOSITION if hepatic_ok else _DISPOSITION[:-1])
    v = r.quantity(r.require(t, "central_volume", path, "a volume"), f"{path}.central_volume", "volume")
    if ("clearance" in t) == ("half_life" in t):
        r.fail(path, "expected exactly one of 'clearance' or 'half_life' (one compartment only)")
    cl = r.optional(t, "clearance", path, "flow")
    half = r.optional(t, "half_life", path, "time")
    peripheral = t.get("peripheral", [])
    if not isinstance(peripheral, list) or len(peripheral) > MAX_PERIPHERAL:
        r.fail(f"{path}.peripheral", f"expected a list of at most {MAX_PERIPHERAL} {{ volume, clearance }} tables, "
                                     f"got {_show(peripheral)}")
    if half is not None and peripheral:
        r.fail(f"{path}.half_life", "a half-life sets the clearance of a one-compartment model only; give 'clearance'")
    periph = []
    for i, entry in enumerate(peripheral):
        p = r.table(entry, f"{path}.peripheral[{i}]", _PERIPHERAL)
        periph.append((r.quantity(r.require(p, "volume", f"{path}.peripheral[{i}]", "a volume"),
                                  f"{path}.peripheral[{i}].volume", "volume"),
                       r.quantity(r.require(p, "clearance", f"{path}.peripheral[{i}]", "a clearance"),
                                  f"{path}.peripheral[{i}].clearance", "flow")))
    flow = loss = age = None
    if "hepatic" in t:
        h = r.table(t["hepatic"], f"{path}.hepatic", _HEPATIC)
        if cl is None:
            r.fail(f"{path}.hepatic", "a well-stirred liver needs 'clearance'")
        flow = r.quantity(r.require(h, "blood_flow", f"{path}.hepatic", "the hepatic blood flow"),
                          f"{path}.hepatic.blood_flow", "flow")
        if not cl.si < flow.si:
            r.fail(f"{path}.clearance", f"expected a clearance below the hepatic blood flow ({flow.si:g} L/h)")
        loss = r.optional(h, "blood_flow_loss_per_year", f"{path}.hepatic", "flow_per_year", positive=False,
                          variability=False)
        age = r.optional(h, "loss_from_age", f"{path}.hepatic", "age", variability=False)
    return Disposition(v, cl, half, tuple(periph), flow, loss, age)


def _shares_parents(value: object) -> bool:
    """Whether a route table's `parents` names another route (such routes are read after the others)."""
    return isinstance(value, Mapping) and isinstance(value.get("parents"), str)


def _route(r: _Reader, value: object, path: str, species: dict[str, Species], name: str,
           others: Mapping[str, Route]) -> Route:
    t = r.table(value, path, _ROUTE)
    a = r.require(t, "absorption", path, f"a table with kind = {' | '.join(ABSORPTION_KINDS)}")
    kind = a.get("kind") if isinstance(a, Mapping) else None
    if kind not in _ABSORPTION:
        r.fail(f"{path}.absorption.kind", f"expected one of {', '.join(map(repr, ABSORPTION_KINDS))}, got {_show(kind)}")
    ap = f"{path}.absorption"
    a = r.table(a, ap, _ABSORPTION[kind])
    route = path.rsplit(".", 1)[1]
    expected_kind = ROUTE_KINDS[route]
    if kind != expected_kind:
        r.fail(f"{ap}.kind", f"route {route} expects kind {expected_kind!r}, got {kind!r}")
    absorption = Absorption(kind)
    if kind == "first_order":
        absorption = Absorption(kind, ka=r.quantity(r.require(a, "ka", ap, "an absorption rate"), f"{ap}.ka", "rate"),
                                bioavailability=r.optional(a, "bioavailability", ap, "fraction", upper=1.0),
                                lag=r.optional(a, "lag", ap, "time", positive=False, variability=False),
                                release_duration=r.optional(a, "release_duration", ap, "time", variability=False),
                                first_pass_to_metabolites=r.optional(a, "first_pass_to_metabolites", ap, "fraction",
                                                                     positive=False, upper=1.0, variability=False))
    elif kind == "nasal":
        sw = r.table(a.get("swallowed", {}), f"{ap}.swallowed", _SWALLOWED)
        if sw and not all(k in sw for k in _SWALLOWED):
            r.fail(f"{ap}.swallowed", f"expected all of {', '.join(_SWALLOWED)}")
        absorption = Absorption(
            kind, ka=r.quantity(r.require(a, "ka", ap, "an absorption rate"), f"{ap}.ka", "rate"),
            nasal_fraction=r.quantity(r.require(a, "nasal_fraction", ap, "the fraction absorbed through the nose"),
                                      f"{ap}.nasal_fraction", "fraction", upper=1.0 - 1e-12),
            later_device_factor=r.optional(a, "later_device_factor", ap, "fraction", upper=1.0, variability=False),
            device=r.optional(a, "device", ap, "amount", variability=False),
            device_interval=r.optional(a, "device_interval", ap, "time", positive=False, variability=False),
            swallowed_ka=r.optional(sw, "ka", f"{ap}.swallowed", "rate"),
            swallowed_duration=r.optional(sw, "duration", f"{ap}.swallowed", "time", positive=False,
                                          variability=False),
            gut_availability=r.optional(sw, "gut_availability", f"{ap}.swallowed", "fraction", upper=1.0,
                                        variability=False))
        if (absorption.device is None) != (absorption.device_interval is None):
            r.fail(ap, "expected both 'device' and 'device_interval', or neither")
    parents_raw = r.require(t, "parents", path, "a list of parent tables ([[routes.ROUTE.parents]]) or the name "
                                                "of another route whose parents this route shares")
    if isinstance(parents_raw, str):
        if parents_raw not in others:
            r.fail(f"{path}.parents", f"expected a route of this file with its own parent tables "
                                      f"({', '.join(others) or 'none'}), got {parents_raw!r}")
        return Route(absorption, others[parents_raw].parents)
    if not isinstance(parents_raw, list) or not parents_raw:
        r.fail(f"{path}.parents", f"expected a non-empty list of parent tables, got {_show(parents_raw)}")
    parents = []
    for i, entry in enumerate(parents_raw):
        pp = f"{path}.parents[{i}]"
        p = r.table(entry, pp, _PARENT)
        sp = _species_name(r, p, pp, species)
        fraction = r.optional(p, "dose_fraction", pp, "fraction", upper=1.0, variability=False)
        prefix = p.get("state_prefix", sp if len(parents_raw) > 1 else "")
        if prefix:
            prefix = r.name(prefix, f"{pp}.state_prefix")
        parent_output = r.name(p["output"], f"{pp}.output") if "output" in p else ""
        disp = _disposition(r, r.require(p, "disposition", pp, "a disposition table"), f"{pp}.disposition", True)
        mets = []
        raw_mets = p.get("metabolites", [])
        if not isinstance(raw_mets, list):
            r.fail(f"{pp}.metabolites", f"expected a list of metabolite tables, got {_show(raw_mets)}")
        total = 0.0
        for j, m_entry in enumerate(raw_mets):
            mp = f"{pp}.metabolites[{j}]"
            m = r.table(m_entry, mp, _METABOLITE)
            msp = _species_name(r, m, mp, species)
            fm = r.quantity(r.require(m, "fraction_formed", mp, "the fraction of parent clearance forming it"),
                            f"{mp}.fraction_formed", "fraction", upper=1.0, variability=False)
            total += fm.si
            output = r.name(m.get("output", msp), f"{mp}.output")
            if output == name:
                r.fail(f"{mp}.output", f"expected a plasma output name other than the parent's ({name!r})")
            mprefix = r.name(m.get("state_prefix", msp), f"{mp}.state_prefix")
            mdisp = _disposition(r, r.require(m, "disposition", mp, "a disposition table"), f"{mp}.disposition", False)
            mets.append(Metabolite(msp, fm, output, mprefix, mdisp))
        if total > 1.0 + 1e-12:
            r.fail(f"{pp}.metabolites", f"expected fractions formed adding up to at most 1, got {total:g}")
        one = Quantity(Parameter(1.0, "1", "the whole dose"), 1.0)
        parents.append(Parent(sp, fraction or one, prefix, disp, tuple(mets), parent_output))
    if len(parents) > 1 and any(p.dose_fraction.parameter.source == "the whole dose" for p in parents):
        r.fail(f"{path}.parents", "expected a dose_fraction on every parent when there are several")
    prefixes = [p.state_prefix for p in parents]
    if len(set(prefixes)) != len(prefixes):
        r.fail(f"{path}.parents", "expected distinct state_prefix values, one per parent")
    parent_outputs = {p.output or name for p in parents}
    for i, p in enumerate(parents):
        for j, m in enumerate(p.metabolites):
            if m.output in parent_outputs:
                r.fail(f"{path}.parents[{i}].metabolites[{j}].output",
                       f"expected a plasma output name other than a parent's ({', '.join(sorted(parent_outputs))})")
    return Route(absorption, tuple(parents))


def _species_name(r: _Reader, table: Mapping[str, Any], path: str, species: dict[str, Species]) -> str:
    sp = r.string(r.require(table, "species", path, "the name of a [species.NAME] table"), f"{path}.species")
    if sp not in species:
        r.fail(f"{path}.species", f"expected one of the species tables ({', '.join(species) or 'none declared'}), "
                                  f"got {sp!r}")
    return sp
