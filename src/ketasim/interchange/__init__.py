"""Interchange formats built on the model and simulation: NONMEM-style CSV dose records, SBML export."""
