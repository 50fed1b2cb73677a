"""The fast engine in JAX: the same per-patient adaptive Lawson-DOPRI5 as `engines.fast.solve_fast`, on CPU or GPU.

All patients of an arm advance together from one stop (output time or segment end) to the next
inside one jitted `lax.while_loop`; each patient keeps its own t and h and the accept/reject and
step-size rules are those of `engines.fast`, so results agree with the numpy engine to
round-off. Segments and stops are looped over in Python (few); every call has the same shapes,
so the loop compiles once per arm shape (patients, PK modes, states) and device.

Computation is float64 (x64 is switched on only inside these functions). `last_timing` holds
compile and run seconds of the latest solve.

`solve_fast_jax_tangents` runs the same loop with forward-mode derivatives of the states in chosen
mechanism parameters (`jax.jvp`; `lax.while_loop` has no reverse mode), and `madrs_tangents` carries
them through the MADRS (`trials.gradient` builds an arm's endpoint gradients on them).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ketasim.engines.common import Solution, SolverSettings, SolverStatus, checked_times, start_indices
from ketasim.engines.dopri import FACTOR_C, FIRST_STEP_H, MIN_STEP_H, A, B, C, E, fast_states
from ketasim.errors import KetasimInputError
from ketasim.model import mechanism
from ketasim.model.arm import ArmModel
from ketasim.model.drugs import SERT_MAX_OCCUPANCY
from ketasim.model.mechanism import IDX, N_EXPOSURE, N_STATES
from ketasim.model.namespace import jax_namespace

#: the patient fields the mechanism reads
PD_PATIENT_FIELDS = mechanism.PD_PATIENT_FIELDS

#: timing of the latest solve_fast_jax call: device, compile_s, run_s, total_s, calls, compiled
last_timing: dict[str, Any] = {}

COMPILED: dict[tuple, Any] = {}
COMPILED_MAX = 32

Tree = Any


# ---- right-hand side: the mechanism with jax.numpy ------------------------------------------------

_JNP = jax_namespace()


def _occupancy(t: jax.Array, seg_start: jax.Array, seg: Tree, arm: Tree) -> mechanism.Occupancy:
    """Receptor occupancy (N,) at times t (N,), as ArmModel.occupancy."""
    tau = (t - seg_start)[:, None]
    sums = jnp.zeros((t.shape[0], N_EXPOSURE), dtype=t.dtype)
    for (eigenvalues, rows), (coefficients, particular) in zip(arm["systems"], seg["systems"], strict=True):
        z = coefficients * jnp.exp(eigenvalues * tau)
        sums = sums + (jnp.sum(rows * z[:, None, :], axis=-1) + particular)
    return mechanism.occupancy(_JNP, sums[:, 0], sums[:, 1], sums[:, 2], SERT_MAX_OCCUPANCY.value, seg["in_care"],
                               sums[:, 3])


def pd_rhs(t: jax.Array, y: jax.Array, seg_start: jax.Array, seg: Tree, arm: Tree) -> jax.Array:
    """dy/dt (N, n_states): `mechanism.vector_field` with jax.numpy."""
    occ = _occupancy(t, seg_start, seg, arm)
    rows = tuple(y[:, i] for i in range(N_STATES))
    return jnp.stack(mechanism.vector_field(_JNP, t, rows, occ, arm["patient"], arm["params"]), axis=1)


# ---- the adaptive loop ----------------------------------------------------------------------------

def _combine(weights: list[float] | np.ndarray, stages: list) -> jax.Array:
    """sum_l weights[l] * stages[l] term by term, zero weights skipped (as engines.fast)."""
    terms = [stage * float(w) for w, stage in zip(weights, stages, strict=False) if w != 0.0]
    out = terms[0]
    for term in terms[1:]:
        out = out + term
    return out


def _advance(y: jax.Array, h: jax.Array, status: jax.Array, steps: jax.Array, t0: jax.Array, t1: jax.Array,
             seg_start: jax.Array, jump: jax.Array, seg: Tree, arm: Tree, tol: Tree
             ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Add the session jump, then advance all patients from t0 to t1 inside one segment (as engines.fast).

    Returns y, the next step sizes, status and steps.
    """
    rtol, atol, max_steps = tol
    decay = arm["decay"]
    session = IDX["session_expectancy"]
    y = y.at[:, session].set(mechanism.after_session(y[:, session], jump))

    def nonlinear(t: jax.Array, yy: jax.Array) -> jax.Array:
        return pd_rhs(t, yy, seg_start, seg, arm) - decay * yy

    t = jnp.full(y.shape[0], t0)
    h = jnp.minimum(h, t1 - t0)
    f0 = nonlinear(t, y)
    end_tol = 1e-12 * jnp.maximum(1.0, jnp.abs(t1))

    def is_running(status: jax.Array, t: jax.Array) -> jax.Array:
        return (status == int(SolverStatus.OK)) & (t < t1 - end_tol)

    def cond(carry: tuple) -> jax.Array:
        return jnp.any(is_running(carry[5], carry[2]))

    def body(carry: tuple) -> tuple:
        y, f0, t, h, last_h, status, steps = carry
        running = is_running(status, t)
        h_next = h  # patients already at t1 keep their proposal for the next interval
        h = jnp.where(running, jnp.minimum(h, t1 - t), 0.0)
        hc = h[:, None]
        # the same operations in the same order as engines.fast (decay is 0 for the states
        # without the integrating factor, where the factors are exactly 1)
        factors = {c: jnp.exp(decay * (c * hc)) for c in FACTOR_C}

        def factor(c: float) -> jax.Array | float:
            return factors[c] if c != 0.0 else 1.0

        stages = [f0]
        for j in range(1, 6):
            products = [factor(float(C[j] - C[i])) * stages[i] for i in range(j)]
            acc = factors[float(C[j])] * y + _combine(A[j], products) * hc
            stages.append(nonlinear(t + C[j] * h, acc))
        products = [factor(float(1.0 - C[i])) * stages[i] for i in range(6)]
        y_new = factors[1.0] * y + _combine(B, products) * hc
        f_new = nonlinear(t + h, y_new)
        err = _combine(E, [*products, f_new]) * hc
        scale = jnp.maximum(jnp.abs(y), jnp.abs(y_new)) * rtol + atol
        ratio = (err / scale) ** 2
        total = ratio[:, 0]
        for i in range(1, ratio.shape[1]):  # summed state by state, in engines.fast's order
            total = total + ratio[:, i]
        # the step sizes are not differentiated (forward mode, `solve_fast_jax_tangents`): the derivative is
        # that of the solution on the grid the controller chose
        err_norm = jax.lax.stop_gradient(jnp.sqrt(total / ratio.shape[1]))
        finite = jnp.isfinite(err_norm) & jnp.all(jnp.isfinite(y_new), axis=1)
        accept = running & finite & (err_norm <= 1.0)
        y = jnp.where(accept[:, None], y_new, y)
        f0 = jnp.where(accept[:, None], f_new, f0)
        last_h = jnp.where(accept & (h_next < t1 - t), h, last_h)  # accepted, not cut short by t1
        t = jnp.where(accept, jnp.where(t + h >= t1 - end_tol, t1, t + h), t)
        factor = jnp.where(err_norm == 0.0, 10.0, 0.9 * err_norm ** -0.2)
        factor = jnp.where(finite, jnp.clip(factor, 0.2, 10.0), 0.2)
        factor = jnp.where(accept, factor, jnp.minimum(factor, 1.0))
        h = jnp.where(running, h * factor, h_next)
        steps = steps + running
        failed = running & ((h < MIN_STEP_H) | (steps > max_steps))
        too_many = steps > max_steps
        cause = jnp.where(too_many, int(SolverStatus.MAX_STEPS),
                          jnp.where(finite, int(SolverStatus.STEP_TOO_SMALL), int(SolverStatus.NON_FINITE)))
        status = jnp.where(failed, cause, status)
        return y, f0, t, h, last_h, status, steps

    last_h = jnp.full_like(h, jnp.nan)
    y, _, _, h, last_h, status, steps = jax.lax.while_loop(cond, body, (y, f0, t, h, last_h, status, steps))
    # at most the last step accepted in full, as engines.fast
    return y, jnp.where(jnp.isnan(last_h), h, jnp.minimum(h, last_h)), status, steps


