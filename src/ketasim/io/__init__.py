"""Inputs and outputs with units: regimens, NONMEM CSV, trial files, SBML."""
