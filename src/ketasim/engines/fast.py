"""The fast engine: all patients of an arm at once, a vectorised integrating-factor Dormand-Prince 5(4)
in numpy, each patient with its own adaptive step, so a patient's numbers do not depend on who
else is in its chunk. It integrates `ArmModel.rhs` (the mechanism's vector field with numpy).
"""

from __future__ import annotations

import numpy as np

from ketasim.engines.common import Solution, SolverSettings, SolverStatus, checked_times, start_indices
from ketasim.engines.dopri import FACTOR_C, FIRST_STEP_H, MIN_STEP_H, A, B, C, E, fast_states
from ketasim.model import mechanism
from ketasim.model.arm import ArmModel
from ketasim.model.mechanism import IDX

#: the state that session starts jump
SESSION_STATE = IDX["session_expectancy"]


def solve_fast(model: ArmModel, times_h: np.ndarray, y0: np.ndarray,
               settings: SolverSettings = SolverSettings()) -> Solution:
    """All patients at once, each with its own adaptive step.

    Integrating-factor (Lawson) Dormand-Prince 5(4): the constant first-order decay of the fast
    states (time constant under FAST_TIME_H, from ArmModel.decay_rates) is integrated exactly
    and the rest explicitly, so the fast circuit states do not force tiny steps once a dose has
    washed out; slow states take plain Dormand-Prince stages. Output times are step end points
    (no interpolation of the stiff part). Each interval between stops computes only the patients
    still running; every operation is elementwise per patient (no BLAS or einsum reductions), so
    a patient's numbers are bit-identical whatever its chunk.
    """
    times = checked_times(model, times_h)
    n, m = y0.shape
    states = np.full((len(times), n, m), np.nan)
    status = np.zeros(n, dtype=int)
    steps = np.zeros(n, dtype=int)
    at_start = start_indices(model, times)
    states[at_start] = y0
    y = y0.copy()
    b = model.boundaries
    decay = model.decay
    h = np.full(n, FIRST_STEP_H)
    for k in range(len(b) - 1):
        y[:, SESSION_STATE] = mechanism.after_session(y[:, SESSION_STATE], model.session_jumps[k])
        inside = times[(times > b[k]) & (times < b[k + 1])]
        stops = np.unique(np.concatenate([inside, [b[k + 1]]]))
        start = float(b[k])
        for stop in stops:
            h = _advance(model, k, y, start, float(stop), h, decay, status, steps, settings)
            start = float(stop)
            hit = np.nonzero(np.abs(times - stop) <= 1e-12)[0]
            if hit.size:
                states[hit] = y
    states[:, status != SolverStatus.OK] = np.nan
    return Solution(times, states, status, steps)


#: the Butcher rows a_j. (j = 0..5) as arrays
_A_ROWS = [np.array(row) for row in A]
#: compact the working set (gather only the patients still running) once fewer than this
#: fraction of it is still running; below it, the gathers cost less than the wasted stages
COMPACT_BELOW = 0.8


