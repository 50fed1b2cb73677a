// Simulate page: regimen(s) + patient -> POST /api/simulate -> one chart per layer (first 24 h beside the whole
// course, doses marked); population bands (POST /api/population); dose sweeps (POST /api/sweep).
// Any change re-plots after a pause (300 ms); a newer request cancels the one in flight.
"use strict";

let OPTIONS = null;
const DEBOUNCE_MS = 300;
const ACUTE_H = 24;

// panels: id, title, columns (plasma: every plasma_* column); the y-axis unit comes from /api/options units
const PANELS = [
  ["plasma", "plasma concentration", null],
  ["occupancy", "receptor occupancy", ["nmda_occupancy", "sert_occupancy"]],
  ["glutamate", "glutamate", ["glutamate"]],
  ["bdnf", "BDNF / mTOR", ["bdnf", "mtor"]],
  ["spines", "spine density", ["spine_density"]],
  ["madrs", "MADRS", ["madrs"]],
  ["vitals", "blood pressure and heart rate", ["sbp_mmhg", "dbp_mmhg", "hr_bpm"]],
  ["cadss", "dissociation (CADSS)", ["cadss"]],
];

const PLAIN = {
  madrs: "MADRS", nmda_occupancy: "NMDA receptor occupancy", sert_occupancy: "SERT occupancy",
  glutamate: "glutamate release", bdnf: "BDNF", mtor: "mTOR activity", spine_density: "spine density",
  sbp_mmhg: "systolic BP", dbp_mmhg: "diastolic BP", hr_bpm: "heart rate", cadss: "CADSS",
};

function unitOf(column) {
  return column.startsWith("plasma_") ? "ng/mL" : (OPTIONS.units[column] || "");
}

function plainName(column) {
  if (column.startsWith("plasma_")) return column.replace(/^plasma_/, "").replace(/_ng_ml$/, "") + " plasma";
  return PLAIN[column] || column.replace(/_/g, " ");
}

function legendName(column) { return `${plainName(column)} (${unitOf(column)})`; }

function panelUnit(columns) {
  const units = [...new Set(columns.map(unitOf))];
  return units.join(", ");
}

// ---- inputs ---------------------------------------------------------------------------------------

function doseRow(drugs, dose = {drug: "ketamine", route: "iv", amount: "0.5 mg/kg", infusion: "40 min", at: "0 d"}) {
  const drug = el("select", {class: "drug", "aria-label": "drug"}, Object.keys(drugs).map(d => el("option", {value: d}, d)));
  const route = el("select", {class: "route", "aria-label": "route"});
  const fillRoutes = () => {
    route.replaceChildren(...drugs[drug.value].routes.map(r => el("option", {value: r}, r)));
  };
  drug.value = dose.drug; fillRoutes(); route.value = dose.route;
  drug.addEventListener("change", fillRoutes);
  const kind = el("select", {class: "kind", "aria-label": "schedule kind"}, el("option", {value: "at"}, "at"), el("option", {value: "every"}, "every"));
  const at = el("input", {class: "at", value: dose.at || "0 d", "aria-label": "dose times", title: "times, comma-separated (e.g. 0 d, 2 d)"});
  const every = el("input", {class: "every", value: dose.every || "1 d", "aria-label": "repeat every"});
  const from = el("input", {class: "from", value: dose.from || "0 d", "aria-label": "from"});
  const until = el("input", {class: "until", value: dose.until || "", placeholder: "end", "aria-label": "until"});
  const sched = el("span", {}, at, el("span", {class: "rep hidden"}, every, " from ", from, " until ", until));
  kind.value = dose.every ? "every" : "at";
  const toggle = () => {
    at.classList.toggle("hidden", kind.value !== "at");
    sched.querySelector(".rep").classList.toggle("hidden", kind.value !== "every");
  };
  kind.addEventListener("change", toggle); toggle();
  const row = el("tr", {}, el("td", {}, drug), el("td", {}, route),
    el("td", {}, el("input", {class: "amount", value: dose.amount, "aria-label": "amount", title: "e.g. 0.5 mg/kg, 56 mg"})),
    el("td", {}, el("input", {class: "infusion", value: dose.infusion || "", placeholder: "bolus", "aria-label": "infusion duration"})),
    el("td", {}, kind, " ", sched),
    el("td", {}, el("button", {type: "button", "aria-label": "remove this dose line", onclick: () => { row.remove(); schedule(); }}, "remove")));
  return row;
}

