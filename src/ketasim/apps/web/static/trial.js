// Trial page: trial file text -> POST /api/trials -> progress (server-sent events), cancel -> charts and tables.
"use strict";

function band(x, lo, hi, color, name) {
  return {x: [...x, ...[...x].reverse()], y: [...hi, ...[...lo].reverse()], mode: "lines", fill: "toself", fillcolor: color + "33",
          line: {width: 0}, hoverinfo: "skip", showlegend: false, name: name + " 95% CI", type: "scatter"};
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

function drawCharts(course, remission) {
  const axis = timeAxis(Math.max(...course.time_h));
  const arms = [...new Set(course.arm)];
  const madrs = [], rates = [];
  arms.forEach((arm, i) => {
    const idx = course.arm.map((a, j) => a === arm ? j : -1).filter(j => j >= 0);
    const pick = (col, scale = 1) => idx.map(j => course[col][j] * scale);
    const x = pick("time_h", 1 / axis.scale);
    const color = COLORS[i % COLORS.length];
    const name = plotText(arm);  // an arm name is the trial file's: plain text in the legend
    madrs.push(band(x, pick("madrs_lo"), pick("madrs_hi"), color, name),
               {x, y: pick("madrs_mean"), mode: "lines+markers", name: `${name} (n=${course.n[idx[0]]})`, line: {color}});
    for (const [label, dash] of [["response", "solid"], ["remission", "dash"]]) {
      rates.push(band(x, pick(label + "_lo", 100), pick(label + "_hi", 100), color, name + " " + label),
                 {x, y: pick(label + "_rate", 100), mode: "lines+markers", name: `${name}: ${label}`, line: {color, dash}});
    }
  });
  const layout = (title, ytitle, extra = {}) => ({title: {text: title, font: {size: 13}}, margin: {l: 55, r: 10, t: 35, b: 40},
    xaxis: {title: {text: axis.title}}, yaxis: {title: {text: ytitle}, ...extra}, legend: {font: {size: 10}, orientation: "h", y: -0.2}});
  Plotly.newPlot("chart-madrs", madrs, {...layout("MADRS by arm (bands: 95% CI of the mean)", "MADRS, mean (points)", {rangemode: "tozero"}),
    shapes: [{type: "line", xref: "paper", x0: 0, x1: 1, y0: remission, y1: remission, line: {dash: "dot", color: "#888"}}]}, PLOT_CONFIG);
  Plotly.newPlot("chart-rates", rates, layout("response (solid) and remission (dashed), 95% Wilson bands", "patients (%)",
    {range: [-2, 102]}), PLOT_CONFIG);
}

function drawTables(summary, targets) {
  const out = document.getElementById("tables");
  const rows = [];
  for (const [arm, s] of Object.entries(summary.arms)) {
    for (const [visit, v] of Object.entries(s.visits)) {
      rows.push([arm, visit, s.n, num(s.baseline_madrs_mean), num(v.madrs_mean), num(v.change_mean) + ci(v.change_mean_ci),
                 pct(v.response_rate) + ci(v.response_rate_ci, true), pct(v.remission_rate) + ci(v.remission_rate_ci, true)]);
    }
  }
  const parts = [el("h2", {}, "Visits"), el("p", {}, "MADRS in points; change = visit - baseline; [95% CI]"),
    table(["arm", "visit", "n", "baseline", "MADRS", "change", "response", "remission"], rows, 2)];
  const relapse = Object.entries(summary.arms).filter(([, s]) => s.relapse);
  if (relapse.length) {
    parts.push(el("h2", {}, "Relapse"), table(["arm", "among", "count", "rate", "median days"],
      relapse.map(([arm, s]) => [arm, s.relapse.among, s.relapse.count, pct(s.relapse.rate) + ci(s.relapse.rate_ci, true),
                                 s.relapse.median_days ?? "n/a"]), 2));
  }
  const vitals = Object.entries(summary.arms).filter(([, s]) => s.vitals);
  if (vitals.length) {
    parts.push(el("h2", {}, "Vitals, first session"), table(["arm", "SBP rise (mmHg)", "DBP rise (mmHg)", "HR rise (bpm)", "CADSS peak"],
      vitals.map(([arm, s]) => [arm, num(s.vitals.sbp_peak_change_mean), num(s.vitals.dbp_peak_change_mean),
                                num(s.vitals.hr_peak_change_mean), num(s.vitals.cadss_peak_mean)]), 1));
  }
  parts.push(el("h2", {}, "Published targets"));
  if (!targets.metric.length) {
    parts.push(el("p", {}, "The trial file has no [[published]] targets."));
  } else {
    parts.push(table(["arm", "visit", "metric", "published", "simulated", "tolerance", "result", "source"],
      targets.metric.map((m, i) => [targets.arm[i], targets.visit[i] ?? "-", m + (targets.versus[i] ? ` (vs ${targets.versus[i]})` : ""), num(targets.published[i], 3),
        num(targets.simulated[i], 3), num(targets.tolerance[i], 3),
        el("span", {class: targets.pass[i] ? "pass" : "miss"}, targets.pass[i] ? "pass" : "MISS"), targets.source[i]]), 3));
  }
  out.replaceChildren(...parts);
}

async function showResults(runId) {
  const [run, course, targets] = await Promise.all([api(`/api/runs/${runId}`), api(`/api/runs/${runId}/tables/course`),
                                                   api(`/api/runs/${runId}/tables/targets`)]);
  const remission = Number((run.input.match(/^\s*remission\s*=\s*([0-9.]+)/m) || [0, 10])[1]);
  drawCharts(course, remission);
  drawTables(run.summary, targets);
  document.getElementById("downloads").replaceChildren(el("p", {}, "Download: ",
    el("a", {href: `/api/runs/${runId}/patients.parquet`, id: "dl-parquet"}, "patients (Parquet)"), " | ",
    el("a", {href: `/api/runs/${runId}/summary.json`, id: "dl-json"}, "summary (JSON)"), " | ",
    el("a", {href: `/api/runs/${runId}/report.html`, target: "_blank", id: "dl-report"}, "report (HTML)"), ` (run ${runId})`));
}

function run() {
  return startAndFollow(() => {
    const patients = document.getElementById("patients").value;
    return postJSON("/api/trials", {text: document.getElementById("text").value,
      filename: document.getElementById("filename").value, engine: document.getElementById("engine").value,
      patients_per_arm: patients ? Number(patients) : null});
  }, (s) => `${s.done ?? "?"} of ${s.total ?? "?"} patients`, showResults);
}

async function loadExample(name) {
  document.getElementById("text").value = await api(`/api/examples/${name}`);
  document.getElementById("filename").value = name + ".toml";
}

document.addEventListener("DOMContentLoaded", async () => {
  const options = await api("/api/options");
  const example = document.getElementById("example");
  example.replaceChildren(...options.examples.map(n => el("option", {value: n}, n)));
  example.addEventListener("change", () => loadExample(example.value).catch(e => showError(e.message)));
  await loadExample(options.examples[0]);
  uploadInto("upload", "text", "filename", options.limits.max_upload_bytes);
  document.getElementById("run").addEventListener("click", run);
  wireCancel();
  document.body.dataset.ready = "1";
});
