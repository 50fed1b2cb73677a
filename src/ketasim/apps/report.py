"""Reports of a virtual trial: strict JSON, a readable table, a per-patient Parquet file and figures.

MADRS scores are points (0-60), rates are fractions (shown as %), times are hours or days
after the first dose, vitals are mmHg, bpm and CADSS points. Figures use matplotlib's object
API with the Agg canvas (no pyplot), like :mod:`ketasim.apps.plot`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D

from ketasim.apps.plot import HOURS_AXIS_MAX_H
from ketasim.apps.tables import text_table
from ketasim.checks.plausibility import escape
from ketasim.disclaimer import DISCLAIMER, FIGURE_FOOTER
from ketasim.engines.solvers import STATUS_OK
from ketasim.io.jsonsafe import dumps
from ketasim.trials.endpoints import VISIT_METRICS, VISIT_OUTPUTS, VITALS_METRICS
from ketasim.trials.outcomes import Z95, responders, wilson_interval
from ketasim.trials.results import ArmResult, SolvedChunk, TrialResult
from ketasim.trials.trial_spec import TrialSpec

#: files written by :func:`write_outputs`, in DIR
OUTPUT_FILES = ("patients.parquet", "summary.json", "madrs.png", "response.png")


# ---- JSON ------------------------------------------------------------------------------------------

def trial_json(result: TrialResult) -> str:
    """The `ketasim trial --json` output: TrialResult.to_json() as strict JSON."""
    return dumps(result.to_json())


# ---- text table ------------------------------------------------------------------------------------

def _num(value: float | None, fmt: str = ".1f", sign: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return format(value, ("+" if sign else "") + fmt)


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100.0 * value:.0f}%"


def _ci(pair: list | None, pct: bool = False) -> str:
    if not pair or any(v is None or not math.isfinite(v) for v in pair):
        return ""
    lo, hi = (_pct(v) if pct else _num(v) for v in pair)
    return f" [{lo}, {hi}]"


def _cell(value: float | None, ci: list | None, fraction: bool, signed: bool) -> str:
    """A table cell: points (1 decimal, signed for changes) or a percentage, with its interval when given."""
    return (_pct(value) if fraction else _num(value, sign=signed)) + _ci(ci, pct=fraction)


def format_trial(result: TrialResult) -> str:
    """A readable report: one row per arm and visit, relapse and vitals tables when asked for, the disclaimer."""
    spec = result.spec
    ep = spec.endpoints
    n_arms = {arm.summary["n"] for arm in result.arms.values()}
    per_arm = str(n_arms.pop()) if len(n_arms) == 1 else "varying"
    lines = [f"{spec.name} (seed {spec.seed}, {per_arm} patients per arm, {result.engine} engine)",
             f"response: MADRS at least {100.0 * ep.response_fraction:g}% below baseline; "
             f"remission: MADRS <= {ep.remission_at_most:g}; MADRS in points, change = visit - baseline, "
             "[95% CI]", ""]
    shown = [m for m in VISIT_METRICS if m.label is not None]
    rows = []
    for name, arm in result.arms.items():
        s = arm.summary
        for key, v in s["visits"].items():
            rows.append([name, key, str(s["n"]), _num(s["baseline_madrs_mean"]),
                         *(_cell(v[m.name], v.get(f"{m.name}_ci"), m.is_fraction, m.signed) for m in shown)])
    lines += text_table(["arm", "visit", "n", "baseline", *(m.label for m in shown)], rows)
    if ep.relapse is not None:
        rel = ep.relapse
        checks = "a daily assessment" if rel.assess_every_key is None else f"an assessment every {rel.assess_every_key}"
        lines += ["", f"relapse: MADRS >= {rel.madrs_at_least:g} at {checks} after {rel.at_key} "
                      f"up to {rel.until_h / 24.0:g} d, among {rel.among} at {rel.at_key}"]
        rows = []
        for name, arm in result.arms.items():
            r = arm.summary.get("relapse")
            if r is not None:
                rows.append([name, r["among"], str(r["count"]), _pct(r["rate"]) + _ci(r.get("rate_ci"), pct=True),
                             "n/a (fewer than half relapse)" if r["median_days"] is None
                             else f"{r['median_days']:g} d after {rel.at_key}"])
        lines += text_table(["arm", "among", "count", "relapse rate", "median time to relapse"], rows)
    if ep.vitals:
        lines += ["", "vitals over the first dosing session (4 h): mean per-patient peak rise above pre-dose; "
                      "mean peak CADSS"]
        rows = []
        for name, arm in result.arms.items():
            v = arm.summary.get("vitals")
            if v is not None:
                rows.append([name, *(_num(v[m.name], sign=m.signed) for m in VITALS_METRICS)])
        lines += text_table(["arm", *(m.label for m in VITALS_METRICS)], rows)
    failed = {name: arm.summary.get("failed_solves", 0) for name, arm in result.arms.items()}
    if any(failed.values()):
        lines += ["", "excluded after a solver failure: "
                  + ", ".join(f"{name} {count}" for name, count in failed.items() if count)]
    lines += ["", DISCLAIMER]
    return "\n".join(lines)


# ---- per-patient table -----------------------------------------------------------------------------

def patient_rows(spec: TrialSpec, arm: str, part: SolvedChunk, first: int = 0) -> pd.DataFrame:
    """Rows of patients.parquet for one arm's solved patients `part`, numbered from `first` within the arm."""
    n = part.n
    columns: dict[str, Any] = {"arm": np.full(n, arm, dtype=object), "patient": np.arange(first, first + n, dtype=np.int64),
                               "candidate_index": np.asarray(part.index).astype(np.int64),
                               "status": np.asarray(part.status).astype(np.int64)}
    for output in VISIT_OUTPUTS:
        columns[f"baseline_{output.name}"] = part.baselines[output.name]
        columns.update({output.column(key): part.visits[output.name][v]
                        for v, key in enumerate(spec.endpoints.visit_keys)})
    columns.update({f"param_{k}": v for k, v in part.patients.items()})
    table = pd.DataFrame(columns)
    table["arm"] = table["arm"].astype(str)
    return table


