// Forecast page: the tables (forecast-tables.js) or the patient file text (+ optional CSV) -> POST /api/forecast -> progress (server-sent events), cancel
// -> MADRS bands, plan chart and tables: what `ketasim forecast` prints. Research software, not a medical device.
"use strict";

function fillBand(x, lo, hi, color, name) {
  return {x: [...x, ...[...x].reverse()], y: [...hi, ...[...lo].reverse()], mode: "lines", fill: "toself", fillcolor: color,
          line: {width: 0}, hoverinfo: "skip", name, type: "scatter"};
}

const PLAN_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"];

function drawForecast(s) {
  const days = s.forecast.map(r => r.time_h / 24);
  const col = (rows, key) => rows.map(r => r[key]);
  const traces = [
    fillBand(days, col(s.forecast, "madrs_p05"), col(s.forecast, "madrs_p95"), "rgba(0,0,0,0.12)", "90% band"),
    fillBand(days, col(s.forecast, "madrs_p25"), col(s.forecast, "madrs_p75"), "rgba(0,0,0,0.25)", "50% band"),
    {x: days, y: col(s.forecast, "madrs_p50"), mode: "lines", name: "median, no further sessions", line: {color: "#000"}},
  ];
  const intervals = [...new Set(s.plan_forecasts.map(r => r.interval))];
  intervals.forEach((interval, i) => {
    const rows = s.plan_forecasts.filter(r => r.interval === interval);
    traces.push({x: rows.map(r => r.time_h / 24), y: col(rows, "madrs_p50"), mode: "lines",
                 name: `median, every ${interval}`, line: {color: PLAN_COLORS[i % PLAN_COLORS.length], width: 1.5}});
  });
  const observed = s.observations.filter(o => o.measure === "madrs");
  traces.push({x: observed.map(o => o.time_h / 24), y: col(observed, "value"), mode: "markers", name: "observed MADRS",
               marker: {color: "#d62728", size: 9}});
  const threshold = s.relapse.relapse_madrs;
  Plotly.newPlot("chart-forecast", traces, {
    title: {text: "MADRS: bands without sessions, lines per interval", font: {size: 13}},
    margin: {l: 55, r: 10, t: 35, b: 40}, xaxis: {title: {text: "days from the first dose"}},
    yaxis: {title: {text: "MADRS (points)"}, range: [0, 60]}, legend: {font: {size: 10}, orientation: "h", y: -0.2},
    shapes: [{type: "line", xref: "paper", x0: 0, x1: 1, y0: threshold, y1: threshold, line: {dash: "dash", color: "#d62728", width: 1}}],
  }, PLOT_CONFIG);
  const risk = s.settings.acceptable_risk;
  Plotly.newPlot("chart-relapse", [{
    x: col(s.plan, "interval"), y: s.plan.map(r => 100 * r.relapse_risk), type: "bar", name: "relapse risk",
    marker: {color: s.plan.map(r => r.recommended ? "#2ca02c" : (r.relapse_risk <= risk ? "#9ecae1" : "#d62728"))},
  }], {
    title: {text: "relapse risk before the next session, by maintenance interval", font: {size: 13}},
    margin: {l: 55, r: 10, t: 35, b: 40}, xaxis: {title: {text: "interval between sessions"}, type: "category"},
    yaxis: {title: {text: "probability (%)"}, range: [0, 100]}, showlegend: false,
    shapes: [{type: "line", xref: "paper", x0: 0, x1: 1, y0: 100 * risk, y1: 100 * risk, line: {dash: "dot", color: "#444"}}],
    annotations: [{xref: "paper", x: 1, y: 100 * risk, yanchor: "bottom", xanchor: "right", showarrow: false,
                   text: `acceptable risk ${pct(risk)}`, font: {size: 10}}],
  }, PLOT_CONFIG);
}

