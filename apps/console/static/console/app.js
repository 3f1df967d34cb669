// The agent console: conversation list, conversation timeline and composer, contact panel.
// State comes from the REST API and is kept current by the console socket's events.
// All text from customers and agents is rendered with text nodes (dom.js), never as HTML.

import { api, ApiError } from "./api.js";
import { clear, clientId, el, linkify, timeShort, ago } from "./dom.js";
import { ConsoleSocket } from "./socket.js";
import * as notify from "./notify.js";
import { renderMessage, messageOrder, channelName } from "./timeline.js";
import { conversationWarning } from "./email.js";
import { setupContactPanel } from "./contact.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const TYPING_EVERY = 2000;
const TYPING_SHOWN_FOR = 6000;
const ACK_TIMEOUT = 15000;

const body = document.body;
const state = {
  me: { id: Number(body.dataset.agent), username: body.dataset.username, name: body.dataset.name, inboxes: [], teams: [] },
  agents: new Map(),
  teams: [],
  inboxes: new Map(),
  labels: [],
  view: localStorage.getItem("sd.view") || "all",
  filters: {
    status: localStorage.getItem("sd.status") ?? "open",
    channel: localStorage.getItem("sd.channel") || "",
    sort: localStorage.getItem("sd.sort") || "waiting",
  },
  convs: new Map(), // id -> list item (loaded, whatever the view)
  order: [], // ids shown in the list, in order
  next: null,
  listToken: 0,
  selected: null,
  contact: null, // the open contact
  messages: new Map(), // message id -> message, of the open contact's timeline
  timelinePrevious: null, // `before` of the timeline's earlier page (null: none)
  pending: new Map(), // client_id -> {body, kind, identity, conversation, state, error, files}
  files: [], // files chosen in the composer, sent with the next reply or note
  contactConvs: new Set(), // conversation ids of the open contact
  typing: new Map(), // who -> timeout
  typingSentAt: 0,
  typingOn: false,
  canned: [],
  cannedIndex: 0,
  unreadTotal: null, // from the server: unread customer messages in my and unassigned open conversations
  unreadTimer: null,
};

const socket = new ConsoleSocket({
  onEvent: (event) => handleEvent(event),
  onFrame: (frame) => handleFrame(frame),
  onState: (name, info) => showConnection(name, info),
  onResync: () => resync(),
  onHello: (hello) => {
    if (hello.agent) state.me.id = hello.agent;
    retryPendingOnReconnect();
  },
});

// ---------------------------------------------------------------- helpers

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 5000);
}

function agentName(id) {
  if (id === null || id === undefined) return "";
  if (id === state.me.id) return state.me.name || "me";
  const agent = state.agents.get(id);
  return agent ? agent.name || agent.username : `Agent ${id}`;
}

function teamName(id) {
  const team = state.teams.find((t) => t.id === id);
  return team ? team.name : "";
}

function contactLabel(contact) {
  if (!contact) return "Unknown";
  if (contact.name) return contact.name;
  const identity = (contact.identities || [])[0];
  return identity ? identity.display || identity.address : `Contact ${contact.id}`;
}

function normalize(item) {
  const conv = { ...item };
  conv.labels = conv.labels || [];
  conv.unread = conv.unread || 0;
  conv.last_message = conv.last_message || null;
  if (typeof conv.contact === "number") conv.contact = { id: conv.contact, name: "", identities: [] };
  return conv;
}

function mergeConv(id, fields) {
  const existing = state.convs.get(id);
  if (!existing) return null;
  const merged = { ...existing };
  for (const [key, value] of Object.entries(fields)) {
    if (key === "contact" && typeof value === "number") continue;
    if (key === "changes") continue;
    merged[key] = value;
  }
  state.convs.set(id, normalize(merged));
  return state.convs.get(id);
}

async function fetchConv(id) {
  const item = normalize(await api(`conversations/${id}`));
  const existing = state.convs.get(id);
  if (existing) {
    // The detail may lack list-only fields (unread, last_message): keep ours.
    item.unread = item.unread || existing.unread;
    item.last_message = item.last_message || existing.last_message;
    if (!item.labels.length && existing.labels.length && !("labels" in item)) item.labels = existing.labels;
  }
  state.convs.set(id, item);
  return item;
}

// ---------------------------------------------------------------- connection state

