"""`ketasim report`: one self-contained HTML file that opens offline in Chromium with every figure visible."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image, ImageStat

import ketasim as ks
from _web_server import chromium_path
from ketasim.apps.cli import main

TRIAL = Path(__file__).resolve().parents[1] / "src" / "ketasim" / "data" / "calibration" / "murrough-2013-ajp.toml"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Reports of a recorded trial run (with published targets) and a recorded simulate run."""
    folder = tmp_path_factory.mktemp("reports")
    store = folder / "store"
    assert main(["trial", str(TRIAL), "--patients-per-arm", "40", "--store", str(store)]) == 0
    assert main(["simulate", "--regimen", "ketamine-iv-6x", "--days", "14", "--store", str(store)]) == 0
    from ketasim.apps.store import RunStore

    runs = {r["kind"]: r["id"] for r in RunStore(store).list()}
    out = {}
    for kind, run_id in runs.items():
        out[kind] = folder / f"{kind}.html"
        assert main(["report", run_id, "--store", str(store), "-o", str(out[kind])]) == 0
    return out


def test_trial_report_has_everything_to_rerun_it(reports: dict[str, Path]) -> None:
    html = reports["trial"].read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from anywhere
    assert html.count("src='data:image/png;base64,") == 2
    for text in ("Design", "Arms and doses", "ketamine iv 0.5 mg/kg over 40 min, at 0 h", "midazolam iv 0.045 mg/kg",
                 "Visits", "95% CI", "Validation against published targets",
                 "Murrough JW et al. 2013", "seed", "2013", f"ketasim {ks.__version__}", "--patients-per-arm 40",
                 "It informs; it does not prescribe."):
        assert text in html, text
    # the input file, verbatim (HTML-escaped), so anyone can rerun it
    from html import unescape

    shown = unescape(re.search(r'<pre id="input">(.*?)</pre>', html, re.S).group(1))  # type: ignore[union-attr]
    assert shown == TRIAL.read_text()
    # the visit table carries the run's numbers
    from ketasim.apps.store import RunStore

    store = RunStore(reports["trial"].with_name("store"))
    (run_id,) = [r["id"] for r in store.list() if r["kind"] == "trial"]
    arms = store.summary(run_id)["arms"]
    for s in arms.values():
        for v in s["visits"].values():
            low, high = v["change_mean_ci"]
            assert f"{v['change_mean']:+.1f} [{low:.1f}, {high:.1f}]" in html


def test_reports_open_offline_in_chromium_with_figures(reports: dict[str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-dev-shm-usage"])
        context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        for kind, path in reports.items():
            page.goto(path.as_uri())
            images = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
            assert images and all(done and w > 300 and h > 200 for done, w, h in images), (kind, images)
            for i in range(len(images)):
                shot = page.locator("img").nth(i).screenshot()
                stat = ImageStat.Stat(Image.open(io.BytesIO(shot)).convert("L"))
                assert stat.stddev[0] > 10, f"{kind} figure {i} looks blank"
            page.screenshot(path=str(path.with_suffix(".png")), full_page=True)
        assert all(url.startswith(("file:", "data:")) for url in requests), requests
        browser.close()
