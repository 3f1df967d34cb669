// The reports page (issue 13): filters, summary cards, charts (uPlot, vendored with its licence
// under vendor/uplot/) and per-agent / per-team tables, from GET /api/v1/reports; the same
// filters export CSV from /api/v1/reports.csv. Values are rendered as text nodes.

import uPlot from "./vendor/uplot/uPlot.esm.js";
import { api } from "./api.js";
import { clear, el } from "./dom.js";

const $ = (id) => document.getElementById(id);
const COLORS = { sms: "#3358d4", email: "#bc4c00", widget: "#1a7f37", telegram: "#8250df", xmpp: "#bf3989", mastodon: "#9a6700", other: "#5d6778" };
const NAMES = { sms: "SMS / WhatsApp", email: "Email", widget: "Web chat", telegram: "Telegram", xmpp: "XMPP", mastodon: "Mastodon" };
const charts = new Map();
// Counts are whole numbers: no 0.2 steps on the y axes.
const COUNT_AXIS = { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000, 500000] };
let last = null;

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60 ? `${s % 60}s` : ""}`.trim();
  const [big, small, bigUnit, smallUnit] = s < 86400 ? [Math.floor(s / 3600), Math.round((s % 3600) / 60), "h", "m"] : [Math.floor(s / 86400), Math.round((s % 86400) / 3600), "d", "h"];
  return small ? `${big}${bigUnit} ${small}${smallUnit}` : `${big}${bigUnit}`;
}

function metric(m, kind) {
  if (!m || m.value === null || m.value === undefined) return "—";
  return kind === "sla" ? `${(m.value * 100).toFixed(1)}%` : m.value.toFixed(2);
}

function isoDay(date) {
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`;
}

function applyPreset(days) {
  const to = new Date();
  const from = new Date(to);
  from.setDate(to.getDate() - (days - 1));
  $("r-from").value = isoDay(from);
  $("r-to").value = isoDay(to);
}

function query() {
  const q = {};
  for (const id of ["r-from", "r-to", "r-team", "r-agent", "r-channel", "r-tz"]) {
    const node = $(id);
    if (node.value) q[node.name] = node.value;
  }
  return q;
}

function chart(id, opts, data) {
  const box = $(id);
  charts.get(id)?.destroy();
  clear(box);
  const plot = new uPlot({ width: Math.max(300, box.clientWidth), height: 240, ...opts }, data, box);
  charts.set(id, plot);
}

function seriesOf(volume) {
  return Object.keys(volume).sort().map((channel) => ({ channel, label: NAMES[channel] || channel, stroke: COLORS[channel] || COLORS.other }));
}

function render(data) {
  last = data;
  const s = data.summary;
  $("s-created").textContent = String(s.created);
  $("s-resolved").textContent = String(s.resolved);
  $("s-frt").textContent = s.first_response.count ? `${duration(s.first_response.median)} / ${duration(s.first_response.p90)}` : "—";
  $("s-res").textContent = s.resolution.count ? `${duration(s.resolution.median)} / ${duration(s.resolution.p90)}` : "—";
  $("s-backlog").textContent = `${s.backlog_start} → ${s.backlog_end}`;
  $("s-sla").textContent = metric(s.sla, "sla");
  $("s-csat").textContent = metric(s.csat, "csat");
  $("s-sla").title = s.sla ? `${s.sla.count} conversations` : "No SLA data yet";
  $("s-csat").title = s.csat ? `${s.csat.count} answers` : "No satisfaction answers yet";

  const xs = data.buckets.map((b) => Date.parse(b) / 1000);
  const channels = seriesOf(data.volume);
  const hourly = data.period.bucket === "hour";
  const timeAxis = { values: (u, ticks) => ticks.map((t) => { const d = new Date(t * 1000); return hourly ? `${d.getHours()}:00` : `${d.getMonth() + 1}/${d.getDate()}`; }) };
  const bars = uPlot.paths.bars({ size: [0.7, 40] });
  chart(
    "chart-volume",
    { series: [{}, ...channels.map((c) => ({ label: c.label, stroke: c.stroke, width: 2, points: { show: xs.length < 60 } }))], axes: [timeAxis, COUNT_AXIS], scales: { x: { time: true } } },
    [xs, ...channels.map((c) => data.volume[c.channel])],
  );
  const hours = [...Array(24).keys()];
  const hourSeries = seriesOf(data.by_hour);
  chart(
    "chart-hours",
    { series: [{ label: "Hour" }, ...hourSeries.map((c) => ({ label: c.label, stroke: c.stroke, width: 2 }))], axes: [{ incrs: [1, 2, 3, 4, 6], values: (u, ticks) => ticks.map((t) => `${t}h`) }, COUNT_AXIS], scales: { x: { time: false } } },
    [hours, ...hourSeries.map((c) => data.by_hour[c.channel])],
  );
  chart(
    "chart-backlog",
    {
      series: [{}, { label: "Backlog", stroke: "#c01048", width: 2 }, { label: "Resolved", stroke: "#087443", fill: "rgba(8,116,67,0.25)", paths: bars, points: { show: false } }],
      axes: [timeAxis, COUNT_AXIS],
      scales: { x: { time: true } },
    },
    [xs, data.backlog, data.resolved],
  );
  table($("t-agents"), "Agent", data.agents);
  table($("t-teams"), "Team", data.teams);
}

