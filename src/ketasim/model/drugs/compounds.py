"""Compounds from files: the shipped ones (package data `data/compounds/*.toml`) and a user's.

`shipped_compound_specs` builds the shipped entries in registration order; `register_compound_file`
adds a user's file to the registry (a shipped name cannot be shadowed; the same file may be
registered again, a different file under a taken name may not).
"""

from __future__ import annotations

import os
import sys
from importlib import resources

from ketasim.errors import KetasimInputError
from ketasim.model.drugs.base import DrugSpec, PkVariability
from ketasim.model.drugs.compound_file import Compound, parse_compound_text, read_compound
from ketasim.model.drugs.compound_pk import compound_spec
from ketasim.model.drugs.registry import DRUGS, cmt_table, pk_variability, register

#: shipped compound files, in registration order (NONMEM CMT numbers and population draws follow it)
SHIPPED: tuple[str, ...] = ("ketamine", "esketamine", "arketamine", "escitalopram", "citalopram", "sertraline",
                            "midazolam", "placebo", "saline", "memantine", "lithium", "valproate")
#: first CMT number given to a user compound's routes without one in its file
USER_CMT_START = 101


def shipped_compound_text(name: str) -> str:
    """The text of a shipped compound file."""
    if name not in SHIPPED:
        raise KetasimInputError(f"unknown shipped compound {name!r}; shipped: {', '.join(SHIPPED)}")
    return (resources.files("ketasim") / "data" / "compounds" / f"{name}.toml").read_text(encoding="utf-8")


def _known(extra: dict[str, PkVariability] | None = None) -> dict[str, PkVariability]:
    out = {v.name: v for v in pk_variability()}
    out.update(extra or {})
    return out


def _free_cmt(compound: Compound) -> dict[str, int]:
    """CMT numbers for a user compound's routes: the file's own where free, else the first free from
    USER_CMT_START (a file exported from a shipped drug and renamed keeps working; a warning names the change)."""
    taken = cmt_table()
    out: dict[str, int] = {}
    number = USER_CMT_START
    for route in tuple(compound.routes) or compound.inert_routes:
        own = compound.cmt.get(route)
        if own is not None and own not in taken:
            taken[own] = (compound.name, route)
            continue
        while number in taken:
            number += 1
        if own is not None:
            drug, its_route = taken[own]
            print(f"ketasim: warning: {compound.name}: cmt.{route} = {own} is {drug} {its_route}'s; "
                  f"{compound.name} {route} doses use CMT {number}", file=sys.stderr)
        out[route] = number
        taken[number] = (compound.name, route)
    return out


def shipped_compound_specs() -> list[DrugSpec]:
    """The shipped entries, built from their files (variability declared by earlier files is known to later ones)."""
    specs: list[DrugSpec] = []
    known: dict[str, PkVariability] = {}
    for name in SHIPPED:
        compound = parse_compound_text(shipped_compound_text(name), f"compounds/{name}.toml")
        spec = compound_spec(compound, known, {})
        for v in spec.variability:
            known.setdefault(v.name, v)
        specs.append(spec)
    return specs


def compound_spec_from_file(path: str | os.PathLike[str]) -> DrugSpec:
    """The registry entry a compound file would give (not registered); CMT numbers not in the file are the
    first free ones from USER_CMT_START."""
    compound = read_compound(path)
    return compound_spec(compound, _known(), _free_cmt(compound))


def register_compound_file(path: str | os.PathLike[str], shipped: tuple[str, ...] = SHIPPED) -> DrugSpec:
    """Register a user's compound file; returns its entry. Registering the same file again returns the
    entry already registered; a shipped name or another compound's name is an error naming the file."""
    source = os.fspath(path)
    compound = read_compound(source)
    if compound.name in shipped:
        raise KetasimInputError(f"{source}: name: {compound.name!r} is a shipped drug; a compound file may not "
                                "replace it (give the compound another name)")
    existing = DRUGS.get(compound.name)
    if existing is not None:
        if existing.source_file and os.path.realpath(existing.source_file) == os.path.realpath(source) \
                and _same(existing, compound):
            return existing
        raise KetasimInputError(f"{source}: name: a compound called {compound.name!r} is already loaded"
                                + (f" from {existing.source_file}" if existing.source_file else "")
                                + "; give each compound its own name")
    return register(compound_spec(compound, _known(), _free_cmt(compound)))


def _same(spec: DrugSpec, compound: Compound) -> bool:
    return spec.parameters == compound.parameters and spec.routes == (tuple(compound.routes) or compound.inert_routes)
