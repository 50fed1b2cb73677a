// Shared helpers of the explorer pages. Research software, not a medical device.
"use strict";

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const detail = body && body.detail !== undefined ? body.detail : body;
    throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return body;
}

function postJSON(path, value, signal = undefined) {
  return api(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(value), signal});
}

// text for a Plotly title, legend or hover label: Plotly reads a few HTML tags there, so < > & are written as entities
function plotText(value) {
  return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function num(value, digits = 1) {
  return value === null || value === undefined || Number.isNaN(value) ? "n/a" : Number(value).toFixed(digits);
}

function pct(value) { return value === null || value === undefined ? "n/a" : (100 * value).toFixed(0) + "%"; }

function ci(pair, asPct = false) {
  if (!pair || pair[0] === null || pair[1] === null) return "";
  return asPct ? ` [${pct(pair[0])}, ${pct(pair[1])}]` : ` [${num(pair[0])}, ${num(pair[1])}]`;
}

function table(headers, rows, numericFrom = 99) {
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map(h => el("th", {}, h)))),
    el("tbody", {}, rows.map(r => el("tr", {}, r.map((c, i) => el("td", i >= numericFrom ? {class: "num"} : {}, c))))));
}

function showError(message) { document.getElementById("error").textContent = message || ""; }

// time axis: hours up to 3 days, else days
function timeAxis(maxHours) { return maxHours <= 72 ? {scale: 1, title: "time (h)"} : {scale: 24, title: "time (d)"}; }

const PLOT_CONFIG = {responsive: true, displaylogo: false};

// state of a run until it finishes, through server-sent events; onState(state) on each change
function followRun(runId, onState) {
  return new Promise((resolve) => {
    const source = new EventSource(`/api/runs/${runId}/events`);
    source.onmessage = (event) => {
      const state = JSON.parse(event.data);
      onState(state);
      if (["done", "failed", "cancelled"].includes(state.status)) { source.close(); resolve(state); }
    };
    source.onerror = () => { source.close(); api(`/api/runs/${runId}`).then(r => { onState(r.state); resolve(r.state); }); };
  });
}

// A long run of a page (#run, #cancel, #progress, #status): start() posts it and returns its state; progress
// until it ends (describe(state) words the count); then showResults(id), or the failure in #error.
let currentRun = null;

async function startAndFollow(start, describe, showResults) {
  showError("");
  const status = document.getElementById("status"), progress = document.getElementById("progress");
  const runButton = document.getElementById("run"), cancelButton = document.getElementById("cancel");
  runButton.disabled = true;
  try {
    const state = await start();
    currentRun = state.id;
    cancelButton.disabled = false;
    const final = await followRun(state.id, (s) => {
      progress.max = s.total || 1; progress.value = s.done || 0;
      status.textContent = `${s.status}: ${describe(s)}` + (s.message ? ` (${s.message})` : "");
      status.dataset.state = s.status;
    });
    cancelButton.disabled = true;
    currentRun = null;
    if (final.status === "done") await showResults(final.id);
    else if (final.status === "failed") showError(final.message);
  } catch (err) {
    showError(err.message);
  } finally {
    runButton.disabled = false;
  }
}

function wireCancel() {
  document.getElementById("cancel").addEventListener("click", async () => {
    if (currentRun) await api(`/api/runs/${currentRun}/cancel`, {method: "POST"}).catch(e => showError(e.message));
  });
}

// a file input that loads a text file into a textarea and its name into an input, within the server's size limit
function uploadInto(inputId, textId, nameId, limit, onLoaded = null) {
  document.getElementById(inputId).addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    if (file.size > limit) { showError(`${file.name}: ${file.size} bytes; this server accepts at most ${limit}`); return; }
    document.getElementById(textId).value = await file.text();
    document.getElementById(nameId).value = file.name;
    if (onLoaded) onLoaded();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const a of document.querySelectorAll("header a[href]")) {
    if (a.getAttribute("href") === location.pathname) a.classList.add("active");
  }
});
