// Service levels in the console: the next due time of a conversation's SLA as a badge in the
// list and the header ("due in 12 min", "breached 3 min ago", "paused"), kept live by a ticker
// and by the server's sla.updated events; the list's "Due soonest" order (as the API's sort=due).

import { el } from "./dom.js";

const TARGETS = { first_response: "first reply", resolution: "resolution" };
const SOON = 15 * 60 * 1000; // "due soon" below this

function span(ms) {
  const minutes = Math.round(Math.abs(ms) / 60000);
  if (minutes < 1) return "<1 min";
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  return `${Math.floor(hours / 24)} d`;
}

/** {text, state, title} of a conversation's clock, or null when no SLA applies now. */
export function dueInfo(conv, now = Date.now()) {
  const sla = conv && conv.sla;
  if (!sla || conv.status === "resolved") return null;
  const target = TARGETS[sla.next_target] || "";
  if (sla.paused) return { text: "SLA paused", state: "paused", title: "Waiting on the customer: the SLA clock is stopped" };
  if (!sla.next_due_at) return null;
  const left = Date.parse(sla.next_due_at) - now;
  const due = new Date(sla.next_due_at).toLocaleString();
  if (left <= 0) return { text: `breached ${span(left)} ago`, state: "breached", title: `The ${target} was due ${due}` };
  return { text: `due in ${span(left)}`, state: left < SOON ? "soon" : "ok", title: `The ${target} is due ${due}` };
}

export function dueBadge(conv, now = Date.now()) {
  const info = dueInfo(conv, now);
  if (!info) return null;
  return el("span", { class: `due-badge due-${info.state}`, title: info.title, dataset: { due: info.state } }, info.text);
}

/** The header's badge (an element that stays in the page). */
export function renderDue(node, conv, now = Date.now()) {
  const info = dueInfo(conv, now);
  node.hidden = !info;
  node.textContent = info ? info.text : "";
  node.className = info ? `due-badge due-${info.state}` : "due-badge";
  node.dataset.due = info ? info.state : "";
  node.title = info ? info.title : "";
}

/** "Due soonest" order: the due ones by due time (overdue first), then the rest by newest activity. */
export function compareDue(a, b) {
  const da = a.sla && a.sla.next_due_at ? Date.parse(a.sla.next_due_at) : null;
  const db = b.sla && b.sla.next_due_at ? Date.parse(b.sla.next_due_at) : null;
  if (da !== null && db !== null) return da - db || a.id - b.id;
  if (da !== null) return -1;
  if (db !== null) return 1;
  const la = Date.parse(a.last_activity_at) || 0;
  const lb = Date.parse(b.last_activity_at) || 0;
  return lb - la || b.id - a.id;
}

/** Re-render the badges every few seconds (the text moves with the clock, not with events). */
export function startDueTicker(render, every = 15000) {
  return setInterval(render, every);
}
