// Triage in the console (docs/triage.md): each customer message's verdict (actionable, or noise
// with its category) and reason; the conversation's verdict in the header with a one-click
// toggle; the Noise view's count. The click is also a label the triage model learns from.

import { api } from "./api.js";
import { el } from "./dom.js";
import { $, state, toast, mergeConv } from "./state.js";
import { placeConv, refreshUnread } from "./list.js";

const CATEGORY = {
  praise: "praise",
  chatter: "chatter",
  spam: "spam",
  automated: "automated",
  off_topic: "off-topic",
  other: "not actionable",
  actionable: "actionable",
};

/** A customer message's verdict, for its timeline header; the reason is its tooltip. */
export function triageChip(message) {
  const triage = message.meta && message.meta.triage;
  if (!triage || message.direction !== "in" || message.kind !== "message") return null;
  const noise = triage.verdict === "noise";
  const text = noise ? `Noise · ${CATEGORY[triage.category] || triage.category}` : "Actionable";
  return [
    " ",
    el("span", { class: `triage-chip ${noise ? "t-noise" : "t-actionable"}`, title: triage.reason || "", dataset: { verdict: triage.verdict } }, text),
  ];
}

/** The open conversation's verdict, its reason, and what the toggle would make it. */
export function renderTriage(conv) {
  const verdict = $("triage-verdict");
  const button = $("triage-btn");
  if (!verdict || !button) return;
  $("triage-bar").dataset.verdict = conv.noise ? "noise" : "actionable";
  verdict.dataset.verdict = conv.noise ? "noise" : "actionable";
  verdict.textContent = conv.noise ? "Not actionable" : "Actionable";
  verdict.title = conv.triage_reason || "";
  $("triage-reason").textContent = conv.triage_reason || "";
  $("triage-reason").title = conv.triage_reason || "";
  button.textContent = conv.noise ? "Mark actionable" : "Mark not actionable";
  button.setAttribute("aria-keyshortcuts", "n");
  button.title = conv.noise
    ? "Put it in the queues (and teach triage that messages like this need an answer)"
    : "Take it out of the queues into Noise (and teach triage that messages like this need none)";
}

export function wireTriage() {
  const button = $("triage-btn");
  button.addEventListener("click", async () => {
    const id = state.selected;
    const conv = state.convs.get(id);
    if (!conv) return;
    button.disabled = true;
    try {
      const result = await api(`conversations/${id}/triage`, { method: "POST", body: { actionable: !!conv.noise } });
      const updated = result.conversation ? mergeConv(id, result.conversation) : null;
      if (updated) {
        placeConv(updated);
        if (state.selected === id) renderTriage(updated);
      }
      refreshUnread();
      toast(conv.noise ? "Marked actionable: back in the queues" : "Marked not actionable: moved to Noise");
    } catch (error) {
      toast(`Could not change the triage verdict: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  });
}
