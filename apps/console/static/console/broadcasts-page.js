// Admin → Status broadcasts: compose, preview counts per channel, send, live progress, report.

import { api } from "./api.js";
import { ConsoleSocket } from "./socket.js";
import { $, el, when, stateBadge, toast, showError } from "./admin-common.js";

const CHANNELS = {
  phone: "SMS",
  whatsapp: "WhatsApp",
  whatsapp_template: "WhatsApp (template, outside the window)",
  email: "Email",
  widget: "Web chat",
  telegram: "Telegram",
  xmpp: "XMPP",
  mastodon: "Mastodon",
  none: "No channel",
};
const STATE_WORDS = { draft: "Draft", sending: "Sending", finished: "Finished", cancelled: "Stopped" };
const OUTCOMES = [
  ["pending", "Waiting"],
  ["queued", "Queued"],
  ["sent", "Sent"],
  ["delivered", "Delivered"],
  ["failed", "Failed"],
  ["skipped", "Skipped"],
];

const page = { list: [], current: null, detail: null, contacts: new Map(), templates: [], poll: null, refreshing: false };

const channelName = (key) => CHANNELS[key] || key;

async function loadList() {
  page.list = (await api("broadcasts")).results;
  $("bc-empty").hidden = page.list.length > 0;
  $("bc-list").replaceChildren(
    ...page.list.map((b) =>
      el(
        "li",
        {},
        el(
          "button",
          { type: "button", "aria-current": page.current === b.id ? "true" : "false", onclick: () => open(b.id) },
          el("span", { text: b.title }),
          el("span", { class: "sub" }, stateBadge(b.state, STATE_WORDS[b.state]), " ", when(b.started_at || b.created_at)),
        ),
      ),
    ),
  );
}

// --- compose ----------------------------------------------------------------------------------

async function loadChoices() {
  const [labels, templates] = await Promise.all([api("labels"), api("whatsapp/templates").catch(() => ({ results: [] }))]);
  $("bc-label").replaceChildren(...labels.results.map((l) => el("option", { value: l.id, text: l.name })));
  page.templates = templates.results.filter((t) => t.approved);
  $("bc-template").replaceChildren(
    el("option", { value: "", text: "None: skip those customers" }),
    ...page.templates.map((t) => el("option", { value: t.sid, text: `${t.name} — ${t.body.slice(0, 60)}` })),
  );
}

function audienceKind() {
  return document.querySelector("input[name=bc-kind]:checked").value;
}

function showKind() {
  const kind = audienceKind();
  for (const box of document.querySelectorAll("[data-kind]")) box.hidden = box.dataset.kind !== kind;
}

function renderTemplateVars() {
  const template = page.templates.find((t) => t.sid === $("bc-template").value);
  const box = $("bc-template-vars");
  box.replaceChildren();
  if (!template) return;
  for (const v of template.variables) {
    box.append(el("label", {}, `{{${v.name}}}`, el("input", { "data-var": v.name, value: v.sample || "", required: true })));
  }
}

let searchTimer = null;
function searchContacts() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(async () => {
    const q = $("bc-contact-q").value.trim();
    if (q.length < 2) {
      $("bc-contact-results").replaceChildren();
      return;
    }
    const rows = (await api("contacts", { query: { q } })).results.slice(0, 8);
    $("bc-contact-results").replaceChildren(
      ...rows.map((c) =>
        el(
          "li",
          {},
          el("button", { type: "button", onclick: () => addContact(c) }, el("span", { text: c.name || `Contact ${c.id}` }), el("span", { class: "sub", text: "Add" })),
        ),
      ),
    );
  }, 200);
}

function addContact(contact) {
  page.contacts.set(contact.id, contact.name || `Contact ${contact.id}`);
  renderChips();
}

function renderChips() {
  $("bc-contact-chips").replaceChildren(
    ...[...page.contacts].map(([id, name]) =>
      el("li", {}, name, el("button", { type: "button", "aria-label": `Remove ${name}`, onclick: () => (page.contacts.delete(id), renderChips()) }, "×")),
    ),
  );
}

function showCompose(from = null) {
  stopLive();
  page.current = null;
  $("bc-detail").hidden = true;
  $("bc-compose").hidden = false;
  $("bc-form").reset();
  page.contacts.clear();
  renderChips();
  if (from) {
    $("bc-title").value = from.title;
    $("bc-body").value = from.body;
    $("bc-url").value = from.status_url;
  }
  showKind();
  renderTemplateVars();
  showError($("bc-form-error"), null);
  $("bc-title").focus();
  loadList();
}

