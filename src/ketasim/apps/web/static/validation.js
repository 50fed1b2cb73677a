// Validation page: POST /api/validation -> progress -> the published targets (filterable table and forest plot)
// and the mechanism checks (human and rodent scores apart).
"use strict";

let TARGETS = [];

function label(t) {
  return `${t.file} | ${t.arm}${t.visit ? " | " + t.visit : ""} | ${t.metric}${t.versus ? " vs " + t.versus : ""}`;
}

function chosen() {
  const file = document.getElementById("filter-file").value, metric = document.getElementById("filter-metric").value;
  const result = document.getElementById("filter-result").value;
  return TARGETS.filter(t => (!file || t.file === file) && (!metric || t.metric === metric) &&
                             (!result || (result === "pass") === Boolean(t.pass)));
}

function fillFilter(id, values) {
  const select = document.getElementById(id);
  const keep = select.value;
  select.replaceChildren(select.options[0], ...[...new Set(values)].sort().map(v => el("option", {value: v}, v)));
  select.value = values.includes(keep) ? keep : "";
}

// each target on one scale: (simulated - published) / tolerance; the tolerance band is -1 to 1
function drawForest(rows) {
  const div = document.getElementById("forest");
  div.classList.toggle("hidden", rows.length === 0);
  if (!rows.length) { Plotly.purge(div); return; }
  const y = rows.map(t => plotText(label(t)));
  const scaled = (v, t) => v === null || v === undefined ? null : (v - t.published) / t.tolerance;
  const x = rows.map(t => scaled(t.simulated, t));
  const lo = rows.map((t, i) => t.simulated_ci ? x[i] - scaled(t.simulated_ci[0], t) : 0);
  const hi = rows.map((t, i) => t.simulated_ci ? scaled(t.simulated_ci[1], t) - x[i] : 0);
  const hover = rows.map(t => [plotText(label(t)), `simulated ${num(t.simulated, 3)}` +
    (t.simulated_ci ? ` (95%: ${num(t.simulated_ci[0], 3)} to ${num(t.simulated_ci[1], 3)})` : ""),
    `published ${num(t.published, 3)} +- ${num(t.tolerance, 3)}`].join("<br>"));
  const traces = [
    {x: rows.map(() => 0), y, mode: "markers", name: "published (0) and its tolerance band (-1 to 1)",
     marker: {symbol: "line-ns-open", size: 12, color: "#333"}, hoverinfo: "skip"},
    {x, y, mode: "markers", name: "simulated, 95% sampling interval", text: hover, hoverinfo: "text",
     error_x: {type: "data", symmetric: false, array: hi, arrayminus: lo, thickness: 1.2, width: 3},
     marker: {size: 7, color: rows.map(t => t.pass ? "#176b1d" : "#a31515")}},
  ];
  div.style.height = Math.max(260, 22 * rows.length + 120) + "px";
  Plotly.react(div, traces, {
    title: {text: "simulated against published, in tolerances: (simulated - published) / tolerance", font: {size: 13}},
    margin: {l: Math.min(380, Math.round(0.45 * div.clientWidth)), r: 20, t: 40, b: 60}, xaxis: {title: {text: "tolerances from the published value"}, zeroline: true},
    yaxis: {automargin: true, autorange: "reversed", tickfont: {size: 10}},
    shapes: [{type: "rect", xref: "x", yref: "paper", x0: -1, x1: 1, y0: 0, y1: 1, fillcolor: "rgba(23,107,29,0.08)", line: {width: 0}}],
    legend: {orientation: "h", y: -0.08, yanchor: "top", font: {size: 10}}, showlegend: true}, PLOT_CONFIG);
}

function showTargets() {
  const rows = chosen();
  document.getElementById("shown").textContent = `${rows.length} of ${TARGETS.length} targets shown`;
  document.getElementById("result").replaceChildren(
    el("p", {id: "score"}, document.getElementById("result").dataset.score || ""),
    table(["file", "arm", "visit", "metric", "published", "simulated", "95% interval", "tolerance", "result", "source"],
      rows.map(t => [t.file, t.arm, t.visit ?? "-", t.metric + (t.versus ? ` (vs ${t.versus})` : ""), num(t.published, 3),
        num(t.simulated, 3), t.simulated_ci ? `${num(t.simulated_ci[0], 3)} to ${num(t.simulated_ci[1], 3)}` : "-",
        num(t.tolerance, 3), el("span", {class: t.pass ? "pass" : "miss"}, t.pass ? "pass" : "MISS"), t.source]), 4));
  drawForest(rows);
}

function showMechanism(m) {
  const box = document.getElementById("mechanism");
  if (!m) { box.replaceChildren(); return; }
  box.replaceChildren(el("h2", {}, "Mechanism checks (intermediate layers)"),
    el("p", {id: "mechanism-score"}, `human: ${m.human.passed} of ${m.human.total} pass; rodent-derived: ` +
      `${m.rodent.passed} of ${m.rodent.total} pass`),
    table(["layer", "species", "check", "simulated", "accepted range", "result", "source"],
      m.checks.map(c => [c.layer, c.species, c.name, num(c.simulated, 3), `${num(c.range[0], 3)} to ${num(c.range[1], 3)}`,
        el("span", {class: c.pass ? "pass" : "miss"}, c.pass ? "pass" : "MISS"), c.source]), 3));
}

async function showTable(runId) {
  const run = await api(`/api/runs/${runId}`);
  const summary = run.summary || {};
  TARGETS = summary.targets || [];
  document.getElementById("result").dataset.score =
    `${TARGETS.filter(t => t.pass).length} of ${TARGETS.length} targets within tolerance (run ${runId})`;
  fillFilter("filter-file", TARGETS.map(t => t.file));
  fillFilter("filter-metric", TARGETS.map(t => t.metric));
  document.getElementById("filters").classList.toggle("hidden", TARGETS.length === 0);
  showTargets();
  showMechanism(summary.mechanism);
}

function run() {
  return startAndFollow(
    () => postJSON("/api/validation", {patients_per_arm: Number(document.getElementById("patients").value)}),
    (s) => `${s.done ?? "?"} of ${s.total ?? "?"} trial files`, showTable);
}

document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("run").addEventListener("click", run);
  for (const id of ["filter-file", "filter-metric", "filter-result"]) {
    document.getElementById(id).addEventListener("change", showTargets);
  }
  wireCancel();
  const last = (await api("/api/runs")).find(r => r.kind === "validate" && r.status === "done");
  if (last) await showTable(last.id);
  document.body.dataset.ready = "1";
});
