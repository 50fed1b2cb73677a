"""The timing claims ketasim exists to explain, on the typical patients (data/pharmacology.md, BRIEF 2)."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks

KETAMINE_05 = ks.preset("ketamine-iv-single")


def _at(table, column: str, time_h: float) -> float:
    return float(np.interp(time_h, table["time_h"], table[column]))


@pytest.fixture(scope="module")
def single() -> object:
    return ks.simulate(KETAMINE_05, "typical-trd", days=21)


@pytest.fixture(scope="module")
def escitalopram_trd() -> object:
    return ks.simulate("escitalopram-10mg-daily", "typical-trd", days=2)


def test_ketamine_works_within_hours_ssri_does_not(single, escitalopram_trd) -> None:
    base = single["madrs"].iloc[0]
    assert _at(single, "madrs", 4.0) <= 0.8 * base
    base_ssri = escitalopram_trd["madrs"].iloc[0]
    assert _at(escitalopram_trd, "madrs", 4.0) > 0.95 * base_ssri


def test_new_spines_form_within_a_day_and_fade_by_day_21(single) -> None:
    before = single["spine_density"].iloc[0]
    deficit = 1.0 - before
    assert _at(single, "spine_density", 24.0) > before
    assert abs((1.0 - _at(single, "spine_density", 21 * 24.0)) - deficit) <= 0.1 * deficit


def test_repeated_infusions_keep_madrs_lower(single) -> None:
    six = ks.simulate("ketamine-iv-6x", "typical-trd", days=21)
    assert _at(six, "madrs", 21 * 24.0) < _at(single, "madrs", 21 * 24.0)


def test_low_doses_work_anaesthetic_doses_are_not_better(single) -> None:
    high = ks.Regimen.of(ks.dose("ketamine", "iv", "1.0 mg/kg", infusion="40 min", at="0 d"))
    table_high = ks.simulate(high, "typical-trd", days=2)
    assert _at(single, "madrs", 24.0) - _at(table_high, "madrs", 24.0) <= 3.0
    bolus = ks.Regimen.of(ks.dose("ketamine", "iv", "2 mg/kg", at="0 d"))
    table_bolus = ks.simulate(bolus, "typical-trd", days=1)
    assert table_bolus["glutamate"].max() < single["glutamate"].max()


def test_ssri_needs_weeks_in_typical_mdd() -> None:
    table = ks.simulate("escitalopram-10mg-daily", "typical-mdd", days=42, times_h=np.array([0.0, 168.0, 1008.0]))
    base = table["madrs"].iloc[0]
    assert table["madrs"].iloc[1] > 0.75 * base
    assert table["madrs"].iloc[2] <= 0.75 * base


def test_blood_pressure_rises_transiently(single) -> None:
    sbp = single["sbp_mmhg"]
    peak_time_min = single["time_h"].iloc[int(np.argmax(sbp))] * 60.0
    assert 30.0 <= peak_time_min <= 60.0
    assert abs(_at(single, "sbp_mmhg", 2.5) - sbp.iloc[0]) <= 5.0


def test_dissociation_is_short(single) -> None:
    cadss = single["cadss"]
    assert single["time_h"].iloc[int(np.argmax(cadss))] <= 1.0
    assert _at(single, "cadss", 2.0) <= max(1.5, 0.15 * cadss.max())