class _Work:
    """The working set of one interval: patients `idx`, their copies of t (h), h (h), the last step
    accepted in full (h, NaN if none), status and steps (W,), states y (m, W) (state-major: each
    state's row is contiguous), and scratch arrays for one step.

    Stage values (1/h) are kept split: `kf` (7, nf, W) for the nf states with the integrating
    factor (rhs minus the linear decay), `ks` (7, m - nf, W) for the others (the whole rhs);
    stage 6 is the value at the step's end, which becomes stage 0 of the next step (FSAL).
    """

    def __init__(self, model: ArmModel, segment: int, nf: int, idx: np.ndarray, y: np.ndarray, f0: np.ndarray | None,
                 t: np.ndarray, h: np.ndarray, last_h: np.ndarray, status: np.ndarray, steps: np.ndarray,
                 decay_f: np.ndarray) -> None:
        self.idx, self.y, self.t, self.h, self.last_h = idx, y, t, h, last_h
        self.status, self.steps = status, steps
        self.model = model.restricted(segment, idx)
        self.segment, self.nf, self.decay_f = segment, nf, decay_f
        m, w = y.shape
        self.kf = np.empty((7, nf, w))
        self.ks = np.empty((7, m - nf, w))
        self.factors = {c: np.empty((nf, w)) for c in FACTOR_C}
        self.products = np.empty((6, nf, w))
        self.acc, self.y_new, self.err = np.empty((m, w)), np.empty((m, w)), np.empty((m, w))
        self.tmp_f, self.sum_f = np.empty((nf, w)), np.empty((nf, w))
        self.tmp_s, self.sum_s = np.empty((m - nf, w)), np.empty((m - nf, w))
        if f0 is None:
            self.stage(0, t, y)
        else:
            self.kf[0], self.ks[0] = f0[:nf], f0[nf:]

    def stage(self, j: int, t: np.ndarray, y: np.ndarray) -> None:
        """Stage value j from rhs at times t (W,) and states y (m, W)."""
        nf = self.nf
        f = self.model.rhs(t, y.T, self.segment).T  # rhs keeps the layout: (m, W) rows again
        np.multiply(self.decay_f, y[:nf], out=self.kf[j])
        np.subtract(f[:nf], self.kf[j], out=self.kf[j])
        self.ks[j] = f[nf:]

    def give_back(self, y: np.ndarray, h: np.ndarray, last_h: np.ndarray, status: np.ndarray, steps: np.ndarray,
                  which: np.ndarray | slice = slice(None)) -> None:
        """Scatter the patients `which` of the working copies back into the whole-chunk arrays (y is (N, m))."""
        at = self.idx[which]
        y[at] = self.y[:, which].T
        h[at], last_h[at] = self.h[which], self.last_h[which]
        status[at], steps[at] = self.status[which], self.steps[which]

    def compacted(self, keep: np.ndarray, model: ArmModel) -> _Work:
        """The working set of the patients `keep` (positions in this one)."""
        f0 = np.concatenate([self.kf[0][:, keep], self.ks[0][:, keep]])
        return _Work(model, self.segment, self.nf, self.idx[keep], self.y[:, keep], f0, self.t[keep], self.h[keep],
                     self.last_h[keep], self.status[keep], self.steps[keep], self.decay_f)


def _advance(model: ArmModel, k: int, y: np.ndarray, t0: float, t1: float, h: np.ndarray, decay: np.ndarray,
             status: np.ndarray, steps: np.ndarray, settings: SolverSettings) -> np.ndarray:
    """Advance y (N, m) in place from t0 to t1 inside segment k; returns the next step sizes.

    Only patients still running are computed: they are gathered into a working set, which is
    compacted again whenever fewer than COMPACT_BELOW of it still run. Each patient's numbers
    do not depend on who else is in the chunk (every operation is per patient).
    """
    h = np.minimum(h, t1 - t0)
    last_h = np.full(h.shape, np.nan)  # the last accepted step not cut short by t1 (NaN: none yet)
    end_tol = 1e-12 * max(1.0, abs(t1))
    idx = np.nonzero(status == SolverStatus.OK)[0]
    if idx.size == 0:
        return h
    nf = fast_states(decay)
    work = _Work(model, k, nf, idx, np.ascontiguousarray(y[idx].T), None, np.full(idx.size, t0), h[idx],
                 last_h[idx], status[idx], steps[idx], decay[:nf, None])
    while True:
        running = (work.status == SolverStatus.OK) & (work.t < t1 - end_tol)
        count = int(np.count_nonzero(running))
        if count == 0:
            break
        if count < COMPACT_BELOW * running.size:
            work.give_back(y, h, last_h, status, steps, ~running)
            work = work.compacted(np.nonzero(running)[0], model)
            running = np.ones(count, dtype=bool)
        _step(work, running, t1, end_tol, settings)
    work.give_back(y, h, last_h, status, steps)
    # the proposal after a step cut short by t1 (or after a quiet stretch) may be far too long for
    # what comes next (often a new dose): start the next interval with at most the last step the
    # error control accepted in full
    return np.where(np.isnan(last_h), h, np.minimum(h, last_h))