# ---- host side -----------------------------------------------------------------------------------

def x64() -> contextlib.AbstractContextManager:
    """Context with 64-bit JAX types on (jax.enable_x64, or jax.experimental.enable_x64 before jax 0.5)."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # type: ignore[attr-defined]

    return enable_x64()


def pick_device(device: str = "auto") -> jax.Device:
    """The JAX device for "cpu", "gpu" or "auto" (a GPU when JAX sees one, else the CPU)."""
    if device not in ("cpu", "gpu", "auto"):
        raise KetasimInputError(f"device must be 'cpu', 'gpu' or 'auto', got {device!r}")
    if device in ("gpu", "auto"):
        try:
            gpus = jax.devices("gpu")
        except RuntimeError:
            gpus = []
        if gpus:
            return gpus[0]
        if device == "gpu":
            raise KetasimInputError(
                f"device 'gpu': JAX sees no GPU (backends: {jax.default_backend()}); install jax[cuda12] on a "
                "machine with an NVIDIA GPU, or use device 'cpu' or 'auto'")
    return jax.devices("cpu")[0]


def _put(value: Any, device: jax.Device, dtype: type = np.float64) -> jax.Array:
    return jax.device_put(np.asarray(value, dtype=dtype), device)


def _integrating_decay(model: ArmModel) -> np.ndarray:
    """Decay rates (1/h) in the integrating factor: those of the leading fast states, 0 for the others."""
    decay = model.decay.copy()
    decay[fast_states(decay):] = 0.0
    return decay


def _rows(values: np.ndarray, take: np.ndarray | None) -> np.ndarray:
    """values[take] along the patient axis (padding rows), or values itself when take is None."""
    return values if take is None else values[take]


def _arm_arrays(model: ArmModel, device: jax.Device, take: np.ndarray | None = None) -> Tree:
    """What stays the same for all segments: PK modes and exposure rows, patients, parameters, decay rates.

    take: patient rows to use (padding repeats a patient), None for all patients as they are.
    """
    return {
        "systems": tuple((_put(_rows(terms.eigenvalues, take), device), _put(_rows(terms.rows, take), device))
                         for terms in model.exposure_terms),
        "patient": {name: _put(_rows(model.patient[name], take), device) for name in PD_PATIENT_FIELDS},
        "params": {name: _put(value, device) for name, value in model.params.items()},
        "decay": _put(_integrating_decay(model), device),
    }


def _segment_arrays(model: ArmModel, segment: int, device: jax.Device, take: np.ndarray | None = None) -> Tree:
    """Segment k's modal coefficients and particular exposure per system, and whether in care (same shapes for every k)."""
    systems = tuple((_put(_rows(terms.coefficients[segment], take), device), _put(_rows(terms.particular[segment], take), device))
                    for terms in model.exposure_terms)
    return {"systems": systems, "in_care": _put(model.in_care[segment], device)}


