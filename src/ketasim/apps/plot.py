"""Figures of a simulation: one panel per layer of the chain, from plasma to vitals.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global state), so it works
headless and from threads. Each function saves a PNG (or any format matplotlib infers from the
suffix) and returns the Figure.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D

from ketasim.disclaimer import FIGURE_FOOTER
from ketasim.model.regimen import Regimen

#: runs up to this long (h) get an hours axis; longer ones a days axis
HOURS_AXIS_MAX_H = 72.0
#: above this many doses, dose times are rug ticks instead of vertical lines across the panels
MAX_DOSE_LINES = 16
REMISSION_MADRS = 10.0
#: outputs that are 0 throughout for a patient without the condition (CAPS-5 without PTSD): not drawn then
ABSENT_WHEN_ZERO = ("caps5",)

#: panels that carry the rug ticks when there are too many doses for vertical lines
RUG_LAYERS = ("plasma", "symptoms")


@dataclass(frozen=True)
class Panel:
    """One layer: its left-axis series, label with unit, and optional right (twin) axis."""

    layer: str
    ylabel: str
    series: tuple[tuple[str, str], ...]  # (column, legend label); "plasma_*" expands to all plasma columns
    right_ylabel: str = ""
    right_series: tuple[tuple[str, str], ...] = ()


PANELS: tuple[Panel, ...] = (
    Panel("plasma", "plasma concentration (ng/mL)", (("plasma_*", ""),)),
    Panel("receptors", "receptor occupancy (fraction)", (("nmda_occupancy", "NMDA"), ("sert_occupancy", "SERT"))),
    Panel("circuit", "glutamate (fold of baseline)", (("glutamate", "glutamate"),)),
    Panel("plasticity", "BDNF, mTOR (fold of baseline)", (("bdnf", "BDNF"), ("mtor", "mTOR")),
          "spine density (fraction of healthy)", (("spine_density", "spine density"),)),
    Panel("symptoms", "MADRS (points)", (("madrs", "MADRS"),), "CAPS-5 (points, 0-80)", (("caps5", "CAPS-5"),)),
    Panel("suicidality", "MADRS item 10 (points, 0-6)", (("madrs_item10", "item 10"),),
          "SSI (points, 0-38)", (("ssi", "SSI"),)),
    Panel("vitals", "BP (mmHg), HR (bpm)", (("sbp_mmhg", "SBP"), ("dbp_mmhg", "DBP"), ("hr_bpm", "HR")),
          "CADSS (points)", (("cadss", "CADSS"),)),
)
LAYERS: tuple[str, ...] = tuple(p.layer for p in PANELS)
_LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))


def _expand(series: Sequence[tuple[str, str]], columns: Sequence[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for column, label in series:
        if column == "plasma_*":
            out += [(c, c.removeprefix("plasma_").removesuffix("_ng_ml")) for c in columns
                    if c.startswith("plasma_") and c.endswith("_ng_ml")]
        elif column in columns:
            out.append((column, label))
    return out


def _time_axis(tables: Mapping[str, pd.DataFrame]) -> tuple[float, str]:
    """Divisor for time_h and the x label: hours up to 3 days, else days."""
    end = max(float(t["time_h"].max()) for t in tables.values())
    return (1.0, "time (h)") if end <= HOURS_AXIS_MAX_H else (24.0, "time (d)")


def _mark_doses(axes: Sequence[Axes], regimens: Mapping[str, Regimen | None], colors: Mapping[str, str],
                end_h: float, scale: float, several: bool) -> None:
    """Dose times: faint vertical lines in every panel (few doses), else rug ticks atop RUG_LAYERS panels."""
    for run, regimen in regimens.items():
        if regimen is None:
            continue
        times = np.array([e.time_h for e in regimen.events(end_h)]) / scale
        if times.size == 0:
            continue
        color = colors[run] if several else "0.4"
        for ax in axes:
            if times.size <= MAX_DOSE_LINES:
                for t in times:
                    ax.axvline(t, color=color, lw=0.6, alpha=0.35, zorder=0, gid="dose")
            elif ax.get_label() in RUG_LAYERS:
                ax.plot(times, np.full(times.size, 0.98), "|", color=color, ms=5, alpha=0.7,
                        transform=ax.get_xaxis_transform(), gid="dose")


#: the acute panel column shows the first ACUTE_H hours after the first dose when a run is longer than HOURS_AXIS_MAX_H
ACUTE_H = 24.0


def _draw_column(axes: Sequence[Axes], tables: Mapping[str, pd.DataFrame], regimens: Mapping[str, Regimen | None],
                 start_h: float, end_h: float, scale: float, xlabel: str, with_legends: bool) -> None:
    """Every layer's panel for times start_h..end_h (h), time divided by `scale`."""
    several = len(tables) > 1
    run_colors = {run: f"C{i}" for i, run in enumerate(tables)}
    for ax, panel in zip(axes, PANELS, strict=True):
        ax.set_label(panel.layer)
        ax.set_ylabel(panel.ylabel, fontsize=9)
        ax.grid(True, lw=0.3, alpha=0.5)
        twin = None
        if panel.right_series:
            twin = ax.twinx()
            twin.set_label(f"{panel.layer} (right axis)")
            twin.set_ylabel(panel.right_ylabel, fontsize=9)
        handles: dict[str, Line2D] = {}
        for side, target in ((panel.series, ax), (panel.right_series, twin)):
            if target is None:
                continue
            for order, (run, table) in enumerate(tables.items()):
                shown = table[(table["time_h"] >= start_h - 1e-9) & (table["time_h"] <= end_h + 1e-9)]
                for column, label in _expand(side, list(table.columns)):
                    if column in ABSENT_WHEN_ZERO and not shown[column].any():
                        continue  # no PTSD: no CAPS-5 line
                    key = f"{label} (right axis)" if target is twin else label
                    i = list(handles).index(key) if key in handles else len(handles)
                    color = run_colors[run] if several else f"C{i % 10}"
                    style = _LINESTYLES[i % len(_LINESTYLES)] if several else ("--" if target is twin else "-")
                    # the first run is drawn on top, so a flat line of a later run cannot hide its excursions
                    target.plot(shown["time_h"] / scale, shown[column], color=color, ls=style, lw=1.2,
                                zorder=3 + len(tables) - order, alpha=1.0 if order == 0 else 0.8)
                    handles.setdefault(key, Line2D([], [], color="black" if several else color, ls=style))
        if panel.layer == "plasma" and not handles:
            ax.text(0.5, 0.5, "no drug in plasma", transform=ax.transAxes, ha="center", va="center", color="0.5")
        if panel.layer == "receptors":
            ax.set_ylim(-0.02, 1.02)
        if panel.layer == "suicidality":  # the scales' full ranges
            ax.set_ylim(-0.1, 6.1)
            if twin is not None:
                twin.set_ylim(-38.0 / 60.0, 38.0 + 38.0 / 60.0)
        if panel.layer == "symptoms":
            ax.axhline(REMISSION_MADRS, color="0.5", ls=":", lw=0.8)
            handles["remission (MADRS <= 10)"] = Line2D([], [], color="0.5", ls=":", lw=0.8)
            ax.set_ylim(bottom=0.0)
        if with_legends and handles and (several or len(handles) > 1 or panel.layer == "plasma"):
            (twin or ax).legend(handles.values(), handles.keys(), fontsize=7, loc="upper right", framealpha=0.8)
    _mark_doses(axes, regimens, run_colors, end_h, scale, several)
    axes[-1].set_xlabel(xlabel)
    axes[-1].set_xlim(start_h / scale, end_h / scale)


