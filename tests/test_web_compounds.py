"""A user's compound file through the explorer's API (a real `ketasim serve`): checked as `ketasim compound check`
reads it, dosed by name in the requests that carry it (a simulation in its worker process, a population band,
a sweep) and in no other; a bad file or a shipped name is one clear error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import ketasim as ks
from _web_server import served
from ketasim.apps.cli import main
from ketasim.model.drugs.registry import unregister

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "examplamine.toml"
DOSE = {"drug": "examplamine", "route": "iv", "amount": "0.5 mg/kg", "infusion": "40 min", "at": "0 d"}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(tmp_path_factory.mktemp("compounds") / "store", "--workers", "1", "--max-patients", "200") as base:
        yield base


@pytest.fixture
def cli_registry() -> Iterator[None]:
    """The CLI runs in this process: its --compound registration is removed afterwards."""
    yield
    if "examplamine" in ks.DRUGS:
        unregister("examplamine")


def upload(name: str = "examplamine.toml", text: str | None = None) -> dict[str, str]:
    return {"text": EXAMPLE.read_text() if text is None else text, "filename": name}


def test_an_uploaded_compound_is_dosed_by_name_in_its_requests_only(url: str, tmp_path: Path, cli_registry: None) -> None:
    info = httpx.post(url + "/api/compounds/check", json=upload(), timeout=60).raise_for_status().json()
    assert info["name"] == "examplamine" and info["routes"] == ["iv", "oral"] and info["file"] == "examplamine.toml"
    assert "examplamine" not in httpx.get(url + "/api/options").json()["drugs"]  # checking registers nothing
    body = {"doses": [DOSE], "days": 2, "engine": "reference", "compounds": [upload()]}
    result = httpx.post(url + "/api/simulate", json=body, timeout=120).raise_for_status().json()
    assert max(result["columns"]["plasma_examplamine_ng_ml"]) > 0
    csv = httpx.get(f"{url}/api/runs/{result['run_id']}/simulation.csv").raise_for_status().text
    regimen, out = tmp_path / "regimen.toml", tmp_path / "cli.csv"
    regimen.write_text('doses = [ { drug = "examplamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", '
                       'at = "0 d" } ]\n')
    assert main(["simulate", "--compound", str(EXAMPLE), "--regimen", str(regimen), "--days", "2", "--csv", str(out)]) == 0
    assert csv == out.read_text()  # the same numbers as `ketasim simulate --compound FILE`
    record = httpx.get(f"{url}/api/runs/{result['run_id']}").json()["input"]
    assert "--compound examplamine.toml" in record.splitlines()[0] and "# name = \"examplamine\"" in record
    # a request without the file does not know the name (the upload lasted for its requests only)
    refused = httpx.post(url + "/api/simulate", json={**body, "compounds": []}, timeout=60)
    assert refused.status_code == 400 and "unknown drug 'examplamine'" in refused.json()["detail"]
    band = httpx.post(url + "/api/population", json={"doses": [DOSE], "days": 1, "patients": 5,
                                                     "compounds": [upload()]}, timeout=120).raise_for_status().json()
    assert band["solved"] == 5 and "plasma_examplamine_ng_ml" in band["bands"]
    sweep = httpx.post(url + "/api/sweep", json={"dose": DOSE, "values": ["0.25 mg/kg", "1 mg/kg"], "days": 1,
                                                 "engine": "fast", "compounds": [upload()]}, timeout=120)
    assert [c["value"] for c in sweep.raise_for_status().json()["curves"]] == ["0.25 mg/kg", "1 mg/kg"]
    assert httpx.post(url + "/api/population", json={"doses": [DOSE], "days": 1, "patients": 5}).status_code == 400


def test_a_bad_or_shadowing_compound_is_one_clear_error(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        cli_registry: None) -> None:
    bad = EXAMPLE.read_text().replace('unit = "mL/min/kg"', 'unit = "kg/h"', 1)
    posted = httpx.post(url + "/api/compounds/check", json=upload("mine.toml", bad), timeout=60)
    assert posted.status_code == 400
    path = tmp_path / "mine.toml"
    path.write_text(bad)
    assert main(["compound", "check", str(path)]) == 2
    cli = capsys.readouterr().err.strip().splitlines()[-1].removeprefix("ketasim: error: ")
    assert posted.json()["detail"] == cli.replace(str(path), "mine.toml")
    assert posted.json()["detail"].startswith("mine.toml: routes.iv.parents[0].disposition.clearance.unit: expected")
    # a shipped name may not be taken
    assert main(["compound", "export", "ketamine"]) == 0
    shipped = capsys.readouterr().out
    taken = httpx.post(url + "/api/compounds/check", json=upload("my-ketamine.toml", shipped), timeout=60)
    assert taken.status_code == 400
    assert taken.json()["detail"].startswith("my-ketamine.toml: name: 'ketamine' is a shipped drug")
    body = {"doses": [{**DOSE, "drug": "ketamine"}], "days": 1, "compounds": [upload("k.toml", shipped)]}
    assert "is a shipped drug" in httpx.post(url + "/api/simulate", json=body, timeout=60).json()["detail"]
    # a file name with markup comes back as plain characters
    odd = httpx.post(url + "/api/compounds/check", json=upload("<img src=x onerror=alert(1)>.toml", bad), timeout=60)
    assert odd.status_code == 400 and "<" not in odd.json()["detail"] and ">" not in odd.json()["detail"]
