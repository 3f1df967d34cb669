// The composer: replies and notes (socket first, REST when it is down), files, typing, the "/" picker.

import * as hooks from "./hooks.js";
import { api, ApiError } from "./api.js";
import { avatar, clear, clientId, el, linkify } from "./dom.js";
import { channelName, groupTimeline } from "./timeline.js";
import { $, TYPING_EVERY, ACK_TIMEOUT, state } from "./state.js";
import { socket, handleFrame } from "./events.js";
import { scrollTimelineToEnd } from "./pane.js";

export function renderComposerChannels() {
  const select = clear($("reply-channel"));
  select.append(el("option", { value: "" }, "Last channel the customer used"));
  for (const identity of (state.contact && state.contact.identities) || []) {
    const text = `${channelName(identity.kind)}: ${identity.display || identity.address}${identity.verified ? "" : " (unverified)"}${identity.opted_out ? " — opted out" : ""}`;
    select.append(el("option", { value: String(identity.id), disabled: !!identity.opted_out, dataset: { optedOut: String(!!identity.opted_out) } }, text));
  }
}

export function renderPending(cid, pending) {
  const failed = pending.state === "failed";
  return el(
    "li",
    { class: `msg out ${pending.kind === "note" ? "note" : ""} pending${failed ? " failed" : ""}`, dataset: { clientId: cid, author: `out:${pending.kind}:${state.me.id}` } },
    avatar(state.me.name || "me", `agent:${state.me.id}`, "", "agent"),
    el("div", { class: "meta" }, el("span", { class: "who" }, pending.kind === "note" ? "Private note · you" : "You"), el("span", { class: "time" }, "sending now")),
    el("div", { class: "bubble" },
      el("p", { class: "body" }, linkify(pending.body)),
      (pending.files || []).map((file) => el("div", { class: "attachment pending-file" }, `📎 ${file.name}`))),
    el("div", { class: "delivery" },
      failed
        ? [el("span", { class: "tick", dataset: { status: "not-sent" } }, `⚠ Not sent: ${pending.error || "no answer from the server"}`), " ",
           el("button", { type: "button", class: "retry", onclick: () => sendPending(cid) }, "Retry")]
        : el("span", { class: "tick", dataset: { status: "pending" } }, "◷ Sending…")),
  );
}

export function removePendingNode(cid) {
  $("timeline").querySelector(`li.pending[data-client-id="${CSS.escape(cid)}"]`)?.remove();
}

export function refreshPendingNode(cid) {
  const pending = state.pending.get(cid);
  const node = $("timeline").querySelector(`li.pending[data-client-id="${CSS.escape(cid)}"]`);
  if (!pending) return node?.remove();
  const fresh = renderPending(cid, pending);
  if (node) node.replaceWith(fresh);
  else if (state.contactConvs.has(pending.conversation)) $("timeline").append(fresh);
  groupTimeline($("timeline"));
  scrollTimelineToEnd();
}

export function failPending(cid, error) {
  const pending = state.pending.get(cid);
  if (!pending) return;
  clearTimeout(pending.timer);
  pending.state = "failed";
  pending.error = error;
  refreshPendingNode(cid);
}

export async function sendPending(cid) {
  const pending = state.pending.get(cid);
  if (!pending) return;
  pending.state = "sending";
  pending.error = "";
  refreshPendingNode(cid);
  clearTimeout(pending.timer);
  if (pending.files && pending.files.length) return sendWithFiles(cid, pending);
  const frame = { action: "send", conversation: pending.conversation, body: pending.body, client_id: cid, kind: pending.kind, ...pending.options };
  if (pending.identity) frame.identity = pending.identity;
  if (socket.send(frame)) {
    pending.timer = setTimeout(() => failPending(cid, "no confirmation from the server"), ACK_TIMEOUT);
    return;
  }
  // No socket right now: the REST API takes the same client id, so a retry is never sent twice.
  try {
    const body = { body: pending.body, client_id: cid, kind: pending.kind, ...pending.options };
    if (pending.identity) body.identity = pending.identity;
    const message = await api(`conversations/${pending.conversation}/messages`, { method: "POST", body });
    handleFrame({ type: "ack", client_id: cid, message });
  } catch (error) {
    if (error instanceof ApiError) hooks.sendRefused(error.code);
    failPending(cid, error instanceof ApiError ? error.message : "the network is down");
  }
}

// Files cannot ride the socket: the REST API takes them (multipart), with the same client id so
// that a retry never sends twice.
export async function sendWithFiles(cid, pending) {
  const form = new FormData();
  form.append("body", pending.body);
  form.append("client_id", cid);
  form.append("kind", pending.kind);
  if (pending.identity) form.append("identity", String(pending.identity));
  for (const [key, value] of Object.entries(pending.options || {})) form.append(key, String(value));
  for (const file of pending.files) form.append("files", file, file.name);
  try {
    const message = await api(`conversations/${pending.conversation}/messages`, { method: "POST", form });
    handleFrame({ type: "ack", client_id: cid, message });
  } catch (error) {
    if (error instanceof ApiError) hooks.sendRefused(error.code);
    failPending(cid, error instanceof ApiError ? error.message : "the network is down");
  }
}

export function renderFiles() {
  const list = clear($("attach-list"));
  state.files.forEach((file, index) => {
    list.append(
      el("li", { class: "attach-chip" }, `📎 ${file.name} (${Math.max(1, Math.round(file.size / 1024))} KB)`,
        el("button", { type: "button", "aria-label": `Remove ${file.name}`, onclick: () => { state.files.splice(index, 1); renderFiles(); } }, "×")),
    );
  });
  list.hidden = !state.files.length;
}

export function retryPendingOnReconnect() {
  for (const [cid, pending] of state.pending) if (pending.state === "sending") sendPending(cid);
}

export function submitComposer() {
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
    options: note ? {} : hooks.replyOptions(), // a channel's choices (Mastodon: public or private)
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

export function sendTyping() {
  if (!state.selected) return;
  const now = Date.now();
  if (now - state.typingSentAt < TYPING_EVERY) return;
  state.typingSentAt = now;
  state.typingOn = true;
  socket.send({ action: "typing", conversation: state.selected, on: true });
}

export function stopTyping() {
  if (state.typingOn && state.selected) socket.send({ action: "typing", conversation: state.selected, on: false });
  state.typingOn = false;
  state.typingSentAt = 0;
}

// Canned responses: "/" at the start of the composer opens the picker.
export async function updateCanned() {
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

export function renderCanned() {
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

export function closeCanned() {
  $("canned-picker").hidden = true;
  state.canned = [];
}

export function insertCanned(index) {
  const canned = state.canned[index];
  if (!canned) return;
  const text = $("composer-text");
  text.value = canned.text;
  closeCanned();
  text.focus();
  text.setSelectionRange(text.value.length, text.value.length);
}

export function wireComposer() {
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
}
