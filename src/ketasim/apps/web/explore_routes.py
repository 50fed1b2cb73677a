"""API routes of the simulate page's quick views (population band, dose sweep) and of its compound upload:
answered directly, not recorded.

They run in a thread of the server, at most `workers` at a time, within this server's limits on patients
and days; a run to keep is a trial (/api/trials) or a simulation (/api/simulate).
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

import ketasim as ks
from ketasim.apps import adapters as internal

from .. import explore
from ..compounds import MAX_COMPOUNDS, check_compound_text, compound_file_name
from ..runner import SimulationRequest
from .settings import Settings

#: most patients in one population band (the server's --max-patients may be lower)
MAX_BAND_PATIENTS = 1000


class CompoundText(BaseModel):
    """A user's compound file (docs/compound-file.md), uploaded by the page."""

    text: str = Field(..., description="the compound file (TOML)")
    filename: str = Field("compound.toml", max_length=200, description="its name, used in messages")

    def pair(self) -> tuple[str, str]:
        return compound_file_name(self.filename), self.text


def compound_pairs(files: list[CompoundText]) -> tuple[tuple[str, str], ...]:
    """(file name, text) of each uploaded compound file."""
    return tuple(f.pair() for f in files)


#: a request's compound files (registered for that request only)
COMPOUNDS_FIELD = Field(default_factory=list, max_length=MAX_COMPOUNDS,
                        description="user compound files dosed by name in this request (see /api/compounds/check)")


class PopulationBody(BaseModel):
    """Patients drawn from the virtual population on one regimen; quantile bands over time."""

    regimen: str | None = Field(None, description="a preset name (see /api/options); or give doses")
    doses: list[dict[str, Any]] | None = Field(None, description="dose tables in the trial-file form")
    name: str = Field("", max_length=200, description="a label for a custom regimen")
    set: dict[str, float] = Field(default_factory=dict, description="model parameter overrides (patient traits are drawn)")
    days: float = Field(28.0, description="simulated days")
    patients: int = Field(100, description="patients drawn (2 or more)")
    seed: int = Field(0, description="random seed (>= 0): the same seed draws the same patients")
    population: Literal["mdd", "trd", "suicidal", "bipolar", "ptsd"] = Field("trd", description="which virtual population")
    compounds: list[CompoundText] = COMPOUNDS_FIELD


class SweepBody(BaseModel):
    """One dose line, one of its parameters over a list of values; one patient."""

    dose: dict[str, Any] = Field(..., description="a dose table in the trial-file form {drug, route, amount, at, ...}")
    parameter: Literal["amount", "every"] = Field("amount", description="amount (e.g. 0.5 mg/kg) or every (e.g. 2 wk)")
    values: list[str] = Field(..., max_length=explore.MAX_SWEEP_VALUES, description='e.g. ["0.1 mg/kg", "0.5 mg/kg"]')
    patient: str = Field("typical-trd", description="typical patient to start from")
    set: dict[str, float] = Field(default_factory=dict, description="patient or model parameter overrides (--set)")
    days: float = Field(28.0, description="simulated days")
    engine: Literal["reference", "fast"] = "reference"
    at_days: list[float] = Field(default_factory=lambda: [1.0, 7.0, 28.0], max_length=20,
                                 description="days at which to read MADRS off each curve")
    compounds: list[CompoundText] = COMPOUNDS_FIELD


def _json(value: Any) -> Response:
    return Response(internal.dumps(value), media_type="application/json")


def add_explore_routes(app: FastAPI, settings: Settings) -> None:
    """POST /api/population, POST /api/sweep and POST /api/compounds/check."""
    slots = asyncio.Semaphore(max(1, settings.workers))

    @app.post("/api/population", summary="a population band: N patients drawn from the virtual population (fast engine)")
    async def population(body: PopulationBody) -> Response:
        if (body.regimen is None) == (body.doses is None):
            raise ks.KetasimInputError("population: give either regimen (a preset) or doses, not both and not neither")
        regimen = body.regimen if body.regimen is not None else tuple(body.doses or ())
        request = SimulationRequest(regimen, "typical-trd", body.days, "fast", tuple(body.set.items()), body.name,
                                    compound_pairs(body.compounds))
        limit = min(MAX_BAND_PATIENTS, settings.max_patients)
        if body.patients > limit:
            return JSONResponse({"detail": f"patients: this server draws at most {limit} patients for a band, "
                                           f"got {body.patients}"}, status_code=400)
        async with slots:
            result = await asyncio.to_thread(explore.population_band, request, patients=body.patients, seed=body.seed,
                                             kind=body.population, max_patients=limit, max_days=settings.max_days)
        return _json(result)

    @app.post("/api/sweep", summary="a dose sweep: one patient, one MADRS curve per value of a dose parameter")
    async def sweep(body: SweepBody) -> Response:
        async with slots:
            result = await asyncio.to_thread(explore.dose_sweep, body.dose, body.parameter, body.values,
                                             patient=body.patient, overrides=tuple(body.set.items()), days=body.days,
                                             engine=body.engine, at_days=body.at_days, max_days=settings.max_days,
                                             compounds=compound_pairs(body.compounds))
        return _json(result)

    @app.post("/api/compounds/check", summary="check a user's compound file; its name and routes, to dose it by name "
                                              "in later requests that carry the file (compounds: [...])")
    async def compound_check(body: CompoundText) -> Response:
        name, text = body.pair()
        async with slots:
            return _json(await asyncio.to_thread(check_compound_text, text, name))
