// The agent console: conversation list, conversation timeline and composer, contact panel.
// State comes from the REST API and is kept current by the console socket's events.
// All text from customers and agents is rendered with text nodes (dom.js), never as HTML.
// Modules by concern: state, list, pane, composer, canned, contact-sync, presence, keys, events.

import { api } from "./api.js";
import { clear, el } from "./dom.js";
import { channelName } from "./timeline.js";
import * as notify from "./notify.js";
import { $, state, toast } from "./state.js";
import { socket } from "./events.js";
import { loadList, renderViews, setView, refreshUnread, wireList } from "./list.js";
import { selectConv, wirePane } from "./pane.js";
import { wireComposer } from "./composer.js";
import { wireCanned } from "./canned.js";
import { loadAgents, wirePresence } from "./presence.js";
import { wireKeys } from "./keys.js";
import { addPanel, conversationChosen } from "./hooks.js";
import { handleFrame } from "./events.js";
import { setupWhatsApp } from "./whatsapp.js";
import { setupMastodon, setupSocialLinks } from "./mastodon.js";
import { wireTriage } from "./triage.js";
import { wireMacros } from "./macros.js";
import { renderDue } from "./sla.js";
import { fillSearchAgents, wireSearch } from "./search.js";

function wire() {
  wireList();
  wirePane();
  wireComposer();
  wireCanned();
  wirePresence();
  wireKeys();
  wireTriage();
  wireMacros();
  // The header's SLA badge moves with the clock between events.
  setInterval(() => state.selected && renderDue($("conv-due"), state.convs.get(state.selected)), 15000);
  wireSearch();

  // WhatsApp's 24-hour window in the header and its templates in the composer (whatsapp.js).
  addPanel(
    setupWhatsApp({
      getConversation: () => state.selected,
      getIdentity: () => Number($("reply-channel").value) || null,
      onSent: (cid, message) => handleFrame({ type: "ack", client_id: cid, message }),
    }),
  );
  // Mastodon: the public/private choice in the composer, linked social accounts in the contact
  // panel (mastodon.js).
  addPanel(
    setupMastodon({
      getConversation: () => state.selected,
      getIdentity: () => Number($("reply-channel").value) || null,
    }),
  );
  addPanel(
    setupSocialLinks({
      getContact: () => {
        const conv = state.convs.get(state.selected);
        return conv && conv.contact ? conv.contact.id : null;
      },
      enabled: () => [...state.inboxes.values()].some((inbox) => inbox.channel === "mastodon"),
      toast,
    }),
  );
  $("reply-channel").addEventListener("change", () => conversationChosen());

  const notifyBtn = $("notify-btn");
  notifyBtn.hidden = notify.notificationsPermission() !== "default";
  notifyBtn.addEventListener("click", async () => {
    await notify.requestNotifications();
    notifyBtn.hidden = notify.notificationsPermission() !== "default";
  });
  notify.unlockAudioOnGesture();
}

const INBOX_CHANNELS = { sms: ["phone", "whatsapp"] };
const CHANNEL_ORDER = ["phone", "whatsapp", "email", "widget", "telegram", "xmpp", "mastodon"];

function deskChannels(inboxes) {
  const found = new Set();
  for (const inbox of inboxes) for (const channel of INBOX_CHANNELS[inbox.channel] || [inbox.channel]) found.add(channel);
  return [...found].sort((a, b) => (CHANNEL_ORDER.indexOf(a) + 1 || 99) - (CHANNEL_ORDER.indexOf(b) + 1 || 99));
}

async function loadMe() {
  try {
    const me = await api("me");
    Object.assign(state.me, me);
    $("settings-link").hidden = !(me.permissions && me.permissions.manage);
  } catch {
    // Older servers: build it from the inboxes and teams lists.
    const [inboxes, teams] = await Promise.all([api("inboxes").catch(() => ({ results: [] })), api("teams").catch(() => ({ results: [] }))]);
    state.me.inboxes = inboxes.results || [];
    state.me.teams = (teams.results || []).filter((t) => !t.members || t.members.includes(state.me.id));
  }
  state.inboxes = new Map((state.me.inboxes || []).map((i) => [i.id, i]));
  // The channels this desk has (its inboxes'), as the list API filters them (identity kinds;
  // a Twilio inbox carries SMS and WhatsApp).
  const channels = deskChannels(state.me.inboxes || []);
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
  const known = ["mine", "unassigned", "all", "noise", ...(state.me.teams || []).map((t) => `team:${t.id}`)];
  renderViews();
  if (!known.includes(state.view)) setView("all");
  await Promise.all([loadAgents(), loadTeamsAndLabels(), list]);
  fillSearchAgents();
  refreshUnread();
  const last = Number(localStorage.getItem("sd.selected"));
  const linked = Number((location.hash.match(/^#c(\d+)$/) || [])[1]); // /console/#c17 (admin pages link so)
  if (linked) selectConv(linked);
  else if (last && state.order.includes(last)) selectConv(last);
}

// For tests and debugging: the socket (e.g. to drop it) and the state, read-only use.
window.supportdeskConsole = { socket, state };
boot();
