// Agents and presence: my own status and the colleagues list.

import { api } from "./api.js";
import { clear, el } from "./dom.js";
import { $, state, toast } from "./state.js";
import { socket } from "./events.js";
import { renderList } from "./list.js";
import { renderHead } from "./pane.js";

export async function loadAgents() {
  try {
    const result = await api("agents");
    state.agents = new Map((result.results || []).map((a) => [a.id, a]));
    const me = state.agents.get(state.me.id);
    if (me) state.me.presence = me.presence;
  } catch {
    /* keep what we had */
  }
  renderOwnPresence();
  renderColleagues();
  renderList();
  if (state.selected) renderHead();
}

export function renderOwnPresence() {
  const status = state.me.presence || "online";
  $("presence").value = status;
  $("presence-dot").dataset.status = status;
}

export function renderColleagues() {
  const list = clear($("colleagues"));
  let online = 0;
  for (const agent of state.agents.values()) {
    if (agent.id === state.me.id) continue;
    const status = agent.presence || "offline";
    if (status === "online") online++;
    list.append(el("li", { dataset: { agent: String(agent.id), status } }, el("span", { class: "presence-dot", dataset: { status }, "aria-hidden": "true" }), ` ${agent.name || agent.username} `, el("span", { class: "presence-word" }, status)));
  }
  $("colleagues-count").textContent = `(${online} online)`;
}

export async function setPresence(status) {
  state.me.presence = status;
  renderOwnPresence();
  if (!socket.send({ action: "presence", status })) {
    try {
      await api("agents/me/presence", { method: "PUT", body: { status } });
    } catch (error) {
      toast(`Could not set presence: ${error.message}`);
    }
  }
}

export function onPresence(data) {
  const agent = state.agents.get(data.agent);
  if (agent) agent.presence = data.status;
  if (data.agent === state.me.id) {
    state.me.presence = data.status;
    renderOwnPresence();
  }
  renderColleagues();
}


export function wirePresence() {
  $("presence").addEventListener("change", () => setPresence($("presence").value));
}
