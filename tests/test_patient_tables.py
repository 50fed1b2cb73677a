"""The forecast page's tables as a service (ketasim.apps.patient_tables): a patient file as tables and back, with
the patient-file parser's messages; no browser."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import ketasim as ks
from ketasim.apps.patient_tables import tables_from_text, text_from_tables
from ketasim.apps.runner import check_forecast_text

EXAMPLE = (Path(__file__).resolve().parents[1] / "src" / "ketasim" / "apps" / "web" / "static" /
           "example-patient.toml").read_text()


def test_the_tables_of_a_file_give_back_the_same_patient_record() -> None:
    shown = tables_from_text(EXAMPLE)
    assert shown["error"] is None and shown["reason"] is None
    tables = shown["tables"]
    assert [d["day"] for d in tables["doses"]] == [0, 2, 4, 7, 9, 11]  # one row per dose time
    assert tables["doses"][0] == {"drug": "ketamine", "route": "iv", "amount": 0.5, "unit": "mg/kg", "infusion_min": 40,
                                  "day": 0}
    written = text_from_tables(tables, EXAMPLE)
    assert written["error"] is None
    original, again = check_forecast_text(EXAMPLE, "a"), check_forecast_text(written["text"], "a")
    assert again[1] == original[1]  # the plan, kept from the file
    record, other = original[0], again[0]
    assert record.observations == other.observations and record.covariates == other.covariates
    assert record.background == other.background
    horizon = 30 * 24.0
    assert [(e.time_h, e.drug, e.amount, e.infusion_h) for e in record.doses.events(horizon)] == \
        [(e.time_h, e.drug, e.amount, e.infusion_h) for e in other.doses.events(horizon)]
    assert tables_from_text(written["text"])["tables"] == tables


def test_dates_count_from_the_first_dose_date_and_bad_rows_get_the_parser_message() -> None:
    tables = tables_from_text(EXAMPLE)["tables"]
    tables["observations"] = [{"date": "2026-03-02", "madrs": "34"}, {"date": "2026-03-12", "madrs": "19"}]
    written = text_from_tables(tables, EXAMPLE, first_date="2026-03-02")
    assert written["error"] is None
    assert tomllib.loads(written["text"])["patient"]["observations"] == [{"at": "0 d", "madrs": 34},
                                                                        {"at": "10 d", "madrs": 19}]
    tables["observations"][1]["madrs"] = "61"
    bad = text_from_tables(tables, EXAMPLE, "mine.toml", first_date="2026-03-02")
    with pytest.raises(ks.KetasimInputError) as err:
        check_forecast_text(bad["text"], "mine.toml")
    assert bad["error"] == str(err.value) and bad["error"].startswith("mine.toml: patient.observations[1].madrs:")
    tables["observations"][1] = {"day": "", "madrs": "20"}
    assert "patient.observations[1]: missing 'at'" in text_from_tables(tables, EXAMPLE, first_date="2026-03-02")["error"]


def test_what_the_tables_cannot_show_stays_in_the_toml() -> None:
    every = EXAMPLE.replace('at = ["0 d", "2 d", "4 d", "7 d", "9 d", "11 d"]', 'every = "3 d", until = "12 d"')
    assert "repeated schedule" in tables_from_text(every)["reason"]
    assert "CSV" in tables_from_text('[patient]\nweight_kg = 70\ndata = "v.csv"\n')["reason"]
    broken = tables_from_text("[patient\n")
    assert broken["tables"] is None and "invalid TOML" in broken["error"]
