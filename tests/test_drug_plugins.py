"""Drugs as data: the registry dispatches through each entry's plug-in; derived tables follow the entries."""

from __future__ import annotations

import ast
import csv
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from scipy.linalg import expm

from ketasim import KetasimInputError, Regimen, dose, simulate
from ketasim.interchange.nonmem import CMT_TABLE, regimen_from_nonmem, write_nonmem_csv
from ketasim.model.drugs import (
    DRUGS,
    CompartmentInput,
    DrugSpec,
    P,
    PkSystem,
    PkVariability,
    build_pk,
    cmt_table,
    dose_inputs,
    pk_patient_fields,
    pk_variability,
    register,
    unregister,
)
from ketasim.model.drugs.base import CL_FACTOR
from ketasim.model.patient import PATIENT_FIELDS, Patient, stack_patients
from ketasim.model.pk import segment_boundaries, solve_modal
from ketasim.trials.population import POPULATION_PARAMETERS, PopulationSettings, draw_candidates, population_values
from ketasim.trials.trial import run_trial
from ketasim.trials.trial_spec import parse_trial

TOY_V_L, TOY_KE_1_H, TOY_KE0_1_H, TOY_KI_MG_L = 50.0, 0.2, 20.0, 0.05


class ToyPk:
    """A one-compartment IV drug whose effect site is plasma itself (an NMDA blocker); counts its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def build_pk(self, route: str, patient: dict[str, np.ndarray]) -> PkSystem | None:
        self.calls.append(f"build_pk {route}")
        n = len(patient["weight_kg"])
        rate = np.zeros((n, 2, 2))
        rate[:, 0, 0] = -TOY_KE_1_H * patient["cl_factor"]
        rate[:, 1, 0] = TOY_KE0_1_H / TOY_V_L  # effect site (mg/L) follows plasma within minutes
        rate[:, 1, 1] = -TOY_KE0_1_H
        v = np.full(n, TOY_V_L)
        return PkSystem("toy", ("central_mg", "site_mg_l"), rate, {"toy": [(0, 1000.0 / v)]},
                        nmda_terms=[(1, TOY_KI_MG_L)])

    def dose_inputs(self, route: str, system: PkSystem, amount_mg: np.ndarray, time_h: float, duration_h: float,
                    patient: dict[str, np.ndarray]) -> list[CompartmentInput]:
        self.calls.append(f"dose_inputs {route}")
        return [CompartmentInput(time_h, 0, amount_mg, duration_h)]


@pytest.fixture
def toy() -> Iterator[ToyPk]:
    plugin = ToyPk()
    register(DrugSpec("toy", "a toy NMDA blocker registered at run time", ("iv",), "nmda", {},
                      {"ki_mg_l": P(TOY_KI_MG_L, "mg/L", "assumed: test value")}, plugin, cmt={"iv": 99},
                      targets={"NMDA": ("ki_mg_l",)}, variability=(CL_FACTOR,)))
    try:
        yield plugin
    finally:
        unregister("toy")
    assert "toy" not in DRUGS


def test_a_drug_registered_at_run_time_simulates_and_round_trips(toy: ToyPk, tmp_path: Path) -> None:
    regimen = Regimen.of(dose("toy", "iv", "10 mg", at=["0 d", "1 d"]))
    table = simulate(regimen, "typical-mdd", days=2.0)
    assert toy.calls[0] == "build_pk iv" and toy.calls.count("dose_inputs iv") == 2
    # plasma follows the closed form of a one-compartment bolus, so the plug-in's system is what was solved
    t = table["time_h"].to_numpy()
    early = (t > 0) & (t < 24.0)
    expected = 10.0 / TOY_V_L * np.exp(-TOY_KE_1_H * t[early]) * 1000.0
    np.testing.assert_allclose(table["plasma_toy_ng_ml"].to_numpy()[early], expected, rtol=1e-6)
    assert table["nmda_occupancy"].max() > 0.5
    # NONMEM export/import knows the new CMT number without any change to io/nonmem.py
    path = write_nonmem_csv(regimen, tmp_path / "toy.csv")
    with path.open(newline="") as handle:
        assert {row["CMT"] for row in csv.DictReader(handle)} == {"99"}
    back = regimen_from_nonmem(path)
    assert [(e.time_h, e.drug, e.route, e.amount.mg_for(70.0)) for e in back.events(48.0)] == \
        [(e.time_h, e.drug, e.route, e.amount.mg_for(70.0)) for e in regimen.events(48.0)]


def test_a_drug_registered_at_run_time_runs_in_a_virtual_trial(toy: ToyPk) -> None:
    spec = parse_trial({
        "name": "toy vs saline", "seed": 1, "patients_per_arm": 12, "population": {"kind": "mdd", "baseline_madrs": [20, 60]},
        "arms": [{"name": "toy", "doses": [{"drug": "toy", "route": "iv", "amount": "10 mg", "at": "0 d"}]},
                 {"name": "saline", "doses": [{"drug": "saline", "route": "iv", "amount": "0 mg", "at": "0 d"}]}],
        "endpoints": {"visits": ["1 d", "7 d"], "response": "50%", "remission": 10}}, "toy.toml")
    result = run_trial(spec)
    assert {name: arm.summary["n"] for name, arm in result.arms.items()} == {"toy": 12, "saline": 12}
    assert any(call.startswith("build_pk") for call in toy.calls)


def test_registration_checks_entries(toy: ToyPk) -> None:
    def spec(**kw: object) -> DrugSpec:
        base: dict[str, object] = dict(name="toy2", description="", routes=("oral",), action="nmda", perceptible_cue={},
                                       parameters={}, pk=ToyPk(), cmt={"oral": 100})
        base.update(kw)
        return DrugSpec(**base)  # type: ignore[arg-type]

    cases = [(spec(name="toy"), "already registered"), (spec(routes=("rectal",), cmt={"rectal": 100}), "unknown route"),
             (spec(cmt={}), "one NONMEM CMT number per route"), (spec(cmt={"oral": 99}), "collide"),
             (spec(variability=(PkVariability("toy_factor", "toy_cv", P(0.1, "1", "assumed"), "x"),)),
              "not a Patient field .add it to model/patient.py."),
             (spec(variability=(PkVariability("cl_factor", "other_cv", P(0.1, "1", "assumed"), "x"),)),
              "declared differently"),
             (spec(targets={"NMDA": ("ki_um",)}), "not in its parameter table")]
    for bad, message in cases:
        with pytest.raises(KetasimInputError, match=message):
            register(bad)
    assert "toy2" not in DRUGS


def test_dispatch_names_no_drug() -> None:
    source = (resources.files("ketasim") / "model" / "drugs" / "registry.py").read_text()
    strings = {node.value for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Constant)
               and isinstance(node.value, str)}
    names = {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}
    for drug in DRUGS:
        assert not any(drug in s for s in strings), drug
        assert not any(drug in n.lower() for n in names), drug


def test_build_pk_and_dose_inputs_go_through_the_entry_plugin(toy: ToyPk) -> None:
    patient = stack_patients([Patient()])
    system = build_pk("toy", "iv", patient)
    assert system is not None and system.drug == "toy"
    inputs = dose_inputs("toy", "iv", system, np.array([5.0]), 2.0, 0.5, patient)
    assert toy.calls == ["build_pk iv", "dose_inputs iv"]
    assert inputs == [CompartmentInput(2.0, 0, inputs[0].amount_mg, 0.5)] and inputs[0].amount_mg[0] == 5.0
    assert build_pk("placebo", "oral", patient) is None and dose_inputs("saline", "iv", system, np.ones(1), 0, 0, patient) == []


def test_cmt_table_is_derived_from_the_entries_and_keeps_its_numbers() -> None:
    assert CMT_TABLE == cmt_table() == {cmt: (spec.name, route) for spec in DRUGS.values()
                                        for route, cmt in spec.cmt.items()}
    historic = {1: ("ketamine", "iv"), 2: ("esketamine", "intranasal"), 3: ("esketamine", "iv"), 4: ("arketamine", "iv"),
                5: ("escitalopram", "oral"), 6: ("citalopram", "oral"), 7: ("sertraline", "oral"), 8: ("midazolam", "iv"),
                9: ("placebo", "iv"), 10: ("placebo", "intranasal"), 11: ("placebo", "oral"), 12: ("saline", "iv")}
    assert {k: CMT_TABLE[k] for k in historic} == historic
    assert CMT_TABLE[13] == ("memantine", "oral")


def test_every_drug_route_round_trips_through_nonmem(tmp_path: Path) -> None:
    lines = [dose(name, route, "5 mg", at=["0 d", "3 d"]) for name, spec in DRUGS.items() for route in spec.routes]
    regimen = Regimen.of(*lines)
    back = regimen_from_nonmem(write_nonmem_csv(regimen, tmp_path / "all.csv"))

    def key(r: Regimen) -> list[tuple[float, str, str, float]]:
        return sorted((e.time_h, e.drug, e.route, e.amount.mg_for(70.0)) for e in r.events(100.0))

    assert key(back) == key(regimen)
    assert len({(e.drug, e.route) for e in back.events(100.0)}) == len(CMT_TABLE)


def test_patient_pk_fields_come_from_the_entries() -> None:
    declared = [v.name for v in pk_variability()]
    assert declared == ["cl_factor", "v_factor", "qh_factor", "esk_vc_factor", "esk_vp1_factor", "esk_ka_nasal_factor",
                        "esk_nasal_logit", "ssri_cl_factor"]
    assert set(declared) <= set(PATIENT_FIELDS)
    assert pk_patient_fields() == ("weight_kg", "age_y", "female", *declared)
    for v in pk_variability():
        assert POPULATION_PARAMETERS[v.cv_name] is v.cv
    draws = draw_candidates(7, 0, np.arange(2000), population_values(), PopulationSettings())
    for v in pk_variability():
        x = draws[v.name]
        if v.scale == "logit":  # a normal shift of the logit, mean 0, SD cv
            assert abs(np.mean(x)) < 0.05 and abs(np.std(x) - v.cv.value) < 0.05 * v.cv.value + 0.02
        else:  # a lognormal factor, mean 1, CV cv
            assert abs(np.mean(x) - 1.0) < 0.05 and abs(np.std(x) / np.mean(x) - v.cv.value) < 0.05 * v.cv.value + 0.02


def test_near_equal_rate_constants_in_many_patients() -> None:
    """Several patients with a defective (equal-eigenvalue) rate matrix are regularised, not an IndexError."""
    n = 5
    rate = np.zeros((n, 3, 3))
    rate[:, 0, 0], rate[:, 1, 0] = -1.0, 1.0
    rate[:, 1, 1] = -0.1
    rate[:, 2, 1], rate[:, 2, 2] = 1.0, -1.0  # effect-site rate equal to the absorption rate
    system = PkSystem("x", ("gut_depot_mg", "central_mg", "site"), rate, {})
    inputs = [CompartmentInput(0.0, 0, np.full(n, 10.0))]
    modal = solve_modal(system, inputs, segment_boundaries(inputs, 0.0, 24.0))
    exact = expm(rate[0] * 3.0) @ np.array([10.0, 0.0, 0.0])
    at_3_h = np.einsum("pij,pj->pi", modal.vectors, modal.coefficients[0] * np.exp(modal.eigenvalues * 3.0)) + modal.particular[0]
    np.testing.assert_allclose(at_3_h, np.tile(exact, (n, 1)), rtol=1e-5)
