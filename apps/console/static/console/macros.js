// Macros in the conversation pane: a picker of the desk's macros (name and what it does);
// choosing one applies all its actions in one step (POST conversations/<id>/macros).

import { api } from "./api.js";
import { clear, el, clientId } from "./dom.js";
import { $, state, toast, mergeConv, normalize } from "./state.js";
import { placeConv } from "./list.js";
import { renderHead } from "./pane.js";

let macros = [];

export async function loadMacros() {
  try {
    macros = (await api("macros")).results || [];
  } catch {
    macros = [];
  }
  renderMacros();
}

function renderMacros() {
  const box = clear($("macro-list"));
  $("macro-menu").hidden = false;
  if (!macros.length) {
    box.append(el("p", { class: "empty" }, "No macros yet."));
    return;
  }
  for (const macro of macros) {
    box.append(
      el(
        "button",
        { type: "button", class: "menu-item macro-item", dataset: { macro: String(macro.id) }, onclick: () => applyMacro(macro) },
        el("strong", {}, macro.name),
        el("span", { class: "macro-actions" }, (macro.actions || []).join(" · ")),
      ),
    );
  }
}

export async function applyMacro(macro, id = state.selected) {
  if (!id) return;
  $("macro-menu").open = false;
  try {
    const item = await api(`conversations/${id}/macros`, { method: "POST", body: { macro: macro.id, client_id: clientId() } });
    const conv = mergeConv(id, normalize(item || {}));
    if (conv) placeConv(conv);
    if (id === state.selected) renderHead();
    toast(`Applied “${macro.name}”`);
  } catch (error) {
    toast(`Could not apply “${macro.name}”: ${error.message}`);
  }
}

export function wireMacros() {
  $("macro-menu").addEventListener("toggle", () => {
    if ($("macro-menu").open) loadMacros();
  });
  loadMacros();
}
