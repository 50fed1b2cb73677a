"""The `ketasim` command line (entry point `ketasim.apps.cli:main`), one module per command group.

`main` (parser, `--help` order, error handling), `common` (shared options and messages),
`simulate` (simulate, demo, drugs, presets, parameters, examples), `trials` (trial, validate,
calibrate), `export` (export-sbml), `forecast` (forecast), `runs` (serve, runs, report).
The commands call the service layer (`ketasim.apps.inputs`, `runner`, `recording`, `store`,
`report`, ...); `serve` starts the web app (`ketasim.apps.web`).
"""

from __future__ import annotations

from ketasim.apps.inputs import load_regimen, parse_overrides, resolve_patient

from .main import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "load_regimen", "main", "parse_overrides", "resolve_patient"]
