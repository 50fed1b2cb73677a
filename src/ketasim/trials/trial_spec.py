"""Trial files (the contract in trial-spec.md): parse and check one TOML file into frozen dataclasses, units resolved.

A trial file has the top-level keys ``name``, ``seed``, ``patients_per_arm``, optional ``[design]``,
``[population]``, ``[[arms]]``, ``[endpoints]`` (with optional ``[endpoints.relapse]``) and optional
``[[published]]``. The metrics a target may name are the registry :data:`ketasim.trials.endpoints.METRICS`.
All times become hours, dose amounts become :class:`~ketasim.io.units.Amount` (inside a
:class:`~ketasim.model.regimen.Regimen`), percentages become fractions. Visit keys keep the exact strings
written in the file, because they are the keys of the JSON output.

Documented defaults (a key that is absent takes this value):

- ``population.min_failed_treatments``: 2 for ``kind = "trd"``, 0 (no screening) for ``"bipolar"``; it is
  an error for ``"mdd"`` and ``"suicidal"`` (stored as 0 there). ``kind = "suicidal"``: major depression
  with active suicidal ideation at entry (MADRS item 10 >= 4; ``trials.population.suicidal_ideation``).
  ``kind = "bipolar"``: bipolar depression (``trials.population.POPULATION_KINDS``), usually with a
  mood-stabiliser ``background`` (lithium, valproate). ``kind = "ptsd"``: chronic PTSD, with
  ``population.baseline_caps5`` (default [0, 80], "ptsd" only) the window of the untreated CAPS-5;
  the CAPS-5 metrics (``caps5_*``) are an error in a file of any other kind.
- ``population.weight_kg``: [45, 140]; ``population.age``: [18, 65]; ``population.background``: none.
- ``design.blinded``: true (double-blind).
- ``design.multicentre``: false (one site).
- ``compounds``: none. A list of compound-file paths (docs/compound-file.md), relative to the trial file's
  folder (to the working folder for text without a file); each file is checked and registered before the
  arms are read, so arms dose it by its ``name``. A shipped drug's name, or a second file under a name
  already loaded, is an error naming the file.
- ``endpoints.vitals``: false; ``endpoints.relapse.among``: ``"responders"``.
- ``endpoints.relapse.assess_every``: absent means daily, on whole days after the first dose (the
  first version's rule); given, assessments are at ``at`` + k * ``assess_every`` (k = 1, 2, ...) up to ``until``.
- ``[[published]]``: none. ``visit`` is absent for ``relapse.*`` and ``vitals.*`` metrics; ``versus``
  absent means the target is the arm's own value; ``n`` absent means the published number of patients
  behind the value is not stated (``validate`` then gives the target no prediction interval).

Choices beyond the contract's wording:

- ``seed`` is an integer >= 0; ``patients_per_arm`` an integer > 0; booleans never count as numbers.
- ``min_failed_treatments`` is an integer >= 1; windows are [low, high] with low <= high (weight 1..500 kg,
  age 0..120 y).
- ``response`` is ``"50%"`` or a fraction in (0, 1]; ``remission`` and ``madrs_at_least`` are MADRS
  scores in 0..60.
- ``visits`` is a non-empty list of distinct time strings (>= 0, after the first dose).
- A background entry must be a repeated schedule (``every``): background treatment is taken at
  steady state since before the trial, so ``every`` without ``from``/``until`` means "throughout"
  (the simulator decides how it reaches steady state). ``background = []`` means no background.
- ``relapse.until`` must be after ``relapse.at``; ``assess_every`` is a time > 0 with at least one
  assessment from ``at`` to ``until``.
- A published ``*_rate`` or ``relapse.rate`` value must lie in 0..1 (-1..1 for a ``versus`` difference).
- ``versus`` is an arm's name or a list of arm names (pooled by patient count), none of them in ``arm``.
- ``n`` (the published patients behind the value: the arm's, the pool's total for pooled arms, the
  responders' or remitters' for ``relapse.*``) is an integer >= 1; for a ``versus`` difference it is a
  pair ``[n_arm, n_versus]`` (one number is an error there: a single count could mean either arm or both).

Every violation raises :class:`~ketasim.errors.KetasimInputError` with one message
``FILE: PLACE: what was expected`` (for example ``trial.toml: arms[1].doses[0]: amount: ...``);
places use 0-based indices.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, NoReturn

import numpy as np

from ketasim.checks.limits import MAX_PATIENTS_PER_ARM
from ketasim.errors import KetasimInputError
from ketasim.io.toml_file import read_toml
from ketasim.io.units import parse_time_h
from ketasim.model.drugs import register_compound_file
from ketasim.model.regimen import Regimen, regimen_from_entries
from ketasim.trials.endpoints import METRICS as METRIC_REGISTRY
from ketasim.trials.endpoints import PTSD_KINDS, SECTIONS
from ketasim.trials.population import POPULATION_KINDS, SCREENED_KINDS
from ketasim.trials.trial_checks import check_trial_spec

MADRS_MAX = 60.0
DEFAULT_MIN_FAILED_TREATMENTS = 2
DEFAULT_WEIGHT_KG = (45.0, 140.0)
DEFAULT_AGE = (18.0, 65.0)
RELAPSE_AMONG = ("responders", "remitters")

#: every metric a [[published]] target may name (the registry's names)
METRICS: tuple[str, ...] = tuple(METRIC_REGISTRY)
_VISIT_METRIC_NAMES = tuple(name for name, m in METRIC_REGISTRY.items() if m.at_visit)

_TOP_KEYS = ("name", "seed", "patients_per_arm", "population", "arms", "endpoints", "published", "design",
             "compounds")
_DESIGN_KEYS = ("blinded", "multicentre")
_POPULATION_KEYS = ("kind", "min_failed_treatments", "baseline_madrs", "weight_kg", "age", "background",
                    "baseline_caps5")
CAPS5_MAX = 80.0
DEFAULT_CAPS5 = (0.0, CAPS5_MAX)
_ARM_KEYS = ("name", "doses")
_ENDPOINT_KEYS = ("visits", "response", "remission", "vitals", "relapse")
_RELAPSE_KEYS = ("among", "at", "madrs_at_least", "until", "assess_every")
_PUBLISHED_KEYS = ("arm", "visit", "metric", "versus", "value", "n", "tolerance", "source")
_PERCENT = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*%\s*$")


@dataclass(frozen=True)
class DesignSpec:
    """How the trial is run: `blinded` false is open-label (patients know they get the active drug);
    `multicentre` true: run at more than one site (the placebo response is larger, Furukawa 2016)."""

    blinded: bool = True
    multicentre: bool = False


@dataclass(frozen=True)
class PopulationSpec:
    """Who is enrolled: MDD or TRD (>= `min_failed_treatments` failed courses), inclusion windows, background."""

    kind: str
    min_failed_treatments: int
    baseline_madrs: tuple[float, float]
    weight_kg: tuple[float, float] = DEFAULT_WEIGHT_KG
    age: tuple[float, float] = DEFAULT_AGE
    background: Regimen | None = None
    #: kind = "ptsd": inclusion window on the untreated CAPS-5 (points, 0-80)
    baseline_caps5: tuple[float, float] = DEFAULT_CAPS5


@dataclass(frozen=True)
class ArmSpec:
    name: str
    regimen: Regimen


@dataclass(frozen=True)
class RelapseSpec:
    """Relapse among responders (or remitters) at `at_h`: MADRS >= `madrs_at_least` at a check up to `until_h`.

    Checks are daily on whole days after the first dose, or every `assess_every_h` after `at_h` when given.
    """

    among: str
    at_key: str
    at_h: float
    madrs_at_least: float
    until_h: float
    assess_every_h: float | None = None
    assess_every_key: str | None = None

    def assessment_times_h(self) -> np.ndarray:
        """Times of the relapse checks (h after the first dose), after `at_h` up to `until_h`."""
        if self.assess_every_h is None:
            first = math.floor(self.at_h / 24.0 + 1e-9) + 1
            last = math.floor(self.until_h / 24.0 + 1e-9)
            return np.arange(first, last + 1, dtype=float) * 24.0
        count = math.floor((self.until_h - self.at_h) / self.assess_every_h + 1e-9)
        return self.at_h + self.assess_every_h * np.arange(1, count + 1, dtype=float)

    def assessment_days(self) -> np.ndarray:
        """The checks' times in days after `at` (the unit of relapse.median_days)."""
        if self.assess_every_h is None:
            return self.assessment_times_h() / 24.0 - self.at_h / 24.0
        return self.assess_every_h * np.arange(1, self.assessment_times_h().size + 1, dtype=float) / 24.0