function audience() {
  const kind = audienceKind();
  if (kind === "label") return { kind, label: Number($("bc-label").value) };
  if (kind === "search") return { kind, q: $("bc-q").value };
  return { kind, contacts: [...page.contacts.keys()] };
}

function template() {
  const sid = $("bc-template").value;
  if (!sid) return null;
  const variables = {};
  for (const input of $("bc-template-vars").querySelectorAll("input[data-var]")) variables[input.dataset.var] = input.value;
  return { sid, variables };
}

async function submitDraft(event) {
  event.preventDefault();
  try {
    const draft = await api("broadcasts", {
      method: "POST",
      body: {
        title: $("bc-title").value,
        body: $("bc-body").value,
        status_url: $("bc-url").value,
        audience: audience(),
        whatsapp_template: template(),
      },
    });
    $("bc-compose").hidden = true;
    await open(draft.id);
  } catch (error) {
    showError($("bc-form-error"), error);
  }
}

// --- one broadcast ----------------------------------------------------------------------------

async function open(id) {
  stopLive();
  page.current = id;
  $("bc-compose").hidden = true;
  const detail = await api(`broadcasts/${id}`);
  page.detail = detail;
  $("bc-detail").hidden = false;
  $("bc-detail-title").textContent = detail.title;
  $("bc-text").textContent = detail.text;
  renderState(detail.state);
  await loadList();
  if (detail.state === "draft") {
    $("bc-progress").hidden = true;
    await showPreview(id);
  } else {
    $("bc-preview").hidden = true;
    $("bc-progress").hidden = false;
    renderReport(detail.report);
    await loadRecipients();
    startLive(detail);
  }
}

function renderState(state) {
  const pill = $("bc-state");
  pill.textContent = STATE_WORDS[state] || state;
  pill.dataset.status = state;
}

async function showPreview(id) {
  const preview = await api(`broadcasts/${id}/preview`);
  $("bc-preview").hidden = false;
  $("bc-preview-summary").textContent = `${preview.will_send} of ${preview.audience} customer${preview.audience === 1 ? "" : "s"} will get this notice.`;
  $("bc-preview-channels").querySelector("tbody").replaceChildren(
    ...Object.entries(preview.channels).map(([key, n]) => el("tr", { dataset: { channel: key } }, el("td", { text: channelName(key) }), el("td", { text: n }))),
  );
  const skipped = Object.entries(preview.skipped);
  $("bc-preview-skipped").replaceChildren(
    ...(skipped.length
      ? [el("h3", { text: "Skipped" }), el("ul", {}, ...skipped.map(([code, s]) => el("li", { dataset: { reason: code } }, `${s.count} — ${s.why}`)))]
      : []),
  );
  $("bc-sample").querySelector("tbody").replaceChildren(
    ...preview.sample.map((r) =>
      el(
        "tr",
        {},
        el("td", { text: r.name || `Contact ${r.contact}` }),
        el("td", { text: r.address }),
        el("td", { text: r.skipped ? `skipped: ${(preview.skipped[r.skipped] || {}).why || r.skipped}` : channelName(r.channel) }),
      ),
    ),
  );
  const send = $("bc-send");
  send.textContent = `Send to ${preview.will_send} customer${preview.will_send === 1 ? "" : "s"}`;
  send.disabled = preview.will_send === 0;
}

async function send() {
  const n = $("bc-send").textContent.replace("Send to ", "");
  if (!confirm(`Send this notice to ${n} now? It cannot be taken back.`)) return;
  $("bc-send").disabled = true;
  try {
    await api(`broadcasts/${page.current}/send`, { method: "POST" });
    toast("Sending…");
    await open(page.current);
  } catch (error) {
    toast(error.message);
    $("bc-send").disabled = false;
  }
}

function renderCounts(counts) {
  const done = counts.recipients - counts.pending;
  $("bc-bar").max = Math.max(counts.recipients, 1);
  $("bc-bar").value = done;
  $("bc-progress-text").textContent = `${done} of ${counts.recipients} handled · ${counts.sent} sent · ${counts.delivered} delivered · ${counts.failed} failed · ${counts.skipped} skipped`;
  $("bc-counts").replaceChildren(
    ...OUTCOMES.map(([key, label]) => el("div", { dataset: { count: key } }, el("dt", { text: label }), el("dd", { text: counts[key] || 0 }))),
  );
}

