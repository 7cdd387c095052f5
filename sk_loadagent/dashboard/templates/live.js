// The live view: one card per test, refreshed by the server-sent events of /events (once a second).
"use strict";
const HISTORY = 300; // points kept per test and line (five minutes)
const cards = new Map();
let updates = 0;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function card(name) {
  let found = cards.get(name);
  if (found) return found;
  const root = el("section", "panel live-test b-grey");
  root.dataset.test = name;
  const head = el("div", "top");
  head.style.display = "flex";
  head.style.justifyContent = "space-between";
  const title = el("b", "", name);
  const phase = el("span", "pill k-grey", "starting");
  head.append(title, phase);
  const bar = el("div", "progress");
  const fill = el("div");
  fill.style.width = "0%";
  bar.append(fill);
  const figures = el("div", "figures");
  const values = {};
  for (const [key, label] of [["rps", "rps"], ["p95", "p95 ms"], ["errors", "errors"], ["inFlight", "in flight"], ["done", "done"]]) {
    const box = el("div");
    values[key] = el("b", "fig-" + key, "–");
    box.append(values[key], el("span", "", label));
    figures.append(box);
  }
  const chart = svgEl("svg", { viewBox: "0 0 300 80", preserveAspectRatio: "none", role: "img", "aria-label": "rps and p95 over time" });
  const rpsLine = svgEl("polyline", { class: "line l-rps", points: "", "vector-effect": "non-scaling-stroke" });
  const p95Line = svgEl("polyline", { class: "line l-p95", points: "", "vector-effect": "non-scaling-stroke" });
  chart.append(rpsLine, p95Line);
  const scale = el("div", "muted scale", "");
  root.append(head, bar, figures, chart, scale);
  document.getElementById("tests").append(root);
  found = { root, phase, fill, values, rpsLine, p95Line, scale, rps: [], p95: [] };
  cards.set(name, found);
  return found;
}

function highest(series) {
  return Math.max(1e-9, ...series.filter((v) => v !== null));
}

// The seconds seen so far across the width (the latest HISTORY of them), each line on its own scale.
function points(series) {
  const high = highest(series);
  const step = 300 / Math.max(1, series.length - 1);
  return series
    .map((v, i) => (v === null ? null : `${(i * step).toFixed(1)},${(76 - (v / high) * 70).toFixed(1)}`))
    .filter((p) => p !== null)
    .join(" ");
}

function show(snapshot, ended) {
  updates += 1;
  document.getElementById("clock").textContent = `${Math.round(snapshot.seconds)} s`;
  const state = document.getElementById("state");
  const box = document.getElementById("state-box");
  state.textContent = ended ? "finished" : "running";
  box.className = "verdict " + (ended ? "k-green" : "k-yellow");
  document.body.dataset.updates = String(updates);
  document.body.dataset.state = ended ? "finished" : "running";
  const line = document.getElementById("status-line");
  line.textContent = ended
    ? `The run has ended${snapshot.outcome ? ": " + snapshot.outcome : ""}. Final figures below; this page no longer updates.`
    : `${snapshot.tests.length} test(s) reported · update ${updates}`;
  for (const t of snapshot.tests) {
    const c = card(t.test);
    c.phase.textContent = t.phase;
    const failing = t.errors > 0;
    c.root.className = "panel live-test " + (failing ? "b-red" : "b-green");
    c.phase.className = "pill " + (failing ? "k-red" : "k-green");
    c.fill.style.width = `${(t.progress * 100).toFixed(1)}%`;
    c.values.rps.textContent = t.rps.toFixed(1);
    c.values.p95.textContent = t.p95Ms === null ? "–" : t.p95Ms.toFixed(2);
    c.values.errors.textContent = String(t.errors);
    c.values.inFlight.textContent = String(t.inFlight);
    c.values.done.textContent = `${Math.round(t.progress * 100)}%`;
    c.rps.push(t.rps);
    c.p95.push(t.p95Ms);
    if (c.rps.length > HISTORY) { c.rps.shift(); c.p95.shift(); }
    c.rpsLine.setAttribute("points", points(c.rps));
    c.p95Line.setAttribute("points", points(c.p95));
    c.scale.textContent = `last ${c.rps.length} s · rps up to ${highest(c.rps).toFixed(1)} · p95 up to ${
      c.p95.some((v) => v !== null) ? highest(c.p95).toFixed(2) + " ms" : "–"}`;
  }
}

function connect() {
  const source = new EventSource("/events");
  source.addEventListener("progress", (e) => show(JSON.parse(e.data), false));
  source.addEventListener("end", (e) => { show(JSON.parse(e.data), true); source.close(); });
  source.onerror = () => {
    if (document.body.dataset.state === "finished") return;
    document.getElementById("status-line").textContent = "Connection lost: the run may have ended.";
    source.close();
  };
}

document.addEventListener("DOMContentLoaded", connect);
