"""The forecast page's doses and observations tables in a real browser (Playwright, system Chromium, real
`ketasim serve`): rows added and removed, a bad value showing the CLI's message, the TOML kept in step both
ways (edit, download, upload), and a forecast run from the tables equal to the CLI's on the same file."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ketasim as ks
from _web_server import launched_chromium, served
from ketasim.apps.cli import main

DATA_CSV_FILE = '[patient]\nweight_kg = 70\ndata = "visits.csv"\n'


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(tmp_path_factory.mktemp("forecast-tables") / "store", "--workers", "1", "--max-patients", "500") as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any, url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" and "status of 400" not in m.text
            else None)
    page.goto(url + "/forecast")
    page.wait_for_selector("body[data-ready='1']")
    yield page
    context.close()


def syncs(page: Any) -> int:
    return int(page.evaluate("Number(document.body.dataset.synced || 0)"))


def after_sync(page: Any, before: int) -> None:
    page.wait_for_function(f"Number(document.body.dataset.synced || 0) > {before}", timeout=20000)


def toml(page: Any) -> dict[str, Any]:
    return tomllib.loads(page.input_value("#text"))


def rows(page: Any, table: str) -> int:
    return page.locator(f"#{table}-table tbody tr").count()


def open_toml(page: Any) -> None:
    if not page.evaluate("document.getElementById('toml-box').open"):
        page.click("#toml-box > summary")


def test_the_example_as_tables_add_and_remove_rows(page: Any) -> None:
    assert rows(page, "doses") == 6 and rows(page, "observations") == 3  # one row per dose time, one per visit
    assert page.input_value("#weight") == "80"
    assert page.input_value("#doses-table tbody tr >> nth=1 >> .at") == "2"
    drugs = page.locator("#doses-table tbody tr >> nth=0 >> .drug option").all_inner_texts()
    assert "ketamine" in drugs and "esketamine" in drugs
    # add a visit: a new row a day after the last, focused; a score typed there reaches the TOML
    before = syncs(page)
    page.click("#add-observation")
    assert rows(page, "observations") == 4
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "visit 4 day"
    assert page.input_value("#observations-table tbody tr >> nth=3 >> .at") == "8"
    page.fill("#observations-table tbody tr >> nth=3 >> .madrs", "15")
    after_sync(page, before)
    page.wait_for_function("document.getElementById('text').value.includes('madrs = 15')")
    assert toml(page)["patient"]["observations"][-1] == {"at": "8 d", "madrs": 15}
    # an added dose of another drug: the route menu follows the drug
    before = syncs(page)
    page.click("#add-dose")
    last = "#doses-table tbody tr >> nth=6"
    page.select_option(f"{last} >> .drug", "esketamine")
    assert page.locator(f"{last} >> .route option").all_inner_texts() == list(ks.DRUGS["esketamine"].routes)
    page.select_option(f"{last} >> .route", "intranasal")
    page.fill(f"{last} >> .amount", "56")
    page.select_option(f"{last} >> .unit", "mg")
    page.fill(f"{last} >> .infusion", "")
    page.wait_for_function("document.getElementById('text').value.includes('56 mg')")
    after_sync(page, before)
    assert toml(page)["patient"]["doses"][-1] == {"drug": "esketamine", "route": "intranasal", "amount": "56 mg",
                                                  "at": "12 d"}
    # remove the second visit (day 1): three visits remain, the rest of the file (background, [plan]) is kept
    before = syncs(page)
    page.click("#observations-table tbody tr >> nth=1 >> button.remove")
    assert rows(page, "observations") == 3
    page.wait_for_function("!document.getElementById('text').value.includes('at = \"1 d\"')")
    after_sync(page, before)
    data = toml(page)
    assert [o["at"] for o in data["patient"]["observations"]] == ["0 d", "7 d", "8 d"]
    assert data["patient"]["background"][0]["drug"] == "escitalopram" and data["plan"]["horizon"] == "8 wk"
    assert page.inner_text("#tables-error") == ""
    assert page.errors == []


def test_a_bad_value_shows_the_cli_message(page: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = syncs(page)
    page.fill("#observations-table tbody tr >> nth=1 >> .madrs", "75")
    after_sync(page, before)
    page.wait_for_function("document.getElementById('tables-error').textContent !== ''")
    shown = page.inner_text("#tables-error")
    path = tmp_path / "patient.toml"
    path.write_text(page.input_value("#text"))
    assert main(["forecast", str(path), "--draws", "300"]) == 2
    cli = capsys.readouterr().err.strip().splitlines()[-1].removeprefix("ketasim: error: ")
    assert shown == cli.replace(str(path), "patient.toml")
    assert "patient.observations[1].madrs" in shown and "0..60" in shown
    assert page.get_attribute("#observations-table tbody tr >> nth=1 >> .madrs", "aria-invalid") == "true"
    # an unknown drug in the TOML: the drug menu keeps it, the row is marked, the message is the parser's
    open_toml(page)
    before = syncs(page)
    page.fill("#text", page.input_value("#text").replace('drug = "ketamine", route = "iv", amount = "0.5 mg/kg", '
                                                         'infusion = "40 min", at = "4 d"',
                                                         'drug = "ketamin", route = "iv", amount = "0.5 mg/kg", '
                                                         'infusion = "40 min", at = "4 d"'))
    after_sync(page, before)
    assert page.input_value("#doses-table tbody tr >> nth=2 >> .drug") == "ketamin"
    assert "patient.doses[2]" in page.inner_text("#tables-error") and "unknown drug 'ketamin'" in page.inner_text("#tables-error")
    assert page.get_attribute("#doses-table tbody tr >> nth=2 >> .drug", "aria-invalid") == "true"
    # fixed in the table: the message goes
    before = syncs(page)
    page.select_option("#doses-table tbody tr >> nth=2 >> .drug", "ketamine")
    page.fill("#observations-table tbody tr >> nth=1 >> .madrs", "22")
    page.wait_for_function("document.getElementById('tables-error').textContent === ''")
    assert page.errors == []


def test_the_toml_round_trip(page: Any, tmp_path: Path) -> None:
    open_toml(page)
    # TOML -> tables
    before = syncs(page)
    page.fill("#text", page.input_value("#text").replace("madrs = 17", "madrs = 19").replace("weight_kg = 80", "weight_kg = 72"))
    after_sync(page, before)
    assert page.input_value("#observations-table tbody tr >> nth=2 >> .madrs") == "19"
    assert page.input_value("#weight") == "72"
    # tables -> TOML, dated: visits by calendar date, counted from the first dose's date
    page.select_option("#time-mode", "date")
    before = syncs(page)
    page.fill("#first-date", "2026-03-02")
    page.dispatch_event("#first-date", "change")
    after_sync(page, before)
    assert page.input_value("#observations-table tbody tr >> nth=2 >> .at") == "2026-03-09"
    before = syncs(page)
    page.fill("#observations-table tbody tr >> nth=2 >> .at", "2026-03-12")
    after_sync(page, before)
    page.wait_for_function("document.getElementById('text').value.includes('at = \"10 d\", madrs = 19')")
    # download: the file is the TOML shown; uploaded again, it gives the same tables
    with page.expect_download() as download:
        page.click("#download-toml")
    saved = Path(download.value.path()).read_text()
    assert saved == page.input_value("#text")
    assert tomllib.loads(saved)["patient"]["weight_kg"] == 72
    page.click("#example")
    page.wait_for_function("document.getElementById('weight').value === '80'")
    upload = tmp_path / "mine.toml"
    upload.write_text(saved)
    before = syncs(page)
    page.set_input_files("#upload", str(upload))
    after_sync(page, before)
    assert page.input_value("#weight") == "72" and page.input_value("#filename") == "mine.toml"
    assert page.input_value("#observations-table tbody tr >> nth=2 >> .at") == "2026-03-12"
    # a file the tables cannot show (doses from a CSV): the tables are disabled and say why
    before = syncs(page)
    page.fill("#text", DATA_CSV_FILE)
    after_sync(page, before)
    assert "NONMEM-style CSV" in page.inner_text("#tables-note")
    assert page.is_disabled("#add-dose") and page.is_disabled("#weight")
    assert page.errors == []


def test_a_forecast_from_the_tables_equals_the_cli(page: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    open_toml(page)
    before = syncs(page)
    page.fill("#text", page.input_value("#text").replace('intervals = ["1 wk", "2 wk", "3 wk", "4 wk"]',
                                                         'intervals = ["2 wk"]'))
    after_sync(page, before)
    for _ in range(4):  # keep two doses: day 0 and day 2
        page.click("#doses-table tbody tr >> nth=2 >> button.remove")
    page.fill("#observations-table tbody tr >> nth=2 >> .at", "5")
    page.fill("#observations-table tbody tr >> nth=2 >> .madrs", "20")
    page.fill("#age", "50")
    page.fill("#draws", "300")
    page.click("#run")  # the run writes the pending table edits into the file first
    page.wait_for_selector("#plan-table", timeout=180000)
    assert page.get_attribute("#status", "data-state") == "done"
    text = page.input_value("#text")
    data = tomllib.loads(text)
    assert [d["at"] for d in data["patient"]["doses"]] == ["0 d", "2 d"]
    assert data["patient"]["observations"][-1] == {"at": "5 d", "madrs": 20} and data["patient"]["age"] == 50
    with page.expect_download() as download:
        page.click("#dl-json")
    web = json.loads(Path(download.value.path()).read_text())
    path = tmp_path / "patient.toml"
    path.write_text(text)
    capsys.readouterr()
    assert main(["forecast", str(path), "--json", "--draws", "300", "--seed", "0"]) == 0
    cli = json.loads(capsys.readouterr().out)
    for key in ("plan", "forecast", "relapse", "recommended_interval", "posterior"):
        assert web[key] == cli[key], key
    assert page.errors == []
