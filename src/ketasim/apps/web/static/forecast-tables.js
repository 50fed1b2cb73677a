// Forecast page tables: the doses and observations of the patient file as tables, kept in step with its TOML
// (the advanced view) both ways through the server's patient-file parser (/api/forecast/tables, /api/forecast/compose),
// so a bad row shows the message `ketasim forecast` gives for the same file. Research software, not a medical device.
"use strict";

const Tables = {drugs: {}, units: ["mg/kg", "mg", "ug/kg"], timer: null, textTimer: null, pending: null, syncs: 0, seq: 0, start: null};
const FIELDS = ["drug", "route", "amount", "unit", "infusion", "at", "madrs", "sbp", "cadss"];

function timeMode() { return document.getElementById("time-mode").value; }
function firstDate() {
  const input = document.getElementById("first-date");
  if (!input.value) input.value = Tables.start || new Date().toISOString().slice(0, 10);
  Tables.start = Tables.start || input.value;
  return input.value;
}

// day 0 moved: every dated row moves with it (the days from the first dose, and so the file, stay)
function moveFirstDate() {
  const before = Tables.start, now = firstDate();
  if (before && now && before !== now) {
    for (const at of document.querySelectorAll("input.at[type=date]")) {
      if (at.value) at.value = addDays(now, daysBetween(before, at.value));
    }
  }
  Tables.start = now;
  tablesChanged();
}
function addDays(iso, days) {
  const d = new Date(iso + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() + Math.round(Number(days)));
  return d.toISOString().slice(0, 10);
}
function daysBetween(a, b) { return Math.round((Date.parse(b + "T00:00:00Z") - Date.parse(a + "T00:00:00Z")) / 86400000); }
function blank(v) { return v === null || v === undefined ? "" : String(v); }

function options(select, values, chosen) {
  const list = values.includes(chosen) || !chosen ? values : [...values, chosen];  // a name from the TOML stays visible
  select.replaceChildren(...list.map(v => el("option", {value: v}, v)));
  if (chosen) select.value = chosen;
}

function timeCell(row) {
  const date = timeMode() === "date";
  const value = date ? (row.date || (row.day === null || row.day === undefined || row.day === "" ? "" : addDays(firstDate(), row.day)))
                     : blank(row.day);
  return el("td", {}, el("input", {type: date ? "date" : "number", step: "any", class: "at", value}));
}

function removeButton() {
  return el("td", {}, el("button", {type: "button", class: "remove", onclick: (e) => {
    const tr = e.target.closest("tr"), body = tr.parentElement;
    const next = tr.nextElementSibling || tr.previousElementSibling;
    tr.remove();
    relabel();
    (next ? next.querySelector("button.remove") : body.closest("fieldset").querySelector("button[id^=add]")).focus();
    tablesChanged();
  }}, "Remove"));
}

function doseRow(row = {}) {
  const drugs = Object.keys(Tables.drugs);
  const drug = el("select", {class: "drug"}), route = el("select", {class: "route"}), unit = el("select", {class: "unit"});
  options(drug, drugs, row.drug || drugs[0]);
  const routesOf = (name) => (Tables.drugs[name] || {routes: []}).routes;
  options(route, routesOf(drug.value), row.route || routesOf(drug.value)[0]);
  drug.addEventListener("change", () => {
    const routes = routesOf(drug.value);
    options(route, routes, routes.includes(route.value) ? route.value : routes[0]);
  });
  options(unit, Tables.units, row.unit || "mg/kg");
  return el("tr", {}, el("td", {}, drug), el("td", {}, route),
    el("td", {}, el("input", {type: "number", step: "any", min: "0", class: "amount", value: blank(row.amount)})),
    el("td", {}, unit),
    el("td", {}, el("input", {type: "number", step: "any", min: "0", class: "infusion", value: blank(row.infusion_min)})),
    timeCell(row), removeButton());
}

function observationRow(row = {}) {
  const measure = (name, max) => el("td", {}, el("input", {type: "number", step: "any", min: "0", max, class: name,
                                                            value: blank(row[name])}));
  return el("tr", {}, timeCell(row), measure("madrs", "60"), measure("sbp", "300"), measure("cadss", "92"), removeButton());
}

