// Admin → Webhooks: subscriptions, their secret, the delivery log with each attempt, replay.

import { api } from "./api.js";
import { $, el, when, stateBadge, toast, showError } from "./admin-common.js";

const page = { types: [], webhooks: [], current: null, secret: "", secretShown: false, oldest: null, timer: null };

async function loadTypes() {
  page.types = (await api("webhooks/event-types")).results;
  const box = $("wh-types");
  box.replaceChildren(
    ...page.types.map((t) =>
      el("label", { class: "check", title: t.description }, el("input", { type: "checkbox", value: t.name }), t.name),
    ),
  );
}

async function loadList() {
  page.webhooks = (await api("webhooks")).results;
  $("wh-empty").hidden = page.webhooks.length > 0;
  $("wh-list").replaceChildren(
    ...page.webhooks.map((w) =>
      el(
        "li",
        {},
        el(
          "button",
          { type: "button", "aria-current": page.current === w.id ? "true" : "false", onclick: () => open(w.id) },
          el("span", { text: w.url }),
          el("span", { class: "sub", text: `${w.active ? "Active" : "Paused"} · ${w.event_types.length ? w.event_types.join(", ") : "all events"}` }),
        ),
      ),
    ),
  );
}

function showForm() {
  page.current = null;
  $("wh-detail").hidden = true;
  $("wh-form-card").hidden = false;
  $("wh-form").reset();
  showError($("wh-form-error"), null);
  $("wh-url").focus();
  loadList();
}

async function create(event) {
  event.preventDefault();
  const types = [...$("wh-types").querySelectorAll("input:checked")].map((i) => i.value);
  try {
    const created = await api("webhooks", {
      method: "POST",
      body: {
        url: $("wh-url").value,
        description: $("wh-description").value,
        event_types: types,
        allow_private: $("wh-private").checked,
      },
    });
    $("wh-form-card").hidden = true;
    toast("Webhook saved. Copy its signing secret to your receiver.");
    await open(created.id, true);
  } catch (error) {
    showError($("wh-form-error"), error);
  }
}

async function open(id, revealSecret = false) {
  page.current = id;
  $("wh-form-card").hidden = true;
  const webhook = await api(`webhooks/${id}`);
  page.secret = webhook.secret;
  page.secretShown = revealSecret;
  $("wh-detail").hidden = false;
  $("wh-detail-title").textContent = webhook.url;
  $("wh-active").checked = webhook.active;
  $("wh-detail-events").textContent =
    (webhook.description ? webhook.description + " · " : "") +
    (webhook.event_types.length ? webhook.event_types.join(", ") : "All events") +
    (webhook.allow_private ? " · private address allowed" : "");
  renderSecret();
  await loadList();
  await loadLog(true);
  clearInterval(page.timer);
  page.timer = setInterval(() => loadLog(true, true), 5000);
}

function renderSecret() {
  $("wh-secret").textContent = page.secretShown ? page.secret : page.secret.slice(0, 10) + "••••••••";
  $("wh-secret-show").textContent = page.secretShown ? "Hide" : "Show";
}

async function loadLog(fresh, quiet = false) {
  if (!page.current) return;
  const query = { state: $("wh-state").value };
  if (!fresh && page.oldest) query.before = page.oldest;
  let data;
  try {
    data = await api(`webhooks/${page.current}/deliveries`, { query });
  } catch (error) {
    if (!quiet) toast(error.message);
    return;
  }
  const body = $("wh-log").querySelector("tbody");
  const open = new Set([...body.querySelectorAll("tr.attempts")].map((r) => r.dataset.delivery));
  if (fresh) body.replaceChildren();
  for (const d of data.results) {
    body.append(logRow(d));
    if (open.has(String(d.id))) toggleAttempts(d.id, body.querySelector(`tr[data-id="${d.id}"]`));
  }
  page.oldest = data.results.length ? data.results[data.results.length - 1].id : page.oldest;
  $("wh-more").hidden = !data.next;
  $("wh-log-empty").hidden = body.children.length > 0;
}