def combine_stages(weights: np.ndarray, stages: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """out = sum_l weights[l] * stages[l] over the leading axis, skipping zero weights.

    Plain multiply and add, term by term: every element is rounded the same way whatever the
    array size (unlike BLAS or einsum kernels), so a patient's numbers do not depend on its chunk.
    """
    first = True
    for weight, stage in zip(weights, stages, strict=False):
        if weight == 0.0:
            continue
        if first:
            np.multiply(stage, weight, out=out)
            first = False
        else:
            np.multiply(stage, weight, out=tmp)
            out += tmp
    if first:
        out[...] = 0.0
    return out


def _step(work: _Work, running: np.ndarray, t1: float, end_tol: float, settings: SolverSettings) -> None:
    """One Lawson-DOPRI5 attempt for every patient of the working set (h = 0 for those not running).

    States 0..nf-1: integrating factor, y_j = e^(c_j h L) y + h sum_l a_jl e^((c_j - c_l) h L) k_l
    with L the decay rates and k_l = rhs - L y; the other states: plain DOPRI5 stages.
    """
    y, t, nf = work.y, work.t, work.nf
    h_next = work.h  # patients already at t1 keep their proposal for the next interval
    h = np.where(running, np.minimum(work.h, t1 - t), 0.0)
    factors, products, kf, ks, acc = work.factors, work.products, work.kf, work.ks, work.acc
    tmp_f, tmp_s, sum_f, sum_s = work.tmp_f, work.tmp_s, work.sum_f, work.sum_s
    for c, factor in factors.items():  # exp(decay * c * h) for every multiple c > 0 the step needs
        np.multiply(work.decay_f, c * h, out=factor)
        np.exp(factor, out=factor)

    def one(c: float) -> np.ndarray | float:
        return factors[c] if c != 0.0 else 1.0

    for j in range(1, 6):
        for i in range(j):
            np.multiply(one(float(C[j] - C[i])), kf[i], out=products[i])
        np.multiply(factors[float(C[j])], y[:nf], out=acc[:nf])
        combine_stages(_A_ROWS[j], products[:j], sum_f, tmp_f)
        sum_f *= h
        acc[:nf] += sum_f
        combine_stages(_A_ROWS[j], ks[:j], sum_s, tmp_s)
        sum_s *= h
        np.add(y[nf:], sum_s, out=acc[nf:])
        work.stage(j, t + C[j] * h, acc)
    y_new, err = work.y_new, work.err
    for i in range(6):
        np.multiply(one(float(1.0 - C[i])), kf[i], out=products[i])
    np.multiply(factors[1.0], y[:nf], out=y_new[:nf])
    combine_stages(B, products, sum_f, tmp_f)
    sum_f *= h
    y_new[:nf] += sum_f
    combine_stages(B, ks[:6], sum_s, tmp_s)
    sum_s *= h
    np.add(y[nf:], sum_s, out=y_new[nf:])
    work.stage(6, t + h, y_new)
    combine_stages(E, products, err[:nf], tmp_f)
    np.multiply(kf[6], E[6], out=tmp_f)
    err[:nf] += tmp_f
    combine_stages(E, ks, err[nf:], tmp_s)
    err *= h
    scale = np.maximum(np.abs(y), np.abs(y_new))
    scale *= settings.rtol
    scale += settings.atol
    with np.errstate(invalid="ignore", over="ignore"):
        err /= scale
        err *= err
        # the sum over states row by row, in a fixed order: np.mean(axis=0) sums in another
        # order when the working set is very small, and a patient's numbers would depend on it
        total = err[0].copy()
        for row in err[1:]:
            total += row
        total /= err.shape[0]
        err_norm = np.sqrt(total)
    finite = np.isfinite(err_norm) & np.all(np.isfinite(y_new), axis=0)
    accept = running & finite & (err_norm <= 1.0)
    np.copyto(y, y_new, where=accept)
    np.copyto(kf[0], kf[6], where=accept)
    np.copyto(ks[0], ks[6], where=accept)
    work.last_h = np.where(accept & (h_next < t1 - t), h, work.last_h)  # accepted, not cut short by t1
    work.t = np.where(accept, np.where(t + h >= t1 - end_tol, t1, t + h), t)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(err_norm == 0.0, 10.0, 0.9 * err_norm ** -0.2)
    factor = np.where(finite, np.clip(factor, 0.2, 10.0), 0.2)
    factor = np.where(accept, factor, np.minimum(factor, 1.0))
    work.h = np.where(running, h * factor, h_next)
    work.steps += running
    too_many = work.steps > settings.max_steps
    failed = running & ((work.h < MIN_STEP_H) | too_many)
    if failed.any():
        cause = np.where(too_many, SolverStatus.MAX_STEPS, np.where(finite, SolverStatus.STEP_TOO_SMALL, SolverStatus.NON_FINITE))
        work.status[failed] = cause[failed]
