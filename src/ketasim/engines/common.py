"""What every engine shares: solver settings, the solution type, per-patient status with named causes,
and the checks of output times."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from ketasim.model.arm import ArmModel


class SolverStatus(IntEnum):
    """Per-patient outcome of a solve (as diffrax's RESULTS): 0 is success, every failure names its cause."""

    OK = 0
    MAX_STEPS = 1  #: the step budget (SolverSettings.max_steps) ran out
    STEP_TOO_SMALL = 2  #: the error control asked for a step below the smallest allowed (stiffness, a kink)
    NON_FINITE = 3  #: the state became NaN or infinite (e.g. an absurd dose or parameter)
    INTEGRATOR_FAILED = 4  #: the reference integrator (LSODA) reported failure


STATUS_OK = SolverStatus.OK


def failure_counts(status: np.ndarray) -> dict[str, int]:
    """How many patients failed, by cause name (causes with no patient left out)."""
    values, counts = np.unique(np.asarray(status), return_counts=True)
    return {SolverStatus(int(v)).name.lower(): int(c) for v, c in zip(values, counts, strict=True) if v != SolverStatus.OK}


@dataclass(frozen=True)
class SolverSettings:
    """Explicit tolerances (independent of output times), and a step budget per patient."""

    rtol: float = 1e-6
    atol: float = 1e-8
    max_steps: int = 500_000

    def tightened(self, factor: float = 10.0) -> SolverSettings:
        """The same settings with both tolerances divided by `factor`."""
        return SolverSettings(self.rtol / factor, self.atol / factor, self.max_steps)


@dataclass(frozen=True)
class Solution:
    """PD states at the output times: times_h (T,), states (T, N, n_states) (NaN for failed patients);
    status (N,) of SolverStatus values and accepted-or-rejected step counts (N,)."""

    times_h: np.ndarray
    states: np.ndarray
    status: np.ndarray
    steps: np.ndarray


def checked_times(model: ArmModel, times: np.ndarray) -> np.ndarray:
    """Output times (h) as floats, sorted and inside the arm's window, or ValueError."""
    times = np.asarray(times, dtype=float)
    if np.any(np.diff(times) < 0):
        raise ValueError("output times must be sorted")
    if times.size and (times[0] < model.start_h - 1e-9 or times[-1] > model.end_h + 1e-9):
        raise ValueError(f"output times must lie in [{model.start_h}, {model.end_h}] h")
    return times


def start_indices(model: ArmModel, times: np.ndarray) -> np.ndarray:
    """Indices of the output times at the arm's start (they get the initial state)."""
    return np.nonzero(np.abs(times - model.start_h) <= 1e-12)[0]
