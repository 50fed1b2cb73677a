"""The README's explorer screenshots, at 1280 px, with Playwright and the system Chromium (localhost only).

    python benchmarks/screenshots.py [--out docs]

docs/explorer.png: ketamine against escitalopram in a typical TRD patient, 14 days, every layer (the first
24 h beside the whole course); docs/explorer-population.png: a population band (100 TRD patients, 28 days);
docs/explorer-forecast.png: the Forecast page's tables (the example patient, a visit added) and its forecast
(4,000 draws).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from replot import chromium, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        url, process = serve(Path(tmp) / "store")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-dev-shm-usage"])
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url + "/")
                page.wait_for_selector("body[data-ready='1']")
                page.uncheck("#live")
                page.check("#compare")
                page.fill("#days", "14")
                page.click("#run")
                page.wait_for_function("Number(document.body.dataset.draws || 0) > 0", timeout=300000)
                page.wait_for_timeout(500)
                page.screenshot(path=str(args.out / "explorer.png"), full_page=True)
                page.check("input[name=mode][value=population]")
                page.fill("#days", "28")
                page.click("#run")
                page.wait_for_function("Number(document.body.dataset.draws || 0) > 1", timeout=300000)
                page.wait_for_timeout(500)
                page.screenshot(path=str(args.out / "explorer-population.png"), full_page=True)
                page.goto(url + "/forecast")
                page.wait_for_selector("body[data-ready='1']")
                page.click("#add-observation")
                page.fill("#observations-table tbody tr >> nth=3 >> .at", "14")
                page.fill("#observations-table tbody tr >> nth=3 >> .madrs", "20")
                page.click("#run")
                page.wait_for_selector("#plan-table", timeout=600000)
                page.wait_for_timeout(500)
                page.screenshot(path=str(args.out / "explorer-forecast.png"), full_page=True)
                browser.close()
        finally:
            process.terminate()
            process.wait(20)
    print(f"wrote {args.out / 'explorer.png'}, {args.out / 'explorer-population.png'} and "
          f"{args.out / 'explorer-forecast.png'}")


if __name__ == "__main__":
    main()
