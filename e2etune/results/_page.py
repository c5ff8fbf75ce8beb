"""The dashboard's page: HTML with a small inline script that polls `/api/search.json`."""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
 h1 { font-size: 1.4em; margin-bottom: 0.2em; }
 #summary, #best { margin: 0.4em 0 1em 0; }
 #error { color: #a00; font-weight: bold; }
 table { border-collapse: collapse; font-size: 0.9em; }
 th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
 th { background: #eee; position: sticky; top: 0; }
 tr.best td { background: #e8f5e9; font-weight: bold; }
 td.RUNNING { color: #1565c0; } td.FAILED, td.INVALID { color: #c62828; }
 #plots img { width: 48%; min-width: 420px; margin: 0.5%; border: 1px solid #ddd; }
 #plots p { color: #666; }
</style>
</head>
<body>
<h1>__TITLE__</h1>
<div id="summary">Loading&hellip;</div>
<div id="error"></div>
<h2>Best trial</h2>
<pre id="best">none yet</pre>
<h2>Trials</h2>
<table id="trials"><thead><tr id="header"></tr></thead><tbody id="rows"></tbody></table>
<h2>Plots</h2>
<div id="plots"></div>
<script>
"use strict";
const REFRESH_MS = __REFRESH_MS__;
// Plots are drawn by the server: redrawn at most this often while the search runs.
const PLOT_REFRESH_MS = Math.max(REFRESH_MS, 15000);
let shownRevision = null;
let plotsShownAt = 0;

function cell(tag, text, cls) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (cls) element.className = cls;
  return element;
}

function showPlots(data) {
  const box = document.getElementById("plots");
  box.replaceChildren();
  if (!data.plotting) {
    box.appendChild(cell("p", "Plots need matplotlib: pip install matplotlib"));
    return;
  }
  for (const kind of data.plots) {
    const image = document.createElement("img");
    image.alt = kind + " plot";
    image.src = "/plot/" + kind + ".png?revision=" + data.revision;
    box.appendChild(image);
  }
}

function show(data) {
  document.getElementById("error").textContent = "";
  const counts = Object.entries(data.counts).map(([s, n]) => s + " " + n).join(", ");
  document.getElementById("summary").textContent =
    data.location + " \\u2014 objective " + data.objective + " \\u2014 " +
    data.trials.length + " trials" + (counts ? " (" + counts + ")" : "") +
    " \\u2014 updated " + new Date().toLocaleTimeString();
  document.getElementById("best").textContent =
    data.best ? JSON.stringify(data.best, null, 2) : "none yet";
  const header = document.getElementById("header");
  header.replaceChildren(...data.columns.map((c) => cell("th", c)));
  const rows = document.getElementById("rows");
  rows.replaceChildren(...data.trials.map((values) => {
    const row = document.createElement("tr");
    row.dataset.trial = values[0];
    if (data.best && values[0] === data.best.trial_id) row.className = "best";
    values.forEach((v, i) => row.appendChild(cell("td", v, i === 1 ? v : "")));
    return row;
  }));
  if (data.revision !== shownRevision && Date.now() - plotsShownAt >= PLOT_REFRESH_MS) {
    shownRevision = data.revision;
    plotsShownAt = Date.now();
    showPlots(data);
  }
}

async function refresh() {
  try {
    const response = await fetch("/api/search.json", {cache: "no-store"});
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || response.statusText);
    show(data);
  } catch (error) {
    document.getElementById("error").textContent = "Could not read the search: " + error.message;
  }
  setTimeout(refresh, REFRESH_MS);
}
refresh();
</script>
</body>
</html>
"""
