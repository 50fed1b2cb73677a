// Runs page: every recorded run with its downloads; compare two trial runs.
"use strict";

function links(r) {
  const base = `/api/runs/${r.id}`;
  if (r.status !== "done") return [r.message || ""];
  const out = [el("a", {href: base + "/summary.json"}, "JSON")];
  if (r.kind !== "validate") out.push(" | ", el("a", {href: base + "/report.html", target: "_blank"}, "report"));
  if (r.kind === "simulate") out.push(" | ", el("a", {href: base + "/simulation.csv"}, "CSV"));
  if (r.kind === "trial") out.push(" | ", el("a", {href: base + "/patients.parquet"}, "patients.parquet"));
  if (r.kind === "forecast") out.push(" | ", el("a", {href: base + "/forecast.parquet"}, "forecast.parquet"));
  return out;
}

async function compare() {
  showError("");
  try {
    const a = document.getElementById("run-a").value.trim(), b = document.getElementById("run-b").value.trim();
    const rows = await api(`/api/runs/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
    document.getElementById("comparison").replaceChildren(el("p", {}, `diff = b - a`),
      table(["arm", "visit", "metric", "a", "b", "diff"], rows.map(r => [r.arm, r.visit, r.metric, num(r.a, 3), num(r.b, 3), num(r.diff, 3)]), 3));
  } catch (err) { showError(err.message); }
}

document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("compare").addEventListener("click", compare);
  const runs = await api("/api/runs");
  document.getElementById("runs").replaceChildren(table(["id", "time (UTC)", "kind", "name", "status", "runtime (s)", "engine", "seed", ""],
    runs.map(r => [r.id, r.time, r.kind, r.name, r.status, num(r.runtime_s, 2), r.engine, r.seed ?? "", el("span", {}, links(r))]), 5));
  document.body.dataset.ready = "1";
});
