"""Dosing regimens: doses (single, explicit times, repeated), their combination, and presets.

A regimen reads like the protocol that describes it::

    Regimen.of(dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at=["0 d", "2 d"]))
    + Regimen.of(dose("escitalopram", "oral", "10 mg", every="1 d", until="56 d"))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ketasim.errors import KetasimInputError
from ketasim.io.units import Amount, parse_amount, parse_time_h
from ketasim.model.drugs import check_route, get_drug

TimeLike = str | float | int


def _time(value: TimeLike, where: str) -> float:
    """Hours from '2 d' or from a plain number (hours)."""
    if isinstance(value, bool):
        raise KetasimInputError(f"{where}: expected a time such as '2 d', got {value!r}")
    if isinstance(value, int | float):
        if value < 0 or not math.isfinite(value):
            raise KetasimInputError(f"{where}: a time must be a finite number >= 0 hours, got {value!r}")
        return float(value)
    return parse_time_h(value, where)


@dataclass(frozen=True)
class Dose:
    """One dosing line of a protocol.

    Given at explicit `times_h`, or every `every_h` from `from_h` to `until_h` (both ends
    included; `until_h=None` repeats until the end of the simulation). `infusion_h` > 0 makes
    an IV dose a zero-order infusion of that duration.
    """

    drug: str
    route: str
    amount: Amount
    times_h: tuple[float, ...] = ()
    every_h: float | None = None
    from_h: float = 0.0
    until_h: float | None = None
    infusion_h: float = 0.0

    def __post_init__(self) -> None:
        check_route(self.drug, self.route)
        if self.infusion_h < 0:
            raise KetasimInputError(f"{self.drug}: infusion duration must be >= 0 h, got {self.infusion_h}")
        if self.infusion_h > 0 and self.route != "iv":
            raise KetasimInputError(f"{self.drug}: 'infusion' applies to route 'iv' only, not {self.route!r}")
        if self.every_h is not None:
            if self.times_h:
                raise KetasimInputError(f"{self.drug}: give either explicit times or a repeated schedule, not both")
            if not self.every_h > 0:
                raise KetasimInputError(f"{self.drug}: 'every' must be > 0, got {self.every_h} h")
            if self.until_h is not None and self.from_h > self.until_h:
                raise KetasimInputError(f"{self.drug}: 'from' ({self.from_h:g} h) is after 'until' ({self.until_h:g} h)")
        elif not self.times_h:
            raise KetasimInputError(f"{self.drug}: a dose needs 'at' times or an 'every' schedule")

    def times(self, horizon_h: float = math.inf) -> list[float]:
        """Dose times in hours up to and including `horizon_h`."""
        if self.every_h is None:
            return sorted(t for t in self.times_h if t <= horizon_h)
        end = horizon_h if self.until_h is None else min(self.until_h, horizon_h)
        if end < self.from_h:
            return []
        count = math.floor((end - self.from_h) / self.every_h + 1e-9) + 1
        return [self.from_h + i * self.every_h for i in range(count)]


def dose(
    drug: str, route: str, amount: str | Amount, *, at: TimeLike | Sequence[TimeLike] | None = None,
    every: TimeLike | None = None, from_: TimeLike = 0.0, until: TimeLike | None = None,
    infusion: TimeLike | None = None,
) -> Dose:
    """Build a Dose from protocol words: dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at="0 d")."""
    where = f"dose of {drug}"
    get_drug(drug, where)
    amt = amount if isinstance(amount, Amount) else parse_amount(amount, f"{where}: amount")
    infusion_h = 0.0 if infusion is None else _time(infusion, f"{where}: infusion")
    if every is not None:
        if at is not None:
            raise KetasimInputError(f"{where}: give either 'at' or 'every', not both")
        return Dose(drug, route, amt, (), _time(every, f"{where}: every"), _time(from_, f"{where}: from"),
                    None if until is None else _time(until, f"{where}: until"), infusion_h)
    if at is None:
        raise KetasimInputError(f"{where}: expected 'at' (a time or a list of times) or 'every'")
    ats = at if isinstance(at, list | tuple) else [at]
    if not ats:
        raise KetasimInputError(f"{where}: 'at' is an empty list")
    return Dose(drug, route, amt, tuple(_time(t, f"{where}: at") for t in ats), infusion_h=infusion_h)


_ENTRY_KEYS = {"drug", "route", "amount", "at", "every", "from", "until", "infusion"}


def dose_from_entry(entry: Mapping[str, object], where: str) -> Dose:
    """A Dose from one trial-file / regimen-file entry (a TOML inline table); errors name `where`."""
    if not isinstance(entry, Mapping):
        raise KetasimInputError(f"{where}: expected a table like {{ drug = ..., route = ..., amount = ... }}")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise KetasimInputError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; expected {', '.join(sorted(_ENTRY_KEYS))}")
    for key in ("drug", "route", "amount"):
        if key not in entry:
            raise KetasimInputError(f"{where}: missing key {key!r}")
        if not isinstance(entry[key], str):
            raise KetasimInputError(f"{where}: {key!r} must be a string, got {entry[key]!r}")
    for key in ("at", "every", "from", "until", "infusion"):
        values = entry.get(key)
        for value in values if isinstance(values, list) else [values]:
            if value is not None and not isinstance(value, str):
                raise KetasimInputError(f"{where}: {key}: expected a time with a unit as a string, such as '5 h' or "
                                        f"'2 d', got {value!r} (a bare number has no unit)")
    drug, route = str(entry["drug"]), str(entry["route"])
    get_drug(drug, f"{where}: drug")
    check_route(drug, route, f"{where}: route")
    amount = parse_amount(entry["amount"], f"{where}: amount")
    try:
        return dose(drug, route, amount, at=entry.get("at"), every=entry.get("every"),  # type: ignore[arg-type]
                    from_=entry.get("from", 0.0), until=entry.get("until"),  # type: ignore[arg-type]
                    infusion=entry.get("infusion"))  # type: ignore[arg-type]
    except KetasimInputError as err:
        message = str(err)
        prefix = f"dose of {drug}: "
        raise KetasimInputError(f"{where}: {message.removeprefix(prefix)}") from None


@dataclass(frozen=True)
class DoseEvent:
    """One clinical dose at one time: what the solver sees as a segment boundary."""

    time_h: float
    drug: str
    route: str
    amount: Amount
    infusion_h: float


@dataclass(frozen=True)
class Regimen:
    """A set of dose lines; `+` combines regimens."""

    doses: tuple[Dose, ...] = field(default_factory=tuple)
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.doses, tuple) or not all(isinstance(d, Dose) for d in self.doses):
            raise KetasimInputError(f"Regimen: expected ketasim.Dose objects (from ketasim.dose(...)), got {self.doses!r}")
        if not isinstance(self.name, str):
            raise KetasimInputError(f"Regimen: name: expected a str, got {type(self.name).__name__}")

    @staticmethod
    def of(*doses: Dose, name: str = "") -> Regimen:
        return Regimen(tuple(doses), name)

    def __add__(self, other: Regimen) -> Regimen:
        name = " + ".join(n for n in (self.name, other.name) if n)
        return Regimen(self.doses + other.doses, name)

    @property
    def drugs(self) -> tuple[tuple[str, str], ...]:
        """(drug, route) pairs in first-appearance order."""
        seen: list[tuple[str, str]] = []
        for d in self.doses:
            if (d.drug, d.route) not in seen:
                seen.append((d.drug, d.route))
        return tuple(seen)

    def events(self, horizon_h: float = math.inf) -> list[DoseEvent]:
        """All dose events up to `horizon_h`, sorted by time."""
        out = [DoseEvent(t, d.drug, d.route, d.amount, d.infusion_h) for d in self.doses for t in d.times(horizon_h)]
        return sorted(out, key=lambda e: (e.time_h, e.drug))

    def first_dose_h(self) -> float:
        """Time of the first dose (h), 0 if none; computed from the dose lines, not by listing every event."""
        firsts = [min(d.times_h) if d.every_h is None else d.from_h for d in self.doses if d.times_h or d.every_h]
        return min(firsts) if firsts else 0.0


def regimen_from_entries(entries: Iterable[Mapping[str, object]], where: str, name: str = "") -> Regimen:
    """A Regimen from a list of dose entries (TOML inline tables)."""
    if not isinstance(entries, list | tuple):
        raise KetasimInputError(f"{where}: expected a list of dose tables")
    doses = tuple(dose_from_entry(e, f"{where}[{i}]") for i, e in enumerate(entries))
    if not doses:
        raise KetasimInputError(f"{where}: no doses (an empty list)")
    return Regimen(doses, name)


def _escitalopram_10mg_daily() -> Regimen:
    return Regimen.of(dose("escitalopram", "oral", "10 mg", every="1 d"), name="escitalopram-10mg-daily")


#: Named regimens; each reads like its protocol.
PRESETS: dict[str, tuple[str, Regimen]] = {
    "ketamine-iv-single": (
        "racemic ketamine 0.5 mg/kg IV over 40 min, once (Zarate 2006; Murrough 2013); also the emergency single "
        "infusion for acute suicidal ideation (Grunebaum 2018)",
        Regimen.of(dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at="0 d"), name="ketamine-iv-single"),
    ),
    "ketamine-iv-6x": (
        "six ketamine 0.5 mg/kg infusions over 12 days, Mon/Wed/Fri (aan het Rot 2010; Murrough 2013 Biol Psychiatry; "
        "in chronic PTSD: Feder 2021, with --patient typical-ptsd)",
        Regimen.of(dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min",
                        at=["0 d", "2 d", "4 d", "7 d", "9 d", "11 d"]), name="ketamine-iv-6x"),
    ),
    "esketamine-label": (
        "Spravato label: 56 mg day 1, then 56-84 mg twice weekly to week 4 (84 mg here), weekly weeks 5-8, "
        "every 2 weeks from week 9; with a daily oral antidepressant (escitalopram 10 mg)",
        Regimen.of(
            dose("esketamine", "intranasal", "56 mg", at="0 d"),
            dose("esketamine", "intranasal", "84 mg", at=["3 d", "7 d", "10 d", "14 d", "17 d", "21 d", "24 d"]),
            dose("esketamine", "intranasal", "84 mg", every="7 d", from_="28 d", until="49 d"),
            dose("esketamine", "intranasal", "84 mg", every="14 d", from_="56 d"),
            dose("escitalopram", "oral", "10 mg", every="1 d"),
            name="esketamine-label",
        ),
    ),
    "ketamine-iv-single-on-lithium": (
        "racemic ketamine 0.5 mg/kg IV over 40 min, once, added to lithium carbonate 600 mg twice daily in bipolar "
        "depression (Diazgranados 2010; with --patient typical-bipolar); lithium has no antidepressant action in "
        "the model, so its level need not be at steady state",
        Regimen.of(dose("ketamine", "iv", "0.5 mg/kg", infusion="40 min", at="0 d"),
                   dose("lithium", "oral", "600 mg", every="12 h"), name="ketamine-iv-single-on-lithium"),
    ),
    "escitalopram-10mg-daily": ("escitalopram 10 mg orally once daily", _escitalopram_10mg_daily()),
    "midazolam-iv-single": (
        "midazolam 0.045 mg/kg IV over 40 min, once: the active control of ketamine infusions (Murrough 2013; "
        "Grunebaum 2018 used 0.02 mg/kg)",
        Regimen.of(dose("midazolam", "iv", "0.045 mg/kg", infusion="40 min", at="0 d"), name="midazolam-iv-single"),
    ),
}


def preset(name: str) -> Regimen:
    """The preset regimen `name`, or an error listing the presets."""
    if name not in PRESETS:
        raise KetasimInputError(f"unknown regimen preset {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[name][1]