function showConnection(name, info) {
  const node = $("conn");
  node.dataset.state = name;
  if (name === "live") node.textContent = "Live";
  else if (name === "connecting") node.textContent = "Connecting…";
  else if (name === "reconnecting") node.textContent = "Reconnecting…";
  else if (name === "offline") node.textContent = `Disconnected — retrying in ${Math.max(1, Math.round(info.delay / 1000))} s`;
}

// ---------------------------------------------------------------- list

function viewParams() {
  const query = { view: state.view, sort: state.filters.sort, status: state.filters.status, channel: state.filters.channel, limit: PAGE };
  // Older servers filter with `assignee` (same meaning).
  if (state.view === "mine") query.assignee = "me";
  if (state.view === "unassigned") query.assignee = "none";
  return query;
}

function inboxChannel(inboxId) {
  const inbox = state.inboxes.get(inboxId);
  return inbox ? inbox.channel : "";
}

function matches(conv) {
  const view = state.view;
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

function compare(a, b) {
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

function resort() {
  const ids = new Set(state.order);
  state.order = [...ids].map((id) => state.convs.get(id)).filter((c) => c && matches(c)).sort(compare).map((c) => c.id);
}

/** A conversation changed (or appeared): put it in or out of the list, in its place. */
function placeConv(conv) {
  const inList = state.order.includes(conv.id);
  if (matches(conv)) {
    if (!inList) state.order.push(conv.id);
  } else if (inList) {
    state.order = state.order.filter((id) => id !== conv.id);
  }
  resort();
  renderList();
}

async function loadList({ more = false } = {}) {
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

function renderViews() {
  const views = [["mine", "Mine"], ["unassigned", "Unassigned"], ["all", "All"]];
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
      }, label),
    );
  }
}

function setView(view) {
  state.view = view;
  localStorage.setItem("sd.view", view);
  renderViews();
  loadList();
}

function renderList() {
  const list = $("conv-list");
  const focusedId = document.activeElement && document.activeElement.closest && document.activeElement.closest("#conv-list li")?.dataset.id;
  clear(list);
  for (const id of state.order) {
    const conv = state.convs.get(id);
    if (!conv) continue;
    const last = conv.last_message;
    const preview = last ? (last.kind === "note" ? "Note: " : last.direction === "out" ? "You: " : "") + (last.body || "(attachment)") : "";
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
      el("div", { class: "line1" },
        el("span", { class: "who" }, contactLabel(conv.contact)),
        el("span", { class: "channel-badge" }, channelName((last && last.channel) || inboxChannel(conv.inbox) || "")),
        el("span", { class: "when", title: conv.waiting_since || conv.last_activity_at || "" }, waiting),
      ),
      el("div", { class: "line2" },
        el("span", { class: "preview" }, preview),
        conv.unread ? el("span", { class: "badge", "aria-label": `${conv.unread} unread` }, String(conv.unread)) : null,
      ),
      el("div", { class: "line3" },
        conv.status !== "open" ? el("span", { class: `status-pill s-${conv.status}` }, conv.status) : null,
        conv.priority ? el("span", { class: `prio p${conv.priority}` }, ["", "low", "medium", "high", "urgent"][conv.priority] || "") : null,
        el("span", { class: "assignee" }, conv.assignee ? agentName(conv.assignee) : "Unassigned"),
        conv.team ? el("span", { class: "team" }, teamName(conv.team)) : null,
        conv.labels.map((label) => el("span", { class: "label-chip" }, label)),
      ),
    );
    list.append(item);
  }
  if (focusedId) list.querySelector(`li[data-id="${CSS.escape(focusedId)}"]`)?.focus();
  $("list-empty").hidden = state.order.length > 0;
  $("load-more").hidden = !state.next;
  updateTitle();
}