@dataclass(frozen=True)
class EndpointsSpec:
    """Visits (keys as written, times in hours after the first dose) and how outcomes are counted."""

    visit_keys: tuple[str, ...]
    visit_times_h: tuple[float, ...]
    response_fraction: float
    remission_at_most: float
    relapse: RelapseSpec | None = None
    vitals: bool = False


#: the published number of patients behind a target: one arm (or pool), or (n_arm, n_versus) for a difference
PublishedSize = int | tuple[int, int]


@dataclass(frozen=True)
class PublishedTarget:
    """A published number to compare with: |simulated - value| <= tolerance passes.

    With `versus` arms the number is a difference: the metric of `arms` minus that of `versus`.
    `n`: the published number of patients behind the value (None: not stated), a pair (n_arm, n_versus)
    for a difference; `validate`'s prediction intervals need it.
    """

    arms: tuple[str, ...]
    pooled: bool
    visit: str | None
    metric: str
    value: float
    tolerance: float
    source: str
    versus: tuple[str, ...] = ()
    versus_pooled: bool = False
    n: PublishedSize | None = None


@dataclass(frozen=True)
class TrialSpec:
    path: str
    name: str
    seed: int
    patients_per_arm: int
    population: PopulationSpec
    arms: tuple[ArmSpec, ...]
    endpoints: EndpointsSpec
    published: tuple[PublishedTarget, ...] = ()
    design: DesignSpec = DesignSpec()
    #: compound files the trial loads (paths as resolved against the trial file's folder)
    compounds: tuple[str, ...] = ()

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(arm.name for arm in self.arms)

    def with_patients_per_arm(self, n: int) -> TrialSpec:
        """A copy with `n` virtual patients per arm."""
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise KetasimInputError(f"patients_per_arm: expected an integer > 0, got {n!r}")
        return replace(self, patients_per_arm=n)


