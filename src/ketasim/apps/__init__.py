"""User-facing applications, in layers.

Service layer (knows nothing of argparse or FastAPI): `inputs` (regimens, patients, `--set`
overrides), `runner` (run a simulation, trial, validation or forecast into a results folder),
`store` (the DuckDB run store), `recording` (record a command-line run in the store), `results`
(stored result tables), `report`, `html_report`, `plot`, `figures`, `tables`, and `adapters` (the
few imports past the public API). On top of it: the command line `cli/` (one module per command
group) and the web explorer `web/`; `ketasim serve` (in `cli/`) starts `web/`; neither layer above
is imported by the service layer, and `web/` never imports `cli/`.

Research software, not a medical device: it informs; it does not prescribe.
"""