function readRow(row) {
  const v = (cls) => row.querySelector("." + cls).value.trim();
  const dose = {drug: v("drug"), route: v("route"), amount: v("amount")};
  if (v("infusion")) dose.infusion = v("infusion");
  if (v("kind") === "at") {
    const times = v("at").split(",").map(s => s.trim()).filter(Boolean);
    dose.at = times.length === 1 ? times[0] : times;
  } else {
    dose.every = v("every"); dose.from = v("from");
    if (v("until")) dose.until = v("until");
  }
  return dose;
}

function regimenEditor(fieldset, defaultPreset) {
  const preset = el("select", {class: "preset"}, Object.keys(OPTIONS.presets).map(p => el("option", {value: p}, p)),
    el("option", {value: "custom"}, "custom doses"));
  preset.value = defaultPreset;
  const describe = el("div", {class: "status"});
  const rows = el("tbody");
  const custom = el("div", {class: "custom hidden"},
    el("table", {class: "doses"}, el("thead", {}, el("tr", {}, ["drug", "route", "amount", "infusion", "schedule", ""].map(h => el("th", {}, h)))), rows),
    el("button", {type: "button", onclick: () => { rows.append(doseRow(OPTIONS.drugs)); schedule(); }}, "add dose line"),
    el("label", {}, "name ", el("input", {class: "name", value: "custom"})));
  rows.append(doseRow(OPTIONS.drugs));
  const update = () => {
    custom.classList.toggle("hidden", preset.value !== "custom");
    describe.textContent = preset.value === "custom" ? "" : OPTIONS.presets[preset.value].description;
  };
  preset.addEventListener("change", update); update();
  fieldset.append(el("label", {}, "preset ", preset), describe, custom);
  return () => preset.value === "custom"
    ? {doses: [...rows.children].map(readRow), name: custom.querySelector(".name").value}
    : {regimen: preset.value};
}

function traitLabel(name) {
  const f = OPTIONS.patient_fields[name];
  return {text: `${f.description} (${f.unit})`, title: `${name}: valid ${f.valid[0]} to ${f.valid[1]} ${f.unit}; source: ${f.source}`};
}

function patientEditor() {
  const select = document.getElementById("patient-preset");
  select.replaceChildren(...Object.keys(OPTIONS.patients).map(p => el("option", {value: p}, p)));
  const traits = document.getElementById("traits");
  const fill = () => {
    const base = OPTIONS.patients[select.value];
    traits.replaceChildren(...OPTIONS.traits.map(name => {
      const {text, title} = traitLabel(name);
      const f = OPTIONS.patient_fields[name];
      return name === "female"
        ? el("label", {title}, "sex ", el("select", {"data-trait": name}, el("option", {value: "1"}, "female"), el("option", {value: "0"}, "male")))
        : el("label", {title}, text + " ", el("input", {type: "number", step: "any", "data-trait": name, value: base[name],
                                                        min: f.valid[0], max: f.valid[1]}));
    }));
    traits.querySelector("[data-trait=female]").value = String(base.female);
  };
  select.addEventListener("change", fill); fill();
  return () => {
    const base = OPTIONS.patients[select.value];
    const set = {};
    for (const input of traits.querySelectorAll("[data-trait]")) {
      const value = Number(input.value);
      if (value !== base[input.dataset.trait]) set[input.dataset.trait] = value;  // only what differs (--set)
    }
    return {patient: select.value, set};
  };
}

function mode() { return document.querySelector("input[name=mode]:checked").value; }