def patients_frame(result: TrialResult) -> pd.DataFrame:
    """One row per patient: arm, patient (0..n-1), candidate_index, status, then for each VISIT_OUTPUTS
    value `baseline_<output>` and `<output>_<visit key, spaces as _>` (baseline_madrs, madrs_1_d: points),
    and the patient's parameters `param_<name>`."""
    frames = [patient_rows(result.spec, name, arm.per_patient()) for name, arm in result.arms.items()]
    return pd.concat(frames, ignore_index=True)


class PatientsWriter:
    """patients.parquet written chunk by chunk as a trial runs: one Parquet row group per solved chunk.

    Use as a context manager and pass `write_chunk` to run_trial(on_chunk=...). Rows and columns
    are those of `patients_frame` (so the file is the same as one written at the end), but no
    more than one chunk is held in memory. The file is written under a temporary name and
    renamed when the run completes; a failed run leaves no patients.parquet behind.
    """

    def __init__(self, path: str | os.PathLike[str], spec: TrialSpec) -> None:
        self.path = Path(path)
        self.spec = spec
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.row_groups = 0
        self.rows = 0
        self._writer: Any = None
        self._schema: Any = None

    def __enter__(self) -> PatientsWriter:
        return self

    def write_chunk(self, arm_index: int, arm: str, part: SolvedChunk, first: int) -> None:
        """Append one solved chunk of arm `arm` (its patients numbered from `first`) as a row group."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = patient_rows(self.spec, arm, part, first)
        if self._writer is None:
            self._schema = pa.Schema.from_pandas(rows, preserve_index=False)
            self._writer = pq.ParquetWriter(self.partial, self._schema)
        table = pa.Table.from_pandas(rows, schema=self._schema, preserve_index=False)
        self._writer.write_table(table, row_group_size=max(len(rows), 1))
        self.row_groups += 1
        self.rows += len(rows)

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._writer is not None:
            self._writer.close()
        if kind is None and self._writer is not None:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)


# ---- figures ---------------------------------------------------------------------------------------

def _timeline(result: TrialResult, arm: ArmResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times (h after the first dose), observed MADRS (T, N) of the patients solved without failure,
    and their baselines (N,): the daily course merged with the visits."""
    good = arm.status == STATUS_OK
    visit_h = np.asarray(result.spec.endpoints.visit_times_h, dtype=float)
    series: dict[float, np.ndarray] = {0.0: arm.baseline}
    if arm.course is not None and arm.course_times_h is not None:
        series.update({round(float(t), 9): arm.course[i] for i, t in enumerate(arm.course_times_h) if t > 0})
    series.update({round(float(t), 9): arm.visits[v] for v, t in enumerate(visit_h)})
    times = np.array(sorted(series))
    return times, np.array([series[t][good] for t in times]), arm.baseline[good]


def _axis(end_h: float) -> tuple[float, str]:
    """Divisor of hours and the x label: hours up to HOURS_AXIS_MAX_H, else days."""
    unit = "h" if end_h <= HOURS_AXIS_MAX_H else "d"
    return (1.0 if unit == "h" else 24.0), f"time after the first dose ({unit})"


