"""The FastAPI app of `ketasim serve`: pages (static HTML + JS from the package) and the JSON API they call.

Every page action is an API call under /api (OpenAPI document at /docs). Input errors are
4xx responses whose `detail` is the message the CLI prints for the same input.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

import ketasim as ks
from ketasim.apps import adapters as internal

from .. import explore
from ..html_report import render_report
from ..results import compare_trials
from ..runner import MAIN_TRAITS, SimulationRequest, calibration_files, check_forecast_text, forecast_input_text, forecast_steps
from ..store import RunNotFound, RunStore
from .explore_routes import COMPOUNDS_FIELD, CompoundText, add_explore_routes, compound_pairs
from .forecast_routes import add_forecast_table_routes
from .jobs import FINAL, JobManager
from .limits import BodySizeLimit
from .origin import SameOrigin
from .settings import Settings

STATIC = Path(str(resources.files("ketasim.apps.web") / "static"))
PAGES = {"/": "simulate.html", "/trial": "trial.html", "/validation": "validation.html", "/runs": "runs.html",
         "/forecast": "forecast.html"}
EXAMPLE = "example-2-arm"
ENGINES = Literal["reference", "fast"]
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


class SimulateBody(BaseModel):
    """One patient on one regimen (the inputs of `ketasim simulate`)."""

    regimen: str | None = Field(None, description="a preset name (see /api/options); or give doses")
    doses: list[dict[str, Any]] | None = Field(None, description="dose tables in the trial-file form, "
                                                                 "e.g. {drug, route, amount, infusion, at}")
    name: str = Field("", max_length=200, description="a label for a custom regimen")
    patient: str = Field("typical-trd", description="typical patient to start from")
    set: dict[str, float] = Field(default_factory=dict, description="patient or model parameter overrides (--set)")
    days: float = Field(28.0, description="simulated days")
    engine: ENGINES = "reference"
    compounds: list[CompoundText] = COMPOUNDS_FIELD


class TrialBody(BaseModel):
    """A trial file's text (the contract: trial-spec.md)."""

    text: str = Field(..., description="the trial file (TOML)")
    filename: str = Field("trial.toml", max_length=200, description="its name, used in error messages")
    patients_per_arm: int | None = Field(None, gt=0, description="override the file's patients_per_arm")
    engine: ENGINES = "fast"


class ForecastPlan(BaseModel):
    """Keys of the patient file's [plan] to override (None: the file's value, else its default)."""

    horizon: str | None = Field(None, max_length=40, description='forecast this far past the last observation, e.g. "8 wk"')
    relapse_madrs: float | None = Field(None, description="relapse: MADRS at or above this (points)")
    acceptable_risk: float | None = Field(None, description="largest acceptable probability of relapse before the next session")
    intervals: list[str] | None = Field(None, max_length=20, description='candidate maintenance intervals, e.g. ["1 wk", "2 wk"]')


class ForecastBody(BaseModel):
    """A patient file's text (docs/patient-file.md) and the options of `ketasim forecast`."""

    text: str = Field(..., description="the patient file (TOML)")
    filename: str = Field("patient.toml", max_length=200, description="its name, used in error messages")
    data_csv: str | None = Field(None, description="the NONMEM-style CSV that patient.data names (its text)")
    data_filename: str | None = Field(None, max_length=200, description="that CSV's name, used in the run record")
    draws: int = Field(4000, description="simulated posterior draws (--draws; at least 300)")
    seed: int = Field(0, description="random seed (--seed; >= 0)")
    plan: ForecastPlan = Field(default_factory=ForecastPlan)


class ValidationBody(BaseModel):
    patients_per_arm: int = Field(100, gt=0, description="patients per arm in each calibration trial")
    engine: ENGINES = "fast"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def _json(value: Any, status: int = 200) -> Response:
    return Response(internal.dumps(value), status_code=status, media_type="application/json")


def _source_name(filename: str | None) -> str:
    """The file name an upload is reported under: its last path part, plain characters only."""
    name = _SAFE_NAME.sub("_", Path((filename or "").replace("\\", "/")).name).strip() or "trial.toml"
    return name[:100]


