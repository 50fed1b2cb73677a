"""Solvers for the PD system of an ArmModel, segment by segment (every dose is a boundary).

- `reference`: one patient at a time with scipy's LSODA (stiff-capable, adaptive, switches to
  BDF when the fast circuit modes make the problem stiff); easy to read, the witness.
- `fast`: all patients of an arm at once, vectorised Dormand-Prince 5(4) in numpy, each
  patient with its own adaptive step, so a patient's numbers do not depend on who else is in
  its chunk. Outputs come from the dense interpolant, so output times never change the steps.

Both return a per-patient status (0 ok, 1 failed) instead of raising for one bad patient.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from ._model import IDX, ArmModel

STATUS_OK = 0
STATUS_FAILED = 1


@dataclass(frozen=True)
class SolverSettings:
    """Explicit tolerances (independent of output times), and a step budget per patient."""

    rtol: float = 1e-6
    atol: float = 1e-8
    max_steps: int = 500_000

    def tightened(self, factor: float = 10.0) -> SolverSettings:
        return SolverSettings(self.rtol / factor, self.atol / factor, self.max_steps)


@dataclass(frozen=True)
class Solution:
    """PD states at the output times: states (T, N, n_states); status and steps (N,)."""

    times_h: np.ndarray
    states: np.ndarray
    status: np.ndarray
    steps: np.ndarray


def _output_slices(model: ArmModel, times: np.ndarray) -> list[np.ndarray]:
    """Indices of output times in each segment's half-open interval (t0, t1]."""
    out = []
    b = model.boundaries
    for k in range(len(b) - 1):
        lo, hi = b[k], b[k + 1]
        out.append(np.nonzero((times > lo) & (times <= hi))[0])
    return out


def _check_times(model: ArmModel, times: np.ndarray) -> np.ndarray:
    times = np.asarray(times, dtype=float)
    if np.any(np.diff(times) < 0):
        raise ValueError("output times must be sorted")
    if times.size and (times[0] < model.start_h - 1e-9 or times[-1] > model.end_h + 1e-9):
        raise ValueError(f"output times must lie in [{model.start_h}, {model.end_h}] h")
    return times


def solve_reference(model: ArmModel, times_h: np.ndarray, y0: np.ndarray,
                    settings: SolverSettings = SolverSettings()) -> Solution:
    """Patient by patient, segment by segment, scipy LSODA with dense output."""
    times = _check_times(model, times_h)
    n = model.n_patients
    states = np.full((len(times), n, y0.shape[1]), np.nan)
    status = np.zeros(n, dtype=int)
    steps = np.zeros(n, dtype=int)
    slices = _output_slices(model, times)
    at_start = np.nonzero(np.abs(times - model.start_h) <= 1e-12)[0]
    b = model.boundaries
    for i in range(n):
        who = slice(i, i + 1)
        y = y0[i].copy()
        states[at_start, i] = y
        for k in range(len(b) - 1):
            y[IDX["session_expectancy"]] += model.session_jump(b[k])

            def fun(t: float, yy: np.ndarray, k: int = k, who: slice = who) -> np.ndarray:
                return model.rhs(t, yy[None, :], k, who)[0]

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sol = solve_ivp(fun, (b[k], b[k + 1]), y, method="LSODA", rtol=settings.rtol, atol=settings.atol,
                                dense_output=True)
            steps[i] += sol.t.size - 1
            if not sol.success or not np.all(np.isfinite(sol.y[:, -1])):
                status[i] = STATUS_FAILED
                break
            if slices[k].size:
                states[slices[k], i] = sol.sol(times[slices[k]]).T
            y = sol.y[:, -1].copy()
    return Solution(times, states, status, steps)