function showMode() {
  const m = mode();
  for (const e of document.querySelectorAll(".single-only")) e.classList.toggle("hidden", m !== "single");
  for (const e of document.querySelectorAll(".sweep-only")) e.classList.toggle("hidden", m !== "sweep");
  for (const e of document.querySelectorAll(".population-only")) e.classList.toggle("hidden", m !== "population");
  for (const e of document.querySelectorAll(".not-population")) e.classList.toggle("hidden", m === "population");
  document.getElementById("regimen-a").classList.toggle("hidden", m === "sweep");
  document.getElementById("regimen-b").classList.toggle("hidden", m !== "single" || !document.getElementById("compare").checked);
  document.getElementById("run").textContent = {single: "Simulate", population: "Draw band", sweep: "Sweep"}[m];
}

// ---- charts ---------------------------------------------------------------------------------------

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

// a figure with the first 24 h (x, hours) beside the whole course (x2); traces given as {x_h, y, ...}
function courseFigure(div, title, unit, series, doses, maxH) {
  const axis = timeAxis(maxH);
  const traces = [];
  series.forEach((s, i) => {
    const {x_h, ...rest} = s;
    rest.line = {color: PALETTE[i % PALETTE.length], ...(rest.line || {})};  // the same colour in both panels
    const acute = x_h.findIndex(t => t > ACUTE_H);
    const end = acute < 0 ? x_h.length : acute + 1;
    traces.push({...rest, x: x_h.slice(0, end), y: s.y.slice(0, end), xaxis: "x", yaxis: "y", showlegend: false,
                 legendgroup: rest.name});
    traces.push({...rest, x: x_h.map(t => t / axis.scale), xaxis: "x2", yaxis: "y2", legendgroup: rest.name});
  });
  const shapes = [];
  for (const d of doses) {
    const style = {type: "line", yref: "paper", y0: 0, y1: 1, line: {color: d.color || "#888", width: 0.8, dash: "dot"}, opacity: 0.7};
    if (d.time_h <= ACUTE_H) shapes.push({...style, xref: "x", x0: d.time_h, x1: d.time_h});
    shapes.push({...style, xref: "x2", x0: d.time_h / axis.scale, x1: d.time_h / axis.scale});
  }
  const named = traces.filter(t => t.xaxis === "x2" && t.name).length;
  return Plotly.react(div, traces, {
    title: {text: title, font: {size: 13}}, margin: {l: 55, r: 10, t: 35, b: 35},
    xaxis: {domain: [0, 0.36], range: [0, Math.min(ACUTE_H, maxH)], title: {text: "first 24 h (h)"}},
    xaxis2: {domain: [0.44, 1], title: {text: "whole course: " + axis.title}, anchor: "y2"},
    yaxis: {title: {text: unit}}, yaxis2: {anchor: "x2", matches: "y"},
    shapes, showlegend: named > 1, legend: {font: {size: 10}, orientation: "h", y: -0.3, yanchor: "top"},
    meta: {doses: doses.length}}, PLOT_CONFIG);
}

function chartDiv(id, big = false) {
  const div = el("div", {class: big ? "chart big" : "chart", id: "chart-" + id, role: "img"});
  document.getElementById("charts").append(div);
  return div;
}

function drawSingle(results) {
  document.getElementById("charts").replaceChildren();
  const maxH = Math.max(...results.map(r => r.columns.time_h[r.columns.time_h.length - 1]));
  const dash = ["solid", "dash"];
  const doses = results.flatMap((r, k) => r.summary.doses.map(d => ({time_h: d.time_h, color: k ? "#d08000" : "#888"})));
  const draws = [];
  for (const [id, title, columns] of PANELS) {
    const div = chartDiv(id);
    const series = [];
    let cols = columns;
    results.forEach((r, k) => {
      cols = columns || Object.keys(r.columns).filter(c => c.startsWith("plasma_"));
      for (const c of cols) {
        series.push({x_h: r.columns.time_h, y: r.columns[c], mode: "lines", line: {dash: dash[k % 2], width: 1.6},
                     name: plotText((results.length > 1 ? r.label + ": " : "") + legendName(c))});
      }
    });
    div.setAttribute("aria-label", title + ": first 24 hours and whole course");
    draws.push(courseFigure(div, title, panelUnit(cols || []), series, doses, maxH));
  }
  return Promise.all(draws);
}

const BAND_COLORS = ["31,119,180", "214,39,40", "44,160,44", "148,103,189"];

