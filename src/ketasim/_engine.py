"""Solvers for the PD system of an ArmModel, segment by segment (every dose is a boundary).

- `reference`: one patient at a time with scipy's LSODA (stiff-capable, adaptive, switches to
  BDF when the fast circuit modes make the problem stiff); easy to read, the witness.
- `fast`: all patients of an arm at once, a vectorised integrating-factor Dormand-Prince 5(4)
  in numpy, each patient with its own adaptive step, so a patient's numbers do not depend on
  who else is in its chunk.
- `jax`: the same algorithm in JAX (`_engine_jax.solve_fast_jax`, imported only when used), on
  device "auto": an NVIDIA GPU when JAX sees one (jax[cuda12] installed), else the CPU. For
  another device call `solve_fast_jax(..., device="cpu" | "gpu")`, or set JAX_PLATFORMS=cpu.

All return a per-patient status (0 ok, 1 failed) instead of raising for one bad patient.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from ._errors import KetasimInputError
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

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    sol = solve_ivp(fun, (b[k], b[k + 1]), y, method="LSODA", rtol=settings.rtol,
                                    atol=settings.atol, dense_output=True)
            except (ValueError, FloatingPointError, np.linalg.LinAlgError):
                status[i] = STATUS_FAILED
                break
            steps[i] += sol.t.size - 1
            if not sol.success or not np.all(np.isfinite(sol.y[:, -1])):
                status[i] = STATUS_FAILED
                break
            if slices[k].size:
                states[slices[k], i] = sol.sol(times[slices[k]]).T
            y = sol.y[:, -1].copy()
    states[:, status != STATUS_OK] = np.nan
    return Solution(times, states, status, steps)


# Dormand-Prince 5(4) tableau (Dormand JR & Prince PJ 1980, J Comput Appl Math 6:19).
_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
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
_FIRST_STEP_H = 1e-2
_MIN_STEP_H = 1e-10


def solve_fast(model: ArmModel, times_h: np.ndarray, y0: np.ndarray,
               settings: SolverSettings = SolverSettings()) -> Solution:
    """All patients at once, each with its own adaptive step.

    Integrating-factor (Lawson) Dormand-Prince 5(4): the constant first-order decay of each
    state (-1/tau, from ArmModel.decay_rates) is integrated exactly and the rest explicitly,
    so the fast circuit states do not force tiny steps once a dose has washed out. Output times
    are step end points (no interpolation of the stiff part).
    """
    times = _check_times(model, times_h)
    n, m = y0.shape
    states = np.full((len(times), n, m), np.nan)
    status = np.zeros(n, dtype=int)
    steps = np.zeros(n, dtype=int)
    at_start = np.nonzero(np.abs(times - model.start_h) <= 1e-12)[0]
    states[at_start] = y0
    y = y0.copy()
    b = model.boundaries
    decay = model.decay_rates()
    h = np.full(n, _FIRST_STEP_H)
    for k in range(len(b) - 1):
        y[:, IDX["session_expectancy"]] += model.session_jump(b[k])
        inside = times[(times > b[k]) & (times < b[k + 1])]
        stops = np.unique(np.concatenate([inside, [b[k + 1]]]))
        start = float(b[k])
        for stop in stops:
            h = _advance(model, k, y, start, float(stop), h, decay, status, steps, settings)
            start = float(stop)
            hit = np.nonzero(np.abs(times - stop) <= 1e-12)[0]
            if hit.size:
                states[hit] = y
    states[:, status != STATUS_OK] = np.nan
    return Solution(times, states, status, steps)


def _advance(model: ArmModel, k: int, y: np.ndarray, t0: float, t1: float, h: np.ndarray, decay: np.ndarray,
             status: np.ndarray, steps: np.ndarray, settings: SolverSettings) -> np.ndarray:
    """Advance y (N, m) in place from t0 to t1 inside segment k; returns the next step sizes."""
    n = y.shape[0]
    t = np.full(n, t0)
    h = np.minimum(h, t1 - t0)
    f0 = model.rhs(t, y, k) - decay * y
    nonlinear = np.empty((7, *y.shape))
    end_tol = 1e-12 * max(1.0, abs(t1))
    last_h = h.copy()
    while True:
        running = (status == STATUS_OK) & (t < t1 - end_tol)
        if not running.any():
            break
        h_next = h  # patients already at t1 keep their proposal for the next interval
        h = np.where(running, np.minimum(h, t1 - t), 0.0)
        hc = h[:, None]
        # exp(decay * (c_j - c_l) * h) for all stage pairs, as needed
        growth = [np.exp(decay * (c * hc)) for c in _C]
        nonlinear[0] = f0
        for j in range(1, 6):
            acc = growth[j] * y
            for stage in range(j):
                acc = acc + hc * _A[j][stage] * np.exp(decay * ((_C[j] - _C[stage]) * hc)) * nonlinear[stage]
            nonlinear[j] = model.rhs(t + _C[j] * h, acc, k) - decay * acc
        y_new = growth[6] * y
        err = np.zeros_like(y)
        for stage in range(6):
            weight = hc * np.exp(decay * ((1.0 - _C[stage]) * hc)) * nonlinear[stage]
            y_new = y_new + _B[stage] * weight
            err = err + _E[stage] * weight
        nonlinear[6] = model.rhs(t + h, y_new, k) - decay * y_new
        err = err + _E[6] * hc * nonlinear[6]
        scale = settings.atol + settings.rtol * np.maximum(np.abs(y), np.abs(y_new))
        with np.errstate(invalid="ignore", over="ignore"):
            err_norm = np.sqrt(np.mean((err / scale) ** 2, axis=1))
        finite = np.isfinite(err_norm) & np.all(np.isfinite(y_new), axis=1)
        accept = running & finite & (err_norm <= 1.0)
        y[accept] = y_new[accept]
        f0[accept] = nonlinear[6][accept]
        last_h = np.where(accept, h, last_h)
        t = np.where(accept, np.where(t + h >= t1 - end_tol, t1, t + h), t)
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(err_norm == 0.0, 10.0, 0.9 * err_norm ** -0.2)
        factor = np.where(finite, np.clip(factor, 0.2, 10.0), 0.2)
        factor = np.where(accept, factor, np.minimum(factor, 1.0))
        h = np.where(running, h * factor, h_next)
        steps += running
        failed = running & ((h < _MIN_STEP_H) | (steps > settings.max_steps))
        status[failed] = STATUS_FAILED
    # a step cut short by t1 says nothing about the next one: keep the larger of the two
    return np.maximum(h, last_h)


def solve_jax(model: ArmModel, times_h: np.ndarray, y0: np.ndarray,
              settings: SolverSettings = SolverSettings()) -> Solution:
    """The fast engine in JAX on device "auto" (GPU if JAX sees one); jax is imported only here."""
    try:
        from ._engine_jax import solve_fast_jax
    except ImportError as err:
        raise KetasimInputError(f"engine 'jax' needs jax ({err}); install it with: pip install 'ketasim[fast]'") from None
    return solve_fast_jax(model, times_h, y0, settings, device="auto")


ENGINES = {"reference": solve_reference, "fast": solve_fast, "jax": solve_jax}
