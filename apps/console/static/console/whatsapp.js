// WhatsApp in the console: the 24-hour customer-service window in the conversation header
// (open, closes in …, closed), and the approved templates in the composer — offered when the
// window has closed (a free-form reply is then refused by the server), and on demand.

import { api, ApiError } from "./api.js";
import { clear, clientId, el } from "./dom.js";

const $ = (id) => document.getElementById(id);

/** A timeline message sent as a template says so. */
export function templateBadge(message) {
  const template = message.meta && message.meta.template;
  if (!template) return null;
  return [" ", el("span", { class: "template-badge", title: `WhatsApp template ${template.sid}` }, `Template: ${template.name || template.sid}`)];
}

export function closesInWords(seconds) {
  if (seconds <= 0) return "closed";
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.max(1, Math.floor((seconds % 3600) / 60));
  return hours ? `closes in ${hours} h ${minutes} min` : `closes in ${minutes} min`;
}

function renderText(body, values) {
  return body.replace(/\{\{\s*(\w+)\s*\}\}/g, (whole, name) => (values[name] ? values[name] : whole));
}

/**
 * getConversation() -> the selected conversation id; getIdentity() -> the "Reply on" identity
 * id (or null: the last channel); onSent(clientId, message) when a template was queued.
 */
export function setupWhatsApp({ getConversation, getIdentity, onSent }) {
  const state = { window: null, closesAt: null, templates: null, open: false, token: 0, conversation: null };

  function secondsLeft() {
    return state.closesAt ? Math.floor((state.closesAt - Date.now()) / 1000) : 0;
  }

  function windowOpen() {
    return !!state.window && state.window.state === "open" && secondsLeft() > 0;
  }

  function renderPill() {
    const pill = $("wa-window");
    if (!state.window) {
      pill.hidden = true;
      return;
    }
    const left = secondsLeft();
    const open = windowOpen();
    pill.hidden = false;
    pill.dataset.state = open ? (left < 3600 ? "closing" : "open") : "closed";
    pill.className = `wa-window wa-${pill.dataset.state}`;
    pill.textContent = open ? `WhatsApp window open · ${closesInWords(left)}` : "WhatsApp window closed";
    pill.title = state.window.last_inbound_at
      ? `The customer last wrote ${new Date(state.window.last_inbound_at).toLocaleString()}; free-form replies are possible for 24 hours after that.`
      : "The customer has not written to this WhatsApp number: only a template can start the conversation.";
    $("wa-templates-btn").hidden = false;
    renderPanel();
  }

  function hideAll() {
    state.window = null;
    state.closesAt = null;
    $("wa-window").hidden = true;
    $("wa-templates-btn").hidden = true;
    $("wa-panel").hidden = true;
  }

  async function refresh() {
    const conversation = getConversation();
    const token = ++state.token;
    if (conversation !== state.conversation) {
      state.conversation = conversation;
      state.open = false; // another conversation: the panel opens again only if needed
    }
    if (!conversation) return hideAll();
    try {
      const result = await api(`conversations/${conversation}/whatsapp-window`, { query: { identity: getIdentity() } });
      if (token !== state.token) return;
      if (!result || !result.window) return hideAll();
      state.window = result.window;
      state.closesAt = result.window.closes_at ? Date.parse(result.window.closes_at) : null;
      if (!windowOpen()) state.open = true; // closed: the templates are the way to write
      renderPill();
      if (state.open) await loadTemplates();
    } catch {
      if (token === state.token) hideAll();
    }
  }

  async function loadTemplates({ sync = false } = {}) {
    try {
      const result = sync ? await api("whatsapp/templates/sync", { method: "POST" }) : await api("whatsapp/templates");
      state.templates = result.results || [];
      $("wa-error").textContent = "";
    } catch (error) {
      $("wa-error").textContent = `Could not ${sync ? "sync" : "load"} the templates: ${error.message}`;
      if (!state.templates) state.templates = [];
    }
    renderPanel();
  }

  function offered() {
    // Outside the window only templates WhatsApp approved go out.
    return (state.templates || []).filter((t) => t.approved || windowOpen());
  }

  function chosen() {
    return (state.templates || []).find((t) => t.sid === $("wa-template").value) || null;
  }

  function values() {
    const out = {};
    for (const input of $("wa-vars").querySelectorAll("input[data-name]")) out[input.dataset.name] = input.value;
    return out;
  }

  function renderPreview() {
    const template = chosen();
    $("wa-preview").textContent = template ? renderText(template.body, values()) : "";
    $("wa-send").disabled = !template;
  }

  function renderPanel() {
    const panel = $("wa-panel");
    panel.hidden = !(state.window && state.open);
    if (panel.hidden) return;
    $("wa-notice").textContent = windowOpen()
      ? "The 24-hour window is open: write freely, or send a template."
      : "WhatsApp's 24-hour window is closed: a free-form reply would be refused. Send an approved template.";
    const select = $("wa-template");
    const previous = select.value;
    clear(select);
    const list = offered();
    if (!list.length) select.append(el("option", { value: "" }, state.templates ? "No approved template (sync them?)" : "Loading…"));
    for (const t of list) {
      select.append(el("option", { value: t.sid }, `${t.name}${t.language ? ` (${t.language})` : ""}${t.approved ? "" : ` — ${t.approval || "not approved"}`}`));
    }
    if (list.some((t) => t.sid === previous)) select.value = previous;
    renderVariables();
  }

  function renderVariables() {
    const box = clear($("wa-vars"));
    const template = chosen();
    for (const variable of (template && template.variables) || []) {
      const id = `wa-var-${variable.name}`;
      box.append(
        el("label", { for: id }, `{{${variable.name}}}`),
        el("input", { id, dataset: { name: variable.name }, placeholder: variable.sample || "", autocomplete: "off", oninput: renderPreview }),
      );
    }
    renderPreview();
  }

  async function sendTemplate() {
    const template = chosen();
    const conversation = getConversation();
    if (!template || !conversation) return;
    const cid = clientId();
    const body = { template: template.sid, variables: values(), client_id: cid };
    const identity = getIdentity();
    if (identity) body.identity = identity;
    $("wa-send").disabled = true;
    $("wa-error").textContent = "";
    try {
      const message = await api(`conversations/${conversation}/messages`, { method: "POST", body });
      for (const input of $("wa-vars").querySelectorAll("input")) input.value = "";
      onSent(cid, message);
    } catch (error) {
      $("wa-error").textContent = `Not sent: ${error instanceof ApiError ? error.message : "the network is down"}`;
    }
    renderPreview();
  }

  $("wa-templates-btn").addEventListener("click", async () => {
    state.open = !state.open || !windowOpen();
    renderPanel();
    if (state.open && !state.templates) await loadTemplates();
  });
  $("wa-template").addEventListener("change", renderVariables);
  $("wa-sync").addEventListener("click", () => loadTemplates({ sync: true }));
  $("wa-send").addEventListener("click", sendTemplate);
  setInterval(() => {
    if (state.window) renderPill();
  }, 30000);

  return {
    refresh,
    /** A message of the selected contact arrived: the customer's own reopens the window. */
    onMessage(message) {
      if (state.window && message.direction === "in" && message.channel === "whatsapp") refresh();
    },
    /** A free-form reply the server refused for the window: show the templates. */
    onRefused(code) {
      if (code === "reply_window_closed") {
        state.open = true;
        refresh();
      }
    },
  };
}