def create_app(store: RunStore, settings: Settings | None = None) -> FastAPI:
    """The explorer app over `store` with the limits `settings`."""
    settings = settings or Settings()
    settings.check()
    store.mark_interrupted()  # web runs of an earlier server that was stopped mid-run
    jobs = JobManager(store, settings.workers, settings.max_runtime_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        jobs.start_workers()
        yield
        await asyncio.to_thread(jobs.shutdown)

    app = FastAPI(title="ketasim explorer", version=ks.__version__, lifespan=lifespan,
                  description="Simulate, run virtual trials, validate and keep every run. " + internal.DISCLAIMER)
    app.state.store, app.state.jobs, app.state.settings = store, jobs, settings
    app.add_middleware(BodySizeLimit, limit=settings.max_upload_bytes)
    app.add_middleware(SameOrigin, host=settings.host, token=settings.token)  # outermost: checked first
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(ks.KetasimInputError)
    async def input_error(request: Request, err: ks.KetasimInputError) -> JSONResponse:
        return _error(404 if isinstance(err, RunNotFound) else 400, " ".join(str(err).split()))

    @app.exception_handler(RecursionError)
    async def too_deep(request: Request, err: RecursionError) -> JSONResponse:  # a backstop: the CLI's message
        return _error(400, "input nested too deeply")

    # ---- pages ---------------------------------------------------------------------------------

    def page(name: str) -> Any:
        async def serve_page() -> FileResponse:
            return FileResponse(STATIC / name, media_type="text/html")
        return serve_page

    for path, name in PAGES.items():
        app.add_api_route(path, page(name), methods=["GET"], include_in_schema=False, response_class=HTMLResponse)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> FileResponse:
        import plotly

        return FileResponse(Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
                            media_type="application/javascript")

    # ---- options and examples ------------------------------------------------------------------

    @app.get("/api/options", summary="drugs, routes, presets, typical patients, engines and this server's limits")
    async def options() -> Response:
        return _json({
            "drugs": {name: {"routes": list(d.routes), "description": d.description} for name, d in ks.DRUGS.items()},
            "presets": {name: {"description": desc, "doses": [_dose_dict(d) for d in reg.doses]}
                        for name, (desc, reg) in ks.PRESETS.items()},
            "patients": {name: dataclasses.asdict(p) for name, p in ks.TYPICAL_PATIENTS.items()},
            "traits": list(MAIN_TRAITS), "engines": ["reference", "fast"],
            "limits": {"max_patients": settings.max_patients, "max_upload_bytes": settings.max_upload_bytes,
                       "max_days": settings.max_days, "workers": settings.workers},
            "examples": [EXAMPLE, *(p.stem for p in calibration_files())], "disclaimer": internal.DISCLAIMER,
            "units": explore.column_units(), "patient_fields": explore.patient_fields(),
            "parameters": explore.model_parameters(), "population_kinds": list(internal.POPULATION_KINDS),
            "sweep_parameters": list(explore.SWEEP_PARAMETERS), "amount_units": list(internal.AMOUNT_UNITS)})

    add_explore_routes(app, settings)
    add_forecast_table_routes(app)

    @app.get("/api/examples/{name}", summary="an example trial file (TOML text)")
    async def example(name: str) -> Response:
        files = {p.stem: p for p in calibration_files()}
        if name == EXAMPLE:
            return Response((STATIC / "example-trial.toml").read_text(), media_type="text/plain")
        if name not in files:
            return _error(404, f"unknown example {name!r}; examples: {', '.join([EXAMPLE, *files])}")
        return Response(files[name].read_text(), media_type="text/plain")

    # ---- simulate ------------------------------------------------------------------------------

    @app.post("/api/simulate", summary="simulate one patient (runs in a worker; returns every layer over time)")
    async def simulate(body: SimulateBody) -> Response:
        request = _simulation_request(body, settings)
        await asyncio.to_thread(request.check)  # fail fast with the CLI's message, before any worker starts
        job = jobs.submit("simulate", request.label(), request.input_text(), _request_kwargs(request), total=1,
                          engine=request.engine)
        await _wait(job, settings.max_runtime_s + 10.0)
        if job.status != "done":
            return _error(400 if job.status == "failed" else 409, job.message or job.status)
        table = store.table(job.id, "timecourse")
        return _json({"run_id": job.id, "summary": job.summary,
                      "columns": {c: table[c].tolist() for c in table.columns}})

    # ---- trials --------------------------------------------------------------------------------

    def start_trial(text: str, filename: str, patients_per_arm: int | None, engine: str) -> Response:
        source = _source_name(filename)
        spec = internal.trial_from_text(text, source)
        n = patients_per_arm or spec.patients_per_arm
        total = n * len(spec.arms)
        if total > settings.max_patients:
            return _error(400, f"{source}: {len(spec.arms)} arms x {n} patients = {total} patients; this server runs at "
                               f"most {settings.max_patients} per run (set fewer patients per arm, or start it with "
                               "ketasim serve --max-patients N)")
        job = jobs.submit("trial", spec.name, text, {"text": text, "source": source, "patients_per_arm": n,
                                                     "engine": engine}, total=total, seed=spec.seed, engine=engine)
        return _json(job.state(), 202)

    @app.post("/api/trials", status_code=202, summary="start a trial from its text; follow /api/runs/{id}/events")
    async def trial(body: TrialBody) -> Response:
        return start_trial(body.text, body.filename, body.patients_per_arm, body.engine)

    @app.post("/api/trials/upload", status_code=202, summary="start a trial from an uploaded trial file")
    async def trial_upload(file: UploadFile = File(...), patients_per_arm: int | None = Form(None, gt=0),
                           engine: ENGINES = Form("fast")) -> Response:
        raw = await file.read(settings.max_upload_bytes + 1)
        source = _source_name(file.filename)
        if len(raw) > settings.max_upload_bytes:
            return _error(413, _too_large(len(raw), settings.max_upload_bytes))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            return _error(400, f"{source}: invalid TOML: not UTF-8 text ({err.reason} at byte {err.start})")
        return start_trial(text, source, patients_per_arm, engine)

    # ---- validation ----------------------------------------------------------------------------

    @app.post("/api/validation", status_code=202, summary="validate against the shipped calibration set")
    async def validation(body: ValidationBody) -> Response:
        files = calibration_files()
        arms = sum(len(internal.trial_from_text(p.read_text(), p.name).arms) for p in files)
        if body.patients_per_arm * arms > settings.max_patients:
            return _error(400, f"validation: {arms} arms x {body.patients_per_arm} patients = "
                               f"{arms * body.patients_per_arm} patients; this server runs at most "
                               f"{settings.max_patients} per run (at most {settings.max_patients // arms} per arm)")
        text = f"# ketasim validate --patients-per-arm {body.patients_per_arm} --engine {body.engine}\n"
        job = jobs.submit("validate", f"validation, {body.patients_per_arm} patients per arm", text,
                          {"patients_per_arm": body.patients_per_arm, "engine": body.engine}, total=len(files),
                          engine=body.engine)
        return _json(job.state(), 202)

    # ---- forecast ------------------------------------------------------------------------------

    @app.get("/api/forecast/example", summary="an example patient file (TOML text) for the forecast")
    async def forecast_example() -> Response:
        return Response((STATIC / "example-patient.toml").read_text(), media_type="text/plain")

    @app.post("/api/forecast", status_code=202,
              summary="start `ketasim forecast` on a patient file's text; follow /api/runs/{id}/events")
    async def forecast(body: ForecastBody) -> Response:
        source = _source_name(body.filename)
        plan = {k: v for k, v in body.plan.model_dump().items() if v is not None}
        if body.draws < 300:  # the CLI's check and message (not a 422 of the schema)
            return _error(400, f"--draws: expected at least 300, got {body.draws}")
        if body.seed < 0:
            return _error(400, f"--seed: expected an integer >= 0, got {body.seed}")
        data_name = None if body.data_filename is None else _source_name(body.data_filename)
        _, chosen = check_forecast_text(body.text, source, plan, body.data_csv)  # CLI messages, now
        if body.draws > settings.max_patients:
            return _error(400, f"--draws: this server simulates at most {settings.max_patients} draws per run, got "
                               f"{body.draws} (start it with ketasim serve --max-patients N)")
        text = forecast_input_text(body.text, source, body.draws, body.seed, plan, body.data_csv, data_name)
        job = jobs.submit("forecast", f"forecast: {source}", text,
                          {"text": body.text, "source": source, "draws": body.draws, "seed": body.seed, "plan": plan,
                           "data_csv": body.data_csv}, total=forecast_steps(body.draws, len(chosen.intervals_h)),
                          seed=body.seed, engine="fast")
        return _json(job.state(), 202)

    # ---- runs ----------------------------------------------------------------------------------

    def state(run_id: str) -> dict[str, Any]:
        job = jobs.get(store.check_id(run_id))
        if job is not None:
            return job.state()
        run = store.get(run_id)
        return {"id": run_id, "kind": run["kind"], "status": run["status"], "done": None, "total": None,
                "message": run["message"], "runtime_s": run["runtime_s"]}

    @app.get("/api/runs", summary="recorded runs, newest first")
    async def runs(limit: int = 200) -> Response:
        return _json(store.list(min(max(limit, 1), 1000)))

    @app.get("/api/runs/compare", summary="two trial runs, arm by arm and visit by visit (b - a)")
    async def compare(a: str, b: str) -> Response:
        for run_id in (a, b):
            if store.get(run_id)["kind"] != "trial":
                raise ks.KetasimInputError(f"runs compare: run {run_id} is not a trial run")
        return _json(compare_trials(store.summary(a), store.summary(b)))

    @app.get("/api/runs/{run_id}", summary="a run: its record, state and (when done) summary")
    async def run(run_id: str) -> Response:
        record = store.get(run_id)
        summary = store.summary(run_id) if record["status"] == "done" else None
        return _json({**record, "state": state(run_id), "summary": summary})

    @app.get("/api/runs/{run_id}/events", summary="server-sent events: the run's state until it finishes")
    async def events(run_id: str) -> StreamingResponse:
        state(run_id)

        async def stream() -> AsyncIterator[str]:
            deadline, last = time.monotonic() + settings.max_runtime_s + 60.0, None
            while time.monotonic() < deadline:  # bounded: a run ends by max_runtime_s
                current = state(run_id)
                text = json.dumps(current)
                if text != last:
                    yield f"data: {text}\n\n"
                    last = text
                if current["status"] in FINAL:
                    return
                await asyncio.sleep(0.25)
        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/api/runs/{run_id}/cancel", summary="cancel a queued or running run")
    async def cancel(run_id: str) -> Response:
        if not jobs.cancel(store.check_id(run_id)):
            return _error(409, f"run {run_id} is not running on this server ({state(run_id)['status']})")
        job = jobs.get(run_id)
        await asyncio.to_thread(job.finished.wait, 10.0)  # type: ignore[union-attr]
        return _json(state(run_id))

    @app.get("/api/runs/{run_id}/tables/{name}", summary="a result table as JSON records")
    async def table(run_id: str, name: str) -> Response:
        return _json(store.table(run_id, name).to_dict("list"))

    @app.get("/api/runs/{run_id}/simulation.csv", summary="a simulate run as `ketasim simulate --csv` writes it")
    async def csv(run_id: str) -> Response:
        buffer = io.StringIO()
        store.table(run_id, "timecourse").to_csv(buffer, index=False)
        return Response(buffer.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="ketasim-{run_id}.csv"'})

    @app.get("/api/runs/{run_id}/{name}.parquet", summary="a result table as Parquet (patients, visits, course, ...)")
    async def parquet(run_id: str, name: str) -> Response:
        buffer = io.BytesIO()
        store.table(run_id, name).to_parquet(buffer, index=False)
        return Response(buffer.getvalue(), media_type="application/vnd.apache.parquet",
                        headers={"Content-Disposition": f'attachment; filename="ketasim-{run_id}-{name}.parquet"'})

    @app.get("/api/runs/{run_id}/summary.json", summary="the run's JSON (a trial: the `ketasim trial --json` output)")
    async def summary_json(run_id: str) -> Response:
        store.summary(run_id)  # a run without results: 400 with the reason
        return Response((store.result_dir(run_id) / "summary.json").read_text(), media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="ketasim-{run_id}.json"'})

    @app.get("/api/runs/{run_id}/report.html", summary="the self-contained HTML report (as `ketasim report`)")
    async def report(run_id: str, download: bool = False) -> HTMLResponse:
        text = await asyncio.to_thread(render_report, store, run_id)
        headers = {"Content-Disposition": f'attachment; filename="ketasim-{run_id}.html"'} if download else {}
        return HTMLResponse(text, headers=headers)

    return app


def _too_large(size: int, limit: int) -> str:
    return f"request too large: {size} bytes; this server accepts at most {limit} bytes (ketasim serve --max-upload-bytes)"


def _dose_dict(d: ks.Dose) -> dict[str, Any]:
    return {"drug": d.drug, "route": d.route, "amount": str(d.amount), "times_h": list(d.times_h), "every_h": d.every_h,
            "from_h": d.from_h, "until_h": d.until_h, "infusion_h": d.infusion_h}


def _simulation_request(body: SimulateBody, settings: Settings) -> SimulationRequest:
    if (body.regimen is None) == (body.doses is None):
        raise ks.KetasimInputError("simulate: give either regimen (a preset) or doses, not both and not neither")
    if body.days > settings.max_days:
        raise ks.KetasimInputError(f"--days: this server simulates at most {settings.max_days:g} days, got {body.days:g}")
    regimen = body.regimen if body.regimen is not None else tuple(body.doses or ())
    return SimulationRequest(regimen, body.patient, body.days, body.engine, tuple(body.set.items()), body.name,
                             compound_pairs(body.compounds))


def _request_kwargs(request: SimulationRequest) -> dict[str, Any]:
    return {"regimen": request.regimen, "patient": request.patient, "days": request.days, "engine": request.engine,
            "overrides": request.overrides, "name": request.name, "compounds": request.compounds}


async def _wait(job: Any, timeout_s: float) -> None:
    await asyncio.to_thread(job.finished.wait, timeout_s)