// every input of a row gets a label naming the row (the column header alone is not read out per cell)
function relabel() {
  const names = {drug: "drug", route: "route", amount: "amount", unit: "unit", infusion: "infusion (min)", madrs: "MADRS",
                 sbp: "systolic BP (mmHg)", cadss: "CADSS", remove: "remove"};
  const time = timeMode() === "date" ? "date" : "day";
  for (const [id, what] of [["doses-table", "dose"], ["observations-table", "visit"]]) {
    document.querySelectorAll(`#${id} tbody tr`).forEach((tr, i) => {
      for (const node of tr.querySelectorAll("input, select, button")) {
        const key = node.classList[0];
        node.setAttribute("aria-label", key === "remove" ? `remove ${what} ${i + 1}` : `${what} ${i + 1} ${key === "at" ? time : names[key]}`);
      }
    });
  }
  for (const th of document.querySelectorAll(".time-head")) th.textContent = time;
}

function rowTime(tr) {
  const at = tr.querySelector(".at");
  return at.type === "date" ? {date: at.value || null} : {day: at.value};
}

function collect() {
  const patient = {};
  for (const input of document.querySelectorAll("#patient-box [data-field]")) patient[input.dataset.field] = input.value;
  const value = (tr, cls) => tr.querySelector("." + cls).value;
  const doses = [...document.querySelectorAll("#doses-table tbody tr")].map(tr => ({
    drug: value(tr, "drug"), route: value(tr, "route"), amount: value(tr, "amount"), unit: value(tr, "unit"),
    infusion_min: value(tr, "infusion"), ...rowTime(tr)}));
  const observations = [...document.querySelectorAll("#observations-table tbody tr")].map(tr => ({
    ...rowTime(tr), madrs: value(tr, "madrs"), sbp: value(tr, "sbp"), cadss: value(tr, "cadss")}));
  return {patient, doses, observations};
}

function fillTables(tables) {
  for (const input of document.querySelectorAll("#patient-box [data-field]")) {
    const v = tables.patient[input.dataset.field];
    input.value = v === null || v === undefined ? (input.tagName === "SELECT" ? "female" : "") : v;
  }
  document.querySelector("#doses-table tbody").replaceChildren(...tables.doses.map(doseRow));
  document.querySelector("#observations-table tbody").replaceChildren(...tables.observations.map(observationRow));
  relabel();
}

// the parser's message, and the row and field it names marked (aria-invalid)
function showTablesError(message) {
  document.getElementById("tables-error").textContent = message || "";
  for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  for (const tr of document.querySelectorAll("tr.invalid")) tr.classList.remove("invalid");
  if (!message) return;
  const place = /patient\.(doses|observations)\[(\d+)\](.*)$/.exec(message);
  if (place) {
    const tr = document.querySelectorAll(`#${place[1]}-table tbody tr`)[Number(place[2])];
    if (!tr) return;
    tr.classList.add("invalid");
    const field = FIELDS.find(f => new RegExp(`\\b${f}\\b`).test(place[3]));
    const input = field && tr.querySelector("." + field);
    if (input) { input.setAttribute("aria-invalid", "true"); input.setAttribute("aria-describedby", "tables-error"); }
    return;
  }
  const patient = /patient\.(weight_kg|age|sex|failed_treatments)\b|missing '(weight_kg)'/.exec(message);
  const input = patient && document.querySelector(`#patient-box [data-field=${patient[1] || patient[2]}]`);
  if (input) { input.setAttribute("aria-invalid", "true"); input.setAttribute("aria-describedby", "tables-error"); }
}

function setDownload() {
  const link = document.getElementById("download-toml");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([document.getElementById("text").value], {type: "text/plain"}));
  link.download = document.getElementById("filename").value || "patient.toml";
}

function synced() { document.body.dataset.synced = String(++Tables.syncs); }