def compiled_advance(args: tuple, device: jax.Device) -> tuple[Any, float]:
    """The compiled _advance for these argument shapes on `device`, and the seconds spent compiling (0 if cached)."""
    leaves, treedef = jax.tree_util.tree_flatten(args)
    key = (device.platform, device.id, str(treedef), tuple((leaf.shape, str(leaf.dtype)) for leaf in leaves))
    if key in COMPILED:
        return COMPILED[key], 0.0
    start = time.perf_counter()
    compiled = jax.jit(_advance).lower(*args).compile()
    if len(COMPILED) >= COMPILED_MAX:
        COMPILED.pop(next(iter(COMPILED)))
    COMPILED[key] = compiled
    return compiled, time.perf_counter() - start


def rhs_jax(model: ArmModel, time_h: np.ndarray | float, y: np.ndarray, segment: int, device: str = "cpu") -> np.ndarray:
    """ArmModel.rhs evaluated with jax.numpy (for checks): dy/dt (N, n_states)."""
    dev = pick_device(device)
    with x64():
        t = _put(np.broadcast_to(np.asarray(time_h, dtype=float), (y.shape[0],)), dev)
        out = jax.jit(pd_rhs)(t, _put(y, dev), _put(model.boundaries[segment], dev), _segment_arrays(model, segment, dev),
                            _arm_arrays(model, dev))
        return np.asarray(out)


