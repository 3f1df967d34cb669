// The console's state (one object, shared by the modules) and the small helpers every module uses.

import { api } from "./api.js";

export const $ = (id) => document.getElementById(id);
export const PAGE = 50;
export const TYPING_EVERY = 2000;
export const TYPING_SHOWN_FOR = 6000;
export const ACK_TIMEOUT = 15000;

export const state = {
  me: { id: Number(document.body.dataset.agent), username: document.body.dataset.username, name: document.body.dataset.name, inboxes: [], teams: [] },
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
  pending: new Map(), // client_id -> {body, kind, identity, conversation, state, error, files}
  files: [], // files chosen in the composer, sent with the next reply or note
  contactConvs: new Set(), // conversation ids of the open contact
  timelinePrevious: null, // `before` of the timeline's earlier page (null: none)
  typing: new Map(), // who -> timeout
  typingSentAt: 0,
  typingOn: false,
  canned: [],
  cannedIndex: 0,
  unreadTotal: null, // from the server: unread customer messages in my and unassigned open conversations
  noiseTotal: null, // from the server: conversations in the Noise view (triage), not resolved
  unreadTimer: null,
};


export function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 5000);
}

export function agentName(id) {
  if (id === null || id === undefined) return "";
  if (id === state.me.id) return state.me.name || "me";
  const agent = state.agents.get(id);
  return agent ? agent.name || agent.username : `Agent ${id}`;
}

export function teamName(id) {
  const team = state.teams.find((t) => t.id === id);
  return team ? team.name : "";
}

export function contactLabel(contact) {
  if (!contact) return "Unknown";
  if (contact.name) return contact.name;
  const identity = (contact.identities || [])[0];
  return identity ? identity.display || identity.address : `Contact ${contact.id}`;
}

export function normalize(item) {
  const conv = { ...item };
  conv.labels = conv.labels || [];
  conv.unread = conv.unread || 0;
  conv.last_message = conv.last_message || null;
  if (typeof conv.contact === "number") conv.contact = { id: conv.contact, name: "", identities: [] };
  return conv;
}

export function mergeConv(id, fields) {
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

export async function fetchConv(id) {
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

export function inboxChannel(inboxId) {
  const inbox = state.inboxes.get(inboxId);
  return inbox ? inbox.channel : "";
}
