// The open conversation: header, timeline, read marks, typing indicators.

import * as hooks from "./hooks.js";
import { api } from "./api.js";
import { clear, el, setAvatar, timeShort } from "./dom.js";
import { channelName, groupTimeline, renderMessage, messageKey, messageOrder } from "./timeline.js";
import { conversationWarning } from "./email.js";
import { $, TYPING_SHOWN_FOR, state, toast, agentName, contactLabel, mergeConv, fetchConv, inboxChannel } from "./state.js";
import { socket } from "./events.js";
import { placeConv, renderList, refreshUnread } from "./list.js";
import { renderComposerChannels, renderPending, removePendingNode, stopTyping } from "./composer.js";
import { contactPanel } from "./contact-sync.js";
import { renderTriage } from "./triage.js";
import { renderDue } from "./sla.js";

export async function selectConv(id, { focusComposer = false } = {}) {
  if (!state.convs.has(id)) {
    try {
      await fetchConv(id);
    } catch (error) {
      toast(`Could not open the conversation: ${error.message}`);
      return;
    }
  }
  const changed = state.selected !== id;
  state.selected = id;
  localStorage.setItem("sd.selected", String(id));
  for (const node of $("conv-list").querySelectorAll("li")) node.setAttribute("aria-selected", String(node.dataset.id === String(id)));
  $("conv-list").querySelector(`li[data-id="${id}"]`)?.scrollIntoView({ block: "nearest" });
  $("conv-empty").hidden = true;
  $("conv").hidden = false;
  if (changed) {
    state.typing.clear();
    renderTyping();
    stopTyping();
  }
  renderHead();
  hooks.conversationChosen();
  await openTimeline(id);
  if (focusComposer) $("composer-text").focus();
}

export function renderHead() {
  const conv = state.convs.get(state.selected);
  if (!conv) return;
  const name = contactLabel(conv.contact);
  $("conv-title").textContent = name;
  setAvatar($("conv-avatar"), name, `contact:${conv.contact ? conv.contact.id : ""}`);
  const pill = $("conv-status");
  pill.textContent = conv.status === "snoozed" && conv.snoozed_until ? `snoozed until ${timeShort(conv.snoozed_until)}` : conv.status;
  pill.className = `status-pill s-${conv.status}`;
  const channel = (conv.last_message && conv.last_message.channel) || inboxChannel(conv.inbox);
  $("conv-channel").textContent = channelName(channel);
  $("conv-channel").dataset.channel = channel || "";
  $("conv-channel").hidden = !channel;
  $("conv-assignee").textContent = conv.assignee ? `Assigned to ${conv.assignee === state.me.id ? "you" : agentName(conv.assignee)}` : "Unassigned";
  $("c-status").value = conv.status;
  $("resolve-btn").textContent = conv.status === "resolved" ? "Reopen" : "Resolve";
  $("c-priority").value = String(conv.priority || 0);
  const assignee = $("c-assignee");
  clear(assignee).append(el("option", { value: "" }, "Unassigned"));
  for (const agent of state.agents.values()) {
    assignee.append(el("option", { value: String(agent.id) }, `${agent.name || agent.username}${agent.id === state.me.id ? " (me)" : ""} — ${agent.presence || "offline"}`));
  }
  assignee.value = conv.assignee ? String(conv.assignee) : "";
  const team = $("c-team");
  clear(team).append(el("option", { value: "" }, "No team"));
  for (const t of state.teams) team.append(el("option", { value: String(t.id) }, t.name));
  team.value = conv.team ? String(conv.team) : "";
  // Moving a colleague's conversation is a supervisor's call (the API refuses it too).
  const mayMove = !conv.assignee || conv.assignee === state.me.id || (state.me.permissions && state.me.permissions.reassign);
  $("assign-me").disabled = conv.assignee === state.me.id || !mayMove;
  assignee.disabled = !mayMove;
  assignee.title = mayMove ? "" : "Only a supervisor can move a colleague's conversation";
  renderDue($("conv-due"), conv);
  renderTriage(conv);
  const chips = clear($("label-chips"));
  for (const label of conv.labels) {
    chips.append(
      el("li", { class: "label-chip" }, label,
        el("button", { type: "button", "aria-label": `Remove label ${label}`, onclick: () => patchConv({ labels: conv.labels.filter((l) => l !== label) }) }, "×")),
    );
  }
}

