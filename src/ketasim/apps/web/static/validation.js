// Validation page: POST /api/validation -> progress -> the table of published targets, pass or miss.
"use strict";

let current = null;

async function showTable(runId) {
  const t = await api(`/api/runs/${runId}/tables/validation`);
  const passed = t.pass.filter(Boolean).length;
  document.getElementById("result").replaceChildren(
    el("p", {id: "score"}, `${passed} of ${t.pass.length} targets within tolerance (run ${runId})`),
    table(["file", "arm", "visit", "metric", "published", "simulated", "tolerance", "result", "source"],
      t.file.map((f, i) => [f, t.arm[i], t.visit[i] ?? "-", t.metric[i] + (t.versus[i] ? ` (vs ${t.versus[i]})` : ""), num(t.published[i], 3), num(t.simulated[i], 3),
        num(t.tolerance[i], 3), el("span", {class: t.pass[i] ? "pass" : "miss"}, t.pass[i] ? "pass" : "MISS"), t.source[i]]), 4));
}

async function run() {
  showError("");
  const runButton = document.getElementById("run"), cancelButton = document.getElementById("cancel");
  runButton.disabled = true;
  try {
    const state = await postJSON("/api/validation", {patients_per_arm: Number(document.getElementById("patients").value)});
    current = state.id; cancelButton.disabled = false;
    const final = await followRun(state.id, (s) => {
      const p = document.getElementById("progress");
      p.max = s.total || 1; p.value = s.done || 0;
      document.getElementById("status").textContent = `${s.status}: ${s.done ?? "?"} of ${s.total ?? "?"} trial files`;
    });
    cancelButton.disabled = true; current = null;
    if (final.status === "done") await showTable(final.id);
    else if (final.status === "failed") showError(final.message);
  } catch (err) { showError(err.message); } finally { runButton.disabled = false; }
}

document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("run").addEventListener("click", run);
  document.getElementById("cancel").addEventListener("click", () => current && api(`/api/runs/${current}/cancel`, {method: "POST"}));
  const last = (await api("/api/runs")).find(r => r.kind === "validate" && r.status === "done");
  if (last) await showTable(last.id);
  document.body.dataset.ready = "1";
});