function bandSeries(band, column, color, label) {
  const b = band.bands[column];
  const t = band.time_h;
  const fill = (lo, hi, alpha, name) => [
    {x_h: t, y: b[lo], mode: "lines", line: {width: 0}, hoverinfo: "skip", name: name + " low", showlegend: false},
    {x_h: t, y: b[hi], mode: "lines", line: {width: 0}, fill: "tonexty", fillcolor: `rgba(${color},${alpha})`, name}];
  return [...fill("q05", "q95", 0.15, `${label} 90% band`), ...fill("q25", "q75", 0.3, `${label} 50% band`),
          {x_h: t, y: b.q50, mode: "lines", line: {color: `rgb(${color})`, width: 2}, name: `${label} median`}];
}

function drawPopulation(band) {
  document.getElementById("charts").replaceChildren();
  const maxH = band.time_h[band.time_h.length - 1];
  const doses = band.doses.map(d => ({time_h: d.time_h}));
  const madrs = chartDiv("band-madrs", true);
  madrs.setAttribute("aria-label", "MADRS population band");
  const plasmaCols = Object.keys(band.bands).filter(c => c.startsWith("plasma_"));
  const draws = [courseFigure(madrs, `MADRS: median, 50% and 90% of ${band.solved} patients (${band.population}, seed ${band.seed})`,
    unitOf("madrs"), bandSeries(band, "madrs", BAND_COLORS[0], "MADRS"), doses, maxH)];
  if (plasmaCols.length) {
    const plasma = chartDiv("band-plasma", true);
    plasma.setAttribute("aria-label", "plasma concentration population band");
    draws.push(courseFigure(plasma, "plasma concentration: median, 50% and 90%", "ng/mL",
      plasmaCols.flatMap((c, i) => bandSeries(band, c, BAND_COLORS[i % BAND_COLORS.length], plainName(c))), doses, maxH));
  }
  return Promise.all(draws);
}

function drawSweep(sweep) {
  document.getElementById("charts").replaceChildren();
  const maxH = sweep.days * 24;
  const curves = chartDiv("sweep-curves", true);
  curves.setAttribute("aria-label", "MADRS for each swept value");
  const what = sweep.parameter === "amount" ? "dose amount" : "interval";
  const first = courseFigure(curves, plotText(`MADRS per ${what} (${sweep.patient}, ${sweep.engine} engine)`), unitOf("madrs"),
    sweep.curves.map(c => ({x_h: c.time_h, y: c.madrs, mode: "lines", line: {width: 1.5}, name: plotText(c.value)})),
    sweep.curves[0].doses.map(d => ({time_h: d.time_h})), maxH);
  const at = chartDiv("sweep-at", true);
  at.setAttribute("aria-label", "MADRS at chosen days against the swept value");
  const traces = sweep.at_days.map((d, i) => ({x: sweep.values.map(plotText), y: sweep.curves.map(c => c.at_days[i]), mode: "lines+markers",
                                                name: `day ${d}`, type: "scatter"}));
  const second = Plotly.react(at, traces, {title: {text: `MADRS at chosen days against the ${what}`, font: {size: 13}},
    margin: {l: 55, r: 10, t: 35, b: 45}, xaxis: {title: {text: what}, type: "category"},
    yaxis: {title: {text: unitOf("madrs")}}, legend: {font: {size: 10}}}, PLOT_CONFIG);
  return Promise.all([first, second]);
}

// ---- requests -------------------------------------------------------------------------------------

let inflight = null;   // AbortController of the request in flight
let sequence = 0;
let timer = null;

function schedule() {
  if (!document.getElementById("live").checked || !OPTIONS) return;
  clearTimeout(timer);
  timer = setTimeout(run, DEBOUNCE_MS);
}

function splitList(text) { return text.split(",").map(s => s.trim()).filter(Boolean); }

