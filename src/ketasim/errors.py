"""Errors raised for bad user input (scenarios, trial files, CSV, CLI arguments)."""

from __future__ import annotations


class KetasimInputError(ValueError):
    """Bad input: the message names the place and what was expected.

    The CLI turns this into one line on stderr and exit status 2.
    """
