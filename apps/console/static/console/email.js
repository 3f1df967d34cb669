// Email in the timeline: the subject, "automatic" badges, warnings about suspicious mail, the
// formatted mail and the raw original.
//
// The mail's HTML was sanitized on the server (nh3). It is still shown only inside a sandboxed
// frame (no scripts, no same-origin access) whose Content-Security-Policy loads nothing from the
// network: inline images are fetched here with the agent's session and handed over as data:
// URLs; remote images (kept aside by the server as data-remote-src) load only when the agent
// asks for them.

import { api } from "./api.js";
import { el } from "./dom.js";

const ATTACHMENT_URL = /^\/api\/v1\/attachments\/\d+$/;
const INLINE_IMAGE_MAX = 5 * 1024 * 1024;
const details = new Map(); // message id -> the API's email details (fetched on demand)
// What the agent opened under a message ({mode: "formatted" | "full", remote}), so that the view
// survives the timeline being redrawn (a status update, the contact panel loading).
const openViews = new Map();

export function emailMeta(message) {
  return (message && message.meta && message.meta.email) || null;
}

/** Who an outbound message is from, when no agent wrote it. */
export function automaticSender(message) {
  const meta = emailMeta(message);
  return meta && meta.auto_ack ? "Automatic acknowledgement" : null;
}

export function emailBadges(message) {
  const meta = emailMeta(message);
  if (!meta) return [];
  const badges = [];
  if (meta.auto) badges.push(el("span", { class: "mail-badge auto", title: "Sent by a program (out of office, list, notification): it never reopens a conversation" }, "Automatic reply"));
  if (meta.auto_ack) badges.push(el("span", { class: "mail-badge auto" }, "Automatic"));
  if (meta.suspicious) badges.push(el("span", { class: "mail-badge suspicious" }, "Suspicious"));
  return badges.flatMap((badge) => [" ", badge]);
}

export function emailSubject(message) {
  const meta = emailMeta(message);
  if (!meta || !meta.subject) return null;
  return el("div", { class: "mail-subject" }, el("span", { class: "visually-hidden" }, "Subject: "), meta.subject);
}

export function emailWarning(message) {
  const meta = emailMeta(message);
  if (!meta || !meta.suspicious) return null;
  return el("div", { class: "mail-warning", role: "note" }, "⚠ ", meta.suspicious);
}

/** The warning to show above a conversation that a suspicious mail opened, or null. */
export function conversationWarning(messages, conversationId) {
  for (const message of messages) {
    const meta = emailMeta(message);
    if (message.conversation === conversationId && meta && meta.suspicious && meta.thread === "new") return meta.suspicious;
  }
  return null;
}

async function loadDetails(messageId) {
  if (!details.has(messageId)) details.set(messageId, await api(`messages/${messageId}/email`));
  return details.get(messageId);
}

async function dataUrl(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) return null;
  const blob = await response.blob();
  if (!blob.type.startsWith("image/") || blob.size > INLINE_IMAGE_MAX) return null;
  return await new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => resolve(null);
    reader.readAsDataURL(blob);
  });
}

