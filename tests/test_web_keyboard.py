"""The explorer by keyboard, and a user's compound on the simulate page, in a real browser (Playwright, system
Chromium, real `ketasim serve`): every page tabs through its controls in page order, each with a label and a
visible focus ring; a simulation runs and a forecast row is added and removed with the keyboard only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _web_server import launched_chromium, served

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "examplamine.toml"
PAGES = ("/", "/forecast", "/trial", "/validation", "/runs")

# the focused element: its place in the page, an accessible name (aria-label, its <label>, its text) and its focus ring
FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const labels = e.labels ? [...e.labels].map(l => l.textContent).join(" ") : "";
  const name = (e.getAttribute("aria-label") || labels || e.textContent || "").trim();
  const style = getComputedStyle(e);
  return {key: e.dataset.k || null, tag: e.tagName.toLowerCase(), id: e.id, name,
          ring: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2};
}"""
# every control a user can reach with Tab, numbered in page order (data-k); of a radio group, Tab reaches the
# checked radio (the arrow keys move within the group)
CONTROLS = """() => {
  const all = [...document.querySelectorAll("a[href], button, input, select, textarea, summary")]
    .filter(e => !e.disabled && e.getClientRects().length && getComputedStyle(e).visibility !== "hidden"
                 && !e.closest("details:not([open]) > :not(summary)") && !e.closest(".js-plotly-plot")
                 && !(e.type === "radio" && !e.checked));
  all.forEach((e, i) => { e.dataset.k = String(i); });
  return all.map(e => e.id || e.getAttribute("aria-label") || e.textContent.trim());
}"""


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(tmp_path_factory.mktemp("keyboard") / "store", "--workers", "1", "--max-patients", "200") as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" and "status of 400" not in m.text
            else None)
    page.on("dialog", lambda d: (page.errors.append("dialog: " + d.message), d.dismiss()))
    yield page
    context.close()


def tab_to(page: Any, element_id: str, limit: int = 200) -> int:
    """Press Tab until the element `element_id` has the focus; the presses it took."""
    for n in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == element_id:
            return n
    raise AssertionError(f"#{element_id} not reached by Tab in {limit} presses")


def tab_through(page: Any) -> list[dict[str, Any]]:
    """Tab from the top of the page until the focus leaves the page or comes round again."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    seen: list[dict[str, Any]] = []
    for _ in range(400):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUSED)
        if now is None or (seen and now["key"] == seen[0]["key"]):
            break
        seen.append(now)
    return seen


@pytest.mark.parametrize("path", PAGES)
def test_every_page_tabs_through_labelled_controls_in_order_with_a_visible_focus(page: Any, url: str, path: str) -> None:
    page.goto(url + path)
    page.wait_for_selector("body[data-ready='1']")
    controls = page.evaluate(CONTROLS)
    seen = tab_through(page)
    keys = [int(s["key"]) for s in seen if s["key"] is not None]
    assert keys == sorted(keys), f"{path}: focus order is not the page order"
    assert set(keys) == set(range(len(controls))), \
        f"{path}: not reached by Tab: {[c for i, c in enumerate(controls) if i not in keys]}"
    unnamed = [s for s in seen if not s["name"]]
    assert unnamed == [], f"{path}: controls without a label: {unnamed}"
    no_ring = [s for s in seen if not s["ring"]]
    assert no_ring == [], f"{path}: no visible focus: {no_ring}"
    assert page.locator("main [onclick], main div[tabindex], main span[tabindex]").count() == 0  # buttons, not divs
    assert page.errors == []


def test_a_simulation_by_keyboard_only(page: Any, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']")
    tab_to(page, "days")
    page.keyboard.press("Control+A")
    page.keyboard.type("3")
    tab_to(page, "live", 3)
    page.keyboard.press("Space")  # live re-plot off: the run is the keyboard's Enter on the button
    assert not page.is_checked("#live")
    before = int(page.evaluate("Number(document.body.dataset.draws || 0)"))
    tab_to(page, "run", 2)
    page.keyboard.press("Enter")
    page.wait_for_function(f"Number(document.body.dataset.draws || 0) > {before}", timeout=60000)
    end = page.evaluate("Math.max(...document.getElementById('chart-madrs').data.filter(t => t.xaxis === 'x2')[0].x)")
    assert end == pytest.approx(72.0)  # 3 days, in hours
    assert page.inner_text("#error") == "" and page.errors == []


def test_a_forecast_row_by_keyboard_only(page: Any, url: str) -> None:
    page.goto(url + "/forecast")
    page.wait_for_selector("body[data-ready='1']")
    tab_to(page, "add-observation")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "visit 4 day"
    page.keyboard.press("Control+A")
    page.keyboard.type("9")
    page.keyboard.press("Tab")
    page.keyboard.type("18")
    page.wait_for_function("document.getElementById('text').value.includes('{ at = \"9 d\", madrs = 18 }')")
    for _ in range(3):
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "remove visit 4"
    page.keyboard.press("Space")
    assert page.locator("#observations-table tbody tr").count() == 3
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "remove visit 3"  # focus stays near
    page.wait_for_function("!document.getElementById('text').value.includes('{ at = \"9 d\", madrs = 18 }')")
    # the TOML view opens from the keyboard
    tab_to(page, "toml-summary")
    page.keyboard.press("Enter")
    assert page.evaluate("document.getElementById('toml-box').open")
    assert page.errors == []


def test_an_uploaded_compound_joins_the_drug_menu_and_runs(page: Any, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']")
    page.uncheck("#live")
    page.set_input_files("#compound-upload", str(EXAMPLE))
    page.wait_for_selector("#compound-list li")
    assert "examplamine" in page.inner_text("#compound-list")
    page.select_option("#regimen-a select.preset", "custom")
    row = "#regimen-a tbody tr >> nth=0"
    page.select_option(f"{row} >> select.drug", "examplamine")
    assert page.locator(f"{row} >> select.route option").all_inner_texts() == ["iv", "oral"]
    before = int(page.evaluate("Number(document.body.dataset.draws || 0)"))
    page.click("#run")
    page.wait_for_function(f"Number(document.body.dataset.draws || 0) > {before}", timeout=60000)
    names = page.evaluate("document.getElementById('chart-plasma').data.map(t => t.name).join(' ')")
    assert "examplamine" in names
    # a bad file under a name with markup: one message, shown as text
    bad = EXAMPLE.read_text().replace('unit = "mL/min/kg"', 'unit = "kg/h"', 1).encode()
    page.set_input_files("#compound-upload", files=[{"name": "<img src=x onerror=alert(1)>.toml",
                                                     "mimeType": "text/plain", "buffer": bad}])
    page.wait_for_function("document.getElementById('error').textContent.includes('clearance.unit')")
    assert page.locator("#error img").count() == 0 and "<" not in page.inner_text("#error")
    # a compound named like a shipped drug is refused
    page.set_input_files("#compound-upload", files=[{"name": "k.toml", "mimeType": "text/plain",
                                                     "buffer": EXAMPLE.read_text().replace('name = "examplamine"',
                                                                                           'name = "ketamine"').encode()}])
    page.wait_for_function("document.getElementById('error').textContent.includes('is a shipped drug')")
    assert page.locator("#compound-list li").count() == 1
    assert page.errors == []
