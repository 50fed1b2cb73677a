"""Mechanism checks (the layers between plasma and MADRS) and knock-outs: cut one link, and the effect the
literature ties to it disappears downstream while nothing upstream changes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ketasim.apps.cli import main
from ketasim.errors import KetasimInputError
from ketasim.mechanism_checks import LAYERS, evaluate, load_checks, parse_file, run_checks, summary
from ketasim.simulation import simulate

KETAMINE = "ketamine-iv-single"
UPSTREAM_TO_DOWNSTREAM = ("nmda_occupancy", "glutamate", "bdnf", "mtor", "synaptic_proteins", "spine_density")


def test_every_layer_between_plasma_and_madrs_has_a_check_with_its_evidence():
    checks = load_checks()
    assert {c.layer for c in checks} == set(LAYERS)
    for c in checks:
        assert c.source and c.biomarkers, c.name
        assert c.low <= c.high


def test_results_and_scores_are_reported_apart_for_human_and_rodent_checks():
    results = run_checks()
    s = summary(results)
    assert s["human"]["total"] + s["rodent"]["total"] == s["total"] == len(results)
    assert s["passed"] == sum(r.passed for r in results)
    assert all(np.isfinite(c["simulated"]) for c in s["checks"])
    # the two affinity ratios read the drug table (Ebert 1997): S:R 1.4 / 0.3
    ratio = next(r for r in results if "S:R ketamine" in r.check.name)
    assert ratio.value == pytest.approx(1.4 / 0.3) and ratio.passed


def test_nmda_occupancy_after_a_standard_infusion_is_on_the_in_vivo_scale():
    """The receptor checks of the shipped file: 15-35% at the end of 0.5 mg/kg over 40 min and under 10% at 3 h
    (derived from Cmax, fraction unbound and Shaffer 2014's in vivo IC50). The compound files put ketamine's
    binding on that scale (effect-site partition 0.55, Ki x 2.9); on the former one (Ebert's in vitro Ki on total
    plasma) the model gave 0.56 and 0.29. The same inputs build the check, so this guards the arithmetic and the
    plasma curve, not an independent measurement."""
    receptor = Path(__file__).resolve().parents[1] / "src" / "ketasim" / "data" / "mechanism" / "receptor.toml"
    results = {r.check.name: r for r in run_checks([receptor])}
    end = next(r for name, r in results.items() if name.startswith("NMDA occupancy at the end"))
    late = next(r for name, r in results.items() if name.startswith("NMDA occupancy below 10%"))
    assert (end.check.low, end.check.high) == (0.15, 0.35) and (late.check.low, late.check.high) == (0.0, 0.10)
    assert 0.15 <= end.value <= 0.35 and end.passed
    assert 0.0 <= late.value <= 0.10 and late.passed


def check(body: str, tmp_path: Path, layer: str = "circuit"):
    path = tmp_path / "c.toml"
    path.write_text(f'layer = "{layer}"\n[[check]]\n{body}\nsource = "test"\nbiomarkers = "test"\n')
    return load_checks([path])[0]


DOSE = 'doses = [ { drug = "ketamine", route = "iv", amount = "0.5 mg/kg", infusion = "40 min", at = "0 h" } ]'


def test_a_check_passes_or_misses_by_its_range(tmp_path: Path):
    peak = f'metric = "time_of_peak_h"\noutput = "glutamate"\n{DOSE}\nwindow = ["0 h", "3 h"]\n'
    inside = evaluate(check(peak + "range = [0.0, 3.0]", tmp_path))
    assert inside.passed and 0.0 < inside.value < 3.0
    outside = evaluate(check(peak + "range = [5.0, 6.0]", tmp_path))
    assert not outside.passed and outside.value == inside.value


def test_knockout_fraction_of_the_mtor_link(tmp_path: Path):
    saline = 'control_doses = [ { drug = "saline", route = "iv", amount = "0 mg", infusion = "40 min", at = "0 h" } ]'
    body = f'metric = "knockout_fraction"\noutput = "madrs"\nat = "24 h"\n{DOSE}\n{saline}\n'
    cut = evaluate(check(body + "knockout = { bdnf_mtor_link = 0.0 }\nrange = [0, 1]", tmp_path, "symptoms"))
    kept = evaluate(check(body + "knockout = { bdnf_mtor_link = 1.0 }\nrange = [0, 1]", tmp_path, "symptoms"))
    assert kept.value == pytest.approx(1.0)
    assert cut.value < 0.3


@pytest.mark.parametrize(("link", "cut_from"), [
    ("nmda_circuit_link", "glutamate"),
    ("glutamate_bdnf_link", "bdnf"),
    ("bdnf_mtor_link", "mtor"),
    ("mtor_protein_link", "synaptic_proteins"),
    ("synaptogenesis_rate_1_h", "spine_density"),
])
def test_cutting_a_link_removes_everything_downstream_and_nothing_upstream(link: str, cut_from: str):
    intact = simulate(KETAMINE, "typical-trd", days=3, engine="fast")
    cut = simulate(KETAMINE, "typical-trd", days=3, engine="fast", parameters={link: 0.0})
    first = UPSTREAM_TO_DOWNSTREAM.index(cut_from)
    for output in UPSTREAM_TO_DOWNSTREAM[:first]:
        # unchanged up to the solver tolerance (rtol 1e-6): the adaptive steps see every state
        np.testing.assert_allclose(cut[output], intact[output], rtol=1e-5, atol=1e-8, err_msg=output)
    for output in UPSTREAM_TO_DOWNSTREAM[first:]:
        moved_intact = np.ptp(intact[output])
        moved_cut = np.ptp(cut[output])
        assert moved_intact > 1e-3, output
        assert moved_cut < 1e-6 * max(1.0, moved_intact), (output, moved_cut)
    # the drug's extra MADRS relief at day 2 shrinks once the chain is cut before the synapse layer
    at = np.argmin(np.abs(intact["time_h"].to_numpy() - 48.0))
    assert cut["madrs"].iloc[at] > intact["madrs"].iloc[at]


@pytest.mark.parametrize(("body", "words"), [
    ('metric = "peak"\noutput = "glutamate"\nrange = [0, 1]', "needs output and doses"),
    (f'metric = "median"\noutput = "glutamate"\n{DOSE}\nrange = [0, 1]', "metric: expected one of"),
    (f'metric = "peak"\noutput = "serotonin"\n{DOSE}\nrange = [0, 1]', "unknown output 'serotonin'"),
    (f'metric = "value"\noutput = "glutamate"\n{DOSE}\nrange = [0, 1]', ".at: metric 'value' needs"),
    (f'metric = "value"\noutput = "glutamate"\nat = "1 h"\n{DOSE}\nrange = [1, 0]', "range: expected [low, high]"),
    (f'metric = "value"\noutput = "glutamate"\nat = "1 h"\n{DOSE}\nrange = [0, 1]\ncolour = 1', "unknown key(s) colour"),
    ('metric = "parameter_ratio"\nnumerator = "ketamine.nope"\ndenominator = "ketamine.species.s_ketamine.nmda.ki"\n'
     'range = [0, 1]', "expected DRUG.PARAMETER"),
    (f'metric = "knockout_fraction"\noutput = "madrs"\nat = "1 d"\n{DOSE}\nrange = [0, 1]\n'
     'control_doses = []\nknockout = { bdnf_mtor_link = 2.0 }', "outside its valid range"),
])
def test_bad_check_files_are_one_clear_error_naming_the_place(tmp_path: Path, body: str, words: str):
    with pytest.raises(KetasimInputError, match=r"c\.toml") as err:
        check(body, tmp_path)
    assert words in str(err.value)


def test_bad_layer_is_refused():
    with pytest.raises(KetasimInputError, match="layer: expected one of"):
        parse_file({"layer": "liver", "check": []}, "x.toml")


def test_validate_prints_the_mechanism_table_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    murrough = Path(__file__).resolve().parents[1] / "src" / "ketasim" / "data" / "calibration" / "murrough-2013-ajp.toml"
    receptor = Path(__file__).resolve().parents[1] / "src" / "ketasim" / "data" / "mechanism" / "receptor.toml"
    assert main(["validate", str(murrough), "--patients-per-arm", "5", "--mechanism", str(receptor), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["mechanism"]["total"] == 4 and {"human", "rodent", "checks"} <= set(document["mechanism"])
    assert main(["validate", str(murrough), "--patients-per-arm", "5", "--mechanism", str(receptor)]) == 0
    out = capsys.readouterr().out
    assert "mechanism:" in out and "receptor" in out
    assert main(["validate", str(murrough), "--mechanism", str(tmp_path / "missing.toml")]) == 2
