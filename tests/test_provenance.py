"""Every parameter has a unit and a provenance; the shipped calibration is what the model uses."""

from __future__ import annotations

import tomllib
from importlib import resources

from ketasim.model.arm import calibrated_parameters, model_values
from ketasim.model.drugs import DRUGS
from ketasim.trials.population import calibrated_population

_KINDS = ("calibrated to", "assumed", "derived", "et al", "label", "Spravato", "Celexa", "Zoloft", "Meyer", "Klein",
          "ketamine free base", "norketamine free base", "adequate course", "structural: 1 = the link intact")


def _has_provenance(source: str) -> bool:
    return any(kind.lower() in source.lower() for kind in _KINDS)


def test_every_parameter_has_a_unit_and_a_source() -> None:
    tables = [calibrated_parameters(), calibrated_population(), *[d.parameters for d in DRUGS.values()]]
    for table in tables:
        for name, p in table.items():
            assert p.unit, name
            assert _has_provenance(p.source), (name, p.source)


def test_shipped_calibration_is_applied_and_labelled() -> None:
    data = tomllib.loads((resources.files("ketasim") / "data" / "calibrated.toml").read_text())
    values = model_values()
    params = calibrated_parameters()
    for name, value in data["model"].items():
        assert values[name] == value
        assert params[name].source.startswith("calibrated to data/calibration")
    population = calibrated_population()
    for name, value in data["population"].items():
        assert population[name].value == value
