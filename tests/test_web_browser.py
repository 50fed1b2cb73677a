"""The explorer in a real browser: Playwright driving the system Chromium against a real `ketasim serve`."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageStat

import ketasim as ks
from _web_server import launched_chromium, served
from ketasim.apps.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "ketasim" / "apps" / "web" / "static" / "example-trial.toml"
PAGES = ("/", "/trial", "/validation", "/runs", "/forecast")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(tmp_path_factory.mktemp("browser") / "store", "--workers", "2", "--max-patients", "3000") as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()


def not_blank(png: bytes) -> bool:
    return ImageStat.Stat(Image.open(io.BytesIO(png)).convert("L")).stddev[0] > 10


def traces(page: Any, chart: str) -> int:
    return int(page.evaluate(f"document.getElementById('{chart}').data.length"))


def course_traces(page: Any, chart: str) -> int:
    """Traces of a chart's whole-course panel (each is drawn again, without a legend, in the first-24-h panel)."""
    return int(page.evaluate(f"document.getElementById('{chart}').data.filter(t => t.xaxis === 'x2').length"))


def dose_marks(page: Any, chart: str, xref: str = "x2") -> int:
    return int(page.evaluate(f"document.getElementById('{chart}').layout.shapes.filter(s => s.xref === '{xref}').length"))


def test_every_page_loads(page: Any, url: str) -> None:
    for path in PAGES:
        page.goto(url + path)
        page.wait_for_selector("body[data-ready='1']", timeout=20000)
        assert "It informs; it does not prescribe." in page.inner_text("body")
        assert page.locator("header a.active").count() == 1
    assert page.errors == []


def test_simulate_two_regimens_and_download_the_csv(page: Any, url: str, tmp_path: Path) -> None:
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']")
    page.uncheck("#live")  # one run, on the click
    page.fill("#days", "3")
    page.fill("[data-trait=weight_kg]", "80")
    page.check("#compare")
    page.click("#run")
    page.wait_for_selector("#chart-cadss .main-svg", timeout=60000)
    assert page.locator("#charts .chart").count() == 8
    assert course_traces(page, "chart-madrs") == 2  # regimen A and B
    assert traces(page, "chart-madrs") == 4  # and again in the first 24 h
    assert course_traces(page, "chart-vitals") == 6  # SBP, DBP, HR for each
    assert course_traces(page, "chart-occupancy") == 4
    axis = page.evaluate("document.getElementById('chart-madrs').layout.yaxis.title.text")
    assert axis == "MADRS points (0-60)"
    assert dose_marks(page, "chart-madrs") == 1 + 4  # one ketamine infusion; escitalopram daily at 0, 1, 2 and 3 d
    assert dose_marks(page, "chart-madrs", "x") == 1 + 2  # within the first 24 h: 0 h (both) and 24 h
    assert not_blank(page.locator("#chart-madrs").screenshot())
    assert "MADRS baseline 33.0" in page.inner_text("#status")
    with page.expect_download() as download:
        page.locator("a.csv").first.click()
    web_csv = Path(download.value.path()).read_text()
    cli_csv = tmp_path / "cli.csv"
    assert main(["simulate", "--regimen", "ketamine-iv-single", "--days", "3", "--set", "weight_kg=80",
                 "--csv", str(cli_csv)]) == 0
    assert web_csv == cli_csv.read_text()
    assert page.errors == []


def test_run_a_two_arm_trial_from_the_page(page: Any, url: str, capsys: pytest.CaptureFixture[str]) -> None:
    page.goto(url + "/trial")
    page.wait_for_selector("body[data-ready='1']")
    assert "ketamine vs midazolam" in page.input_value("#text")
    page.fill("#patients", "30")
    page.click("#run")
    page.wait_for_selector("#dl-report", timeout=90000)
    page.wait_for_selector("#chart-rates .main-svg")
    assert traces(page, "chart-madrs") == 4  # 2 arms x (95% band, mean)
    assert traces(page, "chart-rates") == 8  # 2 arms x (response, remission) x (band, rate)
    assert not_blank(page.locator("#chart-madrs").screenshot())
    assert not_blank(page.locator("#chart-rates").screenshot())
    assert page.locator("#tables table").first.locator("tbody tr").count() == 2 * 3  # arms x visits
    assert page.locator("#tables .pass, #tables .miss").count() == 1  # the published target
    assert page.get_attribute("#status", "data-state") == "done"
    with page.expect_download() as download:
        page.click("#dl-json")
    web = json.loads(Path(download.value.path()).read_text())
    assert main(["trial", str(EXAMPLE), "--json", "--patients-per-arm", "30"]) == 0
    assert web == json.loads(capsys.readouterr().out)
    with page.expect_download() as download:
        page.click("#dl-parquet")
    assert Path(download.value.path()).read_bytes()[:4] == b"PAR1"
    assert page.errors == []


