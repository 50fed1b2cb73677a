"""Limits of a served explorer (the `ketasim serve` options)."""

from __future__ import annotations

from dataclasses import dataclass

import ketasim as ks


@dataclass(frozen=True)
class Settings:
    """max_patients: most patients (all arms together) in one web trial or validation run, and most
    simulated posterior draws in one forecast;
    max_upload_bytes: largest request body (a trial file upload included), bytes;
    workers: runs at a time, each in its own process; max_runtime_s: a run is stopped after this (s);
    max_days: longest single-patient simulation (d)."""

    max_patients: int = 4000
    max_upload_bytes: int = 256 * 1024
    workers: int = 2
    max_runtime_s: float = 900.0
    max_days: float = 365.0
    #: the address served (`--host`): besides localhost, the only Host name answered (apps.web.origin)
    host: str = "127.0.0.1"
    #: needed by every request when not None (`--host` beyond localhost; printed at start-up)
    token: str | None = None

    def check(self) -> None:
        for name in ("max_patients", "max_upload_bytes", "workers", "max_runtime_s", "max_days"):
            if not getattr(self, name) > 0:
                raise ks.KetasimInputError(f"--{name.replace('_', '-')}: expected a number > 0, got {getattr(self, name)}")
