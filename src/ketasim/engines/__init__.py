"""Solvers of the mechanism: reference (LSODA), fast (numpy), jax."""