export async function patchConv(fields, id = state.selected) {
  if (!id) return;
  try {
    const result = await api(`conversations/${id}`, { method: "PATCH", body: fields });
    const conv = mergeConv(id, result || {}) || (await fetchConv(id));
    placeConv(conv);
    if (id === state.selected) renderHead();
  } catch (error) {
    toast(`Could not update: ${error.message}`);
    if (id === state.selected) renderHead();
  }
}

export async function openTimeline(id, { keepScroll = false } = {}) {
  const conv = state.convs.get(id);
  if (!conv || !conv.contact) return;
  const contactId = conv.contact.id;
  const token = (openTimeline.token = (openTimeline.token || 0) + 1);
  const sameContact = state.contact && state.contact.id === contactId;
  if (!sameContact || !keepScroll) {
    state.messages = new Map();
    state.contactConvs = new Set([id]);
    clear($("timeline")).append(el("li", { class: "loading" }, "Loading…"));
  }
  state.contact = conv.contact;
  renderComposerChannels();
  try {
    // The newest page; older ones on "Earlier messages" (a page costs the same however long
    // the history is).
    const result = await api(`contacts/${contactId}/timeline`, { query: { newest: 1, limit: TIMELINE_PAGE } });
    const messages = result.results || [];
    if (token !== openTimeline.token) return;
    state.timelinePrevious = result.previous || null;
    state.messages = new Map();
    for (const message of messages) {
      state.messages.set(message.id, message);
      state.contactConvs.add(message.conversation);
    }
    renderTimeline();
    scrollTimelineToEnd();
    markRead(id, conv.last_seq);
  } catch (error) {
    if (token === openTimeline.token) clear($("timeline")).append(el("li", { class: "error" }, `Could not load the timeline: ${error.message}`));
  }
  contactPanel.show(contactId);
}

const TIMELINE_PAGE = 100;

async function loadEarlier() {
  const contactId = state.contact && state.contact.id;
  const before = state.timelinePrevious;
  if (!contactId || !before) return;
  const token = openTimeline.token;
  const list = $("timeline");
  const height = list.scrollHeight;
  try {
    const result = await api(`contacts/${contactId}/timeline`, { query: { before, limit: TIMELINE_PAGE } });
    if (token !== openTimeline.token) return;
    state.timelinePrevious = result.previous || null;
    for (const message of result.results || []) {
      if (!state.messages.has(message.id)) state.messages.set(message.id, message);
      state.contactConvs.add(message.conversation);
    }
    renderTimeline();
    list.scrollTop = list.scrollHeight - height; // stay where the agent was reading
  } catch (error) {
    toast(`Could not load earlier messages: ${error.message}`);
  }
}

// Rendered message nodes by message id ({key, node}): a node is kept while its message and what
// it shows of the context are unchanged (timeline.js, messageKey).
const messageNodes = new Map();
let earlierNode = null;

function messageNode(message, context = messageContext()) {
  const key = messageKey(message, context);
  const known = messageNodes.get(message.id);
  if (known && known.key === key) return known.node;
  const node = renderMessage(message, context);
  messageNodes.set(message.id, { key, node });
  return node;
}

/** Puts `nodes` in `list` in this order, leaving in place the ones already there, removing the rest. */
function placeChildren(list, nodes) {
  let cursor = list.firstChild;
  for (const node of nodes) {
    if (node === cursor) {
      cursor = cursor.nextSibling;
    } else {
      list.insertBefore(node, cursor);
    }
  }
  while (cursor) {
    const next = cursor.nextSibling;
    cursor.remove();
    cursor = next;
  }
}

