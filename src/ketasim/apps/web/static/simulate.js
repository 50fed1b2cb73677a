// Simulate page: regimen(s) + patient -> POST /api/simulate -> one chart per layer.
"use strict";

let OPTIONS = null;

// panels: id, title, y-axis title (units), columns (plasma: every plasma_* column)
const PANELS = [
  ["plasma", "plasma concentration", "ng/mL", null],
  ["occupancy", "receptor occupancy", "fraction (0-1)", ["nmda_occupancy", "sert_occupancy"]],
  ["glutamate", "glutamate", "fold of baseline", ["glutamate"]],
  ["bdnf", "BDNF / mTOR", "fold of baseline", ["bdnf", "mtor"]],
  ["spines", "spine density", "fraction of healthy density", ["spine_density"]],
  ["madrs", "MADRS", "points (0-60)", ["madrs"]],
  ["vitals", "blood pressure and heart rate", "mmHg, beats/min", ["sbp_mmhg", "dbp_mmhg", "hr_bpm"]],
  ["cadss", "dissociation (CADSS)", "CADSS points", ["cadss"]],
];

function doseRow(drugs, dose = {drug: "ketamine", route: "iv", amount: "0.5 mg/kg", infusion: "40 min", at: "0 d"}) {
  const drug = el("select", {class: "drug"}, Object.keys(drugs).map(d => el("option", {value: d}, d)));
  const route = el("select", {class: "route"});
  const fillRoutes = () => {
    route.replaceChildren(...drugs[drug.value].routes.map(r => el("option", {value: r}, r)));
  };
  drug.value = dose.drug; fillRoutes(); route.value = dose.route;
  drug.addEventListener("change", fillRoutes);
  const kind = el("select", {class: "kind"}, el("option", {value: "at"}, "at"), el("option", {value: "every"}, "every"));
  const at = el("input", {class: "at", value: dose.at || "0 d", title: "times, comma-separated (e.g. 0 d, 2 d)"});
  const every = el("input", {class: "every", value: dose.every || "1 d"});
  const from = el("input", {class: "from", value: dose.from || "0 d"});
  const until = el("input", {class: "until", value: dose.until || "", placeholder: "end"});
  const sched = el("span", {}, at, el("span", {class: "rep hidden"}, every, " from ", from, " until ", until));
  kind.value = dose.every ? "every" : "at";
  const toggle = () => {
    at.classList.toggle("hidden", kind.value !== "at");
    sched.querySelector(".rep").classList.toggle("hidden", kind.value !== "every");
  };
  kind.addEventListener("change", toggle); toggle();
  const row = el("tr", {}, el("td", {}, drug), el("td", {}, route),
    el("td", {}, el("input", {class: "amount", value: dose.amount})),
    el("td", {}, el("input", {class: "infusion", value: dose.infusion || "", placeholder: "bolus"})),
    el("td", {}, kind, " ", sched),
    el("td", {}, el("button", {type: "button", onclick: () => row.remove()}, "remove")));
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
    el("button", {type: "button", onclick: () => rows.append(doseRow(OPTIONS.drugs))}, "add dose line"),
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

function patientEditor() {
  const select = document.getElementById("patient-preset");
  select.replaceChildren(...Object.keys(OPTIONS.patients).map(p => el("option", {value: p}, p)));
  const traits = document.getElementById("traits");
  const fill = () => {
    const base = OPTIONS.patients[select.value];
    traits.replaceChildren(...OPTIONS.traits.map(name => name === "female"
      ? el("label", {}, "sex ", el("select", {"data-trait": name}, el("option", {value: "1"}, "female"), el("option", {value: "0"}, "male")))
      : el("label", {}, name + " ", el("input", {type: "number", step: "any", "data-trait": name, value: base[name]}))));
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

function draw(results) {
  const charts = document.getElementById("charts");
  charts.replaceChildren();
  const maxH = Math.max(...results.map(r => r.columns.time_h[r.columns.time_h.length - 1]));
  const axis = timeAxis(maxH);
  const dash = ["solid", "dash"];
  for (const [id, title, unit, columns] of PANELS) {
    const div = el("div", {class: "chart", id: "chart-" + id});
    charts.append(div);
    const traces = [];
    const shapes = [];
    results.forEach((r, k) => {
      const cols = columns || Object.keys(r.columns).filter(c => c.startsWith("plasma_"));
      const x = r.columns.time_h.map(t => t / axis.scale);
      for (const c of cols) {
        traces.push({x, y: r.columns[c], mode: "lines", name: (results.length > 1 ? r.label + ": " : "") + c,
                     line: {dash: dash[k % 2], width: 1.6}});
      }
      for (const d of r.summary.doses) {
        shapes.push({type: "line", xref: "x", yref: "paper", x0: d.time_h / axis.scale, x1: d.time_h / axis.scale, y0: 0, y1: 1,
                     line: {color: k ? "#d08000" : "#888", width: 0.7, dash: "dot"}, opacity: 0.6});
      }
    });
    Plotly.newPlot(div, traces, {title: {text: title, font: {size: 13}}, margin: {l: 55, r: 10, t: 35, b: 30},
      xaxis: {title: {text: axis.title}}, yaxis: {title: {text: unit}}, shapes, showlegend: traces.length > 1,
      legend: {font: {size: 10}, orientation: "h", y: -0.3, yanchor: "top"}}, PLOT_CONFIG);
  }
}

async function run() {
  showError("");
  const button = document.getElementById("run");
  const status = document.getElementById("status");
  button.disabled = true;
  status.textContent = "simulating ...";
  try {
    const common = {...readPatient(), days: Number(document.getElementById("days").value),
                    engine: document.getElementById("engine").value};
    const which = document.getElementById("compare").checked ? [["A", readA], ["B", readB]] : [["A", readA]];
    const results = await Promise.all(which.map(async ([label, read]) => {
      const r = await postJSON("/api/simulate", {...read(), ...common});
      return {...r, label: label + " (" + r.summary.name + ")"};
    }));
    draw(results);
    status.textContent = results.map(r => `${r.label}: MADRS baseline ${num(r.summary.madrs.baseline)}, minimum ` +
      `${num(r.summary.madrs.minimum)} at ${num(r.summary.madrs.minimum_time_h)} h, end ${num(r.summary.madrs.end)}`).join("; ");
    document.getElementById("downloads").replaceChildren(...results.map(r => el("p", {}, r.label + ": ",
      el("a", {href: `/api/runs/${r.run_id}/simulation.csv`, download: `ketasim-${r.run_id}.csv`, class: "csv"}, "CSV"), " | ",
      el("a", {href: `/api/runs/${r.run_id}/report.html`, target: "_blank"}, "report"), ` (run ${r.run_id})`)));
  } catch (err) {
    showError(err.message);
    status.textContent = "";
  } finally {
    button.disabled = false;
  }
}

let readA, readB, readPatient;
document.addEventListener("DOMContentLoaded", async () => {
  try {
    OPTIONS = await api("/api/options");
  } catch (err) { showError(err.message); return; }
  readA = regimenEditor(document.getElementById("regimen-a"), "ketamine-iv-single");
  readB = regimenEditor(document.getElementById("regimen-b"), "escitalopram-10mg-daily");
  readPatient = patientEditor();
  document.getElementById("compare").addEventListener("change", (e) =>
    document.getElementById("regimen-b").classList.toggle("hidden", !e.target.checked));
  document.getElementById("run").addEventListener("click", run);
  document.body.dataset.ready = "1";
});