/** The frame's document: the sanitized mail, images prepared, a CSP that loads nothing remote. */
export async function frameDocument(html, { remote }) {
  // An inert document: nothing in it loads or runs while it is prepared.
  const doc = new DOMParser().parseFromString(html || "", "text/html");
  let remoteCount = 0;
  for (const img of doc.querySelectorAll("img[src]")) {
    const src = img.getAttribute("src");
    if (ATTACHMENT_URL.test(src)) {
      const url = await dataUrl(src).catch(() => null);
      if (url) img.setAttribute("src", url);
      else img.removeAttribute("src");
    } else if (!src.startsWith("data:image/")) {
      img.removeAttribute("src");
    }
  }
  for (const node of doc.querySelectorAll("[data-remote-src]")) {
    const url = node.getAttribute("data-remote-src");
    if (!/^https?:\/\//i.test(url)) continue;
    remoteCount += 1;
    if (remote) node.setAttribute("src", url);
  }
  const policy = `default-src 'none'; img-src data:${remote ? " https: http:" : ""}; style-src 'unsafe-inline'; font-src data:`;
  const head = doc.head;
  head.prepend(
    el("meta", { "http-equiv": "Content-Security-Policy", content: policy }),
    el("meta", { name: "referrer", content: "no-referrer" }),
    el("base", { target: "_blank" }),
  );
  return { srcdoc: "<!doctype html>" + doc.documentElement.outerHTML, remoteCount };
}

async function showFormatted(message, holder, button, { remote = false } = {}) {
  openViews.set(message.id, { mode: "formatted", remote });
  button.disabled = true;
  try {
    const data = await loadDetails(message.id);
    const { srcdoc, remoteCount } = await frameDocument(data.html, { remote });
    const frame = el("iframe", {
      class: "mail-frame",
      title: "The mail as formatted by its sender",
      sandbox: "allow-popups allow-popups-to-escape-sandbox",
      referrerpolicy: "no-referrer",
    });
    frame.srcdoc = srcdoc;
    const controls = el("div", { class: "mail-frame-tools" });
    if (remoteCount && !remote) {
      controls.append(
        el("span", {}, `${remoteCount} remote image${remoteCount > 1 ? "s" : ""} not loaded (they can tell the sender you read this). `),
        el("button", { type: "button", class: "linklike load-remote", onclick: () => showFormatted(message, holder, button, { remote: true }) }, "Load remote images"),
      );
    }
    holder.replaceChildren(controls, frame);
    holder.hidden = false;
    button.textContent = "Hide formatted";
  } catch (error) {
    holder.replaceChildren(el("p", { class: "error" }, `Could not load the mail: ${error.message}`));
    holder.hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function showFullText(message, holder, button) {
  openViews.set(message.id, { mode: "full" });
  button.disabled = true;
  try {
    const data = await loadDetails(message.id);
    holder.replaceChildren(el("pre", { class: "mail-full" }, data.text || ""));
    holder.hidden = false;
    button.textContent = "Hide full text";
  } catch (error) {
    holder.replaceChildren(el("p", { class: "error" }, `Could not load the mail: ${error.message}`));
    holder.hidden = false;
  } finally {
    button.disabled = false;
  }
}

/** Buttons under an email message: formatted view, full text (quotes and signature), original. */
export function emailTools(message) {
  const meta = emailMeta(message);
  const inbound = message.direction === "in";
  const bounced = message.error_code === "bounced";
  if (!meta && !bounced) return null;
  if (!inbound && !bounced) return null;
  const holder = el("div", { class: "mail-view", hidden: true });
  const tools = el("div", { class: "mail-tools" });
  const reopen = openViews.get(message.id);
  const hide = (button, label) => {
    openViews.delete(message.id);
    holder.hidden = true;
    holder.replaceChildren();
    button.textContent = label;
  };
  if (inbound && meta.html) {
    const button = el("button", { type: "button", class: "linklike show-formatted" }, "Show formatted");
    button.addEventListener("click", () => {
      if (button.textContent === "Hide formatted") hide(button, "Show formatted");
      else showFormatted(message, holder, button);
    });
    tools.append(button, " · ");
    if (reopen && reopen.mode === "formatted") showFormatted(message, holder, button, { remote: reopen.remote });
  }
  if (inbound) {
    const button = el("button", { type: "button", class: "linklike show-full" }, "Show full text");
    button.addEventListener("click", () => {
      if (button.textContent === "Hide full text") hide(button, "Show full text");
      else showFullText(message, holder, button);
    });
    tools.append(button, " · ");
    if (reopen && reopen.mode === "full") showFullText(message, holder, button);
  }
  tools.append(
    el("a", { class: "show-original", href: `/api/v1/messages/${message.id}/original`, target: "_blank", rel: "noopener noreferrer" }, bounced ? "Show the bounce" : "Show original"),
  );
  return [tools, holder];
}
