"""A stored run as one self-contained HTML file: figures inlined as PNG data URIs, no external resources."""

from __future__ import annotations

import base64
import math
from html import escape
from typing import Any

import ketasim as ks
from ketasim.apps import adapters as internal

from . import figures
from .store import RunStore

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums}.pass{color:#176b1d}.miss{color:#a31515;font-weight:bold}
.disclaimer{background:#fff4d6;border:1px solid #e0c060;padding:.6em 1em}pre{background:#f6f6f6;padding:.8em;overflow:auto}
img{max-width:100%;border:1px solid #ddd}
"""


def _num(value: Any, fmt: str = ".1f", pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{100 * value:.0f}%" if pct else format(value, fmt)


def _ci(pair: Any, pct: bool = False) -> str:
    if not pair or any(v is None for v in pair):
        return ""
    return f" [{_num(pair[0], pct=pct)}, {_num(pair[1], pct=pct)}]"


def _table(headers: list[str], rows: list[list[str]], numeric_from: int = 99) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers) if any(headers) else ""
    body = "".join("<tr>" + "".join(f"<td class='num'>{c}</td>" if i >= numeric_from else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    return f"<figure><img alt='{escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'></figure>"


def _hours(h: float) -> str:
    return f"{h / 24:g} d" if h >= 48 and h % 24 == 0 else f"{h:g} h"


def describe_dose(d: ks.Dose) -> str:
    """One dose line in words: drug, route, amount, infusion, schedule."""
    text = f"{d.drug} {d.route} {d.amount}"
    if d.infusion_h:
        text += f" over {d.infusion_h * 60:g} min"
    if d.every_h is not None:
        until = "the end" if d.until_h is None else _hours(d.until_h)
        return text + f", every {_hours(d.every_h)} from {_hours(d.from_h)} to {until}"
    return text + ", at " + ", ".join(_hours(t) for t in d.times_h)


def _run_table(run: dict[str, Any]) -> str:
    keys = ("id", "kind", "name", "time", "status", "runtime_s", "engine", "seed", "version")
    rows = [[k, escape(str(_num(run[k], ".2f") if k == "runtime_s" else run[k]))] for k in keys]
    return _table(["", ""], rows)


def _trial_body(store: RunStore, run: dict[str, Any]) -> tuple[str, str, str]:
    summary = store.summary(run["id"])
    spec = internal.trial_from_text(run["input"] or "", f"run {run['id']}")
    n = {arm["n"] for arm in summary["arms"].values()}
    pop, ep = spec.population, spec.endpoints
    out = ["<h2>Design</h2>", _table(["", ""], [
        ["trial", escape(spec.name)], ["seed", str(spec.seed)],
        ["patients per arm", escape(", ".join(map(str, sorted(n))))],
        ["population", escape(f"{pop.kind.upper()}" + (f", at least {pop.min_failed_treatments} failed treatments"
                                                        if pop.kind == "trd" else ""))],
        ["baseline MADRS window", f"{pop.baseline_madrs[0]:g} to {pop.baseline_madrs[1]:g} points"],
        ["weight, age", f"{pop.weight_kg[0]:g}-{pop.weight_kg[1]:g} kg, {pop.age[0]:g}-{pop.age[1]:g} years"],
        ["background treatment", escape("; ".join(map(describe_dose, pop.background.doses)) if pop.background else "none")],
        ["visits", escape(", ".join(ep.visit_keys))],
        ["response / remission", escape(f"MADRS at least {100 * ep.response_fraction:g}% below baseline / "
                                        f"MADRS <= {ep.remission_at_most:g}")]])]
    out += ["<h2>Arms and doses</h2>", _table(["arm", "doses"], [
        [escape(a.name), "<br>".join(escape(describe_dose(d)) for d in a.regimen.doses)] for a in spec.arms])]
    rows = []
    for arm, s in summary["arms"].items():
        for visit, v in s["visits"].items():
            rows.append([escape(arm), escape(visit), str(s["n"]), _num(s["baseline_madrs_mean"]), _num(v["madrs_mean"]),
                         _num(v["change_mean"], "+.1f") + _ci(v.get("change_mean_ci")),
                         _num(v["response_rate"], pct=True) + _ci(v.get("response_rate_ci"), True),
                         _num(v["remission_rate"], pct=True) + _ci(v.get("remission_rate_ci"), True)])
    out += ["<h2>Visits</h2><p>MADRS in points; change = visit - baseline; [95% CI]</p>",
            _table(["arm", "visit", "n", "baseline", "MADRS", "change", "response", "remission"], rows, 2)]
    relapse = [[escape(a), escape(str(r["among"])), str(r["count"]), _num(r["rate"], pct=True) + _ci(r.get("rate_ci"), True),
                _num(r["median_days"], "g")] for a, s in summary["arms"].items() if (r := s.get("relapse"))]
    if relapse:
        out += ["<h2>Relapse</h2>", _table(["arm", "among", "count", "rate", "median days"], relapse, 2)]
    vitals = [[escape(a), *(_num(v[k], "+.1f") for k in ("sbp_peak_change_mean", "dbp_peak_change_mean",
                                                         "hr_peak_change_mean")), _num(v["cadss_peak_mean"])]
              for a, s in summary["arms"].items() if (v := s.get("vitals"))]
    if vitals:
        out += ["<h2>Vitals (first session, 4 h)</h2>",
                _table(["arm", "SBP peak rise (mmHg)", "DBP peak rise (mmHg)", "HR peak rise (bpm)", "CADSS peak"], vitals, 1)]
    course = store.table(run["id"], "course")
    out += ["<h2>Figures</h2>", _img(figures.trial_madrs_png(course, spec.name, ep.remission_at_most), "MADRS by arm"),
            _img(figures.trial_rates_png(course, spec.name), "response and remission by arm")]
    targets = store.table(run["id"], "targets")
    out.append("<h2>Validation against published targets</h2>")
    if targets.empty:
        out.append("<p>The trial file has no [[published]] targets.</p>")
    else:
        rows = [[escape(str(t["arm"])), escape(str(t["visit"] or "-")),
                 escape(t["metric"] + (f" (vs {t['versus']})" if t.get("versus") else "")), _num(t["published"], ".3g"),
                 _num(t["simulated"], ".3g"), _num(t["tolerance"], ".3g"),
                 "<span class='pass'>pass</span>" if t["pass"] else "<span class='miss'>MISS</span>",
                 escape(t["source"])] for t in targets.to_dict("records")]
        passed = int(targets["pass"].sum())
        out += [_table(["arm", "visit", "metric", "published", "simulated", "tolerance", "result", "source"], rows, 3),
                f"<p>{passed} of {len(targets)} targets within tolerance.</p>"]
    per_arm = sorted(n)[0]
    rerun = f"ketasim trial trial.toml --json --engine {run['engine']} --patients-per-arm {per_arm}"
    return "\n".join(out), rerun, "trial.toml"


def _simulate_body(store: RunStore, run: dict[str, Any]) -> tuple[str, str, str]:
    summary = store.summary(run["id"])
    table = store.table(run["id"], "timecourse")
    m = summary["madrs"]
    out = ["<h2>Inputs</h2>", _table(["", ""], [["regimen", escape(summary["name"])], ["patient", escape(summary["patient"])],
                                                 ["days", f"{summary['days']:g}"], ["engine", escape(summary["engine"])]]),
           "<h2>Doses</h2>", _table(["time (h)", "drug", "route", "amount", "infusion (h)"],
                                    [[_num(d["time_h"], "g"), escape(d["drug"]), escape(d["route"]), escape(d["amount"]),
                                      _num(d["infusion_h"], "g")] for d in summary["doses"]], 99),
           "<h2>MADRS</h2>", _table(["baseline", "minimum", "at", "end"],
                                    [[_num(m["baseline"]), _num(m["minimum"]), _hours(round(m["minimum_time_h"], 2)),
                                      _num(m["end"])]], 0),
           "<h2>Figures</h2>",
           _img(figures.simulation_png(table, f"{summary['name']}, {summary['patient']}",
                                       [d["time_h"] for d in summary["doses"]]), "every layer over time")]
    first = (run["input"] or "").splitlines()[:1]
    rerun = first[0].removeprefix("# ") if first and first[0].startswith("# ketasim simulate") else "ketasim simulate"
    return "\n".join(out), rerun, "regimen.toml"


def _forecast_body(store: RunStore, run: dict[str, Any]) -> tuple[str, str, str]:
    s = store.summary(run["id"])
    p, r, settings = s["posterior"], s["relapse"], s["settings"]
    traits = [[escape(t["trait"]), *(_num(t.get(k), ".3g") for k in ("prior_p05", "prior_p50", "prior_p95",
                                                                       "posterior_p05", "posterior_p50", "posterior_p95"))]
              for t in p["traits"]]
    plan = [[escape(row["interval"]), str(row["sessions"]), _num(row["relapse_risk"], pct=True),
             _num(row["sbp_peak_mean_mmhg"], ".0f"), _num(row["p_sbp_over_180"], pct=True),
             "yes" if row["recommended"] else ""] for row in s["plan"]]
    median = r["median_days_after_last_observation"]
    out = ["<h2>Posterior</h2>",
           f"<p>{escape(p['method'])}; prior: {escape(p['prior'])}; {p['draws']} draws, ESS {_num(p['ess'], '.0f')}, "
           f"Pareto k-hat {_num(p['pareto_khat'], '.2f')}; {p['observations']} observations.</p>",
           _table(["trait", "prior p5", "prior p50", "prior p95", "posterior p5", "posterior p50", "posterior p95"],
                  traits, 1),
           "<h2>Observations</h2>", _table(["time (h)", "measure", "value"],
                                           [[_num(o["time_h"], "g"), escape(o["measure"]), _num(o["value"], "g")]
                                            for o in s["observations"]], 0),
           "<h2>Relapse without further sessions</h2>",
           f"<p>Relapse: MADRS at or above {r['relapse_madrs']:g}. Probability within the horizon "
           f"{_num(r['probability_within_horizon'], pct=True)}; median time "
           + ("beyond the horizon" if median is None else f"{median:.0f} d after the last observation") + ".</p>",
           "<h2>Maintenance plan</h2>",
           f"<p>Session: {escape(str(settings['maintenance']))}; acceptable risk {settings['acceptable_risk']:g}. "
           "Relapse risk: the highest probability of relapse before any next session.</p>",
           _table(["interval", "sessions", "relapse risk", "peak SBP mean (mmHg)", "P(SBP > 180)", "recommended"], plan, 1),
           f"<p>Recommended interval: {escape(s['recommended_interval'] or 'none within the acceptable risk')}</p>",
           "<h2>Figure</h2>"]
    figure = store.result_dir(run["id"]) / "forecast.png"
    out.append(_img(figure.read_bytes(), "MADRS forecast") if figure.is_file() else "<p>(no figure stored)</p>")
    first = (run["input"] or "").splitlines()[:1]
    rerun = first[0].removeprefix("# ") if first and first[0].startswith("# ketasim forecast") else "ketasim forecast"
    return "\n".join(out), rerun, rerun.split()[2] if len(rerun.split()) > 2 else "patient.toml"


def render_report(store: RunStore, run_id: str) -> str:
    """The HTML text of the report of run `run_id`."""
    run = store.get(run_id)
    if run["status"] != "done":
        raise ks.KetasimInputError(f"run {run_id} is {run['status']}; only finished runs have a report")
    if run["kind"] == "trial":
        body, rerun, filename = _trial_body(store, run)
    elif run["kind"] == "simulate":
        body, rerun, filename = _simulate_body(store, run)
    elif run["kind"] == "forecast":
        body, rerun, filename = _forecast_body(store, run)
    else:
        raise ks.KetasimInputError(f"run {run_id} is a {run['kind']} run; reports are for trial, simulate and "
                                   "forecast runs")
    title = f"ketasim report: {run['name']}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="disclaimer"><strong>Research software, not a medical device. It informs; it does not prescribe.</strong>
{escape(internal.DISCLAIMER)}</p>
<h2>Run</h2>
{_run_table(run)}
{body}
<h2>Input file</h2>
<p>Save this as <code>{filename}</code> and run <code>{escape(rerun)}</code> with ketasim {escape(run['version'])} to
rerun it (same seed, same engine: the same numbers).</p>
<pre id="input">{escape(run['input'] or '')}</pre>
<footer><p>{escape(internal.DISCLAIMER)}</p></footer>
</body></html>
"""
