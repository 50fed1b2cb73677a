"""Array namespaces the mechanism is written against (`mechanism`): the few functions it uses.

The mechanism calls `xp.maximum`, `xp.minimum`, `xp.clip` and `xp.exp` and converts days to
hours with `xp.hours_per_day`; numpy, jax.numpy (the JAX engine) and sympy (the SBML export)
each provide them, so one source serves every back-end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Array = Any
"""An array of the namespace in use (numpy, jax.numpy or sympy expressions)."""


@dataclass(frozen=True)
class ArrayNamespace:
    """The array functions the mechanism uses, and the hours in a day (24, or a named SBML parameter)."""

    name: str
    maximum: Callable[[Any, Any], Any]
    minimum: Callable[[Any, Any], Any]
    clip: Callable[[Any, Any, Any], Any]
    exp: Callable[[Any], Any]
    hours_per_day: Any = 24.0


NUMPY = ArrayNamespace("numpy", np.maximum, np.minimum, np.clip, np.exp)


def jax_namespace() -> ArrayNamespace:
    """jax.numpy's functions (imported only when the JAX engine is used)."""
    import jax.numpy as jnp

    return ArrayNamespace("jax", jnp.maximum, jnp.minimum, jnp.clip, jnp.exp)
