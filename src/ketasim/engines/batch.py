"""The fast engine for many arms at once: every patient of every arm in one working set.

`solve_fast_batch` solves several (ArmModel, output times, initial states) problems that share
the mechanism parameters in one vectorised loop, so numpy's per-call overhead is paid once per
step for all of them instead of once per arm. It runs the algorithm of `engines.fast.solve_fast`
per patient: the same stops (output times and segment boundaries), the same step-size rules at
every stop (a new interval starts with min(h, t1 - t0) and at most the last step accepted in full,
stage 0 evaluated afresh), the same session jumps and the same Lawson-DOPRI5 step, with t1, the
segment and its PK exposure kept per patient. Every operation is the same elementwise operation
on the same operands (the PK exposure of patients whose systems have the same number of modes
goes through the same einsum as `ExposureTerms.ratio_sums`), so a patient's numbers are
bit-identical to `solve_fast`'s.

Used by the calibration's prepared trial set (`trials.calibration_set`); `run_trial` keeps `solve_fast`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ketasim.engines.common import Solution, SolverSettings, SolverStatus, checked_times, start_indices
from ketasim.engines.dopri import FACTOR_C, FIRST_STEP_H, MIN_STEP_H, A, B, C, E, fast_states
from ketasim.engines.fast import COMPACT_BELOW, SESSION_STATE, combine_stages
from ketasim.model import mechanism
from ketasim.model.arm import ArmModel
from ketasim.model.drugs import SERT_MAX_OCCUPANCY
from ketasim.model.mechanism import N_EXPOSURE, N_STATES
from ketasim.model.namespace import NUMPY
from ketasim.model.patient import PATIENT_FIELDS

__all__ = ["solve_fast_batch"]

_A_ROWS = [np.array(row) for row in A]


@dataclass
class _Exposure:
    """Patients whose k-th PK system (slot k) has M modes: their ExposureTerms rows, patients first.

    patients: batch numbers (Q,); eigenvalues (Q, M); rows (Q, 3, M); the coefficients (R, M) and
    particular parts (R, 4) of every segment, row first_row + local segment x stride for a patient;
    coefficients and particular of the segment each patient is in now (Q, M) and (Q, 4).
    """

    slot: int
    patients: np.ndarray
    eigenvalues: np.ndarray
    rows: np.ndarray
    all_coefficients: np.ndarray
    all_particular: np.ndarray
    first_row: np.ndarray
    stride: np.ndarray
    coefficients: np.ndarray
    particular: np.ndarray
    member: np.ndarray  # (P,) row of each batch patient in this group, -1 if not in it


@dataclass
class _Layout:
    """Every problem flattened: per patient (P,), per stop (L,), per segment of every problem."""

    group: np.ndarray
    local: np.ndarray
    first_stop: np.ndarray
    end_stop: np.ndarray
    stop_time: np.ndarray
    stop_segment: np.ndarray  # global segment the interval ending at this stop lies in
    stop_closes_segment: np.ndarray  # the stop is its segment's end (the next segment starts after it)
    stop_out_lo: np.ndarray  # output rows [lo, hi) of the times hit by this stop
    stop_out_hi: np.ndarray
    seg_offset: np.ndarray  # per problem: its first global segment
    out_offset: np.ndarray  # per problem: its first row in the flat outputs (T x n rows)
    n_of: np.ndarray  # per patient: its problem's patient count
    seg_start: np.ndarray  # per global segment
    seg_jump: np.ndarray
    seg_in_care: np.ndarray


def _layout(models: Sequence[ArmModel], times: Sequence[np.ndarray]) -> _Layout:
    sizes = np.array([m.n_patients for m in models], dtype=np.int64)
    p_off = np.concatenate([[0], np.cumsum(sizes)])
    group = np.repeat(np.arange(len(models)), sizes)
    local = np.arange(int(p_off[-1])) - p_off[group]
    stop_time, stop_seg, stop_close, out_lo, out_hi = [], [], [], [], []
    first_stop = np.zeros(len(models), dtype=np.int64)
    end_stop = np.zeros(len(models), dtype=np.int64)
    seg_offset, out_offset = [], []
    seg_start, seg_jump, seg_in_care = [], [], []
    n_stops, n_segs, n_out = 0, 0, 0
    for g, (model, t) in enumerate(zip(models, times, strict=True)):
        b = model.boundaries
        first_stop[g] = n_stops
        seg_offset.append(n_segs)
        out_offset.append(n_out)
        for k in range(len(b) - 1):
            inside = t[(t > b[k]) & (t < b[k + 1])]
            for stop in np.unique(np.concatenate([inside, [b[k + 1]]])):
                hit = np.nonzero(np.abs(t - stop) <= 1e-12)[0]
                stop_time.append(float(stop))
                stop_seg.append(n_segs + k)
                stop_close.append(stop == b[k + 1])
                out_lo.append(hit[0] if hit.size else 0)
                out_hi.append(hit[-1] + 1 if hit.size else 0)
                n_stops += 1
            seg_start.append(float(b[k]))
            seg_jump.append(float(model.session_jumps[k]))
            seg_in_care.append(float(model.in_care[min(k, len(model.in_care) - 1)]))
        end_stop[g] = n_stops
        n_segs += len(b) - 1
        n_out += len(t) * model.n_patients
    return _Layout(group, local, first_stop[group], end_stop[group], np.array(stop_time),
                   np.array(stop_seg, dtype=np.int64), np.array(stop_close, dtype=bool), np.array(out_lo, dtype=np.int64),
                   np.array(out_hi, dtype=np.int64), np.array(seg_offset, dtype=np.int64),
                   np.array(out_offset, dtype=np.int64), sizes[group], np.array(seg_start), np.array(seg_jump),
                   np.array(seg_in_care))


def _exposures(models: Sequence[ArmModel]) -> list[_Exposure]:
    """The exposure groups, slot by slot (a patient's systems are summed in its arm's order)."""
    parts: dict[tuple[int, int], list] = {}
    offset = 0
    for model in models:
        n, n_seg = model.n_patients, len(model.boundaries) - 1
        for slot, terms in enumerate(model.exposure_terms):
            modes = terms.eigenvalues.shape[1]
            coef = np.concatenate([np.asarray(terms.coefficients[k]) for k in range(n_seg)]) if n_seg else np.zeros((0, modes))
            part = np.concatenate([np.asarray(terms.particular[k]) for k in range(n_seg)]) if n_seg else np.zeros((0, N_EXPOSURE))
            parts.setdefault((slot, modes), []).append((offset + np.arange(n), terms, coef, part, n))
        offset += n
    out = []
    for (slot, _), items in sorted(parts.items()):
        patients = np.concatenate([i[0] for i in items])
        sizes = [i[2].shape[0] for i in items]
        row_offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        first_row = np.concatenate([off + np.arange(i[4]) for off, i in zip(row_offset, items, strict=True)])
        stride = np.concatenate([np.full(i[4], i[4], dtype=np.int64) for i in items])
        member = np.full(offset, -1, dtype=np.int64)
        member[patients] = np.arange(patients.size)
        eig = np.concatenate([i[1].eigenvalues for i in items])
        out.append(_Exposure(slot, patients, eig, np.ascontiguousarray(np.concatenate([i[1].rows for i in items])),
                             np.concatenate([i[2] for i in items]), np.concatenate([i[3] for i in items]), first_row,
                             stride, np.zeros_like(eig), np.zeros((patients.size, N_EXPOSURE)), member))
    return out


#: one exposure group as a computation sees it: (positions among the patients computed, eigenvalues,
#: rows, coefficients, particular), each for those patients
_Terms = tuple[np.ndarray | slice, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _terms_of(exposures: list[_Exposure], patients: np.ndarray) -> list[_Terms]:
    """The exposure of batch patients `patients` (in that order), group by group."""
    out = []
    for ex in exposures:
        rows = ex.member[patients]
        pos = np.nonzero(rows >= 0)[0]
        if pos.size:
            r = rows[pos]
            # a contiguous run of positions (problems sorted by their systems) is a view, not a gather
            where = slice(int(pos[0]), int(pos[-1]) + 1) if pos[-1] - pos[0] + 1 == pos.size else pos
            out.append((where, ex.eigenvalues[r], ex.rows[r], ex.coefficients[r], ex.particular[r]))
    return out


class _Set:
    """The working set: patients `idx` (batch numbers) and their copies, patients last (y is (m, W)).

    Per patient: t, h, last_h, t1, end tolerance, status, steps, the current segment's start and
    in-care flag, the PK exposure terms and the patient fields; `live`: still stepping (status OK,
    stops left). Stages as engines.fast._Work: kf (7, nf, W) with the integrating factor, ks the others.
    """

    def __init__(self, batch: _Batch, idx: np.ndarray) -> None:
        self.idx = idx
        nf = batch.nf
        self.y = batch.y[:, idx]
        self.t, self.h, self.last_h = batch.t[idx], batch.h[idx], batch.last_h[idx]
        self.t1, self.end_tol = batch.t1[idx], batch.end_tol[idx]
        self.status, self.steps = batch.status[idx], batch.steps[idx]
        self.seg_start, self.in_care = batch.seg_start[idx], batch.in_care[idx]
        self.terms = _terms_of(batch.exposures, idx)
        self.patient = {k: v[idx] for k, v in batch.patient.items()}
        m, w = self.y.shape
        self.kf = np.empty((7, nf, w))
        self.ks = np.empty((7, m - nf, w))
        self.kf[0], self.ks[0] = batch.kf0[:, idx], batch.ks0[:, idx]
        self.factors = {c: np.empty((nf, w)) for c in FACTOR_C}
        self.products = np.empty((6, nf, w))
        self.acc, self.y_new, self.err = np.empty((m, w)), np.empty((m, w)), np.empty((m, w))
        self.tmp_f, self.sum_f = np.empty((nf, w)), np.empty((nf, w))
        self.tmp_s, self.sum_s = np.empty((m - nf, w)), np.empty((m - nf, w))
        self.live = (self.status == SolverStatus.OK) & (batch.stop[idx] < batch.layout.end_stop[idx])

    def refresh(self, batch: _Batch, pos: np.ndarray) -> None:
        """Take again from the batch what its stop bookkeeping changed for the patients at positions `pos`."""
        at = self.idx[pos]
        self.y[:, pos] = batch.y[:, at]
        self.t[pos], self.h[pos], self.last_h[pos] = batch.t[at], batch.h[at], batch.last_h[at]
        self.t1[pos], self.end_tol[pos] = batch.t1[at], batch.end_tol[at]
        self.seg_start[pos], self.in_care[pos] = batch.seg_start[at], batch.in_care[at]
        self.kf[0][:, pos], self.ks[0][:, pos] = batch.kf0[:, at], batch.ks0[:, at]
        self.live[pos] = batch.stop[at] < batch.layout.end_stop[at]
        changed = np.zeros(self.idx.size, dtype=bool)
        changed[pos] = True
        for own, ex in zip(self.terms, _terms_for(batch.exposures, self.idx, self.terms), strict=True):
            which = np.nonzero(changed[own[0]])[0]
            if which.size:
                rows = ex.member[self.idx[own[0]][which]]
                own[3][which] = ex.coefficients[rows]
                own[4][which] = ex.particular[rows]

    def give_back(self, batch: _Batch, pos: np.ndarray | slice = slice(None)) -> None:
        """Scatter the patients at positions `pos` back into the batch."""
        at = self.idx[pos]
        batch.y[:, at] = self.y[:, pos]
        batch.t[at], batch.h[at], batch.last_h[at] = self.t[pos], self.h[pos], self.last_h[pos]
        batch.status[at], batch.steps[at] = self.status[pos], self.steps[pos]
        batch.kf0[:, at], batch.ks0[:, at] = self.kf[0][:, pos], self.ks[0][:, pos]


def _terms_for(exposures: list[_Exposure], idx: np.ndarray, terms: list[_Terms]) -> list[_Exposure]:
    """The exposure groups that `terms` (from _terms_of(exposures, idx)) were taken from, in order."""
    present = [ex for ex in exposures if (ex.member[idx] >= 0).any()]
    assert len(present) == len(terms)
    return present


def _rates(t: np.ndarray, y: np.ndarray, seg_start: np.ndarray, in_care: np.ndarray, terms: list[_Terms],
           patient: dict[str, np.ndarray], params: dict[str, float]) -> np.ndarray:
    """dy/dt (m, W) at times t (W,) for states y (m, W): ArmModel.rhs with per-patient segments.

    The exposure sum(C/K) as ArmModel.occupancy: zeros, plus each system's ExposureTerms.ratio_sums in
    the arm's order (the same einsum on the same mode count).
    """
    tau = (t - seg_start)[:, None]
    sums = np.zeros((t.shape[0], N_EXPOSURE))
    for pos, eig, rows, coef, part in terms:
        z = coef * np.exp(eig * tau[pos])
        sums[pos] += np.einsum("pkj,pj->pk", rows, z) + part
    occ = mechanism.occupancy(NUMPY, sums[:, 0], sums[:, 1], sums[:, 2], SERT_MAX_OCCUPANCY.value, in_care, sums[:, 3])
    f = np.empty_like(y)
    for i, rate in enumerate(mechanism.vector_field(NUMPY, t, y, occ, patient, params)):
        f[i] = rate
    return f


class _Batch:
    """All patients of all problems: the whole-batch arrays (patients last) and the stop bookkeeping."""

    def __init__(self, models: Sequence[ArmModel], times: Sequence[np.ndarray], y0: Sequence[np.ndarray],
                 settings: SolverSettings) -> None:
        self.layout = lay = _layout(models, times)
        self.exposures = _exposures(models)
        self.params = models[0].params
        self.decay = models[0].decay
        for model in models[1:]:
            if not np.array_equal(model.decay, self.decay) or model.params != self.params:
                raise ValueError("solve_fast_batch: every problem must share the mechanism parameters")
        self.nf = fast_states(self.decay)
        self.decay_f = self.decay[:self.nf, None]
        self.settings = settings
        n = lay.group.size
        self.y = np.ascontiguousarray(np.concatenate([np.asarray(v, dtype=float) for v in y0], axis=0).T)
        self.patient = {k: np.concatenate([np.asarray(m.patient[k], dtype=float) for m in models]) for k in PATIENT_FIELDS}
        self.outputs = np.full((int(sum(len(t) * m.n_patients for m, t in zip(models, times, strict=True))), N_STATES),
                               np.nan)
        self.status = np.zeros(n, dtype=int)
        self.steps = np.zeros(n, dtype=int)
        self.h = np.full(n, FIRST_STEP_H)
        self.t = np.zeros(n)
        self.t1 = np.zeros(n)
        self.end_tol = np.zeros(n)
        self.last_h = np.full(n, np.nan)
        self.stop = lay.first_stop.copy()
        self.seg_start = np.zeros(n)
        self.in_care = np.zeros(n)
        self.kf0 = np.zeros((self.nf, n))
        self.ks0 = np.zeros((N_STATES - self.nf, n))

    def enter_segment(self, p: np.ndarray, segment: np.ndarray) -> None:
        """Patients p enter global segment `segment`: session jump, segment start, care, PK coefficients."""
        lay = self.layout
        self.y[SESSION_STATE, p] = mechanism.after_session(self.y[SESSION_STATE, p], lay.seg_jump[segment])
        self.seg_start[p] = lay.seg_start[segment]
        self.in_care[p] = lay.seg_in_care[segment]
        local_segment = segment - lay.seg_offset[lay.group[p]]
        for ex in self.exposures:
            rows = ex.member[p]
            sel = rows >= 0
            if sel.any():
                r = rows[sel]
                src = ex.first_row[r] + local_segment[sel] * ex.stride[r]
                ex.coefficients[r] = ex.all_coefficients[src]
                ex.particular[r] = ex.all_particular[src]

    def start_interval(self, p: np.ndarray, t0: np.ndarray) -> None:
        """Patients p start the interval from t0 to their current stop (as the start of engines.fast._advance)."""
        t1 = self.layout.stop_time[self.stop[p]]
        self.t1[p] = t1
        self.h[p] = np.minimum(self.h[p], t1 - t0)
        self.last_h[p] = np.nan
        self.t[p] = t0
        self.end_tol[p] = 1e-12 * np.maximum(1.0, np.abs(t1))
        y = self.y[:, p]
        f = _rates(self.t[p], y, self.seg_start[p], self.in_care[p], _terms_of(self.exposures, p),
                   {k: v[p] for k, v in self.patient.items()}, self.params)
        nf = self.nf
        kf = np.empty((nf, p.size))
        np.multiply(self.decay_f, y[:nf], out=kf)
        np.subtract(f[:nf], kf, out=kf)
        self.kf0[:, p] = kf
        self.ks0[:, p] = f[nf:]

    def arrive(self, p: np.ndarray) -> np.ndarray:
        """Patients p (status OK) reached their current stop: record outputs, move on; returns those that go on."""
        lay = self.layout
        stop = self.stop[p]
        lo, hi = lay.stop_out_lo[stop], lay.stop_out_hi[stop]
        base = lay.out_offset[lay.group[p]] + lay.local[p]
        n = lay.n_of[p]
        for extra in range(int(np.max(hi - lo, initial=0))):
            hit = hi - lo > extra
            self.outputs[(base + (lo + extra) * n)[hit]] = self.y[:, p[hit]].T
        # the next interval starts with at most the last step accepted in full (engines.fast._advance)
        last = self.last_h[p]
        self.h[p] = np.where(np.isnan(last), self.h[p], np.minimum(self.h[p], last))
        t0 = lay.stop_time[stop]
        self.stop[p] = stop + 1
        going = self.stop[p] < lay.end_stop[p]
        p, t0, closes, segment = p[going], t0[going], lay.stop_closes_segment[stop][going], lay.stop_segment[stop][going]
        if closes.any():
            self.enter_segment(p[closes], segment[closes] + 1)
        if p.size:
            self.start_interval(p, t0)
        return p


def solve_fast_batch(models: Sequence[ArmModel], times_h: Sequence[np.ndarray], y0: Sequence[np.ndarray],
                     settings: SolverSettings = SolverSettings()) -> list[Solution]:
    """`engines.fast.solve_fast` for every (model, times, y0) at once; models must share their parameters.

    Returns one Solution per problem, bit-identical to solve_fast's (see the module).
    """
    if not models:
        return []
    # problems with the same PK systems next to each other: their exposure is computed on views
    order = sorted(range(len(models)), key=lambda g: tuple(t.eigenvalues.shape[1] for t in models[g].exposure_terms))
    solutions = _solve([models[g] for g in order], [times_h[g] for g in order], [y0[g] for g in order], settings)
    out: list[Solution] = [solutions[0]] * len(models)
    for k, g in enumerate(order):
        out[g] = solutions[k]
    return out


def _solve(models: Sequence[ArmModel], times_h: Sequence[np.ndarray], y0: Sequence[np.ndarray],
           settings: SolverSettings) -> list[Solution]:
    times = [checked_times(m, t) for m, t in zip(models, times_h, strict=True)]
    batch = _Batch(models, times, y0, settings)
    lay = batch.layout
    n = lay.group.size
    if n:
        everyone = np.arange(n)
        first_segment = lay.seg_offset[lay.group]
        batch.enter_segment(everyone, first_segment)
        batch.start_interval(everyone, lay.seg_start[first_segment])
        _run(batch)
    out = []
    for g, (model, t) in enumerate(zip(models, times, strict=True)):
        m = model.n_patients
        sel = lay.group == g
        states = batch.outputs[lay.out_offset[g]:lay.out_offset[g] + len(t) * m].reshape(len(t), m, N_STATES).copy()
        states[start_indices(model, t)] = y0[g]
        status = batch.status[sel].copy()
        states[:, status != SolverStatus.OK] = np.nan
        out.append(Solution(t, states, status, batch.steps[sel].copy()))
    return out


def _run(batch: _Batch) -> None:
    """Step every patient through all its stops."""
    work = _Set(batch, np.arange(batch.layout.group.size))
    while True:
        running = work.live & (work.t < work.t1 - work.end_tol)
        arrived = np.nonzero(work.live & ~running)[0]
        if arrived.size:
            work.give_back(batch, arrived)
            going = batch.arrive(work.idx[arrived])
            while going.size:  # a new interval already over (shorter than the end tolerance)
                over = going[~(batch.t[going] < batch.t1[going] - batch.end_tol[going])]
                going = batch.arrive(over) if over.size else over
            work.refresh(batch, arrived)
            continue
        count = int(np.count_nonzero(running))
        if count == 0:
            break
        if count < COMPACT_BELOW * running.size:
            work.give_back(batch)
            work = _Set(batch, work.idx[running])
            running = np.ones(count, dtype=bool)
        _step(work, running, batch)
        work.live &= work.status == SolverStatus.OK
    work.give_back(batch)


def _step(work: _Set, running: np.ndarray, batch: _Batch) -> None:
    """engines.fast._step with per-patient t1, end tolerance and segment."""
    settings, decay_f = batch.settings, batch.decay_f
    y, t, nf = work.y, work.t, batch.nf
    t1, end_tol = work.t1, work.end_tol
    h_next = work.h
    h = np.where(running, np.minimum(work.h, t1 - t), 0.0)
    factors, products, kf, ks, acc = work.factors, work.products, work.kf, work.ks, work.acc
    tmp_f, tmp_s, sum_f, sum_s = work.tmp_f, work.tmp_s, work.sum_f, work.sum_s
    for c, factor in factors.items():
        np.multiply(decay_f, c * h, out=factor)
        np.exp(factor, out=factor)

    def one(c: float) -> np.ndarray | float:
        return factors[c] if c != 0.0 else 1.0

    def stage(j: int, tt: np.ndarray, yy: np.ndarray) -> None:
        f = _rates(tt, yy, work.seg_start, work.in_care, work.terms, work.patient, batch.params)
        np.multiply(decay_f, yy[:nf], out=kf[j])
        np.subtract(f[:nf], kf[j], out=kf[j])
        ks[j] = f[nf:]

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
        stage(j, t + C[j] * h, acc)
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
    stage(6, t + h, y_new)
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
    work.last_h = np.where(accept & (h_next < t1 - t), h, work.last_h)
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
