"""Trial endpoints as a registry: one definition per metric, used by the trial runner, the JSON, the table,
the Parquet columns, the trial-file parser and `validate`.

Three kinds of entries:

- :class:`VisitOutput`: a per-patient value kept before the first dose and at every visit (``madrs``:
  the rater's score, points). It becomes the Parquet columns ``baseline_<name>`` and ``<name>_<visit key>``.
- :class:`VisitMetric`: a summary over patients at each visit (JSON ``visits.<key>.<name>`` and
  ``<name>_ci`` when it has an interval; a column of the text table when it has a label).
- :class:`VitalsMetric`: a per-patient value over the first dosing session, averaged per arm
  (JSON ``vitals.<name>``), asked for with ``vitals = true``.

Adding a visit metric is one entry in VISIT_METRICS (plus, if it reads a value not kept yet, one
entry in VISIT_OUTPUTS naming a model output). Relapse is one composite endpoint
(:func:`ketasim.trials.outcomes.relapse_summary`); its published metrics are RELAPSE_KEYS.
Every name a ``[[published]]`` target may use is a key of :data:`METRICS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ketasim.trials.outcomes import mean_interval, responders, wilson_interval

FRACTION = "fraction"


# ---- statistics over patients ----------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """A summary over patients: its value (NaN without patients) and its 95% interval (None if it has none)."""

    value: float
    ci: tuple[float, float] | None = None


def mean_estimate(values: np.ndarray) -> Estimate:
    """Mean with its 95% normal-approximation interval."""
    return Estimate(float(values.mean()) if values.size else math.nan, mean_interval(values))


def sd_estimate(values: np.ndarray) -> Estimate:
    """Sample standard deviation (ddof 1); no interval."""
    return Estimate(float(values.std(ddof=1)) if values.size > 1 else math.nan)


def proportion_estimate(hits: np.ndarray) -> Estimate:
    """Fraction of patients with a hit, with its 95% Wilson interval; hits may be chances (0-1, the expected
    rates of a fit), whose mean is then the rate (not truncated to whole patients)."""
    n, successes = int(hits.size), float(hits.sum())
    return Estimate(successes / n if n else math.nan, wilson_interval(successes, n))


# ---- per-visit values and metrics ------------------------------------------------------------------

@dataclass(frozen=True)
class VisitOutput:
    """A per-patient value kept before the first dose and at every visit: the model output `name`.

    observed: the rater's MADRS (model MADRS plus visit noise, 0-60; its baseline is the screening
    score). optional: a model that lacks this output gives NaN (its metrics are null in the JSON).
    integer: the rater scores whole points (the model's expected score is rounded).
    """

    name: str
    unit: str
    observed: bool = False
    optional: bool = False
    integer: bool = False

    def column(self, visit_key: str) -> str:
        """Its per-patient column at visit `visit_key`: `<name>_<key, spaces as _>` (madrs_1_d)."""
        return f"{self.name}_{'_'.join(visit_key.split())}"


#: values kept before the first dose and at every visit, in Parquet column order
VISIT_OUTPUTS: tuple[VisitOutput, ...] = (
    VisitOutput("madrs", "MADRS points (0-60)", observed=True),
    VisitOutput("madrs_item10", "MADRS item 10 points (0-6)", optional=True, integer=True),
    VisitOutput("ssi", "SSI points (0-38)", optional=True),
    VisitOutput("caps5", "CAPS-5 points (0-80)", optional=True, integer=True),
)

#: SSI response: at least this fraction below baseline; SSI remission: at most this score
#: (Grunebaum 2018: response >= 50% reduction; Abbar 2022: full remission SSI <= 3)
SSI_RESPONSE_FRACTION = 0.5
SSI_REMISSION_AT_MOST = 3.0
#: CAPS-5 response: at least this fraction below baseline (Feder A et al. 2021, Am J Psychiatry 178:193: >= 30%
#: improvement in CAPS-5, recalled; the common PTSD trial definition)
CAPS5_RESPONSE_FRACTION = 0.3
#: the population kinds whose patients have PTSD (a CAPS-5 baseline): CAPS-5 metrics need one of them
PTSD_KINDS: tuple[str, ...] = ("ptsd",)



@dataclass(frozen=True)
class VisitValues:
    """Per-patient values at one visit of the patients assessed there.

    baselines and outputs: each VISIT_OUTPUTS value before the first dose and at the visit, by name
    (``madrs``: observed, points). response_fraction and remission_at_most: the file's criteria.
    earlier: the same outputs at every earlier visit of the file (by time), for metrics over the
    visits so far (``response_any_visit_rate``).
    """

    baselines: Mapping[str, np.ndarray]
    outputs: Mapping[str, np.ndarray]
    response_fraction: float
    remission_at_most: float
    earlier: tuple[Mapping[str, np.ndarray], ...] = ()

    @property
    def baseline(self) -> np.ndarray:
        """Observed MADRS before the first dose (points)."""
        return self.baselines["madrs"]

    @property
    def madrs(self) -> np.ndarray:
        """Observed MADRS at the visit (points)."""
        return self.outputs["madrs"]

    def output(self, name: str) -> np.ndarray:
        """Output `name` at the visit; NaN for every patient where it was not kept."""
        return self.outputs[name] if name in self.outputs else np.full_like(self.madrs, np.nan, dtype=float)

    def baseline_of(self, name: str) -> np.ndarray:
        """Output `name` before the first dose; NaN for every patient where it was not kept."""
        return self.baselines[name] if name in self.baselines else np.full_like(self.madrs, np.nan, dtype=float)

    def change(self, name: str = "madrs") -> np.ndarray:
        """Output `name` at the visit minus before the first dose (NaN where it was not kept)."""
        return self.output(name) - self.baseline_of(name)

    def responded_so_far(self) -> np.ndarray:
        """Response (MADRS at least response_fraction below baseline) at this visit or any earlier one.

        A visit where a patient was not assessed (NaN) counts as no response there.
        """
        hits = responders(self.baseline, self.madrs, self.response_fraction)
        for outputs in self.earlier:
            hits = hits | responders(self.baseline, outputs["madrs"], self.response_fraction)
        return hits

    def restricted(self, mask: np.ndarray) -> VisitValues:
        """The values of the patients where `mask` is true (at this visit and the earlier ones)."""
        def rows(table: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {k: v[mask] for k, v in table.items()}

        return VisitValues(rows(self.baselines), rows(self.outputs), self.response_fraction, self.remission_at_most,
                           tuple(rows(e) for e in self.earlier))


@dataclass(frozen=True)
class VisitMetric:
    """One visit metric: JSON key `name` (and ``<name>_ci`` if `with_ci`), its unit, how it is computed.

    per_patient: the per-patient values (NaN where undefined: those patients are left out) that
    `statistic` summarises. label: the column of the text table (None: JSON only); signed: shown
    with a sign (changes).
    """

    name: str
    unit: str
    per_patient: Callable[[VisitValues], np.ndarray]
    statistic: Callable[[np.ndarray], Estimate]
    with_ci: bool = False
    label: str | None = None
    signed: bool = False
    #: population kinds the metric needs (a [[published]] target in another kind's file is an error); () any kind
    kinds: tuple[str, ...] = ()

    @property
    def is_fraction(self) -> bool:
        return self.unit == FRACTION

    def estimate(self, values: VisitValues) -> Estimate:
        per_patient = np.asarray(self.per_patient(values))
        return self.statistic(per_patient[np.isfinite(per_patient)])


#: metrics at every visit, in JSON order
VISIT_METRICS: tuple[VisitMetric, ...] = (
    VisitMetric("madrs_mean", "MADRS points", lambda v: v.madrs, mean_estimate, label="MADRS"),
    VisitMetric("change_mean", "MADRS points", VisitValues.change, mean_estimate, with_ci=True, label="change",
                signed=True),
    VisitMetric("change_sd", "MADRS points", VisitValues.change, sd_estimate),
    VisitMetric("response_rate", FRACTION, lambda v: v.outputs["response_probability"]
                if "response_probability" in v.outputs else responders(v.baseline, v.madrs, v.response_fraction),
                proportion_estimate, with_ci=True, label="response"),
    VisitMetric("remission_rate", FRACTION, lambda v: v.outputs["remission_probability"]
                if "remission_probability" in v.outputs else v.madrs <= v.remission_at_most + 1e-9, proportion_estimate,
                with_ci=True, label="remission"),
    # suicidal ideation: MADRS item 10 (0-6) and SSI (0-38); NaN (null) where the model has no SI outputs
    VisitMetric("item10_mean", "MADRS item 10 points", lambda v: v.output("madrs_item10"), mean_estimate, with_ci=True),
    VisitMetric("item10_change_mean", "MADRS item 10 points", lambda v: v.change("madrs_item10"), mean_estimate,
                with_ci=True, signed=True),
    VisitMetric("ssi_mean", "SSI points", lambda v: v.output("ssi"), mean_estimate, with_ci=True),
    VisitMetric("ssi_response_rate", FRACTION, lambda v: _ssi_hits(v, _ssi_responders), proportion_estimate, with_ci=True),
    VisitMetric("ssi_remission_rate", FRACTION, lambda v: _ssi_hits(v, _ssi_remitters), proportion_estimate, with_ci=True),
    # responded at this visit or any earlier one (Diazgranados 2010: "responded at some point during the trial");
    # at the last visit: responded at any visit of the trial
    VisitMetric("response_any_visit_rate", FRACTION, VisitValues.responded_so_far, proportion_estimate, with_ci=True),
    # PTSD: CAPS-5 (0-80); null (NaN) for patients without PTSD (no CAPS-5 baseline)
    VisitMetric("caps5_mean", "CAPS-5 points", lambda v: _with_caps5(v, v.output("caps5")), mean_estimate, with_ci=True,
                kinds=PTSD_KINDS),
    VisitMetric("caps5_change_mean", "CAPS-5 points", lambda v: _with_caps5(v, v.change("caps5")), mean_estimate,
                with_ci=True, signed=True, kinds=PTSD_KINDS),
    VisitMetric("caps5_response_rate", FRACTION, lambda v: _with_caps5(v, _caps5_responders(v)), proportion_estimate,
                with_ci=True, kinds=PTSD_KINDS),
)


def _with_caps5(values: VisitValues, per_patient: np.ndarray) -> np.ndarray:
    """`per_patient` where the patient has PTSD (a CAPS-5 baseline above 0), NaN elsewhere (left out)."""
    baseline = values.baseline_of("caps5")
    return np.where(np.isfinite(baseline) & (baseline > 0.0), per_patient, np.nan)


def _caps5_responders(values: VisitValues) -> np.ndarray:
    """CAPS-5 at least CAPS5_RESPONSE_FRACTION below baseline, as 0/1 (NaN where CAPS-5 is missing)."""
    baseline, caps5 = values.baseline_of("caps5"), values.output("caps5")
    hits = responders(np.nan_to_num(baseline), np.nan_to_num(caps5), CAPS5_RESPONSE_FRACTION)
    return np.where(np.isfinite(baseline) & np.isfinite(caps5), hits.astype(float), np.nan)


def _ssi_responders(baseline: np.ndarray, ssi: np.ndarray) -> np.ndarray:
    """SSI at least SSI_RESPONSE_FRACTION below a baseline above 0 (no baseline SI: no response possible)."""
    return (baseline > 0.0) & (ssi <= (1.0 - SSI_RESPONSE_FRACTION) * baseline + 1e-9)


def _ssi_remitters(baseline: np.ndarray, ssi: np.ndarray) -> np.ndarray:
    return ssi <= SSI_REMISSION_AT_MOST + 1e-9


def _ssi_hits(values: VisitValues, rule: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """rule(baseline SSI, SSI) as 0/1 per patient, NaN where SSI is missing."""
    baseline, ssi = values.baseline_of("ssi"), values.output("ssi")
    ok = np.isfinite(baseline) & np.isfinite(ssi)
    return np.where(ok, rule(np.nan_to_num(baseline), np.nan_to_num(ssi)).astype(float), np.nan)


def visit_summary(values: VisitValues) -> dict[str, Any]:
    """The JSON object of one visit: every VISIT_METRICS value, then the intervals (``<name>_ci``)."""
    ok = np.isfinite(values.baseline) & np.isfinite(values.madrs)
    assessed = values.restricted(ok)
    estimates = {m.name: m.estimate(assessed) for m in VISIT_METRICS}
    out: dict[str, Any] = {name: e.value for name, e in estimates.items()}
    out.update({f"{m.name}_ci": list(estimates[m.name].ci or (math.nan, math.nan)) for m in VISIT_METRICS if m.with_ci})
    return out


# ---- vitals over the first session -----------------------------------------------------------------

def peak_rise(session: np.ndarray) -> np.ndarray:
    """Per-patient peak rise above the pre-dose value, over the session's rows (T, N) -> (N,)."""
    return np.max(session - session[0], axis=0)


def peak(session: np.ndarray) -> np.ndarray:
    """Per-patient peak over the session's rows (T, N) -> (N,)."""
    return np.max(session, axis=0)


@dataclass(frozen=True)
class VitalsMetric:
    """Arm mean (NaN-ignoring) of a per-patient value of model output `output` over the first dosing session."""

    name: str
    output: str
    per_patient: Callable[[np.ndarray], np.ndarray]
    unit: str
    label: str
    signed: bool = False

    def estimate(self, per_patient: np.ndarray) -> float | None:
        return float(np.nanmean(per_patient)) if per_patient.size else None


#: JSON keys under "vitals", in order
VITALS_METRICS: tuple[VitalsMetric, ...] = (
    VitalsMetric("sbp_peak_change_mean", "sbp_mmhg", peak_rise, "mmHg", "SBP (mmHg)", signed=True),
    VitalsMetric("dbp_peak_change_mean", "dbp_mmhg", peak_rise, "mmHg", "DBP (mmHg)", signed=True),
    VitalsMetric("hr_peak_change_mean", "hr_bpm", peak_rise, "bpm", "HR (bpm)", signed=True),
    VitalsMetric("cadss_peak_mean", "cadss", peak, "CADSS points", "CADSS (points)"),
)

#: keys of the relapse object that a [[published]] target may name (relapse.<key>), with their units
RELAPSE_KEYS: dict[str, str] = {"rate": FRACTION, "count": "patients", "median_days": "d"}


# ---- every metric a [[published]] target may name --------------------------------------------------

class EndpointsLike(Protocol):
    """What the registry reads of a trial file's [endpoints] (io.trial_spec.EndpointsSpec)."""

    @property
    def relapse(self) -> object | None: ...

    @property
    def vitals(self) -> bool: ...


@dataclass(frozen=True)
class Section:
    """A part of the arm output that a trial file turns on: its JSON key and what the file needs for it."""

    key: str
    needs: str
    enabled: Callable[[EndpointsLike], bool]


SECTIONS: dict[str, Section] = {
    "relapse": Section("relapse", "an [endpoints.relapse] section in the file", lambda ep: ep.relapse is not None),
    "vitals": Section("vitals", "vitals = true under [endpoints]", lambda ep: bool(ep.vitals)),
}


@dataclass(frozen=True)
class Metric:
    """A name a [[published]] target may use: a visit metric (section None) or ``<section>.<key>``."""

    name: str
    unit: str
    section: str | None = None
    key: str = ""
    kinds: tuple[str, ...] = ()  #: population kinds it needs (VisitMetric.kinds); () any kind

    @property
    def at_visit(self) -> bool:
        return self.section is None

    @property
    def is_fraction(self) -> bool:
        return self.unit == FRACTION

    def value(self, arm_summary: Mapping[str, Any], visit: str | None) -> float | None:
        """This metric in one arm's JSON summary (at `visit` for a visit metric); None if absent or null."""
        if self.section is None:
            value = arm_summary["visits"][visit][self.name]
        else:
            value = arm_summary.get(self.section, {}).get(self.key)
        return None if value is None else float(value)

    def standard_error(self, arm_summary: Mapping[str, Any], visit: str | None) -> float | None:
        """Sampling standard error of this metric in one arm (from its 95% interval, or for an SD from
        SD / sqrt(2 (n - 1))); None where the summary gives no way to tell."""
        table = arm_summary["visits"][visit] if self.section is None else arm_summary.get(self.section, {})
        key = self.name if self.section is None else self.key
        ci = table.get(f"{key}_ci")
        if ci is not None and None not in ci and all(math.isfinite(float(c)) for c in ci):
            return (float(ci[1]) - float(ci[0])) / (2.0 * 1.959964)
        value, n = table.get(key), arm_summary.get("n", 0)
        if key == "change_sd" and value is not None and n > 1:
            return float(value) / math.sqrt(2.0 * (n - 1))
        return None


METRICS: dict[str, Metric] = {
    **{m.name: Metric(m.name, m.unit, kinds=m.kinds) for m in VISIT_METRICS},
    **{f"relapse.{k}": Metric(f"relapse.{k}", unit, "relapse", k) for k, unit in RELAPSE_KEYS.items()},
    **{f"vitals.{m.name}": Metric(f"vitals.{m.name}", m.unit, "vitals", m.name) for m in VITALS_METRICS},
}
