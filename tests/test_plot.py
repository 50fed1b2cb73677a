"""Figures: one panel per layer, units on every axis, dose marks, a non-trivial PNG."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ketasim import preset, simulate
from ketasim.apps.plot import LAYERS, plot_comparison, plot_simulation
from ketasim.disclaimer import FIGURE_FOOTER as DISCLAIMER

UNIT = re.compile(r"\((ng/mL|fraction|fold of baseline|fraction of healthy|points|mmHg|bpm)")


@pytest.fixture(scope="module")
def short_run() -> pd.DataFrame:
    return simulate("ketamine-iv-single", "typical-trd", 2.0)


def _primary_axes(fig: Figure) -> list[Axes]:
    return [ax for ax in fig.axes if ax.get_label() in LAYERS]


def test_plot_simulation(tmp_path: Path, short_run: pd.DataFrame) -> None:
    path = tmp_path / "run.png"
    fig = plot_simulation(short_run, path, regimen=preset("ketamine-iv-single"))
    assert path.stat().st_size > 10_000
    primary = _primary_axes(fig)
    assert [ax.get_label() for ax in primary] == list(LAYERS)
    assert LAYERS == ("plasma", "receptors", "circuit", "plasticity", "symptoms", "suicidality", "vitals")
    for ax in fig.axes:  # primary panels and their twin (right) axes
        assert UNIT.search(ax.get_ylabel()), ax.get_ylabel()
    assert primary[-1].get_xlabel() == "time (h)"
    assert any(line.get_gid() == "dose" for ax in primary for line in ax.get_lines())
    assert len(primary[0].get_lines()) >= 2  # ketamine and norketamine
    assert DISCLAIMER in [t.get_text() for t in fig.texts]


def test_long_run_uses_days(tmp_path: Path) -> None:
    table = simulate("escitalopram-10mg-daily", "typical-mdd", 4.0)
    fig = plot_simulation(table, tmp_path / "long.png", title="four days", regimen=preset("escitalopram-10mg-daily"))
    assert _primary_axes(fig)[-1].get_xlabel() == "time (d)"
    assert fig.get_suptitle() == "four days"


def test_plot_comparison(tmp_path: Path, short_run: pd.DataFrame) -> None:
    other = simulate("escitalopram-10mg-daily", "typical-trd", 2.0)
    path = tmp_path / "cmp.png"
    fig = plot_comparison({"ketamine": short_run, "escitalopram": other}, path, title="comparison",
                          regimens={"ketamine": preset("ketamine-iv-single")})
    assert path.stat().st_size > 10_000
    assert len(_primary_axes(fig)) == len(LAYERS)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["ketamine", "escitalopram"]
    plasma_labels = [t.get_text() for t in _primary_axes(fig)[0].get_legend().get_texts()]
    assert {"ketamine", "escitalopram"} <= set(plasma_labels)
