"""The simulate page's quick views through the API (TestClient; no worker processes): /api/options labels,
/api/population bands, /api/sweep curves, and their input errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

import ketasim as ks
from ketasim.apps import explore
from ketasim.apps.runner import SimulationRequest
from ketasim.apps.store import RunStore
from ketasim.apps.web.app import create_app
from ketasim.apps.web.settings import Settings

KETAMINE = {"drug": "ketamine", "route": "iv", "amount": "0.5 mg/kg", "infusion": "40 min", "at": "0 d"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(RunStore(Path(tmp_path_factory.mktemp("explore")) / "store"), Settings(max_patients=300))
    yield TestClient(app, base_url="http://127.0.0.1")


def test_options_carry_units_ranges_descriptions_and_sources(client: TestClient) -> None:
    options = client.get("/api/options").json()
    for key in ("drugs", "presets", "patients", "traits", "engines", "limits", "examples"):  # the old keys stay
        assert key in options
    assert options["units"]["madrs"] == "MADRS points (0-60)"
    weight = options["patient_fields"]["weight_kg"]
    assert weight["unit"] == "kg" and weight["valid"] == [10.0, 400.0] and weight["description"]
    assert options["patient_fields"]["plasticity_gain"]["description"].startswith("activity-dependent BDNF release")
    assert all(options["patient_fields"][t]["main"] for t in options["traits"])
    parameter = next(iter(options["parameters"].values()))
    assert {"value", "unit", "valid", "description", "source"} <= set(parameter)
    assert options["population_kinds"] == ["mdd", "trd", "suicidal", "bipolar", "ptsd"]
    assert options["sweep_parameters"] == ["amount", "every"]


def test_population_band_orders_its_quantiles_and_repeats_with_its_seed(client: TestClient) -> None:
    body = {"regimen": "ketamine-iv-single", "days": 3, "patients": 20, "seed": 4}
    r = client.post("/api/population", json=body)
    assert r.status_code == 200, r.text
    band = r.json()
    assert band["solved"] == 20 and band["engine"] == "fast" and band["time_h"][0] == 0.0
    assert {"madrs", "plasma_ketamine_ng_ml"} <= set(band["bands"])
    q = np.array([band["bands"]["madrs"][k] for k in ("q05", "q25", "q50", "q75", "q95")])
    assert q.shape == (5, len(band["time_h"])) and np.all(np.diff(q, axis=0) >= -1e-9)
    assert q[0, -1] < q[4, -1]  # patients differ
    assert len(band["doses"]) == 1 and band["doses"][0]["time_h"] == 0.0
    assert client.post("/api/population", json=body).json()["bands"] == band["bands"]
    other = client.post("/api/population", json={**body, "seed": 5}).json()
    assert other["bands"]["madrs"]["q50"] != band["bands"]["madrs"]["q50"]


def test_population_band_input_errors(client: TestClient) -> None:
    assert "at most 300 patients" in client.post("/api/population", json={"regimen": "ketamine-iv-single",
                                                                          "patients": 301}).json()["detail"]
    r = client.post("/api/population", json={"regimen": "nope", "patients": 10})
    assert r.status_code == 400 and "'nope' is neither a preset" in r.json()["detail"]
    r = client.post("/api/population", json={"patients": 10})
    assert r.status_code == 400 and "either regimen" in r.json()["detail"]
    r = client.post("/api/population", json={"regimen": "ketamine-iv-single", "patients": 1})
    assert r.status_code == 400 and "2 to 300" in r.json()["detail"]


def test_sweep_amount_gives_one_curve_per_value_and_matches_simulate(client: TestClient) -> None:
    r = client.post("/api/sweep", json={"dose": KETAMINE, "parameter": "amount", "days": 7, "at_days": [1, 7],
                                        "values": ["0.1 mg/kg", "0.5 mg/kg", "1.0 mg/kg"]})
    assert r.status_code == 200, r.text
    sweep = r.json()
    assert sweep["values"] == ["0.1 mg/kg", "0.5 mg/kg", "1.0 mg/kg"] and len(sweep["curves"]) == 3
    direct = ks.simulate(ks.preset("ketamine-iv-single"), "typical-trd", 7)
    middle = sweep["curves"][1]
    assert np.allclose(middle["madrs"], direct["madrs"].to_numpy())
    assert middle["at_days"][1] == pytest.approx(float(direct["madrs"].iloc[-1]))
    assert sweep["curves"][0]["at_days"][0] > sweep["curves"][2]["at_days"][0]  # more drug, lower MADRS at day 1


def test_sweep_interval_repeats_the_dose(client: TestClient) -> None:
    r = client.post("/api/sweep", json={"dose": KETAMINE, "parameter": "every", "days": 28, "values": ["1 wk", "2 wk"]})
    assert r.status_code == 200, r.text
    assert [len(c["doses"]) for c in r.json()["curves"]] == [5, 3]  # days 0, 7, 14, 21, 28 and 0, 14, 28
    r = client.post("/api/sweep", json={"dose": KETAMINE, "values": [f"{i} mg/kg" for i in range(21)]})
    assert r.status_code == 422  # more than MAX_SWEEP_VALUES
    r = client.post("/api/sweep", json={"dose": {**KETAMINE, "drug": "aspirin"}, "values": ["1 mg"]})
    assert r.status_code == 400 and "aspirin" in r.json()["detail"]


def test_sweep_regimens_keep_the_first_time() -> None:
    (label, [entry]), = explore.sweep_regimens({**KETAMINE, "at": ["2 d"]}, "every", ["3 d"])
    assert label == "3 d" and entry["every"] == "3 d" and entry["from"] == "2 d" and "at" not in entry


def test_population_band_median_is_near_the_typical_patient() -> None:
    band = explore.population_band(SimulationRequest("ketamine-iv-single", days=2), patients=60, seed=0, kind="trd")
    assert 10 < band["bands"]["madrs"]["q50"][0] < 50