def load_trial(path: str | os.PathLike[str]) -> TrialSpec:
    """Read and check the trial file at `path`."""
    if not isinstance(path, str | os.PathLike):
        raise KetasimInputError(f"load_trial: expected a file path (str or pathlib.Path), got {type(path).__name__}")
    source = os.fspath(path)
    data = read_toml(source, "trial file")
    return parse_trial(data, source)


def parse_trial(data: Mapping[str, Any], source: str) -> TrialSpec:
    """Check a decoded trial file; `source` (the file name) starts every error message."""
    r = _Reader(source)
    top = r.table(data, "", _TOP_KEYS)
    name = r.string(r.require(top, "name", "", "the trial's name, a string"), "name")
    seed = r.integer(r.require(top, "seed", "", "an integer >= 0"), "seed", minimum=0)
    n = r.integer(r.require(top, "patients_per_arm", "", "an integer > 0"), "patients_per_arm", minimum=1)
    design = _design(r, top.get("design", {}))
    compounds = _compounds(r, top.get("compounds", []))
    population = _population(r, r.require(top, "population", "", "a [population] table"))
    arms = _arms(r, r.require(top, "arms", "", "[[arms]] tables with name and doses"))
    endpoints = _endpoints(r, r.require(top, "endpoints", "", "an [endpoints] table"))
    published = _published(r, top.get("published", []), arms, endpoints, population.kind)
    if n > MAX_PATIENTS_PER_ARM:
        r.fail("patients_per_arm", f"{n:,} is above the limit of {MAX_PATIENTS_PER_ARM:,} patients per arm")
    spec = TrialSpec(source, name, seed, n, population, arms, endpoints, published, design, compounds)
    check_trial_spec(spec)
    return spec