function table(node, label, rows) {
  clear(node);
  node.append(
    el("thead", {}, el("tr", {}, [label, "Created", "Resolved", "First response median", "p90", "Resolution median", "p90", "SLA", "CSAT"].map((h) => el("th", { scope: "col" }, h)))),
    el(
      "tbody",
      {},
      rows.length
        ? rows.map((r) =>
            el("tr", {}, el("th", { scope: "row" }, r.name), el("td", {}, String(r.created)), el("td", {}, String(r.resolved)),
              el("td", {}, duration(r.first_response.median)), el("td", {}, duration(r.first_response.p90)),
              el("td", {}, duration(r.resolution.median)), el("td", {}, duration(r.resolution.p90)),
              el("td", {}, metric(r.sla, "sla")), el("td", {}, metric(r.csat, "csat"))))
        : el("tr", {}, el("td", { colspan: 9 }, "No conversations in this period.")),
    ),
  );
}

async function load() {
  const q = query();
  const search = new URLSearchParams(q).toString();
  history.replaceState(null, "", `?${search}`);
  $("r-csv").href = `/api/v1/reports.csv?${search}`;
  $("r-status").textContent = "Loading…";
  const started = performance.now();
  try {
    render(await api("reports", { query: q }));
    $("r-status").textContent = `Updated in ${Math.round(performance.now() - started)} ms.`;
    document.body.dataset.loaded = "1";
  } catch (error) {
    $("r-status").textContent = `Could not load the report: ${error.message}`;
  }
}

async function fillSelects() {
  const [teams, agents] = await Promise.all([api("teams").catch(() => ({ results: [] })), api("agents").catch(() => ({ results: [] }))]);
  for (const t of teams.results || []) $("r-team").append(el("option", { value: t.id }, t.name));
  for (const a of agents.results || []) $("r-agent").append(el("option", { value: a.id }, a.name || a.username));
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
  for (const z of zones) $("r-tz-list").append(el("option", { value: z }));
}

async function boot() {
  const params = new URLSearchParams(location.search);
  applyPreset(30);
  $("r-tz").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  await fillSelects();
  for (const id of ["r-from", "r-to", "r-team", "r-agent", "r-channel", "r-tz"]) {
    const node = $(id);
    if (params.get(node.name)) node.value = params.get(node.name);
  }
  if (params.get("from")) $("r-preset").value = "";
  $("r-preset").addEventListener("change", () => { if ($("r-preset").value) { applyPreset(Number($("r-preset").value)); load(); } });
  for (const id of ["r-from", "r-to"]) $(id).addEventListener("change", () => { $("r-preset").value = ""; });
  for (const id of ["r-team", "r-agent", "r-channel"]) $(id).addEventListener("change", () => load());
  $("report-form").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  let resizing = null;
  window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(() => last && render(last), 150); });
  await load();
}

window.supportdeskReports = { charts };
boot();
