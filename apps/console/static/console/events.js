// The console socket: live events and frames, handed to the module that owns what they change.

import * as hooks from "./hooks.js";
import { ConsoleSocket } from "./socket.js";
import * as notify from "./notify.js";
import { $, state, toast, mergeConv, fetchConv } from "./state.js";
import { placeConv, loadList, refreshUnread, onConversationRead } from "./list.js";
import { selectConv, renderHead, openTimeline, addMessage, markRead, onTyping } from "./pane.js";
import { removePendingNode, failPending, retryPendingOnReconnect } from "./composer.js";
import { loadAgents, onPresence } from "./presence.js";
import { onContactUpdated } from "./contact-sync.js";

export const socket = new ConsoleSocket({
  onEvent: (event) => handleEvent(event),
  onFrame: (frame) => handleFrame(frame),
  onState: (name, info) => showConnection(name, info),
  onResync: () => resync(),
  onHello: (hello) => {
    if (hello.agent) state.me.id = hello.agent;
    retryPendingOnReconnect();
  },
});

export function showConnection(name, info) {
  const node = $("conn");
  node.dataset.state = name;
  if (name === "live") node.textContent = "Live";
  else if (name === "connecting") node.textContent = "Connecting…";
  else if (name === "reconnecting") node.textContent = "Reconnecting…";
  else if (name === "offline") node.textContent = `Disconnected — retrying in ${Math.max(1, Math.round(info.delay / 1000))} s`;
}

export function handleEvent(event) {
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
      if (state.contactConvs.has(data.conversation)) hooks.messageArrived(data);
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
    case "sla.updated":
      onSlaUpdated(data);
      break;
    default:
      break;
  }
}

export async function onConversationEvent(event) {
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

export async function onMessageCreated(message) {
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
      if (!conv.waiting_since && !conv.noise) fields.waiting_since = message.created_at;
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

export function onSlaUpdated(data) {
  const conv = mergeConv(data.conversation, { sla: data.sla || null });
  if (!conv) return;
  placeConv(conv);
  if (data.conversation === state.selected) renderHead();
}

export function onMessageUpdated(message) {
  if (state.messages.has(message.id)) addMessage(message);
}

export function onNotification(data) {
  const by = data.by ? data.by.name : "";
  const title =
    data.kind === "assigned"
      ? by ? `${by} assigned you a conversation` : "A conversation was assigned to you"
      : data.kind === "sla_breach"
        ? "A conversation missed its SLA"
        : `${by || "Someone"} mentioned you`;
  notify.chime();
  notify.showNotification(title, data.excerpt || "", () => data.conversation && selectConv(data.conversation));
  toast(`${title}${data.excerpt ? ": " + data.excerpt : ""}`);
}

export function handleFrame(frame) {
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
    hooks.sendRefused(frame.code);
    if (frame.client_id && state.pending.has(frame.client_id)) {
      failPending(frame.client_id, frame.message || frame.code);
    } else {
      toast(frame.message || frame.code);
    }
  }
}

export async function resync() {
  // Events were lost (pruned or too many): refetch what is shown.
  await Promise.all([loadAgents(), loadList()]);
  if (state.selected) await openTimeline(state.selected, { keepScroll: true });
}