def _compounds(r: _Reader, value: object) -> tuple[str, ...]:
    """Register the compound files listed (paths relative to the trial file's folder) so arms can dose them."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        r.fail("compounds", f"expected a list of compound file paths, got {_show(value)}")
    folder = os.path.dirname(os.path.abspath(r.source)) if os.path.isfile(r.source) else os.getcwd()
    paths = []
    for i, entry in enumerate(value):
        path = os.path.normpath(os.path.join(folder, os.path.expanduser(entry)))
        if not os.path.isfile(path):
            r.fail(f"compounds[{i}]", f"no compound file at {entry!r} (looked for {path})")
        register_compound_file(path)
        paths.append(path)
    return tuple(paths)


def _design(r: _Reader, value: object) -> DesignSpec:
    table = r.table(value, "design", _DESIGN_KEYS)
    blinded = table.get("blinded", True)
    if not isinstance(blinded, bool):
        r.fail("design.blinded", f"expected true (double-blind) or false (open-label), got {_show(blinded)}")
    multicentre = table.get("multicentre", False)
    if not isinstance(multicentre, bool):
        r.fail("design.multicentre", f"expected true (more than one site) or false (one site), got {_show(multicentre)}")
    return DesignSpec(blinded, multicentre)


def _population(r: _Reader, value: object) -> PopulationSpec:
    path = "population"
    table = r.table(value, path, _POPULATION_KEYS)
    kinds = [f'"{k}"' for k in POPULATION_KINDS]
    kind = r.choice(r.require(table, "kind", path, ", ".join(kinds[:-1]) + " or " + kinds[-1]),
                    "population.kind", POPULATION_KINDS)
    if kind == "trd":
        failed = r.integer(table.get("min_failed_treatments", DEFAULT_MIN_FAILED_TREATMENTS),
                           "population.min_failed_treatments", minimum=1)
    elif kind in SCREENED_KINDS and "min_failed_treatments" in table:
        failed = r.integer(table["min_failed_treatments"], "population.min_failed_treatments", minimum=1)
    elif kind in SCREENED_KINDS:
        failed = SCREENED_KINDS[kind]
    elif "min_failed_treatments" in table:
        screened = " and ".join(f'"{k}"' for k in SCREENED_KINDS)
        r.fail("population.min_failed_treatments", f'applies to kind = {screened} only; remove it for "{kind}"')
    else:
        failed = 0
    madrs = r.span(r.require(table, "baseline_madrs", path, "[low, high] MADRS scores from 0 to 60"),
                   "population.baseline_madrs", 0.0, MADRS_MAX)
    caps5 = DEFAULT_CAPS5
    if "baseline_caps5" in table:
        if kind not in PTSD_KINDS:
            r.fail("population.baseline_caps5", f'applies to kind = "ptsd" only (CAPS-5, PTSD); remove it for "{kind}"')
        caps5 = r.span(table["baseline_caps5"], "population.baseline_caps5", 0.0, CAPS5_MAX)
        if caps5[1] - caps5[0] < 1.0:
            r.fail("population.baseline_caps5",
                   f"expected a window at least 1 CAPS-5 point wide, got {_show(table['baseline_caps5'])}")
    weight = r.span(table.get("weight_kg", list(DEFAULT_WEIGHT_KG)), "population.weight_kg", 1.0, 500.0)
    age = r.span(table.get("age", list(DEFAULT_AGE)), "population.age", 0.0, 120.0)
    background = None
    entries = table.get("background", [])
    if entries != []:
        where = "population.background"
        background = regimen_from_entries(entries, r.where(where), name="background")  # type: ignore[arg-type]
        for i, dose in enumerate(background.doses):
            if dose.every_h is None:
                r.fail(f"{where}[{i}]", "expected a repeated schedule such as every = \"1 d\" (background treatment "
                       "is taken at steady state since before the trial), not 'at'")
    return PopulationSpec(kind, failed, madrs, weight, age, background, caps5)


def _arms(r: _Reader, value: object) -> tuple[ArmSpec, ...]:
    if not isinstance(value, list) or not value:
        r.fail("arms", f"expected at least one [[arms]] table with name and doses, got {_show(value)}")
    arms: list[ArmSpec] = []
    for i, item in enumerate(value):
        path = f"arms[{i}]"
        table = r.table(item, path, _ARM_KEYS)
        name = r.string(r.require(table, "name", path, "the arm's name, a string"), f"{path}.name")
        if not name.strip():
            r.fail(f"{path}.name", "expected a non-empty arm name")
        if name in (arm.name for arm in arms):
            r.fail(f"{path}.name", f"arm name {name!r} is used twice; arm names must be unique")
        doses = r.require(table, "doses", path, "a list of dose tables")
        arms.append(ArmSpec(name, regimen_from_entries(doses, r.where(f"{path}.doses"), name=name)))
    return tuple(arms)


def _endpoints(r: _Reader, value: object) -> EndpointsSpec:
    path = "endpoints"
    table = r.table(value, path, _ENDPOINT_KEYS)
    visits = r.require(table, "visits", path, 'a list of times after the first dose, such as ["1 d", "7 d"]')
    if not isinstance(visits, list) or not visits:
        r.fail("endpoints.visits", f'expected a non-empty list of times such as ["1 d", "7 d"], got {_show(visits)}')
    times = []
    for i, key in enumerate(visits):
        if key in visits[:i]:
            r.fail(f"endpoints.visits[{i}]", f"visit {key!r} is listed twice; visit keys must be unique")
        times.append(r.time(key, f"endpoints.visits[{i}]"))
    response = _fraction(r, r.require(table, "response", path, 'a percentage such as "50%"'), "endpoints.response")
    remission = r.number(r.require(table, "remission", path, "a MADRS score from 0 to 60"), "endpoints.remission",
                         0.0, MADRS_MAX)
    vitals = table.get("vitals", False)
    if not isinstance(vitals, bool):
        r.fail("endpoints.vitals", f"expected true or false, got {_show(vitals)}")
    relapse = _relapse(r, table["relapse"]) if "relapse" in table else None
    return EndpointsSpec(tuple(visits), tuple(times), response, remission, relapse, vitals)


def _fraction(r: _Reader, value: object, path: str) -> float:
    expected = 'a percentage such as "50%" or a fraction above 0 and at most 1'
    if isinstance(value, str) and (match := _PERCENT.match(value)):
        fraction = float(match.group(1)) / 100.0
    elif isinstance(value, int | float) and not isinstance(value, bool):
        fraction = float(value)
    else:
        r.fail(path, f"expected {expected}, got {_show(value)}")
    if not 0.0 < fraction <= 1.0:
        r.fail(path, f"expected {expected}, got {_show(value)}")
    return fraction


def _relapse(r: _Reader, value: object) -> RelapseSpec:
    path = "endpoints.relapse"
    table = r.table(value, path, _RELAPSE_KEYS)
    among = r.choice(table.get("among", "responders"), f"{path}.among", RELAPSE_AMONG)
    at_key = r.require(table, "at", path, 'a time after the first dose, such as "1 d"')
    at_h = r.time(at_key, f"{path}.at")
    threshold = r.number(r.require(table, "madrs_at_least", path, "a MADRS score from 0 to 60"),
                         f"{path}.madrs_at_least", 0.0, MADRS_MAX)
    until_key = r.require(table, "until", path, 'a time after `at`, such as "28 d"')
    until_h = r.time(until_key, f"{path}.until")
    if not until_h > at_h:
        r.fail(f"{path}.until", f"expected a time after 'at' ({at_key!r}), got {until_key!r}")
    every_key = table.get("assess_every")
    every_h = None if every_key is None else r.time(every_key, f"{path}.assess_every")
    if every_h is not None and not 0.0 < every_h <= until_h - at_h + 1e-9:
        r.fail(f"{path}.assess_every", f"expected a time > 0 and at most 'until' - 'at' (one assessment at least), "
               f"got {_show(every_key)}")
    return RelapseSpec(among, str(at_key), at_h, threshold, until_h, every_h, None if every_key is None else str(every_key))


def _published(r: _Reader, value: object, arms: tuple[ArmSpec, ...],
               endpoints: EndpointsSpec, kind: str = "mdd") -> tuple[PublishedTarget, ...]:
    if not isinstance(value, list):
        r.fail("published", f"expected [[published]] tables, got {_show(value)}")
    arm_names = [arm.name for arm in arms]
    targets = []
    for i, item in enumerate(value):
        path = f"published[{i}]"
        table = r.table(item, path, _PUBLISHED_KEYS)
        names, pooled = _target_arms(r, r.require(table, "arm", path, "an arm's name or a list of arm names"),
                                     f"{path}.arm", arm_names)
        metric = r.choice(r.require(table, "metric", path, "one of " + ", ".join(METRICS)), f"{path}.metric", METRICS)
        needs = METRIC_REGISTRY[metric].kinds
        if needs and kind not in needs:
            r.fail(f"{path}.metric", f"{metric} needs population kind = {' or '.join(map(repr, needs))} (patients with "
                   f"a CAPS-5 baseline); this trial's population is {kind!r}")
        visit = _target_visit(r, table, path, metric, endpoints)
        versus, versus_pooled = ((), False) if "versus" not in table else \
            _target_arms(r, table["versus"], f"{path}.versus", arm_names)
        for j, arm in enumerate(versus):
            if arm in names:
                place = f"{path}.versus[{j}]" if versus_pooled else f"{path}.versus"
                r.fail(place, f"arm {arm!r} is also in 'arm'; a difference needs two different groups of arms")
        target = r.number(r.require(table, "value", path, "a number"), f"{path}.value")
        low = -1.0 if versus else 0.0
        if METRIC_REGISTRY[metric].is_fraction and not low <= target <= 1.0:
            what = "a difference of fractions" if versus else "a fraction"
            r.fail(f"{path}.value", f"{metric} is {what}: expected a number from {low:g} to 1, got {_show(target)}")
        tolerance = r.number(r.require(table, "tolerance", path, "a number >= 0"), f"{path}.tolerance", 0.0)
        source = r.string(r.require(table, "source", path, "where the number was published, a string"),
                          f"{path}.source")
        size = _published_n(r, table["n"], f"{path}.n", bool(versus)) if "n" in table else None
        targets.append(PublishedTarget(tuple(names), pooled, visit, metric, target, tolerance, source,
                                       tuple(versus), versus_pooled, size))
    return tuple(targets)


def _published_n(r: _Reader, raw: object, path: str, difference: bool) -> PublishedSize:
    """A target's published patient count: an integer >= 1, or [n_arm, n_versus] for a difference."""
    def count(value: object, place: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            r.fail(place, f"expected a whole number of patients >= 1, got {_show(value)}")
        return value

    if not difference:
        if isinstance(raw, list):
            r.fail(path, f"expected the published number of patients, an integer >= 1 (a pair [n_arm, n_versus] "
                   f"is for a difference with 'versus'), got {_show(raw)}")
        return count(raw, path)
    if not isinstance(raw, list) or len(raw) != 2:
        r.fail(path, f"expected [n_arm, n_versus] for a difference (with 'versus'): the published patients of 'arm' "
               f"and of 'versus', two integers >= 1, got {_show(raw)}")
    return count(raw[0], f"{path}[0]"), count(raw[1], f"{path}[1]")


def _target_arms(r: _Reader, raw: object, path: str, arm_names: list[str]) -> tuple[list[str], bool]:
    """An arm's name or a list of arm names (pooled), each one of `arm_names`, none twice."""
    pooled = isinstance(raw, list)
    names = raw if isinstance(raw, list) else [raw]
    if not names:
        r.fail(path, "expected an arm's name or a non-empty list of arm names, got []")
    for j, arm in enumerate(names):
        place = f"{path}[{j}]" if pooled else path
        r.string(arm, place)
        if arm not in arm_names:
            r.fail(place, f"unknown arm {arm!r}; the arms are {', '.join(map(repr, arm_names))}")
        if arm in names[:j]:
            r.fail(place, f"arm {arm!r} is listed twice")
    return [str(name) for name in names], pooled


def _target_visit(r: _Reader, table: Mapping[str, Any], path: str, metric: str,
                  endpoints: EndpointsSpec) -> str | None:
    entry = METRIC_REGISTRY[metric]
    if entry.at_visit:
        keys = ", ".join(map(repr, endpoints.visit_keys))
        visit = r.require(table, "visit", path, f"a visit key for {metric}: one of {keys}")
        if visit not in endpoints.visit_keys:
            r.fail(f"{path}.visit", f"unknown visit {_show(visit)}; expected one of the endpoints.visits: {keys}")
        return str(visit)
    if "visit" in table:
        r.fail(f"{path}.visit", f"{metric} takes no visit; remove 'visit' (it is for {', '.join(_VISIT_METRIC_NAMES)})")
    section = SECTIONS[entry.section]  # type: ignore[index]
    if not section.enabled(endpoints):
        r.fail(f"{path}.metric", f"{metric} needs {section.needs}")
    return None


def _show(value: object) -> str:
    """A value as the TOML file spells it (true/false rather than True/False)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a table"
    return repr(value)


class _Reader:
    """Typed access to decoded TOML; every error names the file and the place (a dotted path)."""

    def __init__(self, source: str) -> None:
        self.source = source

    def where(self, path: str) -> str:
        return f"{self.source}: {path}" if path else self.source

    def fail(self, path: str, message: str) -> NoReturn:
        raise KetasimInputError(f"{self.where(path)}: {message}")

    def table(self, value: object, path: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(path, f"expected a table with keys {', '.join(allowed)}, got {_show(value)}")
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                place = f"{path}.{key}" if path else str(key)
                self.fail(place, f"unknown key {key!r}{hint}; allowed keys here: {', '.join(allowed)}")
        return value

    def require(self, table: Mapping[str, Any], key: str, path: str, expected: str) -> Any:
        if key not in table:
            self.fail(path, f"missing key {key!r} (expected {expected})")
        return table[key]

    def string(self, value: object, path: str) -> str:
        if not isinstance(value, str):
            self.fail(path, f"expected a string, got {_show(value)}")
        return value

    def choice(self, value: object, path: str, options: tuple[str, ...]) -> str:
        if value not in options:
            self.fail(path, f"expected one of {', '.join(map(repr, options))}, got {_show(value)}")
        return str(value)

    def integer(self, value: object, path: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(path, f"expected an integer >= {minimum}, got {_show(value)}")
        return value

    def number(self, value: object, path: str, lo: float = -math.inf, hi: float = math.inf) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(path, f"expected a number, got {_show(value)}")
        if not lo <= value <= hi:
            bounds = f">= {lo:g}" if hi == math.inf else f"from {lo:g} to {hi:g}"
            self.fail(path, f"expected a number {bounds}, got {_show(value)}")
        return float(value)

    def span(self, value: object, path: str, lo: float, hi: float) -> tuple[float, float]:
        if not isinstance(value, list) or len(value) != 2:
            self.fail(path, f"expected [low, high] with numbers from {lo:g} to {hi:g}, got {_show(value)}")
        low, high = (self.number(v, f"{path}[{i}]", lo, hi) for i, v in enumerate(value))
        if low > high:
            self.fail(path, f"expected [low, high] with low <= high, got {_show(value)}")
        return low, high

    def time(self, value: object, path: str) -> float:
        return parse_time_h(value, self.where(path))