// tables -> TOML
async function compose() {
  const ticket = ++Tables.seq;
  const r = await postJSON("/api/forecast/compose", {
    tables: collect(), text: document.getElementById("text").value, filename: document.getElementById("filename").value,
    first_date: timeMode() === "date" ? firstDate() : null});
  if (ticket !== Tables.seq) return;  // a later edit (of the tables or the TOML) wins
  document.getElementById("text").value = r.text;
  setDownload();
  showTablesError(r.error);
  synced();
}

// TOML -> tables
async function loadText() {
  const ticket = ++Tables.seq;
  const r = await postJSON("/api/forecast/tables", {text: document.getElementById("text").value,
                                                    filename: document.getElementById("filename").value});
  if (ticket !== Tables.seq) return;
  if (r.tables) fillTables(r.tables);
  for (const id of ["patient-box", "doses-box", "observations-box"]) document.getElementById(id).disabled = !r.tables;
  document.getElementById("tables-note").textContent = r.reason
    ? `The tables cannot show this file (${r.reason}); edit it in the TOML view below.` : "";
  setDownload();
  showTablesError(r.error);
  synced();
}

function tablesChanged() {
  clearTimeout(Tables.timer);
  clearTimeout(Tables.textTimer);
  Tables.textTimer = null;
  Tables.timer = setTimeout(() => { Tables.timer = null; Tables.pending = compose().catch(e => showTablesError(e.message)); }, 250);
}

// before a run: a change still waiting for its debounce is written into the TOML first
async function flushTables() {
  if (Tables.timer) { clearTimeout(Tables.timer); Tables.timer = null; await compose(); }
  if (Tables.textTimer) { clearTimeout(Tables.textTimer); Tables.textTimer = null; await loadText(); }
  if (Tables.pending) await Tables.pending;
}

function switchTimeMode() {
  const date = timeMode() === "date";
  document.getElementById("first-date-label").classList.toggle("hidden", !date);
  const start = firstDate();
  for (const tr of document.querySelectorAll("#doses-table tbody tr, #observations-table tbody tr")) {
    const at = tr.querySelector(".at"), old = at.value;
    at.type = date ? "date" : "number";
    at.value = old === "" ? "" : date ? addDays(start, old) : String(daysBetween(start, old));
  }
  relabel();
  tablesChanged();
}

function wireTables(options) {
  Tables.drugs = options.drugs;
  Tables.units = options.amount_units || Tables.units;
  for (const id of ["patient-box", "doses-box", "observations-box"]) {
    document.getElementById(id).addEventListener("input", (e) => {
      if (!["time-mode", "first-date"].includes(e.target.id)) tablesChanged();
    });
  }
  document.getElementById("time-mode").addEventListener("change", switchTimeMode);
  document.getElementById("first-date").addEventListener("change", moveFirstDate);
  const add = (table, make) => () => {
    const tbody = document.querySelector(`#${table} tbody`), last = tbody.lastElementChild;
    const row = make();
    if (last) {  // a new row starts as a copy of the last one, a day later: the usual next entry
      for (const cls of FIELDS) {
        const from = last.querySelector("." + cls), to = row.querySelector("." + cls);
        if (from && to && cls !== "at") { if (cls === "drug") { to.value = from.value; to.dispatchEvent(new Event("change")); } else to.value = from.value; }
      }
      const at = last.querySelector(".at").value, to = row.querySelector(".at");
      if (at !== "") to.value = to.type === "date" ? addDays(at, 1) : String(Number(at) + 1);
    }
    tbody.append(row);
    relabel();
    row.querySelector("input, select").focus();
    tablesChanged();
  };
  document.getElementById("add-dose").addEventListener("click", add("doses-table", doseRow));
  document.getElementById("add-observation").addEventListener("click", add("observations-table", observationRow));
  document.getElementById("text").addEventListener("input", () => {
    clearTimeout(Tables.timer);
    Tables.timer = null;
    clearTimeout(Tables.textTimer);
    Tables.textTimer = setTimeout(() => { Tables.textTimer = null; Tables.pending = loadText().catch(e => showTablesError(e.message)); }, 400);
  });
  document.getElementById("filename").addEventListener("change", setDownload);
}
