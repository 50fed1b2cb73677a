"""The fast engine for many arms at once, compiled: `engines.batch.solve_fast_batch` as one JAX loop.

`solve_jax_batch` solves several (ArmModel, output times, initial states) problems that share the
mechanism parameters, like `engines.batch.solve_fast_batch`, with the same algorithm per patient:
the integrating-factor Dormand-Prince 5(4) of `engines.fast` with its own step size, the same stops
(output times and segment ends), the same step-size rules at every stop (min(h, t1 - t0) and at most
the last step accepted in full, stage 0 evaluated afresh), the same session jumps. The difference is
where the loop runs: stops, segment switches, output recording and the steps of every patient are
one `jax.lax.while_loop` compiled by XLA, so there is no Python work per step.

Layout: every patient carries its own pointer into a flat table of stops (per arm) and of PK
segments (per patient: modal coefficients and particular exposure of all its PK systems side by
side, padded to the largest mode count with zero terms), so arms with different regimens, PK
systems and lengths share one working set. A patient that reaches a stop records its state, moves
to the next stop (entering the next segment: session jump, that segment's PK), and spends one
iteration on its new stage 0, computed in the slot of the first stage evaluation of the others.

Compaction: the loop returns when fewer than half of its slots still run; the host then gathers the
running patients into the next smaller width (powers of two, at least MIN_WIDTH), so long arms do
not keep every finished patient in the computation. Shapes are padded (widths and tables to powers
of two) so that evaluation after evaluation of a calibration reuses the same compiled loops
(`COMPILED`; `last_timing` holds the compile and run seconds of the latest solve).

Numbers agree with the numpy engines to round-off (XLA's exp and fused arithmetic differ in the
last bits, and the exposure sums all systems' modes in one sum), not bit for bit; the steps taken are
the same. float64 throughout.

Speed on a CPU (measured, 2 shared cores, calibration set of 22 files): where few patients share a
step (10 per arm) it is about 3x faster than `engines.batch`, which pays numpy's per-call overhead
at every step; at 150 patients per arm it is 2-3x slower: the work is then arithmetic, not overhead,
and XLA's float64 exp and pow on this CPU cost about 6x and 2x numpy's AVX-512 ones, the PK exposure
is padded to the largest mode count, and a patient starting an interval idles one iteration.
Compiling takes a few seconds per loop width (about 2.5 min for the 8 widths of the 150-patient set,
once per process). It is the starting point for a GPU and for derivatives (forward mode through the
loop); `trials.calibration_set.CalibrationSet(engine="jax")` uses it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ketasim.engines.common import Solution, SolverSettings, SolverStatus, checked_times, start_indices
from ketasim.engines.dopri import FACTOR_C, FIRST_STEP_H, MIN_STEP_H, A, B, C, E, fast_states
from ketasim.engines.jax_engine import PD_PATIENT_FIELDS, pd_rhs, x64
from ketasim.model import mechanism
from ketasim.model.arm import ArmModel
from ketasim.model.mechanism import IDX, N_EXPOSURE, N_STATES

__all__ = ["COMPILED", "MIN_WIDTH", "last_timing", "solve_jax_batch"]

#: the smallest working-set width (patients per loop); below it the loop runs to the end
MIN_WIDTH = 64
#: compiled loops by argument shapes (one per width and table size)
COMPILED: dict[tuple, Any] = {}
COMPILED_MAX = 64
#: the latest solve_jax_batch: compile_s, run_s, total_s, compiled (whether it compiled), patients and
#: loops: (width, iterations) of every call of a compiled loop
last_timing: dict[str, Any] = {}

SESSION = IDX["session_expectancy"]
_OK = int(SolverStatus.OK)


def _pow2(n: int, least: int = 1) -> int:
    return max(least, 1 << max(int(n) - 1, 0).bit_length())


def _combine(weights: Sequence[float] | np.ndarray, stages: list) -> jax.Array:
    """sum_l weights[l] * stages[l] term by term, zero weights skipped (as engines.fast)."""
    terms = [stage * float(w) for w, stage in zip(weights, stages, strict=False) if w != 0.0]
    out = terms[0]
    for term in terms[1:]:
        out = out + term
    return out


#: the step's integrating-factor multiples c: 0 first, then FACTOR_C
_FACTOR_ROWS = np.array((0.0, *FACTOR_C))
#: stage rows j = 1..6 (6: the solution): the weights a_ji (b_i for j = 6), the node c_j (1 for the
#: solution), the factor row of c_j and of c_j - c_i (0 where the weight is 0 or c_j = c_i)
_WEIGHTS = np.zeros((7, 6))
_NODES = np.zeros(7)
_NODE = np.zeros(7, dtype=np.int64)
_COUPLING = np.zeros((7, 6), dtype=np.int64)


def _factor_row(c: float) -> int:
    return 0 if c == 0.0 else 1 + FACTOR_C.index(c)


for _j in range(1, 7):
    _c = float(C[_j]) if _j < 6 else 1.0
    _NODES[_j], _NODE[_j] = _c, _factor_row(_c)
    for _i in range(6):
        _w = (A[_j][_i] if _i < _j else 0.0) if _j < 6 else float(B[_i])
        _WEIGHTS[_j, _i] = _w
        _COUPLING[_j, _i] = _factor_row(float(_c - C[_i])) if _w != 0.0 or _j == 6 else 0


# ---- the compiled loop ------------------------------------------------------------------------------

def _loop(carry: dict, const: dict, tables: dict, shared: dict) -> dict:
    """Step every patient of the working set through its stops until fewer than half of them still run."""
    decay, decay_f = shared["decay"], shared["decay_f"]
    factor_c, coupling, node = jnp.asarray(_FACTOR_ROWS), jnp.asarray(_COUPLING), jnp.asarray(_NODE)
    weights, nodes = jnp.asarray(_WEIGHTS), jnp.asarray(_NODES)
    rtol, atol, max_steps = shared["rtol"], shared["atol"], shared["max_steps"]
    width = carry["t"].shape[0]
    keep_going_above = 0 if width <= MIN_WIDTH else width // 2
    stop_time, stop_closes, stop_rec = tables["stop_time"], tables["stop_closes"], tables["stop_rec"]
    n_stops, n_rows, dummy = stop_time.shape[0], tables["seg_start"].shape[0], carry["outputs"].shape[0] - 1
    arm = {"patient": const["patient"], "params": shared["params"]}

    def live_of(c: dict) -> jax.Array:
        return (c["status"] == _OK) & (c["stop"] < const["end_stop"])

    def cond(c: dict) -> jax.Array:
        count = jnp.sum(live_of(c))
        return (count > 0) & (count > keep_going_above)

    def body(c: dict) -> dict:
        y, f0, t, h, last_h, t1, end_tol = c["y"], c["f0"], c["t"], c["h"], c["last_h"], c["t1"], c["end_tol"]
        status, steps, stop, seg, pending = c["status"], c["steps"], c["stop"], c["seg"], c["pending"]
        live = live_of(c)
        # ---- patients at their stop: record, move on (engines.batch._Batch.arrive) ----
        arrived = live & ~pending & ~(t < t1 - end_tol)
        at = jnp.clip(stop, 0, n_stops - 1)
        rec = stop_rec[at]
        outputs = c["outputs"].at[jnp.where(arrived & (rec >= 0), const["rec_base"] + rec, dummy)].set(y)
        h = jnp.where(arrived & ~jnp.isnan(last_h), jnp.minimum(h, last_h), h)
        t0, closes = stop_time[at], stop_closes[at]
        stop = jnp.where(arrived, stop + 1, stop)
        going = arrived & (stop < const["end_stop"])
        enter = going & closes
        seg = jnp.where(enter, seg + 1, seg)
        row = jnp.clip(seg, 0, n_rows - 1)
        session = jnp.where(enter, mechanism.after_session(y[:, SESSION], tables["seg_jump"][row]), y[:, SESSION])
        y = y.at[:, SESSION].set(session)
        coef = jnp.where(enter[:, None], tables["coef"][row], c["coef"])
        part = jnp.where(enter[:, None], tables["part"][row], c["part"])
        seg_start = jnp.where(enter, tables["seg_start"][row], c["seg_start"])
        in_care = jnp.where(enter, tables["in_care"][row], c["in_care"])
        new_t1 = stop_time[jnp.clip(stop, 0, n_stops - 1)]
        t1 = jnp.where(going, new_t1, t1)
        h = jnp.where(going, jnp.minimum(h, new_t1 - t0), h)
        last_h = jnp.where(going, jnp.nan, last_h)
        t = jnp.where(going, t0, t)
        end_tol = jnp.where(going, 1e-12 * jnp.maximum(1.0, jnp.abs(new_t1)), end_tol)
        pending = pending | going
        # ---- one Lawson-DOPRI5 attempt for the running patients (engines.fast._step) ----
        running = live & ~pending & (t < t1 - end_tol)
        seg_arrays = {"systems": ((coef, part),), "in_care": in_care}
        arm_arrays = {**arm, "systems": ((const["eigenvalues"], const["rows"]),)}

        def nonlinear(tt: jax.Array, yy: jax.Array) -> jax.Array:
            return pd_rhs(tt, yy, seg_start, seg_arrays, arm_arrays) - decay * yy

        h_next = h
        h = jnp.where(running, jnp.minimum(h, t1 - t), 0.0)
        hc = h[:, None]
        # exp(decay * c * h) for c in _FACTOR_ROWS (row 0: c = 0, exactly 1); the states without the
        # integrating factor have decay 0, so their factors are exactly 1 and are not computed
        fast = jnp.exp(decay_f[None, :, None] * (factor_c[:, None, None] * h[None, None, :]))  # (F, nf, W)
        factors = jnp.concatenate([fast, jnp.ones((factor_c.shape[0], y.shape[1] - decay_f.shape[0], width))], axis=1)
        factors = jnp.swapaxes(factors, 1, 2)  # (F, W, m)

        def stage(j: jax.Array, k: dict) -> dict:
            """Stage j (1..6; 6 is the solution and its FSAL rate): its start value and rate."""
            ks = k["ks"]
            total = jnp.zeros_like(y)
            for i in range(6):  # term by term in engines.fast's order; zero weights add exactly nothing
                weight = weights[j, i]
                term = (factors[coupling[j, i]] * ks[i]) * weight
                total = jnp.where(weight != 0.0, total + term, total)
            acc = factors[node[j]] * y + total * hc
            acc = jnp.where((pending & (j == 1))[:, None], y, acc)  # starting an interval: stage 0 at (t0, y)
            rate = nonlinear(t + nodes[j] * h, acc)
            return {"ks": ks.at[j].set(rate), "y_new": jnp.where(j == 6, acc, k["y_new"])}

        k = jax.lax.fori_loop(1, 7, stage, {"ks": jnp.zeros((7, *y.shape)).at[0].set(f0), "y_new": y})
        ks, y_new = k["ks"], k["y_new"]
        f_new = ks[6]
        err = jnp.zeros_like(y)
        first = True
        for i in range(7):  # as engines.fast: sum of E_i x (factor(1 - c_i) k_i), the last stage as it is
            if E[i] == 0.0:
                continue
            term = (factors[coupling[6, i]] * ks[i] if i < 6 else ks[6]) * float(E[i])
            err = term if first else err + term
            first = False
        err = err * hc
        scale = jnp.maximum(jnp.abs(y), jnp.abs(y_new)) * rtol + atol
        ratio = (err / scale) ** 2
        total = ratio[:, 0]
        for i in range(1, ratio.shape[1]):  # summed state by state, in engines.fast's order
            total = total + ratio[:, i]
        err_norm = jnp.sqrt(total / ratio.shape[1])
        finite = jnp.isfinite(err_norm) & jnp.all(jnp.isfinite(y_new), axis=1)
        accept = running & finite & (err_norm <= 1.0)
        y = jnp.where(accept[:, None], y_new, y)
        f0 = jnp.where(pending[:, None], ks[1], jnp.where(accept[:, None], f_new, f0))
        last_h = jnp.where(accept & (h_next < t1 - t), h, last_h)
        t = jnp.where(accept, jnp.where(t + h >= t1 - end_tol, t1, t + h), t)
        grow = jnp.where(err_norm == 0.0, 10.0, 0.9 * err_norm ** -0.2)
        grow = jnp.where(finite, jnp.clip(grow, 0.2, 10.0), 0.2)
        grow = jnp.where(accept, grow, jnp.minimum(grow, 1.0))
        h = jnp.where(running, h * grow, h_next)
        steps = steps + running
        too_many = steps > max_steps
        failed = running & ((h < MIN_STEP_H) | too_many)
        cause = jnp.where(too_many, int(SolverStatus.MAX_STEPS),
                          jnp.where(finite, int(SolverStatus.STEP_TOO_SMALL), int(SolverStatus.NON_FINITE)))
        status = jnp.where(failed, cause, status)
        return {"y": y, "f0": f0, "t": t, "h": h, "last_h": last_h, "t1": t1, "end_tol": end_tol, "status": status,
                "steps": steps, "stop": stop, "seg": seg, "pending": jnp.zeros_like(pending), "coef": coef,
                "part": part, "seg_start": seg_start, "in_care": in_care, "outputs": outputs,
                "iterations": c["iterations"] + 1}

    return jax.lax.while_loop(cond, body, carry)


def _compiled(args: tuple) -> tuple[Any, float]:
    leaves, treedef = jax.tree_util.tree_flatten(args)
    key = (str(treedef), tuple((leaf.shape, str(leaf.dtype)) for leaf in leaves))
    if key in COMPILED:
        return COMPILED[key], 0.0
    start = time.perf_counter()
    compiled = jax.jit(_loop, donate_argnums=(0,)).lower(*args).compile()
    if len(COMPILED) >= COMPILED_MAX:
        COMPILED.pop(next(iter(COMPILED)))
    COMPILED[key] = compiled
    return compiled, time.perf_counter() - start


# ---- host side --------------------------------------------------------------------------------------

class _Problems:
    """Every problem flattened into per-patient arrays and the stop and segment tables (numpy)."""

    def __init__(self, models: Sequence[ArmModel], times: Sequence[np.ndarray], y0: Sequence[np.ndarray]) -> None:
        self.n = n = int(sum(m.n_patients for m in models))
        self.modes = max([sum(t.eigenvalues.shape[1] for t in m.exposure_terms) for m in models] + [1])
        k_modes = self.modes
        stop_time, stop_closes, stop_rec = [], [], []
        self.hits: list[list[np.ndarray]] = []  # per problem, per recorded stop: the output indices it fills
        first_stop, end_stop, rec_base, seg_base = (np.zeros(n, dtype=np.int64) for _ in range(4))
        seg_rows = int(sum(m.n_patients * (len(m.boundaries) - 1) for m in models))
        self.coef = np.zeros((seg_rows, k_modes))
        self.part = np.zeros((seg_rows, N_EXPOSURE))
        self.seg_start = np.zeros(seg_rows)
        self.seg_jump = np.zeros(seg_rows)
        self.in_care = np.zeros(seg_rows)
        self.eigenvalues = np.zeros((n, k_modes))
        self.rows = np.zeros((n, N_EXPOSURE, k_modes))
        self.patient = {k: np.zeros(n) for k in PD_PATIENT_FIELDS}
        self.y0 = np.zeros((n, N_STATES))
        self.rec_offset: list[int] = []
        p, r, rec_total = 0, 0, 0
        for model, t, y in zip(models, times, y0, strict=True):
            count, b = model.n_patients, model.boundaries
            n_seg = len(b) - 1
            first = len(stop_time)
            hits = []
            for k in range(n_seg):
                inside = t[(t > b[k]) & (t < b[k + 1])]
                for stop in np.unique(np.concatenate([inside, [b[k + 1]]])):
                    hit = np.nonzero(np.abs(t - stop) <= 1e-12)[0]
                    stop_time.append(float(stop))
                    stop_closes.append(bool(stop == b[k + 1]))
                    stop_rec.append(len(hits) if hit.size else -1)
                    if hit.size:
                        hits.append(hit)
            self.hits.append(hits)
            sl = slice(p, p + count)
            first_stop[sl], end_stop[sl] = first, len(stop_time)
            self.rec_offset.append(rec_total)
            rec_base[sl] = rec_total + np.arange(count) * len(hits)
            rec_total += count * len(hits)
            seg_base[sl] = r + np.arange(count) * n_seg
            rows_here = np.arange(count)[:, None] * n_seg + np.arange(n_seg)[None, :] + r  # (patient, segment)
            self.seg_start[rows_here] = b[:-1][None, :]
            self.seg_jump[rows_here] = np.asarray(model.session_jumps[:n_seg])[None, :]
            in_care = np.array([model.in_care[min(k, len(model.in_care) - 1)] for k in range(n_seg)])
            self.in_care[rows_here] = in_care[None, :]
            col = 0
            for terms in model.exposure_terms:
                modes = terms.eigenvalues.shape[1]
                self.eigenvalues[sl, col:col + modes] = terms.eigenvalues
                self.rows[sl, :, col:col + modes] = terms.rows
                for k in range(n_seg):
                    self.coef[rows_here[:, k], col:col + modes] = terms.coefficients[k]
                    self.part[rows_here[:, k]] += terms.particular[k]
                col += modes
            for name in PD_PATIENT_FIELDS:
                self.patient[name][sl] = model.patient[name]
            self.y0[sl] = y
            p += count
            r += count * n_seg
        self.stop_time, self.stop_closes = np.array([*stop_time, 0.0]), np.array([*stop_closes, False])
        self.stop_rec = np.array([*stop_rec, -1], dtype=np.int64)
        self.first_stop, self.end_stop, self.rec_base, self.seg_base = first_stop, end_stop, rec_base, seg_base
        self.n_records = rec_total


def _padded_table(values: np.ndarray, rows: int, fill: float = 0.0) -> np.ndarray:
    out = np.full((rows, *values.shape[1:]), fill, dtype=values.dtype)
    out[:values.shape[0]] = values
    return out


def solve_jax_batch(models: Sequence[ArmModel], times_h: Sequence[np.ndarray], y0: Sequence[np.ndarray],
                    settings: SolverSettings = SolverSettings()) -> list[Solution]:
    """`engines.batch.solve_fast_batch` compiled with JAX on the CPU: one Solution per problem.

    Models must share their mechanism parameters. Agrees with solve_fast to round-off (see the module).
    """
    started = time.perf_counter()
    if not models:
        return []
    params, decay = models[0].params, models[0].decay
    for model in models[1:]:
        if not np.array_equal(model.decay, decay) or model.params != params:
            raise ValueError("solve_jax_batch: every problem must share the mechanism parameters")
    times = [checked_times(m, t) for m, t in zip(models, times_h, strict=True)]
    y0 = [np.asarray(v, dtype=float).reshape(m.n_patients, N_STATES) for m, v in zip(models, y0, strict=True)]
    prob = _Problems(models, times, y0)
    n = prob.n
    status = np.zeros(n, dtype=np.int64)
    steps = np.zeros(n, dtype=np.int64)
    records = np.full((prob.n_records + 1, N_STATES), np.nan)
    compile_s, loops = 0.0, []
    if n:
        records, compile_s, loops = _run(prob, params, decay, settings, status, steps)
    out = []
    p = 0
    for g, (model, t) in enumerate(zip(models, times, strict=True)):
        count = model.n_patients
        states = np.full((len(t), count, N_STATES), np.nan)
        hits = prob.hits[g]
        if hits:
            rec = records[prob.rec_offset[g]:prob.rec_offset[g] + count * len(hits)].reshape(count, len(hits), N_STATES)
            for r, hit in enumerate(hits):
                states[hit] = rec[:, r]
        states[start_indices(model, t)] = y0[g]
        sel = slice(p, p + count)
        ok = status[sel] == SolverStatus.OK
        states[:, ~ok] = np.nan
        out.append(Solution(t, states, status[sel].copy(), steps[sel].copy()))
        p += count
    total = time.perf_counter() - started
    last_timing.clear()
    last_timing.update(compile_s=compile_s, run_s=total - compile_s, total_s=total, loops=loops,
                       compiled=compile_s > 0.0, patients=n)
    return out


def _run(prob: _Problems, params: dict[str, float], decay: np.ndarray, settings: SolverSettings,
         status: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, float, list[tuple[int, int]]]:
    """Run the compiled loop width after width; fills status and steps; returns the records, the compile
    seconds and (width, iterations) of every loop."""
    n = prob.n
    seg_rows = _pow2(prob.coef.shape[0])
    stop_rows = _pow2(prob.stop_time.shape[0])
    decay_if = decay.copy()
    decay_if[fast_states(decay):] = 0.0
    first_row = prob.seg_base  # every patient starts in its first segment
    y = prob.y0.copy()
    y[:, SESSION] = mechanism.after_session(y[:, SESSION], prob.seg_jump[first_row])
    t0 = prob.seg_start[first_row]
    t1 = prob.stop_time[prob.first_stop]
    # per patient, host copies (numpy); the loop's carry and constants are gathered from them
    state = {
        "y": y, "f0": np.zeros((n, N_STATES)), "t": t0, "h": np.minimum(FIRST_STEP_H, t1 - t0),
        "last_h": np.full(n, np.nan), "t1": t1, "end_tol": 1e-12 * np.maximum(1.0, np.abs(t1)),
        "status": status, "steps": steps, "stop": prob.first_stop.copy(), "seg": first_row.copy(),
        "pending": np.ones(n, dtype=bool), "coef": prob.coef[first_row], "part": prob.part[first_row],
        "seg_start": t0.copy(), "in_care": prob.in_care[first_row],
    }
    const = {"end_stop": prob.end_stop, "rec_base": prob.rec_base, "eigenvalues": prob.eigenvalues, "rows": prob.rows,
             "patient": prob.patient}
    compile_s = 0.0
    loops: list[tuple[int, int]] = []
    with x64():
        tables = jax.device_put({
            "stop_time": _padded_table(prob.stop_time, stop_rows), "stop_closes": _padded_table(prob.stop_closes, stop_rows),
            "stop_rec": _padded_table(prob.stop_rec, stop_rows, -1), "seg_start": _padded_table(prob.seg_start, seg_rows),
            "seg_jump": _padded_table(prob.seg_jump, seg_rows), "in_care": _padded_table(prob.in_care, seg_rows),
            "coef": _padded_table(prob.coef, seg_rows), "part": _padded_table(prob.part, seg_rows)})
        shared = jax.device_put({"decay": decay_if, "decay_f": decay[:fast_states(decay)],
                                 "rtol": np.float64(settings.rtol), "atol": np.float64(settings.atol),
                                 "max_steps": np.int64(settings.max_steps),
                                 "params": {k: np.float64(v) for k, v in params.items()}})
        outputs = jnp.asarray(np.full((_pow2(prob.n_records + 1), N_STATES), np.nan))
        idx = np.arange(n)
        while idx.size:
            width = _pow2(idx.size, MIN_WIDTH)
            take = np.concatenate([idx, np.full(width - idx.size, idx[0])])
            carry = {k: v[take] for k, v in state.items()}
            carry["stop"][idx.size:] = 0
            con = {k: (v[take] if k != "patient" else {f: a[take] for f, a in v.items()}) for k, v in const.items()}
            con["end_stop"][idx.size:] = 0  # padding: no stop to reach
            carry["outputs"] = outputs
            carry["iterations"] = np.int64(0)
            args = (carry, con, tables, shared)
            loop, seconds = _compiled(args)
            compile_s += seconds
            result = loop(*args)
            outputs = result.pop("outputs")
            loops.append((width, int(result.pop("iterations"))))
            back = {k: np.asarray(v)[:idx.size] for k, v in result.items()}
            for k, v in back.items():
                state[k][idx] = v
            live = (back["status"] == _OK) & (back["stop"] < prob.end_stop[idx])
            idx = idx[live]
        records = np.asarray(outputs)[:prob.n_records]
    return records, compile_s, loops
