"""Static figures of stored runs (matplotlib object API, Agg canvas) as PNG bytes, for self-contained reports."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FOOTER = "ketasim: research software, not a medical device"

#: simulate panels: (title, y label, columns); plasma columns are added per drug
LAYERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("receptor occupancy", "fraction (0-1)", ("nmda_occupancy", "sert_occupancy")),
    ("glutamate", "fold of baseline", ("glutamate",)),
    ("BDNF / mTOR", "fold of baseline", ("bdnf", "mtor")),
    ("spines", "fraction of healthy density", ("spine_density",)),
    ("MADRS", "points (0-60)", ("madrs",)),
    ("blood pressure, heart rate", "mmHg / beats/min", ("sbp_mmhg", "dbp_mmhg", "hr_bpm")),
    ("dissociation", "CADSS points", ("cadss",)),
)


def _axis(end_h: float) -> tuple[float, str]:
    return (1.0, "time (h)") if end_h <= 72.0 else (24.0, "time (d)")


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _figure(title: str, size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=11)
    fig.text(0.5, 0.0, FOOTER, ha="center", va="bottom", fontsize=7, color="0.4")
    return fig


def trial_madrs_png(course: pd.DataFrame, title: str, remission: float) -> bytes:
    """Mean MADRS (points) per arm with its 95% CI band."""
    scale, xlabel = _axis(float(course["time_h"].max()))
    fig = _figure(f"{title}: MADRS", (8.0, 4.5))
    ax = fig.subplots()
    for i, (arm, rows) in enumerate(course.groupby("arm", sort=False)):
        t = rows["time_h"].to_numpy() / scale
        ax.fill_between(t, rows["madrs_lo"], rows["madrs_hi"], color=f"C{i}", alpha=0.2, lw=0)
        ax.plot(t, rows["madrs_mean"], color=f"C{i}", marker="o", ms=3, label=f"{arm} (n={int(rows['n'].iloc[0])})")
    ax.axhline(remission, color="0.5", ls=":", lw=0.8, label=f"remission (MADRS <= {remission:g})")
    ax.set(xlabel=xlabel, ylabel="MADRS, mean (points)", ylim=(0.0, None))
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(fontsize=8, title="band: 95% CI of the mean", title_fontsize=8)
    return _png(fig)


def trial_rates_png(course: pd.DataFrame, title: str) -> bytes:
    """Response (solid) and remission (dashed) rates (%) per arm with 95% Wilson bands."""
    scale, xlabel = _axis(float(course["time_h"].max()))
    fig = _figure(f"{title}: response and remission", (8.0, 4.5))
    ax = fig.subplots()
    for i, (arm, rows) in enumerate(course.groupby("arm", sort=False)):
        t = rows["time_h"].to_numpy() / scale
        for label, style in (("response", "-"), ("remission", "--")):
            ax.fill_between(t, 100 * rows[f"{label}_lo"], 100 * rows[f"{label}_hi"], color=f"C{i}", alpha=0.12, lw=0)
            ax.plot(t, 100 * rows[f"{label}_rate"], color=f"C{i}", ls=style, marker="o", ms=3, label=f"{arm}: {label}")
    ax.set(xlabel=xlabel, ylabel="patients (%)", ylim=(-2.0, 102.0))
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(fontsize=8, title="bands: 95% Wilson CI", title_fontsize=8)
    return _png(fig)


def simulation_png(table: pd.DataFrame, title: str, dose_times_h: list[float]) -> bytes:
    """Every layer over time, one panel each, doses marked (dotted lines)."""
    plasma = tuple(c for c in table.columns if c.startswith("plasma_"))
    panels = (("plasma", "ng/mL", plasma), *LAYERS)
    scale, xlabel = _axis(float(table["time_h"].max()))
    fig = _figure(title, (10.0, 11.0))
    axes = np.atleast_1d(fig.subplots(4, 2, sharex=True)).ravel()
    t = table["time_h"].to_numpy() / scale
    for ax, (name, unit, columns) in zip(axes, panels, strict=False):
        for column in columns:
            ax.plot(t, table[column], lw=1.2, label=column)
        for dose in dose_times_h:
            ax.axvline(dose / scale, color="0.6", ls=":", lw=0.7)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel(unit, fontsize=8)
        ax.grid(True, lw=0.3, alpha=0.5)
        if len(columns) > 1:
            ax.legend(fontsize=7)
    for ax in axes[-2:]:
        ax.set_xlabel(xlabel)
    return _png(fig)
