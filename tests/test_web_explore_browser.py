"""The simulate page's explorer controls in a real browser (Playwright, system Chromium, real `ketasim serve`):
the first-24-h view, dose marks, labels with units, live re-plot without a click, population bands, dose sweeps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from _web_server import launched_chromium, served


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(tmp_path_factory.mktemp("explore-browser") / "store", "--workers", "2", "--max-patients", "500") as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any, url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']")
    yield page
    context.close()


def draws(page: Any) -> int:
    return int(page.evaluate("Number(document.body.dataset.draws || 0)"))


def wait_drawn(page: Any, after: int, timeout_ms: float = 60000) -> None:
    page.wait_for_function(f"Number(document.body.dataset.draws || 0) > {after}", timeout=timeout_ms)


def layout(page: Any, chart: str, path: str) -> Any:
    return page.evaluate(f"document.getElementById('{chart}').layout.{path}")


def test_first_24_hours_beside_the_course_with_dose_marks_and_units(page: Any) -> None:
    page.uncheck("#live")
    page.select_option("#regimen-a select.preset", "ketamine-iv-6x")
    page.fill("#days", "14")
    page.click("#run")
    wait_drawn(page, 0)
    for chart in ("plasma", "occupancy", "glutamate", "bdnf", "madrs", "vitals", "cadss"):
        assert layout(page, f"chart-{chart}", "xaxis.range") == [0, 24]  # the acute panel: the first 24 h
        assert "whole course" in layout(page, f"chart-{chart}", "xaxis2.title.text")
        marks = page.evaluate(f"document.getElementById('chart-{chart}').layout.shapes.map(s => [s.xref, s.x0])")
        assert [x for ref, x in marks if ref == "x"] == [0]  # the first infusion, within 24 h
        assert len([x for ref, x in marks if ref == "x2"]) == 6  # every infusion on the course
    assert layout(page, "chart-vitals", "yaxis.title.text") == "mmHg, beats/min"
    names = page.evaluate("document.getElementById('chart-occupancy').data.filter(t => t.xaxis === 'x2').map(t => t.name)")
    assert names == ["NMDA receptor occupancy (fraction (0-1))", "SERT occupancy (fraction (0-1))"]
    label = page.locator("label", has=page.locator("[data-trait=plasticity_gain]"))
    assert "activity-dependent BDNF release (1 typical): the BDNF/mTOR -> synapse path (1)" in label.inner_text()
    assert "valid 0 to 20" in label.get_attribute("title")
    assert page.errors == []


def test_a_changed_input_replots_without_a_click(page: Any) -> None:
    page.fill("#days", "4")
    wait_drawn(page, 0)
    first = layout(page, "chart-madrs", "xaxis2.range[1]")
    before = draws(page)
    page.fill("#days", "8")  # no click
    wait_drawn(page, before)
    page.wait_for_function("document.getElementById('status').textContent.includes('MADRS baseline')")
    assert layout(page, "chart-madrs", "xaxis2.range[1]") > first
    before = draws(page)
    page.fill("[data-trait=dissociation_sensitivity]", "3")
    wait_drawn(page, before)
    timing = page.evaluate("window.lastTiming")
    assert timing["mode"] == "single" and timing["total_ms"] > 0
    # typing fast: one request per pause, stale ones cancelled, the last value drawn
    before = draws(page)
    for days in ("5", "7", "9"):
        page.fill("#days", days)
    wait_drawn(page, before)
    page.wait_for_timeout(600)
    assert draws(page) == before + 1
    assert 8.5 < layout(page, "chart-madrs", "xaxis2.range[1]") <= 9.5  # days on the course axis
    assert page.errors == []


def test_population_band_draws(page: Any) -> None:
    page.uncheck("#live")
    page.check("input[name=mode][value=population]")
    assert page.locator("#patient").is_hidden() and page.locator("#population").is_visible()
    page.fill("#pop-n", "40")
    page.fill("#pop-seed", "3")
    page.fill("#days", "7")
    page.click("#run")
    wait_drawn(page, 0)
    data = page.evaluate("document.getElementById('chart-band-madrs').data"
                         ".filter(t => t.xaxis === 'x2').map(t => [t.name, t.fill || ''])")
    assert ["MADRS median", ""] in data
    assert ["MADRS 90% band", "tonexty"] in data and ["MADRS 50% band", "tonexty"] in data
    plasma = page.evaluate("document.getElementById('chart-band-plasma').data.map(t => t.name)")
    assert any(n.startswith("ketamine plasma median") for n in plasma)
    assert layout(page, "chart-band-madrs", "xaxis.range") == [0, 24]
    assert "40 of 40 patients" in page.inner_text("#status")
    assert page.errors == []


def test_sweep_draws_one_curve_per_value(page: Any) -> None:
    page.uncheck("#live")
    page.check("input[name=mode][value=sweep]")
    page.fill("#sweep-values", "0.2 mg/kg, 0.5 mg/kg, 1.0 mg/kg")
    page.fill("#sweep-days", "1, 7")
    page.fill("#days", "7")
    page.click("#run")
    wait_drawn(page, 0)
    names = page.evaluate("document.getElementById('chart-sweep-curves').data.filter(t => t.xaxis === 'x2').map(t => t.name)")
    assert names == ["0.2 mg/kg", "0.5 mg/kg", "1.0 mg/kg"]
    at = page.evaluate("document.getElementById('chart-sweep-at').data.map(t => [t.name, t.y.length])")
    assert at == [["day 1", 3], ["day 7", 3]]
    page.select_option("#sweep-parameter", "every")
    assert page.input_value("#sweep-values") == "1 wk, 2 wk, 3 wk, 4 wk"
    assert page.errors == []


def test_narrow_window_has_no_sideways_scroll(browser: Any, url: str) -> None:
    context = browser.new_context(viewport={"width": 420, "height": 900})
    page = context.new_page()
    for path in ("/", "/validation", "/forecast"):
        page.goto(url + path)
        page.wait_for_selector("body[data-ready='1']")
        assert page.evaluate("document.documentElement.scrollWidth") <= 440, path
    context.close()