# Dormand-Prince 5(4) tableau (Dormand & Prince 1980) with Shampine's dense output, as in scipy's RK45.
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0])
_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
]
_B = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
_E = np.array([-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
_P = np.array([
    [1, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
    [0, 0, 0, 0],
    [0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
    [0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
    [0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
    [0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
    [0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
])
_FIRST_STEP_H = 1e-2
_MIN_STEP_H = 1e-10


def solve_fast(model: ArmModel, times_h: np.ndarray, y0: np.ndarray,
               settings: SolverSettings = SolverSettings()) -> Solution:
    """All patients at once; each patient has its own time and step within a segment."""
    times = _check_times(model, times_h)
    n, m = y0.shape
    states = np.full((len(times), n, m), np.nan)
    status = np.zeros(n, dtype=int)
    steps = np.zeros(n, dtype=int)
    at_start = np.nonzero(np.abs(times - model.start_h) <= 1e-12)[0]
    states[at_start] = y0
    y = y0.copy()
    b = model.boundaries
    slices = _output_slices(model, times)
    for k in range(len(b) - 1):
        y[:, IDX["session_expectancy"]] += model.session_jump(b[k])
        _segment(model, k, y, times, slices[k], states, status, steps, settings)
    states[:, status != STATUS_OK] = np.nan
    return Solution(times, states, status, steps)


def _segment(model: ArmModel, k: int, y: np.ndarray, times: np.ndarray, out_idx: np.ndarray, states: np.ndarray,
             status: np.ndarray, steps: np.ndarray, settings: SolverSettings) -> None:
    """Advance y (N, m) in place from boundaries[k] to boundaries[k+1]; fill outputs in (t0, t1]."""
    t0, t1 = float(model.boundaries[k]), float(model.boundaries[k + 1])
    n = y.shape[0]
    t = np.full(n, t0)
    h = np.full(n, min(_FIRST_STEP_H, t1 - t0))
    f0 = model.rhs(t, y, k)
    stages = np.empty((7, *y.shape))
    out_times = times[out_idx]
    end_tol = 1e-12 * max(1.0, abs(t1))
    while True:
        running = (status == STATUS_OK) & (t < t1 - end_tol)
        if not running.any():
            break
        h = np.where(running, np.minimum(h, t1 - t), 0.0)
        hc = h[:, None]
        stages[0] = f0
        for s in range(1, 6):
            ys = y + hc * np.tensordot(_A[s], stages[:s], axes=1)
            stages[s] = model.rhs(t + _C[s] * h, ys, k)
        y_new = y + hc * np.tensordot(_B, stages[:6], axes=1)
        stages[6] = model.rhs(t + h, y_new, k)
        err = hc * np.tensordot(_E, stages, axes=1)
        scale = settings.atol + settings.rtol * np.maximum(np.abs(y), np.abs(y_new))
        with np.errstate(invalid="ignore", over="ignore"):
            err_norm = np.sqrt(np.mean((err / scale) ** 2, axis=1))
        finite = np.isfinite(err_norm) & np.all(np.isfinite(y_new), axis=1)
        accept = running & finite & (err_norm <= 1.0)
        if out_times.size and accept.any():
            _dense_outputs(y, stages, t, h, accept, out_times, out_idx, states)
        y[accept] = y_new[accept]
        f0[accept] = stages[6][accept]
        t = np.where(accept, np.where(t + h >= t1 - end_tol, t1, t + h), t)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(err_norm == 0.0, 10.0, 0.9 * err_norm ** -0.2)
        factor = np.where(finite, np.clip(factor, 0.2, 10.0), 0.2)
        factor = np.where(accept, factor, np.minimum(factor, 1.0))
        h = np.where(running, h * factor, h)
        steps += running
        failed = running & ((h < _MIN_STEP_H) | (steps > settings.max_steps))
        status[failed] = STATUS_FAILED


def _dense_outputs(y: np.ndarray, stages: np.ndarray, t: np.ndarray, h: np.ndarray, accept: np.ndarray,
                   out_times: np.ndarray, out_idx: np.ndarray, states: np.ndarray) -> None:
    """Interpolate accepted steps at the output times they cover (4th-order dense output)."""
    lo = np.searchsorted(out_times, np.min(t[accept]), side="right")
    hi = np.searchsorted(out_times, np.max((t + h)[accept]) + 1e-12, side="right")
    if hi <= lo:
        return
    q = np.einsum("snm,sk->nmk", stages, _P)  # (N, m, 4)
    for j in range(lo, hi):
        tj = out_times[j]
        covered = accept & (t < tj) & (tj <= t + h + 1e-12)
        if not covered.any():
            continue
        x = (tj - t[covered]) / h[covered]
        powers = np.stack([x, x**2, x**3, x**4], axis=1)
        states[out_idx[j], covered] = y[covered] + h[covered, None] * np.einsum("nmk,nk->nm", q[covered], powers)


ENGINES = {"reference": solve_reference, "fast": solve_fast}
