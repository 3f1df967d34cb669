// One message (or note, or activity entry) of a contact's timeline, rendered as text.

import { avatar, clockTime, dayLabel, el, linkify, timeShort } from "./dom.js";
import { automaticSender, emailBadges, emailMeta, emailSubject, emailTools, emailWarning } from "./email.js";
import { attachmentNode } from "./media.js";
import { templateBadge } from "./whatsapp.js";
import { mastodonBadges } from "./mastodon.js";
import { triageChip } from "./triage.js";

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
  mastodon: "Mastodon",
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

/**
 * What a message's rendering depends on: the message and the parts of the context it reads.
 * The timeline keeps a message's node while this stays the same, so a redraw (a status update
 * of another message, the contact panel loading) never swaps the node under the agent's pointer
 * (a click whose press and release land on two different nodes is lost) nor reloads an open mail.
 */
export function messageKey(message, context) {
  const identity = context.identities.find((i) => i.id === message.identity);
  const knownCustomer = context.identities.some((i) => i.verified && i.kind !== "mastodon");
  return JSON.stringify([
    message,
    message.conversation === context.selected,
    context.contactName,
    context.contactId,
    identity ? [identity.display, identity.address] : null,
    knownCustomer,
    message.direction === "in" ? "" : context.agentName(message.sender),
  ]);
}

export function renderMessage(message, context) {
  const conversationMark = message.conversation !== context.selected ? el("span", { class: "conv-mark", title: "Another conversation of this contact" }, `#${message.conversation}`) : null;
  if (message.kind === "activity") {
    return el(
      "li",
      { class: "activity", dataset: { messageId: String(message.id), conversation: String(message.conversation), kind: "activity", at: message.created_at } },
      el("span", { class: "activity-text" }, message.body),
      " · ",
      el("time", { datetime: message.created_at, title: new Date(message.created_at).toLocaleString() }, timeShort(message.created_at)),
      conversationMark ? [" ", conversationMark] : null,
    );
  }
  const inbound = message.direction === "in";
  const note = message.kind === "note";
  const identity = context.identities.find((i) => i.id === message.identity);
  const agent = inbound ? "" : context.agentName(message.sender);
  const who = inbound ? context.contactName || "Customer" : agent || automaticSender(message) || "Agent";
  const channel = channelName(message.channel);
  const verb = inbound ? "received" : note ? "noted" : "sent";
  const meta = el(
    "div",
    { class: "meta" },
    el("span", { class: "who" }, note ? `Private note · ${who}` : who),
    note ? null : el("span", { class: "channel-badge", dataset: { channel: message.channel || "" }, title: identity ? identity.display || identity.address : "" }, channel || "—"),
    el("time", { class: "direction", datetime: message.created_at, title: new Date(message.created_at).toLocaleString() }, `${verb} ${clockTime(message.created_at)}`),
    conversationMark,
    emailBadges(message),
    templateBadge(message),
    mastodonBadges(message, context),
    triageChip(message),
  );
  const attachments = (message.attachments || []).map(attachmentNode);
  const delivery = !inbound && !note
    ? el("div", { class: "delivery" }, el("span", { class: "tick", dataset: { status: message.status }, title: message.status }, deliveryText(message)))
    : null;
  return el(
    "li",
    {
      class: `msg ${inbound ? "in" : "out"}${note ? " note" : ""}${message.status === "failed" || message.status === "undelivered" ? " failed" : ""}${emailMeta(message) ? " email" : ""}`,
      dataset: {
        messageId: String(message.id),
        conversation: String(message.conversation),
        kind: message.kind,
        clientId: message.client_id || "",
        // Consecutive messages of one author (same side, same kind) are grouped (groupTimeline).
        // Mails are never grouped: each has its own subject, badges and tools.
        author: emailMeta(message) ? "" : `${inbound ? "in" : "out"}:${message.kind}:${inbound ? "" : message.sender || automaticSender(message) || ""}`,
        at: message.created_at,
      },
    },
    inbound ? avatar(who, `contact:${context.contactId}`) : avatar(who, `agent:${message.sender || who}`, "", "agent"),
    meta,
    el("div", { class: "bubble" },
      emailSubject(message),
      emailWarning(message),
      el("p", { class: "body" }, linkify(message.body)),
      attachments),
    emailTools(message),
    delivery,
  );
}

const GROUP_GAP = 5 * 60 * 1000; // messages of one author closer than this share one header

/**
 * Day separators between days, and consecutive messages of one author grouped (one name and
 * avatar for the run). Run over the whole list after any change: messages arrive in any order.
 */
export function groupTimeline(list) {
  for (const sep of list.querySelectorAll("li.day-sep")) sep.remove();
  let previous = null;
  let day = "";
  for (const node of [...list.querySelectorAll("li[data-at], li.pending")]) {
    const at = node.dataset.at || null;
    if (at) {
      const thisDay = new Date(at).toDateString();
      if (thisDay !== day) {
        node.before(el("li", { class: "day-sep", role: "separator" }, dayLabel(at)));
        day = thisDay;
        previous = null;
      }
    }
    const grouped =
      previous !== null && node.classList.contains("msg") && previous.classList.contains("msg") &&
      node.dataset.author && node.dataset.author === previous.dataset.author &&
      (!at || !previous.dataset.at || Date.parse(at) - Date.parse(previous.dataset.at) < GROUP_GAP);
    node.classList.toggle("grouped", Boolean(grouped));
    previous = node;
  }
}
