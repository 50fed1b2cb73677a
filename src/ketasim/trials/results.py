"""Typed results of a virtual trial: a solved chunk of patients, one arm, the whole trial."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ketasim.disclaimer import DISCLAIMER
from ketasim.engines.common import STATUS_OK
from ketasim.io.jsonsafe import finite_json
from ketasim.trials.trial_spec import TrialSpec


def _concat(arrays: Sequence[np.ndarray | None]) -> np.ndarray | None:
    return None if arrays[0] is None else np.concatenate(arrays, axis=-1)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SolvedChunk:
    """What is kept of n solved patients: only what the endpoints and the per-patient file need.

    index: candidate numbers (n,); status: solver status (n,), 0 ok; baselines: each VISIT_OUTPUTS
    value before the first dose (n,) ("madrs": the observed screening score, points); visits: each
    VISIT_OUTPUTS value at the visits, (V, n); relapse:
    observed MADRS at the relapse checks (D, n) and relapse_at at `at` (n,); vitals: each
    VITALS_METRICS per-patient value (n,); course: daily observed MADRS (T, n) float32, when asked
    for; patients: the patients' parameters (n,) each.
    """

    index: np.ndarray
    status: np.ndarray
    baselines: dict[str, np.ndarray]
    visits: dict[str, np.ndarray]
    relapse: np.ndarray | None = None
    relapse_at: np.ndarray | None = None
    vitals: dict[str, np.ndarray] = field(default_factory=dict)
    course: np.ndarray | None = None
    patients: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.index.size)

    @property
    def baseline(self) -> np.ndarray:
        """Observed MADRS before the first dose (points), (n,)."""
        return self.baselines["madrs"]

    def without_patients(self) -> SolvedChunk:
        return replace(self, patients={})

    @staticmethod
    def concat(parts: Sequence[SolvedChunk]) -> SolvedChunk:
        """The chunks' patients one after the other (in the order given)."""
        first = parts[0]

        def joined(get: Any) -> dict[str, np.ndarray]:
            return {k: np.concatenate([get(p)[k] for p in parts], axis=-1) for k in get(first)}

        return SolvedChunk(np.concatenate([p.index for p in parts]), np.concatenate([p.status for p in parts]),
                           joined(lambda p: p.baselines), joined(lambda p: p.visits),
                           _concat([p.relapse for p in parts]), _concat([p.relapse_at for p in parts]),
                           joined(lambda p: p.vitals), _concat([p.course for p in parts]), joined(lambda p: p.patients))


@dataclass
class ArmResult:
    """Per-patient values of one arm (N patients) and its endpoint summary (the arm's JSON object)."""

    name: str
    candidate_index: np.ndarray
    baseline_values: dict[str, np.ndarray]  # VISIT_OUTPUTS before the first dose, (N,); "madrs" observed
    visit_values: dict[str, np.ndarray]  # VISIT_OUTPUTS at the visits, (V, N); "madrs" observed
    status: np.ndarray
    candidates_screened: int
    relapse_assessments: np.ndarray | None = None  # (D, N) observed MADRS at the relapse checks
    relapse_at: np.ndarray | None = None  # (N,) observed MADRS at relapse 'at'
    relapse_days: np.ndarray | None = None  # (D,) the checks, days after 'at'
    vitals: dict[str, np.ndarray] | None = None  # VITALS_METRICS per-patient values, (N,)
    course_times_h: np.ndarray | None = None
    course: np.ndarray | None = None  # (T, N) daily observed MADRS, for plots
    patients: dict[str, np.ndarray] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)

    @property
    def baseline(self) -> np.ndarray:
        """Observed MADRS before the first dose (points), (N,)."""
        return self.baseline_values["madrs"]

    @property
    def visits(self) -> np.ndarray:
        """Observed MADRS (points) at the visits, (V, N)."""
        return self.visit_values["madrs"]

    def per_patient(self) -> SolvedChunk:
        """The arm's patients as one chunk (what the per-patient file is written from)."""
        return SolvedChunk(self.candidate_index, self.status, self.baseline_values, self.visit_values,
                           self.relapse_assessments, self.relapse_at, self.vitals or {}, self.course, self.patients)


@dataclass
class TrialResult:
    """Every arm of a trial file run on one engine."""

    spec: TrialSpec
    arms: dict[str, ArmResult]
    engine: str
    flags: tuple[str, ...] = ()  # "outside the calibrated range: ..." (see trials.plausibility)

    def to_json(self) -> dict:
        """The trial-spec output object (plus added keys); non-finite numbers become None."""
        flags = {"flags": list(self.flags)} if self.flags else {}
        return finite_json({"name": self.spec.name, "seed": self.spec.seed, "engine": self.engine,
                            "disclaimer": DISCLAIMER, **flags,
                            "arms": {name: arm.summary for name, arm in self.arms.items()}})

    def arm_failures(self) -> dict[str, tuple[int, int]]:
        """(failed, total) patients of every arm with a solver failure."""
        out = {}
        for name, arm in self.arms.items():
            failed = int(np.sum(arm.status != STATUS_OK))
            if failed:
                out[name] = (failed, int(arm.status.size))
        return out
