// Validation page: POST /api/validation -> progress -> the table of published targets, pass or miss.
"use strict";

async function showTable(runId) {
  const t = await api(`/api/runs/${runId}/tables/validation`);
  const passed = t.pass.filter(Boolean).length;
  document.getElementById("result").replaceChildren(
    el("p", {id: "score"}, `${passed} of ${t.pass.length} targets within tolerance (run ${runId})`),
    table(["file", "arm", "visit", "metric", "published", "simulated", "tolerance", "result", "source"],
      t.file.map((f, i) => [f, t.arm[i], t.visit[i] ?? "-", t.metric[i] + (t.versus[i] ? ` (vs ${t.versus[i]})` : ""), num(t.published[i], 3), num(t.simulated[i], 3),
        num(t.tolerance[i], 3), el("span", {class: t.pass[i] ? "pass" : "miss"}, t.pass[i] ? "pass" : "MISS"), t.source[i]]), 4));
}

function run() {
  return startAndFollow(
    () => postJSON("/api/validation", {patients_per_arm: Number(document.getElementById("patients").value)}),
    (s) => `${s.done ?? "?"} of ${s.total ?? "?"} trial files`, showTable);
}

document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("run").addEventListener("click", run);
  wireCancel();
  const last = (await api("/api/runs")).find(r => r.kind === "validate" && r.status === "done");
  if (last) await showTable(last.id);
  document.body.dataset.ready = "1";
});
