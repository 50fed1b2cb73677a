"""Dormand-Prince 5(4) coefficients shared by the numpy and JAX fast engines
(Dormand JR & Prince PJ 1980, J Comput Appl Math 6:19), and the step-size limits."""

from __future__ import annotations

import numpy as np

#: nodes c_j
C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
#: Butcher rows a_j. (j = 0..5)
A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
]
#: 5th-order weights
B = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
#: error weights (5th minus 4th order), the last for the FSAL stage
E = np.array([-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
#: first step (h) of every patient
FIRST_STEP_H = 1e-2
#: a patient whose step falls below this (h) has failed
MIN_STEP_H = 1e-10
#: distinct multiples c > 0 of the step in the integrating factors exp(decay * c * h) of one step:
#: the nodes c_j (stage start values), c_j - c_l (stage couplings) and 1 - c_l (the solution)
FACTOR_C: tuple[float, ...] = tuple(sorted(({float(c) for c in C[1:]}
                                            | {float(C[j] - C[i]) for j in range(1, 6) for i in range(j)}
                                            | {float(1.0 - C[i]) for i in range(6)}) - {0.0}))
#: states whose decay time constant is shorter than this get the integrating factor (see `fast_states`)
FAST_TIME_H = 8.0


def fast_states(decay: np.ndarray, fast_time_h: float | None = None) -> int:
    """How many leading states get the integrating factor: the shortest prefix of the state
    vector holding every state whose decay rate (1/h) is faster than 1/fast_time_h (default FAST_TIME_H).

    The others (slow, or without linear decay) are integrated explicitly with the same
    Dormand-Prince stages: for them exp(decay * h) stays near 1 over a step and the factor buys
    little. `mechanism.STATES` lists the fast states first: the circuit states, BDNF and mTOR
    (minutes to 1.5 h) get it; synaptic proteins (16 h) and the monoaminergic states (days) do not.
    """
    limit = FAST_TIME_H if fast_time_h is None else fast_time_h
    fast = np.nonzero(np.abs(decay) * limit > 1.0)[0]
    return int(fast[-1]) + 1 if fast.size else 0
