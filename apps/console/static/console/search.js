// Full-text search from the top bar (issue 13): "/" focuses the box; results (messages, notes,
// contacts the agent may see) list below it with the matching snippet; Enter or a click opens
// the conversation. ↓/↑ move between the box and the results, Esc closes the panel.
// Text is rendered as text nodes; highlights are <mark> elements around server-given ranges.

import { api } from "./api.js";
import { clear, el, timeShort } from "./dom.js";
import { $, state } from "./state.js";
import { selectConv } from "./pane.js";
import { isTyping } from "./keys.js";

const DEBOUNCE_MS = 250;
const CHANNELS = [["sms", "SMS / WhatsApp"], ["email", "Email"], ["widget", "Web chat"], ["telegram", "Telegram"], ["xmpp", "XMPP"], ["mastodon", "Mastodon"]];
let timer = null;
let generation = 0;
let next = null;

function params() {
  const query = { q: $("search-q").value };
  for (const [key, id] of [["channel", "search-channel"], ["status", "search-status"], ["agent", "search-agent"], ["from", "search-from"], ["to", "search-to"]]) {
    const value = $(id).value;
    if (value) query[key] = value;
  }
  return query;
}

function highlighted(snippet) {
  const text = snippet.text;
  const parts = [];
  let last = 0;
  for (const [start, end] of snippet.highlights) {
    if (start < last) continue;
    parts.push(text.slice(last, start), el("mark", {}, text.slice(start, end)));
    last = end;
  }
  parts.push(text.slice(last));
  return parts;
}

function messageItem(row) {
  const channel = CHANNELS.find(([c]) => c === row.inbox.channel)?.[1] || row.inbox.channel;
  const button = el(
    "button",
    { type: "button", class: "search-hit", dataset: { conversation: row.conversation, message: row.id } },
    el("span", { class: "search-hit-head" },
      el("strong", {}, row.contact.name || "Unknown contact"),
      row.kind === "note" ? el("span", { class: "search-tag note" }, "Note") : null,
      el("span", { class: "search-tag" }, channel),
      el("span", { class: "search-tag" }, row.status),
      el("time", { datetime: row.created_at }, timeShort(row.created_at)),
    ),
    el("span", { class: "search-snippet" }, highlighted(row.snippet)),
  );
  button.addEventListener("click", () => openResult(row.conversation));
  return el("li", {}, button);
}

function contactItem(row) {
  const button = el("button", { type: "button", class: "search-hit", dataset: { contact: row.id } }, el("strong", {}, row.name || "Unnamed contact"), " ", el("span", { class: "search-tag" }, "Contact"));
  button.addEventListener("click", async () => {
    const conversations = await api(`contacts/${row.id}/conversations`);
    const newest = (conversations.results || [])[0];
    if (newest) openResult(newest.id);
  });
  return el("li", {}, button);
}

async function openResult(conversationId) {
  closePanel();
  await selectConv(conversationId);
}

export async function runSearch({ append = false } = {}) {
  const query = params();
  const panel = $("search-panel");
  if (!query.q.trim()) {
    closePanel();
    return;
  }
  panel.hidden = false;
  const mine = ++generation;
  if (append && next) query.before = next;
  if (append) query.types = "messages,notes";
  $("search-status-line").textContent = "Searching…";
  let data;
  try {
    data = await api("search", { query });
  } catch (error) {
    if (mine === generation) $("search-status-line").textContent = `Search failed: ${error.message}`;
    return;
  }
  if (mine !== generation) return; // a newer search started meanwhile
  next = data.next;
  const list = $("search-results");
  if (!append) {
    clear(list);
    const contacts = clear($("search-contacts"));
    for (const row of data.contacts) contacts.append(contactItem(row));
    $("search-contacts-title").hidden = !data.contacts.length;
  }
  for (const row of data.messages) list.append(messageItem(row));
  $("search-messages-title").hidden = !list.children.length;
  $("search-more").hidden = !next;
  const found = list.children.length + $("search-contacts").children.length;
  const count = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const messages = `${count(list.children.length, "message")}${next ? " (more below)" : ""}`;
  $("search-status-line").textContent = found ? `${messages}, ${count($("search-contacts").children.length, "contact")}` : "Nothing found.";
}

export function closePanel() {
  $("search-panel").hidden = true;
}

function hits() {
  return [...$("search-panel").querySelectorAll(".search-hit")];
}

function moveFocus(step) {
  const all = hits();
  const index = all.indexOf(document.activeElement);
  if (index === -1 && step > 0) return all[0]?.focus();
  if (index <= 0 && step < 0) return $("search-q").focus();
  all[Math.min(index + step, all.length - 1)]?.focus();
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(() => runSearch(), DEBOUNCE_MS);
}

export function wireSearch() {
  const channel = $("search-channel");
  for (const [value, label] of CHANNELS) channel.append(el("option", { value }, label));
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    runSearch();
  });
  $("search-q").addEventListener("input", schedule);
  for (const id of ["search-channel", "search-status", "search-agent", "search-from", "search-to"]) $(id).addEventListener("change", () => runSearch());
  $("search-more").addEventListener("click", () => runSearch({ append: true }));
  $("search-close").addEventListener("click", () => { closePanel(); $("search-q").focus(); });
  document.addEventListener("keydown", (event) => {
    const inPanel = $("search-panel").contains(event.target) || event.target === $("search-q");
    if (event.key === "/" && !isTyping(event.target) && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      $("search-q").focus();
      $("search-q").select();
      return;
    }
    if (!inPanel || $("search-panel").hidden) return;
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopImmediatePropagation();
      closePanel();
      $("search-q").focus();
    } else if (event.key === "ArrowDown" && !event.target.matches("select")) {
      event.preventDefault();
      moveFocus(1);
    } else if (event.key === "ArrowUp" && !event.target.matches("select")) {
      event.preventDefault();
      moveFocus(-1);
    }
  }, true);
}

/** The agents of the desk, for the agent filter (presence.js loads them into state.agents). */
export function fillSearchAgents() {
  const select = $("search-agent");
  const agents = state.agents instanceof Map ? [...state.agents.values()] : state.agents || [];
  for (const agent of agents) select.append(el("option", { value: agent.id }, agent.name || agent.username));
}