function logRow(d) {
  const answer = d.last_status ? `HTTP ${d.last_status}` : d.last_error ? "no answer" : "";
  const row = el(
    "tr",
    { dataset: { id: d.id } },
    el("td", { text: when(d.created_at) }),
    el("td", {}, el("code", { text: d.event_type })),
    el("td", {}, stateBadge(d.state), d.state === "pending" && d.next_attempt_at ? el("div", { class: "small muted", text: `next try ${when(d.next_attempt_at)}` }) : null),
    el("td", { text: d.attempts }),
    el("td", { title: d.last_error }, answer, d.last_error ? el("div", { class: "small muted", text: d.last_error }) : null),
    el("td", { text: d.last_latency_ms !== null ? `${d.last_latency_ms} ms` : "" }),
    el(
      "td",
      { class: "row" },
      el("button", { type: "button", onclick: (e) => toggleAttempts(d.id, e.target.closest("tr")) }, "Attempts"),
      el("button", { type: "button", "data-replay": d.id, onclick: () => replay(d.id), disabled: d.replay_requested }, d.replay_requested ? "Replay queued" : "Replay"),
    ),
  );
  return row;
}

async function toggleAttempts(id, row) {
  const next = row.nextElementSibling;
  if (next && next.classList.contains("attempts")) {
    next.remove();
    return;
  }
  const detail = await api(`webhook-deliveries/${id}`);
  const list = el(
    "table",
    { class: "data" },
    el("thead", {}, el("tr", {}, ...["#", "Sent", "Answer", "Latency", "Outcome", "Error / answer"].map((h) => el("th", { text: h })))),
    el(
      "tbody",
      {},
      ...detail.attempt_log.map((a) =>
        el(
          "tr",
          {},
          el("td", { text: a.number + (a.replay ? " (replay)" : "") }),
          el("td", { text: when(a.started_at) }),
          el("td", { text: a.status ? `HTTP ${a.status}` : "—" }),
          el("td", { text: a.latency_ms !== null ? `${a.latency_ms} ms` : "" }),
          el("td", {}, stateBadge(a.outcome === "retry" ? "pending" : a.outcome, a.outcome)),
          el("td", { text: a.error || a.response }),
        ),
      ),
    ),
  );
  let pretty = detail.body;
  try {
    pretty = JSON.stringify(JSON.parse(detail.body), null, 2);
  } catch {
    /* shown as sent */
  }
  const payload = el("details", {}, el("summary", { text: "Payload" }), el("pre", { class: "payload", text: pretty }));
  row.after(
    el(
      "tr",
      { class: "attempts", dataset: { delivery: id } },
      el("td", { colspan: 7 }, el("div", { class: "small muted", text: `Id ${detail.webhook_id}` }), list, payload),
    ),
  );
}

async function replay(id) {
  try {
    await api(`webhook-deliveries/${id}/replay`, { method: "POST" });
    toast("Replay queued: it is sent within seconds.");
    await loadLog(true);
  } catch (error) {
    toast(error.message);
  }
}

async function patch(changes) {
  const updated = await api(`webhooks/${page.current}`, { method: "PATCH", body: changes });
  if (updated.secret) {
    page.secret = updated.secret;
    page.secretShown = true;
    renderSecret();
  }
  await loadList();
  return updated;
}

function wire() {
  $("wh-new").addEventListener("click", showForm);
  $("wh-cancel").addEventListener("click", () => ($("wh-form-card").hidden = true));
  $("wh-form").addEventListener("submit", create);
  $("wh-state").addEventListener("change", () => loadLog(true));
  $("wh-more").addEventListener("click", () => loadLog(false));
  $("wh-secret-show").addEventListener("click", () => {
    page.secretShown = !page.secretShown;
    renderSecret();
  });
  $("wh-active").addEventListener("change", async (e) => {
    await patch({ active: e.target.checked });
    toast(e.target.checked ? "Webhook resumed: events from now on are sent." : "Webhook paused.");
  });
  $("wh-ping").addEventListener("click", async () => {
    await api(`webhooks/${page.current}/ping`, { method: "POST" });
    toast("Test event queued: watch the log.");
    setTimeout(() => loadLog(true, true), 1500);
  });
  $("wh-rotate").addEventListener("click", async () => {
    if (!confirm("Rotate the secret? Deliveries are signed with the new one at once.")) return;
    await patch({ rotate_secret: true });
    toast("New secret: update your receiver.");
  });
  $("wh-delete").addEventListener("click", async () => {
    if (!confirm("Delete this webhook and its delivery log?")) return;
    await api(`webhooks/${page.current}`, { method: "DELETE" });
    page.current = null;
    clearInterval(page.timer);
    $("wh-detail").hidden = true;
    await loadList();
  });
}

wire();
await loadTypes();
await loadList();
if (page.webhooks.length) await open(page.webhooks[0].id);
document.body.dataset.ready = "1";