function drawTables(s) {
  const p = s.posterior, r = s.relapse;
  const median = r.median_days_after_last_observation;
  document.getElementById("posterior-summary").replaceChildren(
    el("h2", {}, "Posterior"),
    el("p", {id: "posterior-line"}, `${p.method}; prior: ${p.prior}; ${p.draws} draws, ESS ${num(p.ess, 0)}, ` +
      `Pareto k-hat ${num(p.pareto_khat, 2)}; ${p.observations} observations.`),
    el("p", {id: "relapse-line"}, `Without further sessions: relapse (MADRS \u2265 ${r.relapse_madrs}) within the horizon ` +
      `${pct(r.probability_within_horizon)}; median time ` +
      (median === null ? "beyond the horizon." : `${num(median, 0)} d after the last observation.`)),
    el("p", {id: "recommended"}, el("strong", {}, s.recommended_interval ? `Recommended interval: ${s.recommended_interval}`
      : `No candidate interval keeps the relapse risk at or under ${s.settings.acceptable_risk}`),
      ` (session: ${s.settings.maintenance}).`));
  const plan = table(["interval", "sessions", "relapse risk", "peak SBP, mean (mmHg)", "P(SBP > 180)", "recommended"],
    s.plan.map(row => [row.interval, row.sessions, pct(row.relapse_risk), num(row.sbp_peak_mean_mmhg, 0),
                       pct(row.p_sbp_over_180), row.recommended ? "yes" : ""]), 1);
  plan.id = "plan-table";
  const traits = table(["trait", "prior p5", "prior p50", "prior p95", "posterior p5", "posterior p50", "posterior p95"],
    p.traits.map(t => [t.trait, ...["prior_p05", "prior_p50", "prior_p95", "posterior_p05", "posterior_p50", "posterior_p95"]
      .map(k => t[k] === undefined ? "n/a" : Number(t[k]).toPrecision(3))]), 1);
  traits.id = "traits-table";
  const weeks = table(["week after the last observation", "P(relapse by then), no further sessions"],
    r.by_week.map(w => [w.week, pct(w.probability)]), 1);
  document.getElementById("tables").replaceChildren(
    el("h2", {}, "Maintenance plan"), el("p", {}, "Relapse risk: the highest probability of relapse before any next session."),
    plan, el("h2", {}, "Relapse without further sessions"), weeks,
    el("h2", {}, "Patient traits: prior and posterior"), traits);
}

async function showResults(runId) {
  const run = await api(`/api/runs/${runId}`);
  drawForecast(run.summary);
  drawTables(run.summary);
  document.getElementById("downloads").replaceChildren(el("p", {}, "Download: ",
    el("a", {href: `/api/runs/${runId}/summary.json`, id: "dl-json"}, "forecast (JSON)"), " | ",
    el("a", {href: `/api/runs/${runId}/forecast.parquet`, id: "dl-parquet"}, "bands (Parquet)"), " | ",
    el("a", {href: `/api/runs/${runId}/plan.parquet`}, "plan (Parquet)"), " | ",
    el("a", {href: `/api/runs/${runId}/report.html`, target: "_blank", id: "dl-report"}, "report (HTML)"), ` (run ${runId})`));
}

function planOverrides() {
  const value = (id) => document.getElementById(id).value.trim();
  const plan = {};
  if (value("horizon")) plan.horizon = value("horizon");
  if (value("relapse-madrs")) plan.relapse_madrs = Number(value("relapse-madrs"));
  if (value("acceptable-risk")) plan.acceptable_risk = Number(value("acceptable-risk"));
  if (value("intervals")) plan.intervals = value("intervals").split(",").map(v => v.trim()).filter(v => v);
  return plan;
}

async function run() {
  try { await flushTables(); } catch (e) { showError(e.message); return; }
  return startAndFollow(() => {
    const csv = document.getElementById("csv-text").value;
    return postJSON("/api/forecast", {
      text: document.getElementById("text").value, filename: document.getElementById("filename").value,
      data_csv: csv.trim() ? csv : null, data_filename: document.getElementById("csv-filename").value || null,
      draws: Number(document.getElementById("draws").value), seed: Number(document.getElementById("seed").value),
      plan: planOverrides()});
  }, (s) => `step ${s.done ?? "?"} of ${s.total ?? "?"}`, showResults);
}

async function loadExample() {
  document.getElementById("text").value = await api("/api/forecast/example");
  document.getElementById("filename").value = "patient.toml";
  await loadText();
}

document.addEventListener("DOMContentLoaded", async () => {
  const options = await api("/api/options");
  wireTables(options);
  await loadExample();
  const draws = document.getElementById("draws");  // simulated draws count against the server's patient cap
  draws.max = options.limits.max_patients;
  draws.value = Math.min(Number(draws.value), options.limits.max_patients);
  document.getElementById("example").addEventListener("click", () => loadExample().catch(e => showError(e.message)));
  uploadInto("upload", "text", "filename", options.limits.max_upload_bytes, () => loadText().catch(e => showError(e.message)));
  uploadInto("csv-upload", "csv-text", "csv-filename", options.limits.max_upload_bytes);
  document.getElementById("run").addEventListener("click", run);
  wireCancel();
  document.body.dataset.ready = "1";
});
