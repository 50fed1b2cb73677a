"""Linear PK solved in closed form: superposition of exponential modes, segment by segment.

Within a segment (between two dose boundaries) the input rate u is constant, so
x(t) = V (c * exp(lambda (t - t0))) + x_p with x_p = -A^-1 u and c = V^-1 (x(t0) - x_p).
Boluses add to x at a boundary; infusions switch u on and off at boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ketasim.model.drugs import CompartmentInput, PkSystem

#: eigenbases worse conditioned than this are regularised (near-equal rate constants)
_MAX_CONDITION = 1e9


@dataclass(frozen=True)
class ModalPk:
    """One drug system's eigen-decomposition for N patients, and its per-segment coefficients.

    eigenvalues: (N, n) in 1/h; vectors: (N, n, n); coefficients: (S, N, n); particular: (S, N, n).
    """

    system: PkSystem
    eigenvalues: np.ndarray
    vectors: np.ndarray
    coefficients: np.ndarray
    particular: np.ndarray


def _decompose(rate: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real eigen-decomposition of compartment rate matrices (N, n, n).

    Compartment matrices are similar to symmetric ones, so eigenvalues are real. Where two rate
    constants nearly coincide the basis is ill-conditioned; the diagonal is then nudged by a
    relative 1e-7 per state, which changes concentrations by far less than solver tolerance.
    """
    rate = np.array(rate, dtype=float)
    n = rate.shape[-1]
    for _ in range(4):
        values, vectors = np.linalg.eig(rate)
        values, vectors = values.real, vectors.real
        cond = np.linalg.cond(vectors)
        bad = ~np.isfinite(cond) | (cond > _MAX_CONDITION)
        if not bad.any():
            break
        nudge = 1.0 + 1e-7 * np.arange(1, n + 1)
        idx = np.arange(n)
        rate[np.flatnonzero(bad)[:, None], idx, idx] *= nudge
    return values, vectors, np.linalg.inv(vectors)


def segment_boundaries(inputs: list[CompartmentInput], start_h: float, end_h: float,
                       extra: list[float] | None = None) -> np.ndarray:
    """Sorted unique times where any input starts or stops, within [start_h, end_h]."""
    times = {start_h, end_h, *(extra or [])}
    for inp in inputs:
        times.add(inp.time_h)
        if inp.duration_h > 0:
            times.add(inp.time_h + inp.duration_h)
    return np.array(sorted(t for t in times if start_h <= t <= end_h))


def solve_modal(system: PkSystem, inputs: list[CompartmentInput], boundaries: np.ndarray,
                initial: np.ndarray | None = None) -> ModalPk:
    """Exact PK through all segments [boundaries[k], boundaries[k+1]).

    `initial` (N, n) is the state at boundaries[0] (zeros if None).
    """
    rate = system.rate_matrix
    n_pat, n = rate.shape[0], rate.shape[1]
    values, vectors, inverse = _decompose(rate)
    x = np.zeros((n_pat, n)) if initial is None else np.array(initial, dtype=float)
    n_seg = len(boundaries) - 1
    coefficients = np.zeros((max(n_seg, 1), n_pat, n))
    particular = np.zeros((max(n_seg, 1), n_pat, n))
    rate_inv = np.linalg.inv(rate)
    for k in range(n_seg):
        t0, t1 = boundaries[k], boundaries[k + 1]
        u = np.zeros((n_pat, n))
        for inp in inputs:
            if inp.duration_h > 0:
                if inp.time_h <= t0 + 1e-12 and t0 < inp.time_h + inp.duration_h - 1e-12:
                    u[:, inp.state_index] += inp.amount_mg / inp.duration_h
            elif abs(inp.time_h - t0) <= 1e-12:
                x[:, inp.state_index] += inp.amount_mg
        x_p = -np.einsum("pij,pj->pi", rate_inv, u)
        c = np.einsum("pij,pj->pi", inverse, x - x_p)
        coefficients[k], particular[k] = c, x_p
        x = np.einsum("pij,pj->pi", vectors, c * np.exp(values * (t1 - t0))) + x_p
    return ModalPk(system, values, vectors, coefficients, particular)
