// The conversation list: views, filters, order, unread counts and the tab title.

import { api } from "./api.js";
import { avatar, clear, el, ago } from "./dom.js";
import { channelName } from "./timeline.js";
import { $, PAGE, state, toast, agentName, teamName, contactLabel, normalize, inboxChannel } from "./state.js";
import { selectConv } from "./pane.js";
import { compareDue, dueBadge } from "./sla.js";

export function viewParams() {
  const query = { view: state.view, sort: state.filters.sort, status: state.filters.status, channel: state.filters.channel, limit: PAGE };
  // Older servers filter with `assignee` (same meaning).
  if (state.view === "mine") query.assignee = "me";
  if (state.view === "unassigned") query.assignee = "none";
  return query;
}

export function matches(conv) {
  const view = state.view;
  // Noise (triage) is in the Noise view only.
  if ((view === "noise") !== !!conv.noise) return false;
  if (view === "mine" && conv.assignee !== state.me.id) return false;
  if (view === "unassigned" && conv.assignee !== null && conv.assignee !== undefined) return false;
  if (view.startsWith("team:") && conv.team !== Number(view.slice(5))) return false;
  if (state.filters.status && conv.status !== state.filters.status) return false;
  if (state.filters.channel) {
    const channel = inboxChannel(conv.inbox);
    const lastChannel = conv.last_message ? conv.last_message.channel : "";
    if (channel !== state.filters.channel && lastChannel !== state.filters.channel) return false;
  }
  return true;
}

export function compare(a, b) {
  if (state.filters.sort === "due") return compareDue(a, b);
  if (state.filters.sort === "waiting") {
    const wa = a.waiting_since ? Date.parse(a.waiting_since) : null;
    const wb = b.waiting_since ? Date.parse(b.waiting_since) : null;
    if (wa !== null && wb !== null && wa !== wb) return wa - wb;
    if (wa === null && wb !== null) return 1;
    if (wa !== null && wb === null) return -1;
    if (wa === null && wb === null) {
      // Nobody waits on these: newest activity first, as the server orders them.
      const la = Date.parse(a.last_activity_at) || 0;
      const lb = Date.parse(b.last_activity_at) || 0;
      return lb - la || b.id - a.id;
    }
    return a.id - b.id;
  }
  const la = Date.parse(a.last_activity_at) || 0;
  const lb = Date.parse(b.last_activity_at) || 0;
  return lb - la || b.id - a.id;
}

export function resort() {
  const ids = new Set(state.order);
  state.order = [...ids].map((id) => state.convs.get(id)).filter((c) => c && matches(c)).sort(compare).map((c) => c.id);
}

/** A conversation changed (or appeared): put it in or out of the list, in its place. */
export function placeConv(conv) {
  const inList = state.order.includes(conv.id);
  if (matches(conv)) {
    if (!inList) state.order.push(conv.id);
  } else if (inList) {
    state.order = state.order.filter((id) => id !== conv.id);
  }
  resort();
  renderList();
}

export async function loadList({ more = false } = {}) {
  const token = ++state.listToken;
  const query = viewParams();
  if (more && state.next) query.before = state.next;
  $("load-more").disabled = true;
  try {
    const page = await api("conversations", { query });
    if (token !== state.listToken) return;
    if (!more) state.order = [];
    for (const raw of page.results || []) {
      const conv = normalize(raw);
      state.convs.set(conv.id, conv);
      if (!state.order.includes(conv.id)) state.order.push(conv.id);
    }
    state.next = page.next || null;
    // The server's order is the truth for what it sent; live changes re-sort locally.
    if (more) resort();
    renderList();
  } catch (error) {
    if (token === state.listToken) toast(`Could not load conversations: ${error.message}`);
  } finally {
    $("load-more").disabled = false;
  }
}

export function renderViews() {
  const views = [["mine", "Mine"], ["unassigned", "Unassigned"], ["all", "All"], ["noise", "Noise"]];
  for (const team of state.me.teams || []) views.push([`team:${team.id}`, team.name]);
  const box = clear($("views"));
  for (const [key, label] of views) {
    box.append(
      el("button", {
        type: "button",
        role: "tab",
        "aria-selected": String(key === state.view),
        dataset: { view: key },
        onclick: () => setView(key),
      }, label, key === "noise" && state.noiseTotal !== null && state.noiseTotal !== undefined
        ? el("span", { class: "view-count", id: "noise-count", "aria-label": `${state.noiseTotal} not actionable` }, String(state.noiseTotal))
        : null),
    );
  }
}

export function setView(view) {
  state.view = view;
  localStorage.setItem("sd.view", view);
  renderViews();
  loadList();
}

// The list is drawn again on every change that touches it (an arrival, an assignment, a read, the
// clock), several times a second on a busy desk. A click is a press and a release on the same
// element: a new element under the pointer in between swallowed it, and the conversation did not
// open. So a conversation keeps its <li> across redraws, and an item whose content changed is
// updated in place (`morph`): the elements whose kind is unchanged stay, only their text and
// attributes change. Nodes are placed in order without moving the ones already in place.
function morph(existing, built) {
  for (const attr of [...existing.attributes]) if (!built.hasAttribute(attr.name)) existing.removeAttribute(attr.name);
  for (const attr of built.attributes) if (existing.getAttribute(attr.name) !== attr.value) existing.setAttribute(attr.name, attr.value);
  const old = [...existing.childNodes];
  const now = [...built.childNodes];
  for (let i = 0; i < Math.max(old.length, now.length); i += 1) {
    const [a, b] = [old[i], now[i]];
    if (!b) a.remove();
    else if (!a) existing.append(b);
    else if (a.nodeType !== b.nodeType || a.nodeName !== b.nodeName) a.replaceWith(b);
    else if (a.nodeType === Node.ELEMENT_NODE) morph(a, b);
    else if (a.nodeValue !== b.nodeValue) a.nodeValue = b.nodeValue;
  }
}