async function request(signal) {
  const days = Number(document.getElementById("days").value);
  const m = mode();
  if (m === "population") {
    const body = {...readA(), days, patients: Number(document.getElementById("pop-n").value),
                  seed: Number(document.getElementById("pop-seed").value), population: document.getElementById("pop-kind").value};
    return {m, data: await postJSON("/api/population", {...body, compounds: compoundFiles()}, signal)};
  }
  const patient = readPatient();
  const engine = document.getElementById("engine").value;
  if (m === "sweep") {
    const body = {dose: readRow(document.querySelector("#sweep-dose tr")), parameter: document.getElementById("sweep-parameter").value,
                  values: splitList(document.getElementById("sweep-values").value), ...patient, days, engine,
                  at_days: splitList(document.getElementById("sweep-days").value).map(Number)};
    return {m, data: await postJSON("/api/sweep", {...body, compounds: compoundFiles()}, signal)};
  }
  const which = document.getElementById("compare").checked ? [["A", readA], ["B", readB]] : [["A", readA]];
  const data = await Promise.all(which.map(async ([label, read]) => {
    const r = await postJSON("/api/simulate", {...read(), ...patient, days, engine, compounds: compoundFiles()}, signal);
    return {...r, label: label + " (" + r.summary.name + ")"};
  }));
  return {m, data};
}

async function run() {
  clearTimeout(timer);
  if (inflight) inflight.abort();  // a newer request replaces the one in flight
  const controller = new AbortController();
  inflight = controller;
  const mine = ++sequence;
  showError("");
  const status = document.getElementById("status");
  status.textContent = "simulating ...";
  const t0 = performance.now();
  try {
    const {m, data} = await request(controller.signal);
    if (mine !== sequence) return;
    const t1 = performance.now();
    await (m === "population" ? drawPopulation(data) : m === "sweep" ? drawSweep(data) : drawSingle(data));
    const t2 = performance.now();
    window.lastTiming = {mode: m, request_ms: t1 - t0, draw_ms: t2 - t1, total_ms: t2 - t0};
    document.body.dataset.draws = String(Number(document.body.dataset.draws || 0) + 1);
    describe(m, data, t2 - t0);
  } catch (err) {
    if (err.name === "AbortError" || mine !== sequence) return;
    showError(err.message);
    status.textContent = "";
  } finally {
    if (inflight === controller) inflight = null;
  }
}

function describe(m, data, ms) {
  const status = document.getElementById("status");
  const downloads = document.getElementById("downloads");
  const took = ` (${(ms / 1000).toFixed(2)} s)`;
  if (m === "population") {
    const q = data.bands.madrs;
    const last = q.q50.length - 1;
    status.textContent = `${data.solved} of ${data.patients} patients: MADRS median ${num(q.q50[0])} at baseline, ` +
      `${num(q.q50[last])} at day ${num(data.days, 0)} (90%: ${num(q.q05[last])} to ${num(q.q95[last])})` + took;
    downloads.replaceChildren();
  } else if (m === "sweep") {
    status.textContent = `${data.curves.length} curves, ${data.parameter} = ${data.values.join(", ")}` + took;
    downloads.replaceChildren();
  } else {
    status.textContent = data.map(r => `${r.label}: MADRS baseline ${num(r.summary.madrs.baseline)}, minimum ` +
      `${num(r.summary.madrs.minimum)} at ${num(r.summary.madrs.minimum_time_h)} h, end ${num(r.summary.madrs.end)}`).join("; ") + took;
    downloads.replaceChildren(...data.map(r => el("p", {}, r.label + ": ",
      el("a", {href: `/api/runs/${r.run_id}/simulation.csv`, download: `ketasim-${r.run_id}.csv`, class: "csv"}, "CSV"), " | ",
      el("a", {href: `/api/runs/${r.run_id}/report.html`, target: "_blank"}, "report"), ` (run ${r.run_id})`)));
  }
}

const SWEEP_DEFAULTS = {amount: "0.1 mg/kg, 0.2 mg/kg, 0.3 mg/kg, 0.4 mg/kg, 0.5 mg/kg, 0.6 mg/kg, 0.7 mg/kg, 0.8 mg/kg, 0.9 mg/kg, 1.0 mg/kg",
                        every: "1 wk, 2 wk, 3 wk, 4 wk"};

// ---- user compounds: checked by the server, then sent with every request (registered for that request only) --------