function renderReport(report) {
  renderState(report.state);
  renderCounts(report.counts);
  $("bc-cancel-send").hidden = report.state !== "sending";
  $("bc-channels").querySelector("tbody").replaceChildren(
    ...Object.entries(report.channels).map(([key, c]) =>
      el("tr", { dataset: { channel: key } }, el("td", { text: channelName(key) }), ...OUTCOMES.map(([k]) => el("td", { text: c[k] || 0 }))),
    ),
  );
  const parts = [];
  const skipped = Object.entries(report.skipped);
  if (skipped.length) parts.push(el("h3", { text: "Skipped, and why" }), el("ul", {}, ...skipped.map(([code, s]) => el("li", { dataset: { reason: code } }, `${s.count} — ${s.why}`))));
  const failed = Object.entries(report.failed);
  if (failed.length) parts.push(el("h3", { text: "Failed" }), el("ul", {}, ...failed.map(([code, n]) => el("li", {}, `${n} — ${code}`))));
  $("bc-reasons").replaceChildren(...parts);
}

async function loadRecipients() {
  const data = await api(`broadcasts/${page.current}/recipients`, { query: { state: $("bc-rstate").value } });
  $("bc-recipients").querySelector("tbody").replaceChildren(
    ...data.results.map((r) => {
      const outcome = r.state === "sent" ? r.message_status || "queued" : r.state;
      return el(
        "tr",
        {},
        el("td", {}, r.name || `Contact ${r.contact}`, el("div", { class: "small muted", text: r.address })),
        el("td", { text: channelName(r.template ? `${r.channel}_template` : r.channel || "none") }),
        el("td", {}, stateBadge(["read"].includes(outcome) ? "delivered" : outcome === "undelivered" ? "failed" : outcome, outcome)),
        el("td", { text: r.detail || r.error || "" }),
        el("td", {}, r.conversation ? el("a", { href: `/console/#c${r.conversation}`, text: "Conversation" }) : ""),
      );
    }),
  );
}

async function refresh() {
  if (!page.current || page.refreshing) return;
  page.refreshing = true;
  try {
    const detail = await api(`broadcasts/${page.current}`);
    page.detail = detail;
    renderReport(detail.report);
    await loadRecipients();
    if (detail.state !== "sending" && detail.finished_at && Date.now() - new Date(detail.finished_at) > 15 * 60 * 1000) stopLive();
  } finally {
    page.refreshing = false;
  }
}

// Live: the sender's consoles get `broadcast.progress` events; delivery statuses come later,
// so the report is also read again every few seconds for a while after the last send.
const socket = new ConsoleSocket({
  onEvent: (event) => {
    if (event.type === "broadcast.progress" && event.data && event.data.id === page.current) {
      renderState(event.data.state);
      renderCounts(event.data.counts);
      refresh();
      if (event.data.state !== "sending") loadList();
    }
  },
  onState: (name) => {
    const node = $("conn");
    node.dataset.state = name;
    node.textContent = name === "live" ? "Live" : name === "offline" ? "Reconnecting…" : "";
  },
});

function startLive() {
  clearInterval(page.poll);
  page.poll = setInterval(refresh, 4000);
}

function stopLive() {
  clearInterval(page.poll);
  page.poll = null;
}

function wire() {
  $("bc-new").addEventListener("click", () => showCompose());
  $("bc-cancel").addEventListener("click", () => ($("bc-compose").hidden = true));
  $("bc-form").addEventListener("submit", submitDraft);
  for (const radio of document.querySelectorAll("input[name=bc-kind]")) radio.addEventListener("change", showKind);
  $("bc-template").addEventListener("change", renderTemplateVars);
  $("bc-contact-q").addEventListener("input", searchContacts);
  $("bc-send").addEventListener("click", send);
  $("bc-edit").addEventListener("click", () => showCompose(page.detail));
  $("bc-rstate").addEventListener("change", loadRecipients);
  $("bc-cancel-send").addEventListener("click", async () => {
    if (!confirm("Stop sending? Customers not reached yet will not get it.")) return;
    await api(`broadcasts/${page.current}/cancel`, { method: "POST" });
    await open(page.current);
  });
}

wire();
socket.start();
await loadChoices();
await loadList();
if (page.list.length) await open(page.list[0].id);
else showCompose();
document.body.dataset.ready = "1";