function placeItem(list, items, built, position) {
  const existing = items.get(built.dataset.id);
  let node = built;
  if (existing) {
    node = existing;
    if (existing.outerHTML !== built.outerHTML) morph(existing, built);
  }
  const here = list.children[position] || null;
  if (here !== node) list.insertBefore(node, here);
}

export function renderList() {
  const list = $("conv-list");
  const focusedId = document.activeElement && document.activeElement.closest && document.activeElement.closest("#conv-list li")?.dataset.id;
  const items = new Map([...list.children].map((li) => [li.dataset.id, li]));
  let position = 0;
  for (const id of state.order) {
    const conv = state.convs.get(id);
    if (!conv) continue;
    const last = conv.last_message;
    const preview = last ? (last.kind === "note" ? "Note: " : last.direction === "out" ? "You: " : "") + (last.body || "(attachment)") : "";
    const channel = (last && last.channel) || inboxChannel(conv.inbox) || "";
    const waiting = conv.waiting_since ? `waiting ${ago(conv.waiting_since)}` : ago(conv.last_activity_at);
    const item = el(
      "li",
      {
        role: "option",
        tabindex: "-1",
        "aria-selected": String(id === state.selected),
        class: `conv-item${conv.unread ? " unread" : ""}${conv.priority >= 3 ? " urgent" : ""}`,
        dataset: { id: String(id), status: conv.status },
        onclick: () => selectConv(id),
      },
      avatar(contactLabel(conv.contact), `contact:${conv.contact ? conv.contact.id : ""}`),
      el("div", { class: "line1" },
        el("span", { class: "who" }, contactLabel(conv.contact)),
        el("span", { class: "channel-badge", dataset: { channel: channel } }, channelName(channel)),
        el("span", { class: "when", title: conv.waiting_since || conv.last_activity_at || "" }, waiting),
      ),
      el("div", { class: "line2" },
        el("span", { class: "preview" }, preview),
        conv.unread ? el("span", { class: "badge", "aria-label": `${conv.unread} unread` }, String(conv.unread)) : null,
      ),
      el("div", { class: "line3" },
        conv.status !== "open" ? el("span", { class: `status-pill s-${conv.status}` }, conv.status) : null,
        dueBadge(conv),
        conv.priority ? el("span", { class: `prio p${conv.priority}` }, ["", "low", "medium", "high", "urgent"][conv.priority] || "") : null,
        el("span", { class: "assignee" }, conv.assignee ? agentName(conv.assignee) : "Unassigned"),
        conv.team ? el("span", { class: "team" }, teamName(conv.team)) : null,
        conv.labels.map((label) => el("span", { class: "label-chip" }, label)),
        conv.noise ? el("span", { class: "triage-chip t-noise", title: conv.triage_reason || "" }, "Noise") : null,
      ),
    );
    placeItem(list, items, item, position);
    position += 1;
  }
  while (list.children.length > position) list.lastElementChild.remove();
  if (focusedId) list.querySelector(`li[data-id="${CSS.escape(focusedId)}"]`)?.focus();
  $("list-empty").hidden = state.order.length > 0;
  $("load-more").hidden = !state.next;
  updateTitle();
}

export function updateTitle() {
  let unread = state.unreadTotal;
  if (unread === null) {
    // Until the server has answered: what the loaded conversations say.
    unread = 0;
    for (const conv of state.convs.values()) if (conv.unread && matchesAnyMine(conv)) unread += conv.unread;
  }
  document.title = unread ? `(${unread}) supportdesk` : "supportdesk";
}

// The title counts every open conversation of mine or nobody's, loaded or not: ask the server,
// at most once a second, after anything that can change it.
export function refreshUnread() {
  if (state.unreadTimer) return;
  state.unreadTimer = setTimeout(async () => {
    state.unreadTimer = null;
    try {
      const totals = await api("unread");
      state.unreadTotal = totals.messages;
      if (typeof totals.noise === "number" && totals.noise !== state.noiseTotal) {
        state.noiseTotal = totals.noise;
        renderViews();
      }
      updateTitle();
    } catch {
      /* keep the last figure; the next event asks again */
    }
  }, 300);
}

export function onConversationRead(event) {
  const conv = state.convs.get(event.conversation);
  if (conv && conv.unread) {
    conv.unread = 0;
    renderList();
  }
}

export function matchesAnyMine(conv) {
  return conv.status !== "resolved";
}

export function wireList() {
  $("f-status").value = state.filters.status;
  $("f-sort").value = state.filters.sort;
  for (const [id, key] of [["f-status", "status"], ["f-channel", "channel"], ["f-sort", "sort"]]) {
    $(id).addEventListener("change", () => {
      state.filters[key] = $(id).value;
      localStorage.setItem(`sd.${key}`, $(id).value);
      loadList();
    });
  }
  $("load-more").addEventListener("click", () => loadList({ more: true }));
  setInterval(renderList, 15000); // waiting times and SLA due badges move with the clock
}
