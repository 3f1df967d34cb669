// One message (or note, or activity entry) of a contact's timeline, rendered as text.

import { el, linkify, timeShort } from "./dom.js";
import { automaticSender, emailBadges, emailMeta, emailSubject, emailTools, emailWarning } from "./email.js";
import { attachmentNode } from "./media.js";
import { templateBadge } from "./whatsapp.js";

const TICKS = {
  received: "",
  queued: "◷ Queued",
  sending: "◷ Sending",
  sent: "✓ Sent",
  delivered: "✓✓ Delivered",
  read: "✓✓ Read",
  undelivered: "⚠ Undelivered",
  failed: "⚠ Failed",
};

const CHANNEL_NAMES = {
  phone: "SMS",
  sms: "SMS",
  whatsapp: "WhatsApp",
  email: "Email",
  widget: "Chat",
  telegram: "Telegram",
  xmpp: "XMPP",
};

export function channelName(channel) {
  return CHANNEL_NAMES[channel] || channel || "";
}

/** Timeline order: by time, then id (the server's order). */
export function messageOrder(a, b) {
  const ta = Date.parse(a.created_at) || 0;
  const tb = Date.parse(b.created_at) || 0;
  return ta - tb || a.id - b.id;
}

export function deliveryText(message) {
  const base = TICKS[message.status] ?? message.status;
  if (message.status === "failed" || message.status === "undelivered") {
    const reason = message.error_message || (message.error_code ? `provider error ${message.error_code}` : "");
    return reason ? `${base}: ${reason}` : base;
  }
  return base;
}

export function renderMessage(message, context) {
  const conversationMark = message.conversation !== context.selected ? el("span", { class: "conv-mark", title: "Another conversation of this contact" }, `#${message.conversation}`) : null;
  if (message.kind === "activity") {
    return el(
      "li",
      { class: "activity", dataset: { messageId: String(message.id), conversation: String(message.conversation), kind: "activity" } },
      el("span", { class: "activity-text" }, message.body),
      " · ",
      el("time", { datetime: message.created_at, title: new Date(message.created_at).toLocaleString() }, timeShort(message.created_at)),
      conversationMark ? [" ", conversationMark] : null,
    );
  }
  const inbound = message.direction === "in";
  const note = message.kind === "note";
  const identity = context.identities.find((i) => i.id === message.identity);
  const who = inbound ? context.contactName || "Customer" : context.agentName(message.sender) || automaticSender(message) || "Agent";
  const channel = channelName(message.channel);
  const meta = el(
    "div",
    { class: "meta" },
    el("span", { class: "who" }, note ? `Private note · ${who}` : who),
    note ? null : [" ", el("span", { class: "channel-badge", title: identity ? identity.display || identity.address : "" }, channel || "—")],
    " ",
    el("span", { class: "direction", "aria-label": inbound ? "received" : note ? "note" : "sent" }, inbound ? "↓ in" : note ? "" : "↑ out"),
    " ",
    el("time", { datetime: message.created_at, title: new Date(message.created_at).toLocaleString() }, timeShort(message.created_at)),
    conversationMark ? [" ", conversationMark] : null,
    emailBadges(message),
    templateBadge(message),
  );
  const attachments = (message.attachments || []).map(attachmentNode);
  const delivery = !inbound && !note
    ? el("div", { class: "delivery" }, el("span", { class: "tick", dataset: { status: message.status }, title: message.status }, deliveryText(message)))
    : null;
  return el(
    "li",
    {
      class: `msg ${inbound ? "in" : "out"}${note ? " note" : ""}${message.status === "failed" || message.status === "undelivered" ? " failed" : ""}${emailMeta(message) ? " email" : ""}`,
      dataset: { messageId: String(message.id), conversation: String(message.conversation), kind: message.kind, clientId: message.client_id || "" },
    },
    meta,
    emailSubject(message),
    emailWarning(message),
    el("p", { class: "body" }, linkify(message.body)),
    attachments,
    emailTools(message),
    delivery,
  );
}
