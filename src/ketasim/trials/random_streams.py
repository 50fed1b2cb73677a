"""Counter-based random numbers: every draw is a pure function of (seed, arm, patient, stream, index).

So a patient's numbers never depend on chunking, thread count, order or engine. The mixer is
SplitMix64 (Steele GL et al. 2014, OOPSLA), applied to a hash of the keys; uniforms use the top
53 bits, normals the inverse normal CDF.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def stream_id(name: str) -> int:
    """A stable 32-bit id for a named stream ('weight_kg', 'visit_noise', ...)."""
    h = 2166136261
    for byte in name.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def uniform(seed: int, arm: int, patient: np.ndarray, stream: str, index: np.ndarray | int = 0) -> np.ndarray:
    """Uniform(0, 1) draws, one per patient (and per index, broadcast against patient)."""
    p = np.asarray(patient, dtype=np.uint64)
    i = np.asarray(index, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return _uniform_bits(seed, arm, p, i, stream)


def _uniform_bits(seed: int, arm: int, p: np.ndarray, i: np.ndarray, stream: str) -> np.ndarray:
    x = _mix(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) ^ _mix(np.uint64(arm) + np.uint64(stream_id(stream)) * _GOLDEN))
    x = _mix(x ^ _mix(p + _GOLDEN * np.uint64(7)))
    x = _mix(x ^ _mix(i * _M1 + np.uint64(3)))
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def normal(seed: int, arm: int, patient: np.ndarray, stream: str, index: np.ndarray | int = 0) -> np.ndarray:
    """Standard normal draws (inverse CDF of `uniform`)."""
    return ndtri(uniform(seed, arm, patient, stream, index))
