"""The result of a forecast: tables (pandas), JSON, files and a figure. Every output carries the disclaimer."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ketasim.disclaimer import DISCLAIMER, FIGURE_FOOTER

from .records import format_time_h

if TYPE_CHECKING:
    from .posterior import Posterior
    from .records import PatientRecord, Plan

#: band quantiles of the forecast tables
QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
#: traits shown in the posterior table (the ones the observations inform most)
SUMMARY_TRAITS: tuple[str, ...] = (
    "untreated_madrs", "synapse_deficit", "plasticity_gain", "monoaminergic_responsiveness", "placebo_responsiveness",
    "cl_factor", "dissociation_sensitivity", "cardiovascular_sensitivity", "sbp0_mmhg",
)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Quantiles of a weighted sample (inverse of the weighted empirical CDF)."""
    order = np.argsort(values)
    cdf = np.cumsum(weights[order])
    cdf /= cdf[-1]
    return [float(values[order][min(np.searchsorted(cdf, q), values.size - 1)]) for q in qs]


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class Forecast:
    """An individual forecast (research software; it informs, it does not prescribe).

    Tables: `observations`, `posterior_table` (prior vs posterior quantiles of key traits),
    `forecast` (no further sessions: MADRS bands daily from the last observation, time_h from the
    first dose), `plan_forecasts` (the same per candidate interval), `relapse` (P(relapse) by week
    without further sessions) and `plan` (per interval: sessions, relapse_risk, recommended, next
    session's SBP). `posterior` and `relapse_summary` are dicts of the scalar results.
    """

    source: str
    posterior: dict
    posterior_table: pd.DataFrame
    observations: pd.DataFrame
    forecast: pd.DataFrame
    plan_forecasts: pd.DataFrame
    relapse: pd.DataFrame
    relapse_summary: dict
    plan: pd.DataFrame
    settings: dict = field(default_factory=dict)
    disclaimer: str = DISCLAIMER

    @property
    def recommended_interval(self) -> str | None:
        chosen = self.plan.loc[self.plan["recommended"], "interval"]
        return str(chosen.iloc[0]) if len(chosen) else None

    @staticmethod
    def build(record: PatientRecord, plan: Plan, posterior: Posterior, forecast: pd.DataFrame,
              plan_forecasts: pd.DataFrame, relapse: pd.DataFrame, relapse_summary: dict, table: pd.DataFrame, *,
              draws: int, seed: int) -> Forecast:
        rows = []
        prior_w = posterior.prior_weights
        n0 = 0 if prior_w is None else prior_w.size
        for name in SUMMARY_TRAITS:
            values = posterior.traits[name]
            row = {"trait": name}
            if prior_w is not None:
                row.update(zip(("prior_p05", "prior_p50", "prior_p95"),
                               weighted_quantiles(values[:n0], prior_w, (0.05, 0.5, 0.95)), strict=True))
            row.update(zip(("posterior_p05", "posterior_p50", "posterior_p95"),
                           weighted_quantiles(values, posterior.weights, (0.05, 0.5, 0.95)), strict=True))
            rows.append(row)
        courses = record.failed_treatments
        summary = {**posterior.diagnostics,
                   "prior": ("trd" if courses >= 2 else "mdd") + f" population screened for {courses} failed "
                   "adequate monoaminergic course(s)" + (" (the background counts as one)" if record.background else ""),
                   "observations": len(record.observations)}
        observations = pd.DataFrame([{"time_h": o.time_h, "measure": o.measure, "value": o.value}
                                     for o in record.observations])
        settings = {"horizon_h": plan.horizon_h, "relapse_madrs": plan.relapse_madrs,
                    "acceptable_risk": plan.acceptable_risk, "draws": draws, "seed": seed,
                    "maintenance": None if plan.maintenance is None else
                    f"{plan.maintenance.drug} {plan.maintenance.route} {plan.maintenance.amount}"
                    + (f" over {format_time_h(plan.maintenance.infusion_h)}" if plan.maintenance.infusion_h else ""),
                    "last_observation_h": record.last_observation_h}
        return Forecast(record.source, summary, pd.DataFrame(rows), observations, forecast, plan_forecasts, relapse,
                        relapse_summary, table, settings)

    def to_json(self) -> dict:
        """{"posterior", "forecast", "relapse", "plan", "observations", ...}; non-finite numbers become None."""
        plan = [{k: (bool(v) if k == "recommended" else v) for k, v in row.items()}
                for row in self.plan.to_dict(orient="records")]
        return _finite({
            "disclaimer": self.disclaimer, "source": self.source, "settings": self.settings,
            "posterior": {**self.posterior, "traits": self.posterior_table.to_dict(orient="records")},
            "forecast": self.forecast.to_dict(orient="records"),
            "relapse": self.relapse_summary,
            "plan": plan,
            "recommended_interval": self.recommended_interval,
            "plan_forecasts": self.plan_forecasts.to_dict(orient="records"),
            "observations": self.observations.to_dict(orient="records"),
        })

    def summary_lines(self) -> list[str]:
        """A short text report for the terminal."""
        p, r = self.posterior, self.relapse_summary
        lines = [f"ketasim forecast: {self.source}", self.disclaimer,
                 f"posterior: {p['method']}; prior: {p['prior']}; {p['draws']} draws, ESS {p['ess']:.0f}, "
                 f"Pareto k-hat {p['pareto_khat']:.2f}", ""]
        lines.append("MADRS without further sessions (median [50% band] [90% band]):")
        step = max(1, len(self.forecast) // 8)
        for _, row in self.forecast.iloc[::step].iterrows():
            lines.append(f"  day {row.time_h / 24:5.1f}: {row.madrs_p50:4.1f}  [{row.madrs_p25:4.1f}, {row.madrs_p75:4.1f}]"
                         f"  [{row.madrs_p05:4.1f}, {row.madrs_p95:4.1f}]")
        median = r["median_days_after_last_observation"]
        lines.append(f"relapse (MADRS >= {r['relapse_madrs']:g}) without further sessions: "
                     f"{r['probability_within_horizon']:.0%} within the horizon; median time "
                     + ("beyond the horizon" if median is None else f"{median:.0f} d after the last observation"))
        lines.append("")
        lines.append("plan: interval  sessions  relapse risk  peak SBP mean  P(SBP>180)  recommended")
        for _, row in self.plan.iterrows():
            sbp = "-" if row.sbp_peak_mean_mmhg is None or pd.isna(row.sbp_peak_mean_mmhg) else f"{row.sbp_peak_mean_mmhg:.0f}"
            p180 = "-" if row.p_sbp_over_180 is None or pd.isna(row.p_sbp_over_180) else f"{row.p_sbp_over_180:.0%}"
            lines.append(f"  {row.interval:>8}  {row.sessions:8d}  {row.relapse_risk:12.0%}  {sbp:>13}  {p180:>10}  "
                         f"{'yes' if row.recommended else ''}")
        chosen = self.recommended_interval
        lines.append(f"recommended interval: {chosen}" if chosen else
                     f"no candidate interval keeps the relapse risk at or under {self.settings['acceptable_risk']:g}")
        return lines

    def tables(self) -> dict[str, pd.DataFrame]:
        """The result tables by file name (forecast, plan_forecasts, relapse, plan, posterior, observations)."""
        return {"forecast": self.forecast, "plan_forecasts": self.plan_forecasts, "relapse": self.relapse,
                "plan": self.plan.drop(columns="risk_before_each_session"), "posterior": self.posterior_table,
                "observations": self.observations}

    def write(self, folder: str | Path) -> list[Path]:
        """Tables (CSV), forecast.json and forecast.png into `folder` (created); returns the paths."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, table in self.tables().items():
            path = out / f"{name}.csv"
            with path.open("w") as handle:
                handle.write(f"# {self.disclaimer}\n")
                table.to_csv(handle, index=False)
            paths.append(path)
        path = out / "forecast.json"
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        paths.append(path)
        paths.append(self.figure(out / "forecast.png"))
        return paths

    def figure(self, path: Path) -> Path:
        """Observed MADRS, the no-further-session bands and each plan's median; the disclaimer as footer."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 5))
        days = self.forecast["time_h"] / 24.0
        ax.fill_between(days, self.forecast["madrs_p05"], self.forecast["madrs_p95"], color="0.85", label="90% band")
        ax.fill_between(days, self.forecast["madrs_p25"], self.forecast["madrs_p75"], color="0.65", label="50% band")
        ax.plot(days, self.forecast["madrs_p50"], color="k", label="median, no further sessions")
        for interval, group in self.plan_forecasts.groupby("interval", sort=False):
            ax.plot(group["time_h"] / 24.0, group["madrs_p50"], lw=1.2, label=f"median, every {interval}")
        obs = self.observations[self.observations["measure"] == "madrs"]
        ax.plot(obs["time_h"] / 24.0, obs["value"], "o", color="C3", label="observed")
        ax.axhline(self.relapse_summary["relapse_madrs"], ls="--", color="C3", lw=0.8, label="relapse threshold")
        ax.set_xlabel("days from the first dose")
        ax.set_ylabel("MADRS")
        ax.set_ylim(0, 60)
        ax.legend(fontsize=7, loc="upper right")
        fig.text(0.01, 0.01, FIGURE_FOOTER + "; it informs, it does not prescribe", fontsize=7, color="0.4")
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path