let USER_COMPOUNDS = [];  // {name, routes, description, file, text}

function compoundFiles() { return USER_COMPOUNDS.map(c => ({text: c.text, filename: c.file})); }

function refreshDrugMenus() {
  const names = Object.keys(OPTIONS.drugs);
  for (const select of document.querySelectorAll("select.drug")) {
    const chosen = select.value;
    select.replaceChildren(...names.map(d => el("option", {value: d}, d)));
    select.value = names.includes(chosen) ? chosen : names[0];
    if (select.value !== chosen) select.dispatchEvent(new Event("change", {bubbles: true}));
  }
}

function showCompounds() {
  sessionStorage.setItem("ketasim-compounds", JSON.stringify(USER_COMPOUNDS));
  document.getElementById("compound-list").replaceChildren(...USER_COMPOUNDS.map(c => el("li", {},
    el("strong", {}, c.name), ` (${c.file}; routes ${c.routes.join(", ")})${c.description ? ": " + c.description : ""} `,
    el("button", {type: "button", "aria-label": `remove the compound ${c.name}`, onclick: () => {
      USER_COMPOUNDS = USER_COMPOUNDS.filter(u => u !== c);
      delete OPTIONS.drugs[c.name];
      showCompounds(); refreshDrugMenus();
      document.getElementById("compound-upload").focus();
    }}, "remove"))));
}

function addCompound(info) {
  USER_COMPOUNDS = [...USER_COMPOUNDS.filter(c => c.name !== info.name), info];
  OPTIONS.drugs[info.name] = {routes: info.routes, description: info.description, user: true};
}

function wireCompounds() {
  try { JSON.parse(sessionStorage.getItem("ketasim-compounds") || "[]").forEach(addCompound); } catch (e) { /* none kept */ }
  showCompounds(); refreshDrugMenus();
  document.getElementById("compound-upload").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    e.stopPropagation();
    if (!file) return;
    showError("");
    try {
      if (file.size > OPTIONS.limits.max_upload_bytes) throw new Error(`${file.name}: ${file.size} bytes; this server accepts at most ${OPTIONS.limits.max_upload_bytes}`);
      const text = await file.text();
      const info = await postJSON("/api/compounds/check", {text, filename: file.name});
      addCompound({...info, text});
      showCompounds(); refreshDrugMenus();
      document.getElementById("status").textContent = `${info.name} added to the drug menus`;
    } catch (err) { showError(err.message); }
    e.target.value = "";
  });
}

let readA, readB, readPatient;
document.addEventListener("DOMContentLoaded", async () => {
  try {
    OPTIONS = await api("/api/options");
  } catch (err) { showError(err.message); return; }
  readA = regimenEditor(document.getElementById("regimen-a"), "ketamine-iv-single");
  readB = regimenEditor(document.getElementById("regimen-b"), "escitalopram-10mg-daily");
  readPatient = patientEditor();
  document.getElementById("pop-kind").replaceChildren(...OPTIONS.population_kinds.map(k => el("option", {value: k}, k)));
  document.getElementById("pop-kind").value = "trd";
  document.getElementById("sweep-dose").append(doseRow(OPTIONS.drugs));
  wireCompounds();
  const sweepParameter = document.getElementById("sweep-parameter");
  const sweepValues = document.getElementById("sweep-values");
  sweepValues.value = SWEEP_DEFAULTS.amount;
  sweepParameter.addEventListener("change", () => { sweepValues.value = SWEEP_DEFAULTS[sweepParameter.value]; });
  document.getElementById("compare").addEventListener("change", showMode);
  for (const radio of document.querySelectorAll("input[name=mode]")) radio.addEventListener("change", showMode);
  showMode();
  document.getElementById("run").addEventListener("click", run);
  // live re-plot: any edit of an input of the form (not the live switch itself)
  const form = document.querySelector("main .row");
  for (const type of ["input", "change"]) {
    form.addEventListener(type, (e) => { if (e.target.id !== "live") schedule(); });
  }
  for (const radio of document.querySelectorAll("input[name=mode]")) radio.addEventListener("change", schedule);
  document.body.dataset.ready = "1";
});