def solve_fast_jax(model: ArmModel, times_h: np.ndarray, y0: np.ndarray, settings: SolverSettings = SolverSettings(),
                   device: str = "auto", pad_to: int | None = None) -> Solution:
    """As `engines.fast.solve_fast` (same Solution, statuses, step-end outputs, session jumps), in JAX on `device`.

    device: "cpu", "gpu" or "auto" (GPU when JAX sees one). pad_to: solve at least this many
    patients, repeating the first one as padding (dropped from the results), so that a smaller
    last chunk reuses the compiled shape of the full chunks instead of compiling again; a
    patient's numbers do not depend on it. Compile and run seconds of this call go to the module
    attribute `last_timing`.
    """
    started = time.perf_counter()
    dev = pick_device(device)
    times = checked_times(model, times_h)
    y0 = np.asarray(y0, dtype=float)
    n, m = y0.shape
    states = np.full((len(times), n, m), np.nan)
    at_start = start_indices(model, times)
    states[at_start] = y0
    b = model.boundaries
    padded = max(n, pad_to or 0) if n else 0
    take = None if padded == n else np.concatenate([np.arange(n), np.zeros(padded - n, dtype=np.int64)])
    compile_s, calls, recorded = 0.0, 0, []
    with x64():
        status = _put(np.zeros(padded), dev, np.int64)
        steps = _put(np.zeros(padded), dev, np.int64)
        if n:
            arm = _arm_arrays(model, dev, take)
            tol = (_put(settings.rtol, dev), _put(settings.atol, dev), _put(settings.max_steps, dev, np.int64))
            y = _put(_rows(y0, take), dev)
            h = _put(np.full(padded, FIRST_STEP_H), dev)
            for k in range(len(b) - 1):
                jump = float(model.session_jumps[k])
                seg = _segment_arrays(model, k, dev, take)
                inside = times[(times > b[k]) & (times < b[k + 1])]
                start = float(b[k])
                for stop in np.unique(np.concatenate([inside, [b[k + 1]]])):
                    args = (y, h, status, steps, _put(start, dev), _put(stop, dev), _put(b[k], dev), _put(jump, dev),
                            seg, arm, tol)
                    advance, seconds = compiled_advance(args, dev)
                    compile_s += seconds
                    y, h, status, steps = advance(*args)
                    calls += 1
                    jump, start = 0.0, float(stop)
                    hit = np.nonzero(np.abs(times - stop) <= 1e-12)[0]
                    if hit.size:
                        y.copy_to_host_async()
                        recorded.append((hit, y))
        for hit, y_at in recorded:
            states[hit] = np.asarray(y_at)[:n]
        status_np = np.asarray(status).astype(int)[:n]
        steps_np = np.asarray(steps).astype(int)[:n]
    states[:, status_np != SolverStatus.OK] = np.nan
    total = time.perf_counter() - started
    last_timing.clear()
    last_timing.update(device=str(dev), compile_s=compile_s, run_s=total - compile_s, total_s=total, calls=calls,
                       compiled=compile_s > 0.0, patients=n, padded_to=padded)
    return Solution(times, states, status_np, steps_np)


# ---- forward-mode derivatives with respect to mechanism parameters ---------------------------------

def _advance_tangents(y: jax.Array, dy: jax.Array, h: jax.Array, status: jax.Array, steps: jax.Array, t0: jax.Array,
                      t1: jax.Array, seg_start: jax.Array, session: jax.Array, seg: Tree, arm: Tree, theta: jax.Array,
                      tol: Tree, names: tuple[str, ...]) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """`_advance` and its forward-mode derivative with respect to params[names] = theta (k,).

    dy (k, N, n_states): d y / d theta_i on entry; returns y, dy, h, status, steps after the interval.
    The parameters reach the vector field, the decay rates of the integrating factor (which states
    have one is fixed) and the session jump (session = (is a session, cue)); step sizes are not
    differentiated (see `_advance`).
    """
    def solve(values: jax.Array, y_in: jax.Array) -> tuple[jax.Array, tuple]:
        params = {**arm["params"], **{name: values[i] for i, name in enumerate(names)}}
        rates = jnp.stack([jnp.asarray(r, dtype=y_in.dtype) for r in mechanism.decay_rates(params)])
        decay = jnp.where(arm["integrating"], rates, 0.0)
        jump = jnp.where(session[0] > 0.0, mechanism.session_jump(session[1], params), 0.0)
        y_out, *rest = _advance(y_in, h, status, steps, t0, t1, seg_start, jump, seg,
                                {**arm, "params": params, "decay": decay}, tol)
        return y_out, tuple(rest)

    def along(d_theta: jax.Array, d_y: jax.Array) -> tuple:
        return jax.jvp(solve, (theta, y), (d_theta, d_y), has_aux=True)

    y_out, dy_out, (h_out, status_out, steps_out) = jax.vmap(along, out_axes=(None, 0, None))(
        jnp.eye(theta.shape[0], dtype=theta.dtype), dy)
    return y_out, dy_out, h_out, status_out, steps_out


