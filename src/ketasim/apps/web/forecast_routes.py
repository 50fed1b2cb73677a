"""API routes of the forecast page's tables: a patient file's text as a doses and an observations table, and
the tables as a patient file, each with the message `ketasim forecast` gives for that file (or none).
Both run in a thread (the first one imports the forecast package)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ketasim.apps import adapters as internal

from .. import patient_tables


class PatientTextBody(BaseModel):
    """A patient file's text (docs/patient-file.md)."""

    text: str = Field(..., description="the patient file (TOML)")
    filename: str = Field("patient.toml", max_length=200, description="its name, used in messages")


class PatientTablesBody(BaseModel):
    """The forecast page's tables; the file's other keys (background, [plan]) come from `text`."""

    tables: dict[str, Any] = Field(..., description="{patient: {weight_kg, age, sex, failed_treatments}, doses: "
                                                    "[{drug, route, amount, unit, infusion_min, day | date}], "
                                                    "observations: [{day | date, madrs, sbp, cadss}]}")
    text: str = Field("", description="the patient file the tables edit (TOML)")
    filename: str = Field("patient.toml", max_length=200, description="its name, used in messages")
    first_date: str | None = Field(None, max_length=20, description="the date of day 0 (YYYY-MM-DD) for rows "
                                                                    "that give a date")


def _json(value: Any) -> Response:
    return Response(internal.dumps(value), media_type="application/json")


def _name(filename: str) -> str:
    return "".join(c if c.isalnum() or c in "._ -" else "_" for c in filename.replace("\\", "/").split("/")[-1]
                   ).strip()[:100] or "patient.toml"


def add_forecast_table_routes(app: FastAPI) -> None:
    """POST /api/forecast/tables and POST /api/forecast/compose."""

    @app.post("/api/forecast/tables", summary="a patient file's text as tables, with the CLI's message if it is bad")
    async def tables(body: PatientTextBody) -> Response:
        result = await asyncio.to_thread(patient_tables.tables_from_text, body.text, _name(body.filename))
        return _json({**result, "units": list(patient_tables.AMOUNT_UNITS)})

    @app.post("/api/forecast/compose", summary="the tables as a patient file, with the CLI's message if it is bad")
    async def compose(body: PatientTablesBody) -> Response:
        return _json(await asyncio.to_thread(patient_tables.text_from_tables, body.tables, body.text,
                                             _name(body.filename), body.first_date))
