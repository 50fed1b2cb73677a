"""The engines by name: each solves the mechanism for an `ArmModel` (its frozen arguments) at output times.

- `reference`: one patient at a time with scipy's LSODA; easy to read, the witness (`engines.reference`).
- `fast`: all patients of an arm at once, a vectorised integrating-factor Dormand-Prince 5(4) in numpy,
  each patient with its own adaptive step (`engines.fast`; the default for trials).
- `jax`: the same algorithm in JAX (`engines.jax_engine`, imported only when used), on device "auto":
  an NVIDIA GPU when JAX sees one (jax[cuda12] installed), else the CPU.

All take (model, times_h, y0, settings) and return a `Solution` with a per-patient `SolverStatus`
instead of raising for one bad patient. To add an engine: write that function and register it here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ketasim.engines.common import STATUS_OK, Solution, SolverSettings, SolverStatus, failure_counts
from ketasim.engines.fast import solve_fast
from ketasim.engines.reference import solve_reference
from ketasim.errors import KetasimInputError
from ketasim.model.arm import ArmModel

__all__ = ["ENGINES", "STATUS_OK", "Solution", "SolverSettings", "SolverStatus", "failure_counts", "solve_fast",
           "solve_jax", "solve_reference"]


def solve_jax(model: ArmModel, times_h: np.ndarray, y0: np.ndarray,
              settings: SolverSettings = SolverSettings(), pad_to: int | None = None) -> Solution:
    """The fast engine in JAX on device "auto" (GPU if JAX sees one); jax is imported only here.

    pad_to: pad a smaller chunk to this many patients so it reuses the compiled shape (see solve_fast_jax).
    """
    try:
        from ketasim.engines.jax_engine import solve_fast_jax
    except ImportError as err:
        raise KetasimInputError(f"engine 'jax' needs jax ({err}); install it with: pip install 'ketasim[fast]'") from None
    return solve_fast_jax(model, times_h, y0, settings, device="auto", pad_to=pad_to)


ENGINES: dict[str, Callable[..., Solution]] = {"reference": solve_reference, "fast": solve_fast, "jax": solve_jax}