def solve_fast_jax_tangents(model: ArmModel, times_h: np.ndarray, y0: np.ndarray, names: tuple[str, ...] | list[str],
                            dy0: np.ndarray | None = None, settings: SolverSettings = SolverSettings(),
                            device: str = "auto") -> tuple[Solution, np.ndarray]:
    """`solve_fast_jax` and the derivatives of its states with respect to the mechanism parameters `names`.

    Forward mode (`jax.jvp`, one tangent per parameter, vectorised) through the same adaptive loop:
    the derivative of the solution on the step grid the controller chose at these parameters (the
    step sizes are held), which approaches the ODE's sensitivities as the tolerance tightens.
    dy0 (k, N, n_states): d y0 / d params[names] (None: y0 does not depend on them).

    Returns the Solution and d states / d params[names] (k, T, N, n_states), per unit of each
    parameter (NaN where the solve failed). Compiles once per arm shape and parameter names; with no
    names it is `solve_fast_jax` (the value alone) and the derivatives are empty.
    """
    names = tuple(names)
    unknown = [name for name in names if name not in model.params]
    if unknown:
        raise KetasimInputError(f"solve_fast_jax_tangents: unknown mechanism parameters {unknown!r}")
    if not names:
        sol = solve_fast_jax(model, times_h, y0, settings, device)
        return sol, np.zeros((0, *sol.states.shape))
    started = time.perf_counter()
    dev = pick_device(device)
    times = checked_times(model, times_h)
    y0 = np.asarray(y0, dtype=float)
    n, m = y0.shape
    k = len(names)
    states = np.full((len(times), n, m), np.nan)
    tangents = np.full((k, len(times), n, m), np.nan)
    at_start = start_indices(model, times)
    states[at_start] = y0
    tangents[:, at_start] = 0.0 if dy0 is None else np.asarray(dy0, dtype=float)[:, None]
    b = model.boundaries
    compile_s, calls = 0.0, 0
    with x64():
        status = _put(np.zeros(n), dev, np.int64)
        steps = _put(np.zeros(n), dev, np.int64)
        if n:
            arm = {**_arm_arrays(model, dev), "integrating": _put(_integrating_decay(model) != 0.0, dev, np.bool_)}
            theta = _put([model.params[name] for name in names], dev)
            tol = (_put(settings.rtol, dev), _put(settings.atol, dev), _put(settings.max_steps, dev, np.int64))
            y = _put(y0, dev)
            dy = _put(np.zeros((k, n, m)) if dy0 is None else dy0, dev)
            h = _put(np.full(n, FIRST_STEP_H), dev)
            for seg_index in range(len(b) - 1):
                session = _put(_session_at(model, float(b[seg_index])), dev)
                seg = _segment_arrays(model, seg_index, dev)
                inside = times[(times > b[seg_index]) & (times < b[seg_index + 1])]
                start = float(b[seg_index])
                for stop in np.unique(np.concatenate([inside, [b[seg_index + 1]]])):
                    args = (y, dy, h, status, steps, _put(start, dev), _put(stop, dev), _put(b[seg_index], dev), session,
                            seg, arm, theta, tol)
                    advance, seconds = _compiled_tangents(args, names, dev)
                    compile_s += seconds
                    y, dy, h, status, steps = advance(*args)
                    calls += 1
                    session, start = _put([0.0, 0.0], dev), float(stop)
                    hit = np.nonzero(np.abs(times - stop) <= 1e-12)[0]
                    if hit.size:
                        states[hit] = np.asarray(y)
                        tangents[:, hit] = np.asarray(dy)[:, None]
        status_np = np.asarray(status).astype(int)
        steps_np = np.asarray(steps).astype(int)
    failed = status_np != SolverStatus.OK
    states[:, failed] = np.nan
    tangents[:, :, failed] = np.nan
    total = time.perf_counter() - started
    last_timing.clear()
    last_timing.update(device=str(dev), compile_s=compile_s, run_s=total - compile_s, total_s=total, calls=calls,
                       compiled=compile_s > 0.0, patients=n, parameters=k)
    return Solution(times, states, status_np, steps_np), tangents