function updateTitle() {
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
function refreshUnread() {
  if (state.unreadTimer) return;
  state.unreadTimer = setTimeout(async () => {
    state.unreadTimer = null;
    try {
      state.unreadTotal = (await api("unread")).messages;
      updateTitle();
    } catch {
      /* keep the last figure; the next event asks again */
    }
  }, 300);
}

function onConversationRead(event) {
  const conv = state.convs.get(event.conversation);
  if (conv && conv.unread) {
    conv.unread = 0;
    renderList();
  }
}

function matchesAnyMine(conv) {
  return conv.status !== "resolved";
}

// ---------------------------------------------------------------- events

function handleEvent(event) {
  const data = event.data || {};
  if (["conversation.created", "conversation.updated", "conversation.read", "message.created"].includes(event.type)) {
    refreshUnread();
  }
  switch (event.type) {
    case "conversation.read":
      onConversationRead(event);
      break;
    case "conversation.created":
    case "conversation.updated":
      onConversationEvent(event);
      break;
    case "message.created":
      onMessageCreated(data);
      break;
    case "message.updated":
      onMessageUpdated(data);
      break;
    case "typing":
      onTyping(event);
      break;
    case "presence.updated":
      onPresence(data);
      break;
    case "agent.updated":
      loadAgents();
      break;
    case "contact.updated":
      onContactUpdated(event);
      break;
    case "notification.created":
      onNotification(data);
      break;
    default:
      break;
  }
}

async function onConversationEvent(event) {
  const data = event.data || {};
  const id = data.id || event.conversation;
  let conv = mergeConv(id, data);
  if (!conv) {
    try {
      conv = await fetchConv(id);
    } catch {
      return;
    }
  } else if (typeof data.contact === "number" && conv.contact && conv.contact.id !== data.contact) {
    conv = await fetchConv(id).catch(() => conv);
  }
  placeConv(conv);
  if (id === state.selected) renderHead();
}

async function onMessageCreated(message) {
  const id = message.conversation;
  let conv = state.convs.get(id);
  let fetched = false;
  if (!conv) {
    try {
      conv = await fetchConv(id);
      fetched = true;
    } catch {
      conv = null;
    }
  }
  // A message the list already counts (fetched after it, or replayed) changes nothing there.
  const isNew = conv && !fetched && (!message.seq || message.seq > (conv.last_seq || 0));
  if (conv && isNew) {
    const fields = {};
    if (message.seq) fields.last_seq = message.seq;
    if (message.kind !== "activity") {
      fields.last_message = { body: message.body, direction: message.direction, kind: message.kind, channel: message.channel, created_at: message.created_at };
      fields.last_activity_at = message.created_at;
    }
    if (message.direction === "in" && message.kind === "message") {
      if (!conv.waiting_since) fields.waiting_since = message.created_at;
      const open = id === state.selected && document.visibilityState === "visible";
      if (!open) fields.unread = (conv.unread || 0) + 1;
    } else if (message.direction === "out" && message.kind === "message") {
      fields.waiting_since = null;
    }
    conv = mergeConv(id, fields);
    placeConv(conv);
  } else if (conv && fetched) {
    placeConv(conv);
  }
  if (state.contact && (state.contactConvs.has(id) || (conv && conv.contact && conv.contact.id === state.contact.id))) {
    state.contactConvs.add(id);
    addMessage(message);
    if (id === state.selected && message.direction === "in") markRead(id, message.seq);
  }
}

function onMessageUpdated(message) {
  if (state.messages.has(message.id)) addMessage(message);
}

function onTyping(event) {
  const data = event.data || {};
  if (event.conversation !== state.selected) return;
  if (data.agent && data.agent === state.me.id) return;
  const who = data.agent ? agentName(data.agent) : "The customer";
  clearTimeout(state.typing.get(who));
  if (data.on === false) state.typing.delete(who);
  else state.typing.set(who, setTimeout(() => { state.typing.delete(who); renderTyping(); }, TYPING_SHOWN_FOR));
  renderTyping();
}

function renderTyping() {
  const names = [...state.typing.keys()];
  $("typing").textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
}

function onPresence(data) {
  const agent = state.agents.get(data.agent);
  if (agent) agent.presence = data.status;
  if (data.agent === state.me.id) {
    state.me.presence = data.status;
    renderOwnPresence();
  }
  renderColleagues();
}

async function onContactUpdated(event) {
  const data = event.data || {};
  const contactId = data.id || data.contact;
  if (state.contact && contactId === state.contact.id) reloadContact();
  for (const conv of state.convs.values()) {
    if (conv.contact && conv.contact.id === contactId && data.name !== undefined) conv.contact = { ...conv.contact, name: data.name };
  }
  renderList();
}

function onNotification(data) {
  const by = data.by ? data.by.name : "";
  const title =
    data.kind === "assigned"
      ? by ? `${by} assigned you a conversation` : "A conversation was assigned to you"
      : `${by || "Someone"} mentioned you`;
  notify.chime();
  notify.showNotification(title, data.excerpt || "", () => data.conversation && selectConv(data.conversation));
  toast(`${title}${data.excerpt ? ": " + data.excerpt : ""}`);
}

function handleFrame(frame) {
  if (frame.type === "ack") {
    const pending = state.pending.get(frame.client_id);
    if (pending) clearTimeout(pending.timer);
    state.pending.delete(frame.client_id);
    if (frame.message) {
      if (state.contactConvs.has(frame.message.conversation)) addMessage(frame.message);
      else removePendingNode(frame.client_id);
    }
  } else if (frame.type === "typing") {
    // A widget visitor typing: ephemeral (no event id), pushed to the inbox's agents.
    onTyping(frame);
  } else if (frame.type === "error") {
    if (frame.client_id && state.pending.has(frame.client_id)) {
      failPending(frame.client_id, frame.message || frame.code);
    } else {
      toast(frame.message || frame.code);
    }
  }
}

async function resync() {
  // Events were lost (pruned or too many): refetch what is shown.
  await Promise.all([loadAgents(), loadList()]);
  if (state.selected) await openTimeline(state.selected, { keepScroll: true });
}

// ---------------------------------------------------------------- conversation pane

async function selectConv(id, { focusComposer = false } = {}) {
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
  await openTimeline(id);
  if (focusComposer) $("composer-text").focus();
}

function renderHead() {
  const conv = state.convs.get(state.selected);
  if (!conv) return;
  $("conv-title").textContent = contactLabel(conv.contact);
  const pill = $("conv-status");
  pill.textContent = conv.status === "snoozed" && conv.snoozed_until ? `snoozed until ${timeShort(conv.snoozed_until)}` : conv.status;
  pill.className = `status-pill s-${conv.status}`;
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
  $("assign-me").disabled = conv.assignee === state.me.id;
  const chips = clear($("label-chips"));
  for (const label of conv.labels) {
    chips.append(
      el("li", { class: "label-chip" }, label,
        el("button", { type: "button", "aria-label": `Remove label ${label}`, onclick: () => patchConv({ labels: conv.labels.filter((l) => l !== label) }) }, "×")),
    );
  }
}

async function patchConv(fields, id = state.selected) {
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

async function openTimeline(id, { keepScroll = false } = {}) {
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

function renderTimeline() {
  const list = clear($("timeline"));
  if (state.timelinePrevious) {
    const button = el("button", { type: "button", class: "earlier" }, "Earlier messages");
    button.addEventListener("click", loadEarlier);
    list.append(el("li", { class: "earlier" }, button));
  }
  const messages = [...state.messages.values()].sort(messageOrder);
  for (const message of messages) list.append(renderMessage(message, messageContext()));
  for (const [cid, pending] of state.pending) {
    if (state.contactConvs.has(pending.conversation)) list.append(renderPending(cid, pending));
  }
  renderConvWarning();
}

// A conversation opened by a mail that pointed at another customer's conversation.
function renderConvWarning() {
  const text = state.selected ? conversationWarning(state.messages.values(), state.selected) : null;
  const box = $("conv-warning");
  box.hidden = !text;
  box.textContent = text ? `⚠ Suspicious: ${text}` : "";
}

function messageContext() {
  return {
    agentName,
    selected: state.selected,
    identities: state.contact ? state.contact.identities || [] : [],
    contactName: state.contact ? state.contact.name : "",
  };
}

function scrollTimelineToEnd() {
  const list = $("timeline");
  list.scrollTop = list.scrollHeight;
}

// Delivery status only moves forward (as on the server): a copy of a message that is older than
// the one shown (a send's answer that arrives after the socket's "sent" event) keeps the status
// already shown.
const STATUS_RANK = { received: 0, queued: 1, sending: 2, sent: 3, delivered: 4, undelivered: 4, failed: 4, read: 5 };

function addMessage(message) {
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
  const node = renderMessage(message, messageContext());
  const existing = list.querySelector(`li[data-message-id="${message.id}"]`);
  if (existing) {
    existing.replaceWith(node);
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
  if (nearEnd) scrollTimelineToEnd();
  renderConvWarning();
}

function markRead(id, seq) {
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

// ---------------------------------------------------------------- composer

function renderComposerChannels() {
  const select = clear($("reply-channel"));
  select.append(el("option", { value: "" }, "Last channel the customer used"));
  for (const identity of (state.contact && state.contact.identities) || []) {
    const text = `${channelName(identity.kind)}: ${identity.display || identity.address}${identity.verified ? "" : " (unverified)"}${identity.opted_out ? " — opted out" : ""}`;
    select.append(el("option", { value: String(identity.id), disabled: !!identity.opted_out, dataset: { optedOut: String(!!identity.opted_out) } }, text));
  }
}

function renderPending(cid, pending) {
  const failed = pending.state === "failed";
  return el(
    "li",
    { class: `msg out ${pending.kind === "note" ? "note" : ""} pending${failed ? " failed" : ""}`, dataset: { clientId: cid } },
    el("div", { class: "meta" }, el("span", { class: "who" }, pending.kind === "note" ? "Private note (you)" : "You"), " · ", el("span", { class: "time" }, "now")),
    el("p", { class: "body" }, linkify(pending.body)),
    (pending.files || []).map((file) => el("div", { class: "attachment pending-file" }, `📎 ${file.name}`)),
    el("div", { class: "delivery" },
      failed
        ? [el("span", { class: "tick", dataset: { status: "not-sent" } }, `⚠ Not sent: ${pending.error || "no answer from the server"}`), " ",
           el("button", { type: "button", class: "retry", onclick: () => sendPending(cid) }, "Retry")]
        : el("span", { class: "tick", dataset: { status: "pending" } }, "◷ Sending…")),
  );
}

function removePendingNode(cid) {
  $("timeline").querySelector(`li.pending[data-client-id="${CSS.escape(cid)}"]`)?.remove();
}

function refreshPendingNode(cid) {
  const pending = state.pending.get(cid);
  const node = $("timeline").querySelector(`li.pending[data-client-id="${CSS.escape(cid)}"]`);
  if (!pending) return node?.remove();
  const fresh = renderPending(cid, pending);
  if (node) node.replaceWith(fresh);
  else if (state.contactConvs.has(pending.conversation)) $("timeline").append(fresh);
  scrollTimelineToEnd();
}

function failPending(cid, error) {
  const pending = state.pending.get(cid);
  if (!pending) return;
  clearTimeout(pending.timer);
  pending.state = "failed";
  pending.error = error;
  refreshPendingNode(cid);
}

async function sendPending(cid) {
  const pending = state.pending.get(cid);
  if (!pending) return;
  pending.state = "sending";
  pending.error = "";
  refreshPendingNode(cid);
  clearTimeout(pending.timer);
  if (pending.files && pending.files.length) return sendWithFiles(cid, pending);
  const frame = { action: "send", conversation: pending.conversation, body: pending.body, client_id: cid, kind: pending.kind };
  if (pending.identity) frame.identity = pending.identity;
  if (socket.send(frame)) {
    pending.timer = setTimeout(() => failPending(cid, "no confirmation from the server"), ACK_TIMEOUT);
    return;
  }
  // No socket right now: the REST API takes the same client id, so a retry is never sent twice.
  try {
    const body = { body: pending.body, client_id: cid, kind: pending.kind };
    if (pending.identity) body.identity = pending.identity;
    const message = await api(`conversations/${pending.conversation}/messages`, { method: "POST", body });
    handleFrame({ type: "ack", client_id: cid, message });
  } catch (error) {
    failPending(cid, error instanceof ApiError ? error.message : "the network is down");
  }
}

// Files cannot ride the socket: the REST API takes them (multipart), with the same client id so
// that a retry never sends twice.
async function sendWithFiles(cid, pending) {
  const form = new FormData();
  form.append("body", pending.body);
  form.append("client_id", cid);
  form.append("kind", pending.kind);
  if (pending.identity) form.append("identity", String(pending.identity));
  for (const file of pending.files) form.append("files", file, file.name);
  try {
    const message = await api(`conversations/${pending.conversation}/messages`, { method: "POST", form });
    handleFrame({ type: "ack", client_id: cid, message });
  } catch (error) {
    failPending(cid, error instanceof ApiError ? error.message : "the network is down");
  }
}

function renderFiles() {
  const list = clear($("attach-list"));
  state.files.forEach((file, index) => {
    list.append(
      el("li", { class: "attach-chip" }, `📎 ${file.name} (${Math.max(1, Math.round(file.size / 1024))} KB)`,
        el("button", { type: "button", "aria-label": `Remove ${file.name}`, onclick: () => { state.files.splice(index, 1); renderFiles(); } }, "×")),
    );
  });
  list.hidden = !state.files.length;
}

function retryPendingOnReconnect() {
  for (const [cid, pending] of state.pending) if (pending.state === "sending") sendPending(cid);
}

function submitComposer() {
  const text = $("composer-text");
  const bodyText = text.value;
  if ((!bodyText.trim() && !state.files.length) || !state.selected) return;
  const note = $("note-toggle").checked;
  const identity = $("reply-channel").value;
  const cid = clientId();
  state.pending.set(cid, {
    conversation: state.selected,
    body: bodyText,
    kind: note ? "note" : "message",
    identity: identity && !note ? Number(identity) : null,
    state: "sending",
    files: state.files,
  });
  text.value = "";
  state.files = [];
  renderFiles();
  closeCanned();
  stopTyping();
  refreshPendingNode(cid);
  sendPending(cid);
}

function sendTyping() {
  if (!state.selected) return;
  const now = Date.now();
  if (now - state.typingSentAt < TYPING_EVERY) return;
  state.typingSentAt = now;
  state.typingOn = true;
  socket.send({ action: "typing", conversation: state.selected, on: true });
}

function stopTyping() {
  if (state.typingOn && state.selected) socket.send({ action: "typing", conversation: state.selected, on: false });
  state.typingOn = false;
  state.typingSentAt = 0;
}

// Canned responses: "/" at the start of the composer opens the picker.
async function updateCanned() {
  const value = $("composer-text").value;
  const match = /^\/(\S*)$/.exec(value);
  if (!match) return closeCanned();
  try {
    const result = await api("canned-responses", { query: { q: match[1] } });
    if ($("composer-text").value !== value) return;
    state.canned = (result.results || result || []).filter((c) => !match[1] || `${c.shortcut} ${c.title}`.toLowerCase().includes(match[1].toLowerCase()));
  } catch {
    state.canned = [];
  }
  state.cannedIndex = 0;
  renderCanned();
}

function renderCanned() {
  const picker = clear($("canned-picker"));
  if (!state.canned.length) {
    picker.append(el("li", { class: "empty" }, "No canned response matches."));
  }
  state.canned.forEach((canned, index) => {
    picker.append(
      el("li", { role: "option", "aria-selected": String(index === state.cannedIndex), onmousedown: (e) => { e.preventDefault(); insertCanned(index); } },
        el("strong", {}, `/${canned.shortcut}`), " ", el("span", {}, canned.title), el("div", { class: "canned-text" }, canned.text)),
    );
  });
  picker.hidden = false;
}

function closeCanned() {
  $("canned-picker").hidden = true;
  state.canned = [];
}

function insertCanned(index) {
  const canned = state.canned[index];
  if (!canned) return;
  const text = $("composer-text");
  text.value = canned.text;
  closeCanned();
  text.focus();
  text.setSelectionRange(text.value.length, text.value.length);
}

// ---------------------------------------------------------------- canned responses dialog

async function openCannedDialog() {
  const dialog = $("canned-dialog");
  await refreshCannedList();
  resetCannedForm();
  dialog.showModal();
}

async function refreshCannedList() {
  const list = clear($("canned-list"));
  try {
    const result = await api("canned-responses");
    for (const canned of result.results || result || []) {
      list.append(
        el("li", {},
          el("strong", {}, `/${canned.shortcut}`), " ", el("span", {}, canned.title), " ",
          el("button", { type: "button", onclick: () => editCanned(canned) }, "Edit"), " ",
          el("button", { type: "button", onclick: () => deleteCanned(canned) }, "Delete")),
      );
    }
    if (!list.children.length) list.append(el("li", { class: "empty" }, "None yet."));
  } catch (error) {
    list.append(el("li", { class: "error" }, `Could not load: ${error.message}`));
  }
}

function resetCannedForm() {
  $("canned-id").value = "";
  $("canned-shortcut").value = "";
  $("canned-title-input").value = "";
  $("canned-text").value = "";
  $("canned-error").textContent = "";
}

function editCanned(canned) {
  $("canned-id").value = String(canned.id);
  $("canned-shortcut").value = canned.shortcut;
  $("canned-title-input").value = canned.title;
  $("canned-text").value = canned.text;
}

async function deleteCanned(canned) {
  try {
    await api(`canned-responses/${canned.id}`, { method: "DELETE" });
  } catch (error) {
    $("canned-error").textContent = error.message;
  }
  refreshCannedList();
}

async function saveCanned(event) {
  event.preventDefault();
  const id = $("canned-id").value;
  const body = { shortcut: $("canned-shortcut").value.trim(), title: $("canned-title-input").value.trim(), text: $("canned-text").value };
  try {
    await api(id ? `canned-responses/${id}` : "canned-responses", { method: id ? "PATCH" : "POST", body });
    resetCannedForm();
    refreshCannedList();
  } catch (error) {
    $("canned-error").textContent = error.message;
  }
}

// ---------------------------------------------------------------- agents, presence

async function loadAgents() {
  try {
    const result = await api("agents");
    state.agents = new Map((result.results || []).map((a) => [a.id, a]));
    const me = state.agents.get(state.me.id);
    if (me) state.me.presence = me.presence;
  } catch {
    /* keep what we had */
  }
  renderOwnPresence();
  renderColleagues();
  renderList();
  if (state.selected) renderHead();
}

function renderOwnPresence() {
  const status = state.me.presence || "online";
  $("presence").value = status;
  $("presence-dot").dataset.status = status;
}

function renderColleagues() {
  const list = clear($("colleagues"));
  let online = 0;
  for (const agent of state.agents.values()) {
    if (agent.id === state.me.id) continue;
    const status = agent.presence || "offline";
    if (status === "online") online++;
    list.append(el("li", { dataset: { agent: String(agent.id), status } }, el("span", { class: "presence-dot", dataset: { status }, "aria-hidden": "true" }), ` ${agent.name || agent.username} `, el("span", { class: "presence-word" }, status)));
  }
  $("colleagues-count").textContent = `(${online} online)`;
}

async function setPresence(status) {
  state.me.presence = status;
  renderOwnPresence();
  if (!socket.send({ action: "presence", status })) {
    try {
      await api("agents/me/presence", { method: "PUT", body: { status } });
    } catch (error) {
      toast(`Could not set presence: ${error.message}`);
    }
  }
}

// ---------------------------------------------------------------- keyboard

function isTyping(target) {
  return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function moveSelection(step) {
  if (!state.order.length) return;
  let index = state.order.indexOf(state.selected);
  index = index === -1 ? (step > 0 ? 0 : state.order.length - 1) : Math.min(Math.max(index + step, 0), state.order.length - 1);
  selectConv(state.order[index]);
}

function toggleHelp(show) {
  const help = $("help");
  const visible = show ?? help.hidden;
  help.hidden = !visible;
  if (visible) $("help-close").focus();
}

function onKey(event) {
  if (event.key === "Escape") {
    if (!$("help").hidden) return toggleHelp(false);
    if (!$("canned-picker").hidden) return closeCanned();
    // Leave a field (the composer, a select…) so that the single-key shortcuts work again.
    if (isTyping(document.activeElement) && !$("canned-dialog").open) return document.activeElement.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (isTyping(event.target)) return;
  if ($("canned-dialog").open) return;
  switch (event.key) {
    case "j":
    case "ArrowDown":
      event.preventDefault();
      moveSelection(1);
      break;
    case "k":
    case "ArrowUp":
      event.preventDefault();
      moveSelection(-1);
      break;
    case "r":
      if (state.selected) {
        event.preventDefault();
        $("composer-text").focus();
      }
      break;
    case "e":
      if (state.selected) {
        event.preventDefault();
        patchConv({ status: "resolved" });
      }
      break;
    case "?":
      event.preventDefault();
      toggleHelp();
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------- contact panel

const contactPanel = setupContactPanel({
  api,
  toast,
  openConversation: (id) => selectConv(id),
  onContactChanged: (contact) => {
    if (state.contact && contact.id === state.contact.id) {
      state.contact = { ...state.contact, ...contact };
      renderComposerChannels();
      renderTimeline();
    }
    for (const conv of state.convs.values()) {
      if (conv.contact && conv.contact.id === contact.id) conv.contact = { ...conv.contact, ...contact };
    }
    renderList();
    if (state.selected) renderHead();
  },
  onMerged: () => {
    if (state.selected) {
      fetchConv(state.selected).then(() => openTimeline(state.selected)).catch(() => {});
    }
    loadList();
  },
});

async function reloadContact() {
  if (state.contact) contactPanel.show(state.contact.id);
}

// ---------------------------------------------------------------- boot

function wire() {
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
  $("presence").addEventListener("change", () => setPresence($("presence").value));
  $("help-btn").addEventListener("click", () => toggleHelp());
  $("help-close").addEventListener("click", () => toggleHelp(false));
  $("help").addEventListener("click", (e) => { if (e.target === $("help")) toggleHelp(false); });
  $("canned-btn").addEventListener("click", openCannedDialog);
  $("canned-form").addEventListener("submit", saveCanned);
  $("canned-new").addEventListener("click", resetCannedForm);
  $("canned-close").addEventListener("click", () => $("canned-dialog").close());
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
  $("assign-me").addEventListener("click", () => patchConv({ assignee: state.me.id }));
  $("c-team").addEventListener("change", () => patchConv({ team: $("c-team").value ? Number($("c-team").value) : null }));
  $("snooze-btn").addEventListener("click", () => {
    const value = $("snooze-at").value;
    if (!value) return toast("Pick a time to snooze until.");
    const at = new Date(value);
    if (!(at > new Date())) return toast("Pick a time in the future.");
    patchConv({ status: "snoozed", snoozed_until: at.toISOString() });
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

  const text = $("composer-text");
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    submitComposer();
  });
  text.addEventListener("keydown", (event) => {
    const picker = !$("canned-picker").hidden && state.canned.length;
    if (picker && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      state.cannedIndex = (state.cannedIndex + (event.key === "ArrowDown" ? 1 : -1) + state.canned.length) % state.canned.length;
      renderCanned();
      return;
    }
    if (picker && (event.key === "Enter" || event.key === "Tab")) {
      event.preventDefault();
      insertCanned(state.cannedIndex);
      return;
    }
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitComposer();
    }
  });
  text.addEventListener("input", () => {
    if (text.value.startsWith("/")) updateCanned();
    else if (!$("canned-picker").hidden) closeCanned();
    if (text.value && !$("note-toggle").checked) sendTyping();
  });
  text.addEventListener("blur", () => stopTyping());
  $("attach-btn").addEventListener("click", () => $("attach-input").click());
  $("attach-input").addEventListener("change", () => {
    state.files.push(...$("attach-input").files);
    $("attach-input").value = "";
    renderFiles();
  });
  $("note-toggle").addEventListener("change", () => {
    const note = $("note-toggle").checked;
    $("composer").classList.toggle("note-mode", note);
    text.placeholder = note ? "Private note — only agents see it (@name to mention)" : "Write a reply…";
    $("send-btn").textContent = note ? "Add note" : "Send";
    $("reply-channel").disabled = note;
  });

  document.addEventListener("keydown", onKey);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.selected) markRead(state.selected);
  });

  const notifyBtn = $("notify-btn");
  notifyBtn.hidden = notify.notificationsPermission() !== "default";
  notifyBtn.addEventListener("click", async () => {
    await notify.requestNotifications();
    notifyBtn.hidden = notify.notificationsPermission() !== "default";
  });
  notify.unlockAudioOnGesture();
  setInterval(renderList, 30000); // waiting times
}

async function loadMe() {
  try {
    const me = await api("me");
    Object.assign(state.me, me);
  } catch {
    // Older servers: build it from the inboxes and teams lists.
    const [inboxes, teams] = await Promise.all([api("inboxes").catch(() => ({ results: [] })), api("teams").catch(() => ({ results: [] }))]);
    state.me.inboxes = inboxes.results || [];
    state.me.teams = (teams.results || []).filter((t) => !t.members || t.members.includes(state.me.id));
  }
  state.inboxes = new Map((state.me.inboxes || []).map((i) => [i.id, i]));
  // The channel a customer wrote on (identity kinds), as the list API filters them.
  const channels = ["phone", "whatsapp", "email", "widget", "telegram", "xmpp"];
  const select = $("f-channel");
  for (const channel of channels) select.append(el("option", { value: channel }, channelName(channel)));
  select.value = channels.includes(state.filters.channel) ? state.filters.channel : "";
  state.filters.channel = select.value;
}

async function loadTeamsAndLabels() {
  try {
    state.teams = (await api("teams")).results || [];
  } catch {
    state.teams = state.me.teams || [];
  }
  try {
    const labels = await api("labels");
    state.labels = labels.results || labels || [];
  } catch {
    state.labels = [];
  }
  const options = clear($("label-options"));
  for (const label of state.labels) options.append(el("option", { value: typeof label === "string" ? label : label.name }));
}

async function boot() {
  wire();
  socket.start();
  renderViews();
  // The list does not wait for the rest: it is what the agent looks at first.
  const list = loadList();
  await loadMe();
  const known = ["mine", "unassigned", "all", ...(state.me.teams || []).map((t) => `team:${t.id}`)];
  renderViews();
  if (!known.includes(state.view)) setView("all");
  await Promise.all([loadAgents(), loadTeamsAndLabels(), list]);
  refreshUnread();
  const last = Number(localStorage.getItem("sd.selected"));
  if (last && state.order.includes(last)) selectConv(last);
}

// For tests and debugging: the socket (e.g. to drop it) and the state, read-only use.
window.supportdeskConsole = { socket, state };
boot();
