// The CacheRegistry dashboard: polls /ui/api/overview every two seconds and redraws. Every value
// from the server goes in as text (textContent), never as markup: repository names and upstream
// error messages come from outside.
"use strict";

const refreshMs = 2000;
const tokenKey = "cacheregistry-admin-token";
const $ = (id) => document.getElementById(id);

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function percent(ratio) { return (ratio * 100).toFixed(1) + " %"; }

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fill(tbodyId, items, render) {
  const tbody = $(tbodyId);
  tbody.replaceChildren(...items.map((item) => { const tr = document.createElement("tr"); render(tr, item); return tr; }));
}

function time(iso) { return iso ? new Date(iso).toLocaleTimeString() : ""; }

function drawChart(history) {
  const svg = $("chart");
  const ns = "http://www.w3.org/2000/svg";
  const steps = [];
  for (let i = 1; i < history.length; i++) {
    const a = history[i - 1], b = history[i];
    const requests = b.requests - a.requests;
    steps.push({ ratio: requests > 0 ? (b.fromCache - a.fromCache) / requests : null, saved: b.bytesFromCache - a.bytesFromCache });
  }
  // A fixed hour wide (360 steps of 10 s), the latest step at the right edge.
  const children = [];
  const width = 720, height = 160, slot = width / 360;
  const x = (i) => width - (steps.length - i) * slot;
  const y = (ratio) => height - 5 - ratio * (height - 10);
  const maxSaved = Math.max(1, ...steps.map((s) => s.saved));
  steps.forEach((s, i) => {
    const bar = document.createElementNS(ns, "rect");
    const h = (s.saved / maxSaved) * (height - 10);
    bar.setAttribute("class", "bar");
    bar.setAttribute("x", String(x(i)));
    bar.setAttribute("y", String(height - h));
    bar.setAttribute("width", String(Math.max(slot - 0.5, 0.5)));
    bar.setAttribute("height", String(h));
    children.push(bar);
  });
  const points = steps.map((s, i) => s.ratio === null ? null : [x(i) + slot / 2, y(s.ratio)]).filter((p) => p !== null);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("class", "ratio");
  line.setAttribute("points", points.map((p) => p.join(",")).join(" "));
  children.push(line);
  for (const [cx, cy] of points.slice(-1)) { // the latest value, visible even alone
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("class", "dot");
    dot.setAttribute("cx", String(cx));
    dot.setAttribute("cy", String(cy));
    dot.setAttribute("r", "3");
    children.push(dot);
  }
  svg.replaceChildren(...children);
}

function render(o) {
  $("hit-ratio").textContent = o.totals.requests === 0 ? "–" : percent(o.totals.hitRatio);
  $("requests").textContent = String(o.totals.requests);
  $("bytes-saved").textContent = bytes(o.totals.bytesFromCache);
  $("bytes-upstream").textContent = bytes(o.totals.bytesFromUpstream);
  const s = o.storage;
  $("storage").textContent = bytes(s.bytes) + (s.limit ? " of " + bytes(s.limit) : "") + (s.blobs === null ? "" : ` (${s.blobs} blobs)`);
  const bar = $("storage-bar");
  bar.hidden = !s.limit;
  if (s.limit) bar.value = Math.min(1, (s.bytes || 0) / s.limit);

  drawChart(o.history);

  const endpoints = o.upstreams.upstreams.flatMap((u) => u.endpoints.map((e) => ({ registry: u.name, ...e })));
  fill("upstreams", endpoints, (tr, e) => {
    tr.dataset.testid = "upstream-endpoint";
    cell(tr, e.registry);
    cell(tr, e.url);
    const health = e.quarantinedUntil ? "quarantined (wrong bytes)" : e.healthy ? (e.consecutiveFailures > 0 ? "failing" : "up") : "cooling down";
    cell(tr, health, health === "up" ? "good" : "bad");
    cell(tr, e.throughputBytesPerSecond === null ? "" : `${bytes(e.throughputBytesPerSecond)}/s`);
    cell(tr, e.latencyMs === null ? "" : `${e.latencyMs} ms`);
    cell(tr, e.rateLimitRemaining === null ? "" : `${e.rateLimitRemaining}${e.rateLimitLimit === null ? "" : " / " + e.rateLimitLimit}`);
    cell(tr, e.lastError, "bad");
  });

  fill("fills", o.fills, (tr, f) => {
    tr.dataset.testid = "fill";
    cell(tr, `${f.repository}@${f.digest.slice(0, 19)}…`);
    cell(tr, f.endpoint);
    const td = cell(tr, "");
    const progress = document.createElement("progress");
    if (f.size) { progress.max = f.size; progress.value = f.written; }
    const label = document.createElement("span");
    label.textContent = ` ${bytes(f.written)}${f.size ? " of " + bytes(f.size) : ""}`;
    td.replaceChildren(progress, label);
  });
  $("no-fills").hidden = o.fills.length > 0;

  fill("top", o.topRepositories, (tr, r) => { cell(tr, r.repository); cell(tr, r.requests); cell(tr, bytes(r.bytes)); });
  fill("pulls", o.recentPulls, (tr, p) => {
    tr.dataset.testid = "recent-pull";
    cell(tr, time(p.time));
    cell(tr, p.image);
    cell(tr, p.error ? `${p.result} (${p.status} ${p.error})` : p.result, p.error || p.status >= 400 ? "bad" : "");
    cell(tr, p.milliseconds);
  });

  const a = o.availability;
  $("availability-off").hidden = a !== null;
  $("availability-table").hidden = a === null;
  if (a !== null) {
    fill("availability", a.notPullable, (tr, i) => { tr.dataset.testid = "not-pullable"; cell(tr, i.image); cell(tr, i.outcome, "bad"); cell(tr, time(i.checkedAt)); cell(tr, i.detail); });
  }
  $("status").textContent = "updated " + time(o.now);
}

async function refresh() {
  const token = localStorage.getItem(tokenKey);
  try {
    const response = await fetch("/ui/api/overview", { headers: token ? { Authorization: "Bearer " + token } : {}, cache: "no-store" });
    if (response.status === 401 || response.status === 403) {
      const body = await response.json().catch(() => null);
      $("login").hidden = false;
      $("content").hidden = true;
      $("login-error").textContent = token ? (body?.errors?.[0]?.message ?? "refused") : "";
      $("status").textContent = "sign in";
      return;
    }
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    render(await response.json());
    $("login").hidden = true;
    $("content").hidden = false;
  } catch (e) {
    $("status").textContent = "cannot reach the cache: " + e.message;
  } finally {
    setTimeout(refresh, refreshMs);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem(tokenKey, $("token").value);
  });
  refresh();
});