export function renderTimeline() {
  const list = $("timeline");
  const nodes = [];
  if (state.timelinePrevious) {
    if (!earlierNode) {
      const button = el("button", { type: "button", class: "earlier" }, "Earlier messages");
      button.addEventListener("click", loadEarlier);
      earlierNode = el("li", { class: "earlier" }, button);
    }
    nodes.push(earlierNode);
  }
  const context = messageContext();
  const messages = [...state.messages.values()].sort(messageOrder);
  for (const message of messages) nodes.push(messageNode(message, context));
  for (const id of messageNodes.keys()) {
    if (!state.messages.has(id)) messageNodes.delete(id);
  }
  for (const [cid, pending] of state.pending) {
    if (state.contactConvs.has(pending.conversation)) nodes.push(renderPending(cid, pending));
  }
  // Day separators are drawn anew by groupTimeline; out of the way first, so that no kept node
  // is moved (a moved node loses the press of a click in progress).
  for (const sep of list.querySelectorAll("li.day-sep")) sep.remove();
  placeChildren(list, nodes);
  groupTimeline(list);
  renderConvWarning();
}

// A conversation opened by a mail that pointed at another customer's conversation.
export function renderConvWarning() {
  const text = state.selected ? conversationWarning(state.messages.values(), state.selected) : null;
  const box = $("conv-warning");
  box.hidden = !text;
  box.textContent = text ? `⚠ Suspicious: ${text}` : "";
}

export function messageContext() {
  return {
    agentName,
    selected: state.selected,
    identities: state.contact ? state.contact.identities || [] : [],
    contactName: state.contact ? contactLabel(state.contact) : "",
    contactId: state.contact ? state.contact.id : null,
  };
}

export function scrollTimelineToEnd() {
  const list = $("timeline");
  list.scrollTop = list.scrollHeight;
}

// Delivery status only moves forward (as on the server): a copy of a message that is older than
// the one shown (a send's answer that arrives after the socket's "sent" event) keeps the status
// already shown.
export const STATUS_RANK = { received: 0, queued: 1, sending: 2, sent: 3, delivered: 4, undelivered: 4, failed: 4, read: 5 };

export function addMessage(message) {
  const list = $("timeline");
  const nearEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 120;
  const known = state.messages.get(message.id);
  if (known && (STATUS_RANK[known.status] ?? -1) > (STATUS_RANK[message.status] ?? -1)) {
    message = { ...message, status: known.status, error_code: known.error_code, error_message: known.error_message };
  }
  state.messages.set(message.id, message);
  if (message.client_id) {
    removePendingNode(message.client_id);
    const pending = state.pending.get(message.client_id);
    if (pending) clearTimeout(pending.timer);
    state.pending.delete(message.client_id);
  }
  const node = messageNode(message);
  const existing = list.querySelector(`li[data-message-id="${message.id}"]`);
  if (existing) {
    if (existing !== node) existing.replaceWith(node);
    groupTimeline(list);
    return;
  }
  // Insert in order: by time, then id (the server's order for the contact's timeline).
  let before = null;
  for (const child of list.querySelectorAll("li[data-message-id]")) {
    const other = state.messages.get(Number(child.dataset.messageId));
    if (other && messageOrder(message, other) < 0) {
      before = child;
      break;
    }
  }
  if (!before) before = list.querySelector("li.pending");
  list.insertBefore(node, before);
  list.querySelector("li.loading")?.remove();
  groupTimeline(list);
  if (nearEnd) scrollTimelineToEnd();
  renderConvWarning();
}

export function markRead(id, seq) {
  const conv = state.convs.get(id);
  if (!conv) return;
  if (!socket.send({ action: "read", conversation: id, seq: seq || conv.last_seq || undefined })) {
    api(`conversations/${id}/read`, { method: "POST", body: seq ? { seq } : {} }).catch(() => {});
  }
  if (conv.unread) {
    conv.unread = 0;
    renderList();
  }
  refreshUnread();
}

