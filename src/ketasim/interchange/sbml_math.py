"""The mechanism on sympy symbols, printed as SBML Level 3 infix formulas (for `io.sbml`).

`SYMPY` is the array namespace (`model.namespace`) whose functions build sympy expressions, so
evaluating `mechanism.signals`, `rates` and `observables` on symbols named after the SBML ids
gives the SBML rules: the export cannot drift from the model the engines integrate. `infix`
prints an expression fully parenthesised in libsbml's L3 syntax (max, min, exp, ^).
"""

from __future__ import annotations

from typing import Any

from ketasim.errors import KetasimInputError
from ketasim.model.namespace import ArrayNamespace


def _sympy() -> Any:
    try:
        import sympy
    except ImportError:
        raise KetasimInputError("SBML export needs sympy: pip install 'ketasim[sbml]'") from None
    return sympy


def sympy_namespace() -> ArrayNamespace:
    """The namespace whose functions build sympy expressions; days become hours via the SBML parameter `hours_per_day`."""
    sp = _sympy()
    return ArrayNamespace("sympy", sp.Max, sp.Min, lambda x, lo, hi: sp.Min(sp.Max(x, lo), hi), sp.exp,
                          sp.Symbol("hours_per_day"))


def symbols(names: Any) -> dict[str, Any]:
    """A sympy Symbol per name."""
    sp = _sympy()
    return {name: sp.Symbol(name) for name in names}


def _number(value: Any) -> str:
    text = repr(float(value))
    return f"({text})" if text.startswith("-") else text


#: SBML units of symbols that carry units into a max/min with a number (the number gets the same unit)
SYMBOL_UNITS: dict[str, str] = {"time": "hour"}


def infix(expr: Any) -> str:
    """`expr` as an SBML L3 infix formula (every operation parenthesised; divisions written as /)."""
    sp = _sympy()
    if isinstance(expr, (int, float)) or expr.is_Number:
        return _number(expr)
    if expr.is_Symbol:
        return str(expr)
    if isinstance(expr, sp.Max | sp.Min):
        name = "max" if isinstance(expr, sp.Max) else "min"
        # numbers last (libsbml takes a max/min's units from its first argument), with the unit of a
        # symbol beside them (max(time, 0 hour))
        args = sorted(expr.args, key=lambda a: bool(a.is_Number))
        unit = next((SYMBOL_UNITS[str(a)] for a in args if a.is_Symbol and str(a) in SYMBOL_UNITS), None)
        printed = [f"{infix(a)} {unit}" if unit and a.is_Number else infix(a) for a in args]
        return f"{name}({', '.join(printed)})"
    if isinstance(expr, sp.exp):
        return f"exp({infix(expr.args[0])})"
    if expr.is_Add:
        return "(" + " + ".join(infix(a) for a in expr.args) + ")"
    if expr.is_Mul:
        numerator, denominator = [], []
        for factor in expr.args:
            if factor.is_Pow and factor.exp.is_Number and factor.exp < 0:
                denominator.append(factor.base if factor.exp == -1 else sp.Pow(factor.base, -factor.exp))
            else:
                numerator.append(factor)
        top = " * ".join(infix(a) for a in numerator) if numerator else "1"
        if not denominator:
            return f"({top})"
        return f"(({top}) / ({' * '.join(infix(a) for a in denominator)}))"
    if expr.is_Pow:
        if expr.exp.is_Number and expr.exp < 0:
            return infix(sp.Mul(1, expr, evaluate=False)) if expr.exp != -1 else f"(1 / {infix(expr.base)})"
        return f"({infix(expr.base)}^{infix(expr.exp)})"
    raise ValueError(f"no SBML infix for {type(expr).__name__}: {expr}")