def test_cancel_a_running_trial(page: Any, url: str) -> None:
    page.goto(url + "/trial")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#patients", "1000")
    page.select_option("#engine", "reference")  # slow on purpose
    page.click("#run")
    page.wait_for_selector("#status[data-state='running']", timeout=30000)
    page.click("#cancel")
    page.wait_for_selector("#status[data-state='cancelled']", timeout=30000)
    assert page.is_disabled("#cancel") and not page.is_disabled("#run")
    latest = httpx.get(url + "/api/runs").json()[0]
    assert latest["kind"] == "trial" and latest["status"] == "cancelled"
    assert page.locator("#chart-madrs .main-svg").count() == 0  # no results drawn


def test_validation_page_shows_pass_and_miss(page: Any, url: str) -> None:
    # one validation of the shipped set (the costly part) serves the run from the page, its table, the forest
    # plot, the filters, the mechanism table, and the page reopened on the latest run
    page.goto(url + "/validation")
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#patients", "5")
    page.click("#run")
    page.wait_for_selector("#score", timeout=180000)
    rows = page.locator("#result tbody tr").count()
    results = page.locator("#result .pass, #result .miss").count()
    assert rows >= 30 and results == rows
    assert "targets within tolerance" in page.inner_text("#score")
    assert page.locator("#result td", has_text="Murrough JW et al. 2013").count() >= 1
    assert page.errors == []
    run = next(r for r in httpx.get(url + "/api/runs").json() if r["kind"] == "validate" and r["status"] == "done")
    targets = httpx.get(f"{url}/api/runs/{run['id']}", timeout=10).json()["summary"]["targets"]
    assert len(targets) == rows
    page.goto(url + "/validation")  # reopened: the latest finished validation is shown without a run
    page.wait_for_selector("body[data-ready='1']")
    check_forest_plot_filters_and_mechanism_table(page, targets)


def check_forest_plot_filters_and_mechanism_table(page: Any, targets: list[dict]) -> None:
    page.wait_for_selector("#forest .main-svg")
    forest = "document.getElementById('forest').data"
    assert page.evaluate(f"{forest}[1].y.length") == len(targets) == page.locator("#result tbody tr").count()
    assert page.evaluate(f"{forest}[1].error_x.array.length") == len(targets)  # the 95% sampling intervals
    first = targets[0]
    x0 = page.evaluate(f"{forest}[1].x[0]")
    assert x0 == pytest.approx((first["simulated"] - first["published"]) / first["tolerance"])
    band = page.evaluate("document.getElementById('forest').layout.shapes[0]")
    assert (band["x0"], band["x1"]) == (-1, 1)
    # filters: by result, then by file
    misses = sum(not t["pass"] for t in targets)
    page.select_option("#filter-result", "miss")
    assert page.locator("#result tbody tr").count() == misses
    assert page.locator("#result tbody .pass").count() == 0
    page.select_option("#filter-result", "")
    page.select_option("#filter-file", first["file"])
    shown = sum(t["file"] == first["file"] for t in targets)
    assert page.locator("#result tbody tr").count() == shown
    assert page.evaluate(f"{forest}[1].y.length") == shown
    assert f"{shown} of {len(targets)} targets shown" in page.inner_text("#shown")
    # the mechanism checks: human and rodent apart
    score = page.inner_text("#mechanism-score")
    assert "human:" in score and "rodent-derived:" in score
    assert page.locator("#mechanism tbody tr").count() >= 10
    assert page.errors == []


def test_custom_doses_and_patient_traits(page: Any, url: str, tmp_path: Path) -> None:
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']")
    page.uncheck("#live")
    fieldset = page.locator("#regimen-a")
    fieldset.locator("select.preset").select_option("custom")
    row = fieldset.locator("tbody tr").first
    row.locator("select.drug").select_option("esketamine")
    row.locator("select.route").select_option("intranasal")
    row.locator("input.amount").fill("56 mg")
    row.locator("input.infusion").fill("")
    row.locator("input.at").fill("0 d, 3 d")
    page.select_option("[data-trait=female]", "0")
    page.fill("[data-trait=age_y]", "60")
    page.fill("#days", "5")
    page.click("#run")
    page.wait_for_selector("#chart-plasma .main-svg", timeout=60000)
    names = page.evaluate("document.getElementById('chart-plasma').data.map(t => t.name)")
    assert any(n.startswith("esketamine plasma") for n in names) and not any(n.startswith("ketamine") for n in names)
    assert dose_marks(page, "chart-madrs") == 2  # doses at 0 and 3 d
    with page.expect_download() as download:
        page.locator("a.csv").first.click()
    regimen = tmp_path / "esk.toml"
    regimen.write_text('doses = [ { drug = "esketamine", route = "intranasal", amount = "56 mg", at = ["0 d", "3 d"] } ]\n')
    cli = tmp_path / "cli.csv"
    assert main(["simulate", "--regimen", str(regimen), "--days", "5", "--set", "female=0", "--set", "age_y=60",
                 "--csv", str(cli)]) == 0
    assert Path(download.value.path()).read_text() == cli.read_text()
    # a bad amount: the message of the model's checks, shown on the page
    row.locator("input.amount").fill("56 mL")
    page.click("#run")
    page.wait_for_selector("#error:not(:empty)")
    assert "doses[0]: amount" in page.inner_text("#error")
    assert [e for e in page.errors if "400" not in e] == []