export function onTyping(event) {
  const data = event.data || {};
  if (event.conversation !== state.selected) return;
  if (data.agent && data.agent === state.me.id) return;
  const who = data.agent ? agentName(data.agent) : "The customer";
  clearTimeout(state.typing.get(who));
  if (data.on === false) state.typing.delete(who);
  else state.typing.set(who, setTimeout(() => { state.typing.delete(who); renderTyping(); }, TYPING_SHOWN_FOR));
  renderTyping();
}

export function renderTyping() {
  const names = [...state.typing.keys()];
  $("typing").textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
}


/** Close the header's open menu; true when one was open (Escape closes it first). */
export function closeMenus() {
  let closed = false;
  for (const menu of document.querySelectorAll("details.menu[open]")) {
    // Focus goes back to the menu's button, not to a field that is now hidden.
    if (menu.contains(document.activeElement)) menu.querySelector("summary").focus();
    menu.open = false;
    closed = true;
  }
  return closed;
}

/** The quick snooze choices: an hour from now, tomorrow 09:00, next Monday 09:00 (local time). */
export function snoozeUntil(choice, now = new Date()) {
  if (choice === "hour") return new Date(now.getTime() + 3600 * 1000);
  const at = new Date(now);
  at.setHours(9, 0, 0, 0);
  if (choice === "tomorrow") at.setDate(at.getDate() + 1);
  else at.setDate(at.getDate() + (((8 - at.getDay()) % 7) || 7)); // next Monday
  return at;
}

export function wirePane() {
  $("contact-toggle").addEventListener("click", () => {
    const open = $("layout").classList.toggle("show-contact");
    $("contact-toggle").setAttribute("aria-expanded", String(open));
  });

  $("resolve-btn").addEventListener("click", () => {
    const conv = state.convs.get(state.selected);
    patchConv({ status: conv && conv.status === "resolved" ? "open" : "resolved" });
  });
  $("c-status").addEventListener("change", () => patchConv({ status: $("c-status").value }));
  $("c-priority").addEventListener("change", () => patchConv({ priority: Number($("c-priority").value) }));
  $("c-assignee").addEventListener("change", () => patchConv({ assignee: $("c-assignee").value ? Number($("c-assignee").value) : null }));
  $("assign-me").addEventListener("click", () => {
    closeMenus();
    patchConv({ assignee: state.me.id });
  });
  $("c-team").addEventListener("change", () => patchConv({ team: $("c-team").value ? Number($("c-team").value) : null }));
  $("snooze-btn").addEventListener("click", () => {
    const value = $("snooze-at").value;
    if (!value) return toast("Pick a time to snooze until.");
    const at = new Date(value);
    if (!(at > new Date())) return toast("Pick a time in the future.");
    closeMenus();
    patchConv({ status: "snoozed", snoozed_until: at.toISOString() });
  });
  for (const button of document.querySelectorAll("[data-snooze]")) {
    button.addEventListener("click", () => {
      closeMenus();
      patchConv({ status: "snoozed", snoozed_until: snoozeUntil(button.dataset.snooze).toISOString() });
    });
  }
  // The header's menus (assign, snooze, more): one open at a time, closed by a click elsewhere.
  for (const menu of document.querySelectorAll("details.menu")) {
    menu.addEventListener("toggle", () => {
      if (menu.open) for (const other of document.querySelectorAll("details.menu[open]")) if (other !== menu) other.open = false;
    });
  }
  document.addEventListener("click", (event) => {
    if (!event.target.closest || !event.target.closest("details.menu")) closeMenus();
  });
  $("label-input").addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    const label = $("label-input").value.trim();
    const conv = state.convs.get(state.selected);
    if (!label || !conv) return;
    $("label-input").value = "";
    if (!conv.labels.includes(label)) patchConv({ labels: [...conv.labels, label] });
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.selected) markRead(state.selected);
  });
}