def _draw(tables: Mapping[str, pd.DataFrame], path: str | os.PathLike[str], title: str | None,
          regimens: Mapping[str, Regimen | None]) -> Figure:
    """One column of panels; runs longer than HOURS_AXIS_MAX_H get an acute column (first ACUTE_H hours) on the left."""
    if not tables:
        raise ValueError("no tables to plot")
    several = len(tables) > 1
    scale, xlabel = _time_axis(tables)
    end_h = max(float(t["time_h"].max()) for t in tables.values())
    acute = end_h > HOURS_AXIS_MAX_H
    flags = list(dict.fromkeys(f for table in tables.values() for f in table.attrs.get("flags", [])))[:4]
    bottom = 0.015 + 0.009 * len(flags)
    fig = Figure(figsize=(14.0 if acute else 9.0, 17.0), dpi=110,
                 layout=ConstrainedLayoutEngine(rect=(0.0, bottom, 1.0, 1.0 - bottom)))
    FigureCanvasAgg(fig)
    if acute:
        grid = fig.subplots(len(PANELS), 2, sharex="col", gridspec_kw={"width_ratios": (1.0, 1.6)})
        _draw_column(grid[:, 0], tables, regimens, 0.0, ACUTE_H, 1.0, f"time (h): first {ACUTE_H:g} h", False)
        _draw_column(grid[:, 1], tables, regimens, 0.0, end_h, scale, xlabel, True)
        grid[0, 0].set_title(f"acute: first {ACUTE_H:g} h", fontsize=10)
        grid[0, 1].set_title("whole course", fontsize=10)
    else:
        _draw_column(fig.subplots(len(PANELS), 1, sharex=True), tables, regimens, 0.0, end_h, scale, xlabel, True)
    run_colors = {run: f"C{i}" for i, run in enumerate(tables)}
    if several:  # the run legend sits on top and carries the title (a suptitle would overlap it)
        run_handles = [Line2D([], [], color=c, lw=2) for c in run_colors.values()]
        fig.legend(run_handles, list(tables), loc="outside upper center", ncols=min(len(tables), 4),
                   fontsize=9, title=title, title_fontsize=12, frameon=False)
    elif title:
        fig.suptitle(title)
    footer = FIGURE_FOOTER if not flags else "\n".join([*flags, FIGURE_FOOTER])
    fig.text(0.5, 0.002, footer, ha="center", va="bottom", fontsize=6 if not flags else 7,
             color="0.4" if not flags else "firebrick")
    fig.savefig(path)
    return fig


def plot_simulation(table: pd.DataFrame, path: str | os.PathLike[str], title: str | None = None,
                    regimen: Regimen | None = None) -> Figure:
    """Plot one run (a `ketasim.simulate` table) layer by layer; dose times marked if `regimen` is given."""
    default = table.attrs.get("regimen") or None
    return _draw({"run": table}, path, title if title is not None else default, {"run": regimen})


def plot_comparison(tables: Mapping[str, pd.DataFrame], path: str | os.PathLike[str], title: str | None = None,
                    regimens: Mapping[str, Regimen] | None = None) -> Figure:
    """Overlay several runs (label -> table) in the same panels; one colour per run, legend on top."""
    regs: dict[str, Regimen | None] = {run: (regimens or {}).get(run) for run in tables}
    return _draw(dict(tables), path, title, regs)
