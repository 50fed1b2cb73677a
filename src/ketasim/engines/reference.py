"""The reference engine: one patient at a time with scipy's LSODA (stiff-capable, adaptive, switches to
BDF when the fast circuit modes make the problem stiff); easy to read, the witness for the others.

It integrates `ArmModel.rhs` (the mechanism's vector field with numpy) segment by segment; every
dose is a boundary, and each session start adds its expectancy jump. A failed patient gets a
named SolverStatus and NaN states instead of an exception.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.integrate import solve_ivp

from ketasim.engines.common import Solution, SolverSettings, SolverStatus, checked_times, start_indices
from ketasim.model import mechanism
from ketasim.model.arm import ArmModel
from ketasim.model.mechanism import IDX

#: the state that session starts jump
SESSION_STATE = IDX["session_expectancy"]


def _output_slices(model: ArmModel, times: np.ndarray) -> list[np.ndarray]:
    """Indices of output times in each segment's half-open interval (t0, t1]."""
    out = []
    b = model.boundaries
    for k in range(len(b) - 1):
        lo, hi = b[k], b[k + 1]
        out.append(np.nonzero((times > lo) & (times <= hi))[0])
    return out



def solve_reference(model: ArmModel, times_h: np.ndarray, y0: np.ndarray,
                    settings: SolverSettings = SolverSettings()) -> Solution:
    """Patient by patient, segment by segment, scipy LSODA with dense output."""
    times = checked_times(model, times_h)
    n = model.n_patients
    states = np.full((len(times), n, y0.shape[1]), np.nan)
    status = np.zeros(n, dtype=int)
    steps = np.zeros(n, dtype=int)
    slices = _output_slices(model, times)
    at_start = start_indices(model, times)
    b = model.boundaries
    for i in range(n):
        who = slice(i, i + 1)
        y = y0[i].copy()
        states[at_start, i] = y
        for k in range(len(b) - 1):
            y[SESSION_STATE] = mechanism.after_session(y[SESSION_STATE], model.session_jumps[k])

            def fun(t: float, yy: np.ndarray, k: int = k, who: slice = who) -> np.ndarray:
                return model.rhs(t, yy[None, :], k, who)[0]

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    sol = solve_ivp(fun, (b[k], b[k + 1]), y, method="LSODA", rtol=settings.rtol,
                                    atol=settings.atol, dense_output=True)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                status[i] = SolverStatus.NON_FINITE
                break
            steps[i] += sol.t.size - 1
            if not sol.success or not np.all(np.isfinite(sol.y[:, -1])):
                status[i] = SolverStatus.NON_FINITE if sol.success else SolverStatus.INTEGRATOR_FAILED
                break
            if slices[k].size:
                states[slices[k], i] = sol.sol(times[slices[k]]).T
            y = sol.y[:, -1].copy()
    states[:, status != SolverStatus.OK] = np.nan
    return Solution(times, states, status, steps)