def _compiled_tangents(args: tuple, names: tuple[str, ...], device: jax.Device) -> tuple[Any, float]:
    """The compiled _advance_tangents for these shapes and parameter names on `device`, and its compile seconds."""
    leaves, treedef = jax.tree_util.tree_flatten(args)
    key = ("tangents", names, device.platform, device.id, str(treedef),
           tuple((leaf.shape, str(leaf.dtype)) for leaf in leaves))
    if key in COMPILED:
        return COMPILED[key], 0.0
    start = time.perf_counter()
    compiled = jax.jit(_advance_tangents, static_argnames="names").lower(*args, names=names).compile()
    if len(COMPILED) >= COMPILED_MAX:
        COMPILED.pop(next(iter(COMPILED)))
    COMPILED[key] = compiled
    return COMPILED[key], time.perf_counter() - start


def _session_at(model: ArmModel, time_h: float) -> tuple[float, float]:
    """(1, cue) when a session starts at `time_h` (as ArmModel's session jumps), else (0, 0)."""
    for session in model.sessions:
        if abs(session.time_h - time_h) <= 1e-9:
            return 1.0, session.cue
    return 0.0, 0.0


def _madrs(values: jax.Array, rows: tuple, time_h: jax.Array, occ: tuple, patient: Tree, params: Tree,
           course: jax.Array, contact_factor: jax.Array, names: tuple[str, ...]) -> jax.Array:
    """MADRS (T, N): `mechanism.observables` with jax.numpy, params[names] = values."""
    p = {**params, **{name: values[i] for i, name in enumerate(names)}}
    return mechanism.observables(_JNP, time_h[:, None], rows, mechanism.Occupancy(*occ), patient, p, course,
                                 contact_factor)["madrs"]


def _madrs_tangents(values: jax.Array, states: jax.Array, tangents: jax.Array, time_h: jax.Array, occ: tuple,
                    patient: Tree, params: Tree, course: jax.Array, contact_factor: jax.Array, names: tuple[str, ...]
                    ) -> tuple[jax.Array, jax.Array]:
    def madrs(v: jax.Array, y: jax.Array) -> jax.Array:
        rows = tuple(y[..., i] for i in range(N_STATES))
        return _madrs(v, rows, time_h, occ, patient, params, course, contact_factor, names)

    def along(d_values: jax.Array, d_states: jax.Array) -> tuple:
        return jax.jvp(madrs, (values, states), (d_values, d_states))

    return jax.vmap(along, out_axes=(None, 0))(jnp.eye(values.shape[0], dtype=values.dtype), tangents)


_MADRS_TANGENTS = jax.jit(_madrs_tangents, static_argnames="names")


def madrs_tangents(model: ArmModel, times_h: np.ndarray, states: np.ndarray, tangents: np.ndarray,
                   names: tuple[str, ...] | list[str], course_log_severity: np.ndarray | float = 0.0,
                   contact_factor: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """MADRS (T, N) without visit noise, as `ArmModel.outputs`, and its derivatives (k, T, N) with respect to
    params[names] (points per unit of each parameter), from the states (T, N, n_states) and their tangents
    (k, T, N, n_states) of `solve_fast_jax_tangents`: the chain rule through the states plus the parameters'
    own place in the MADRS (e.g. drug_relief_max, contact_improvement_max). Runs on the CPU; with no names it
    is `ArmModel.outputs`' MADRS."""
    names = tuple(names)
    times = np.asarray(times_h, dtype=float)
    if not names:
        madrs = model.outputs(times, states, course_log_severity, contact_factor)["madrs"]
        return madrs, np.zeros((0, *madrs.shape))
    occ = np.zeros((3, len(times), model.n_patients))
    for i, t in enumerate(times):
        at = model.occupancy(model.segment_of_output(float(t)), float(t))
        occ[0, i], occ[1, i], occ[2, i] = at.nmda, at.sert, at.nmda_block
    course = np.broadcast_to(np.asarray(course_log_severity, dtype=float), occ.shape[1:])
    with x64():
        cpu = jax.devices("cpu")[0]
        madrs, d_madrs = _MADRS_TANGENTS(
            _put([model.params[name] for name in names], cpu), _put(states, cpu), _put(tangents, cpu), _put(times, cpu),
            (_put(occ[0], cpu), _put(occ[1], cpu), _put(np.zeros_like(occ[0]), cpu), _put(0.0, cpu), _put(occ[2], cpu)),
            {name: _put(model.patient[name], cpu) for name in PD_PATIENT_FIELDS},
            {name: _put(value, cpu) for name, value in model.params.items()}, _put(course, cpu), _put(contact_factor, cpu),
            names=names)
        return np.asarray(madrs), np.asarray(d_madrs)