def test_runs_page_lists_and_compares(page: Any, url: str) -> None:
    ids = []
    for seed in (11, 12):
        text = EXAMPLE.read_text().replace("seed = 7", f"seed = {seed}")
        ids.append(httpx.post(url + "/api/trials", json={"text": text, "patients_per_arm": 20}).json()["id"])
    for run_id in ids:
        with httpx.stream("GET", f"{url}/api/runs/{run_id}/events", timeout=120) as stream:
            for _ in stream.iter_lines():
                pass
    page.goto(url + "/runs")
    page.wait_for_selector("body[data-ready='1']")
    for run_id in ids:
        assert page.locator("#runs td", has_text=run_id).count() == 1
    page.fill("#run-a", ids[0])
    page.fill("#run-b", ids[1])
    page.click("#compare")
    page.wait_for_selector("#comparison table")
    assert page.locator("#comparison tbody tr").count() == 2 * 3 * len(ks.VISIT_METRICS)  # arms x visits x metrics
    assert page.errors == []


def test_forecast_from_the_page(page: Any, url: str) -> None:
    page.goto(url + "/forecast")
    page.wait_for_selector("body[data-ready='1']")
    assert "failed_treatments = 3" in page.input_value("#text")
    page.fill("#draws", "300")
    page.fill("#intervals", "1 wk, 3 wk")
    page.click("#run")
    page.wait_for_selector("#plan-table", timeout=120000)
    page.wait_for_selector("#chart-relapse .main-svg")
    assert page.get_attribute("#status", "data-state") == "done"
    # 90% band, 50% band, median without sessions, one median per interval, observed MADRS
    assert traces(page, "chart-forecast") == 3 + 2 + 1
    assert traces(page, "chart-relapse") == 1
    assert not_blank(page.locator("#chart-forecast").screenshot())
    assert page.locator("#plan-table tbody tr").count() == 2
    assert page.locator("#traits-table tbody tr").count() >= 5
    assert "ESS" in page.inner_text("#posterior-line") and "interval" in page.inner_text("#recommended").lower()
    with page.expect_download() as download:
        page.click("#dl-json")
    data = json.loads(Path(download.value.path()).read_text())
    assert [row["interval"] for row in data["plan"]] == ["1 wk", "3 wk"] and data["settings"]["draws"] == 300
    # a bad file: the message on the page, the page keeps working
    page.click("#toml-box > summary")  # the TOML is the advanced view, folded under the tables
    page.fill("#text", "[patient\n")
    page.click("#run")
    page.wait_for_function("document.getElementById('error').textContent.includes('invalid TOML')")
    assert page.is_enabled("#run")
    assert [e for e in page.errors if "status of 400" not in e] == []  # the browser logs the 400 response itself


def test_a_page_from_another_origin_cannot_drive_the_server(page: Any, url: str, tmp_path: Path) -> None:
    """A page served from another local port posts a trial by a plain form (no preflight) and tries to read
    the runs: the post is refused with 403 and nothing is recorded; the explorer's own pages keep working."""
    import http.server
    import threading

    from _web_server import free_port

    before = httpx.get(url + "/api/runs").json()
    (tmp_path / "evil.html").write_text(f"""<!doctype html><html><body>
<form id="f" method="post" action="{url}/api/trials/upload" enctype="multipart/form-data">
<input type="hidden" name="patients_per_arm" value="10"><textarea name="file">x</textarea></form>
<pre id="read">pending</pre><pre id="sent">pending</pre>
<script>
fetch("{url}/api/runs").then(r => r.text()).then(t => document.getElementById("read").textContent = "read: " + t,
                                                e => document.getElementById("read").textContent = "blocked");
const body = new FormData();  // multipart/form-data: a simple request, no preflight
body.append("file", new Blob([{json.dumps(EXAMPLE.read_text())}]), "trial.toml");
body.append("patients_per_arm", "10");
fetch("{url}/api/trials/upload", {{method: "POST", mode: "no-cors", body}})
  .then(() => document.getElementById("sent").textContent = "sent", () => document.getElementById("sent").textContent = "failed");
</script></body></html>""")
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://localhost:{port}/evil.html")
        page.wait_for_function("document.getElementById('read').textContent !== 'pending'")
        assert page.text_content("#read") == "blocked"  # no CORS header: the foreign page cannot read
        page.wait_for_function("document.getElementById('sent').textContent !== 'pending'")
        with page.expect_navigation():
            page.evaluate("document.getElementById('f').submit()")
        assert "cross-origin request" in page.content()
    finally:
        server.shutdown()
        server.server_close()
    assert httpx.get(url + "/api/runs").json() == before
    foreign = httpx.get(url + "/api/runs", headers={"Host": "evil.example"})
    assert foreign.status_code == 403 and "is not this server" in foreign.json()["detail"]
    page.errors.clear()
    page.goto(url + "/")
    assert page.title() and not [e for e in page.errors if "403" in e]