def _figure(title: str, flags: tuple[str, ...] = ()) -> Figure:
    """A figure with the footer; flags ('outside the calibrated range: ...') in red above it."""
    bottom = 0.03 + 0.025 * min(len(flags), 4)
    fig = Figure(figsize=(8.0, 5.0), dpi=110, layout=ConstrainedLayoutEngine(rect=(0.0, bottom, 1.0, 0.97 - bottom + 0.03)))
    FigureCanvasAgg(fig)
    fig.suptitle(escape(title), fontsize=11)
    if flags:
        fig.text(0.5, 0.03, "\n".join(flags[:4]), ha="center", va="bottom", fontsize=7, color="firebrick")
    fig.text(0.5, 0.005, FIGURE_FOOTER, ha="center", va="bottom", fontsize=7, color="0.4")
    return fig


def plot_madrs(result: TrialResult, path: str | os.PathLike[str]) -> Figure:
    """Mean observed MADRS (points) per arm over time, with the 95% confidence band of the mean."""
    lines = {name: _timeline(result, arm) for name, arm in result.arms.items()}
    scale, xlabel = _axis(max(float(t[-1]) for t, _, _ in lines.values()))
    fig = _figure(f"{result.spec.name}: MADRS", result.flags)
    ax = fig.subplots()
    for i, (name, (times, madrs, _)) in enumerate(lines.items()):
        n = madrs.shape[1]
        mean = madrs.mean(axis=1) if n else np.full(times.size, np.nan)
        half = Z95 * madrs.std(axis=1, ddof=1) / math.sqrt(n) if n > 1 else np.zeros(times.size)
        ax.fill_between(times / scale, mean - half, mean + half, color=f"C{i}", alpha=0.2, lw=0)
        ax.plot(times / scale, mean, color=f"C{i}", marker="o", ms=3, lw=1.5, label=escape(f"{name} (n={n})"))
    remission = result.spec.endpoints.remission_at_most
    ax.axhline(remission, color="0.5", ls=":", lw=0.8, label=f"remission (MADRS <= {remission:g})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("MADRS, mean (points)")
    ax.set_ylim(bottom=0.0)
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(fontsize=8, title="band: 95% CI of the mean", title_fontsize=8)
    fig.savefig(path)
    return fig


def plot_response(result: TrialResult, path: str | os.PathLike[str]) -> Figure:
    """Response and remission rates (%) per arm over time, with 95% Wilson bands."""
    ep = result.spec.endpoints
    lines = {name: _timeline(result, arm) for name, arm in result.arms.items()}
    scale, xlabel = _axis(max(float(t[-1]) for t, _, _ in lines.values()))
    fig = _figure(f"{result.spec.name}: response and remission", result.flags)
    ax = fig.subplots()
    for i, (times, madrs, base) in enumerate(lines.values()):
        n = madrs.shape[1]
        for style, hits in (("-", responders(base[None, :], madrs, ep.response_fraction)),
                            ("--", madrs <= ep.remission_at_most + 1e-9)):
            counts = hits.sum(axis=1)
            rate = 100.0 * counts / n if n else np.full(times.size, np.nan)
            band = 100.0 * np.array([wilson_interval(int(c), n) for c in counts]).reshape(-1, 2)
            ax.fill_between(times / scale, band[:, 0], band[:, 1], color=f"C{i}", alpha=0.12, lw=0)
            ax.plot(times / scale, rate, color=f"C{i}", ls=style, marker="o", ms=3, lw=1.5)
    handles = [Line2D([], [], color=f"C{i}", lw=2) for i in range(len(lines))]
    labels = [escape(f"{name} (n={m.shape[1]})") for name, (_, m, _) in lines.items()]
    handles += [Line2D([], [], color="black", ls="-"), Line2D([], [], color="black", ls="--")]
    labels += [f"response (MADRS at least {100.0 * ep.response_fraction:g}% below baseline)",
               f"remission (MADRS <= {ep.remission_at_most:g})"]
    ax.legend(handles, labels, fontsize=8, title="bands: 95% Wilson CI", title_fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("patients (%)")
    ax.set_ylim(-2.0, 102.0)
    ax.grid(True, lw=0.3, alpha=0.5)
    fig.savefig(path)
    return fig


def write_outputs(result: TrialResult, out: str | os.PathLike[str], summary: str | None = None,
                  patients_written: bool = False) -> list[Path]:
    """Write OUTPUT_FILES into folder `out` (created if needed); `summary` is the JSON text (default trial_json).

    patients_written: patients.parquet was already streamed there (PatientsWriter), so it is not rewritten.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in OUTPUT_FILES]
    if not patients_written:
        patients_frame(result).to_parquet(paths[0], index=False)
    paths[1].write_text((trial_json(result) if summary is None else summary) + "\n")
    plot_madrs(result, paths[2])
    plot_response(result, paths[3])
    return paths
