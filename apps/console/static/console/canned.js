// The canned responses dialog (manage them; the composer's "/" picker inserts them).

import { api } from "./api.js";
import { clear, el } from "./dom.js";
import { $ } from "./state.js";

export async function openCannedDialog() {
  const dialog = $("canned-dialog");
  await refreshCannedList();
  resetCannedForm();
  dialog.showModal();
}

export async function refreshCannedList() {
  const list = clear($("canned-list"));
  try {
    const result = await api("canned-responses");
    for (const canned of result.results || result || []) {
      list.append(
        el("li", {},
          el("strong", {}, `/${canned.shortcut}`), " ", el("span", {}, canned.title), " ",
          el("button", { type: "button", onclick: () => editCanned(canned) }, "Edit"), " ",
          el("button", { type: "button", onclick: () => deleteCanned(canned) }, "Delete")),
      );
    }
    if (!list.children.length) list.append(el("li", { class: "empty" }, "None yet."));
  } catch (error) {
    list.append(el("li", { class: "error" }, `Could not load: ${error.message}`));
  }
}

export function resetCannedForm() {
  $("canned-id").value = "";
  $("canned-shortcut").value = "";
  $("canned-title-input").value = "";
  $("canned-text").value = "";
  $("canned-error").textContent = "";
}

export function editCanned(canned) {
  $("canned-id").value = String(canned.id);
  $("canned-shortcut").value = canned.shortcut;
  $("canned-title-input").value = canned.title;
  $("canned-text").value = canned.text;
}

export async function deleteCanned(canned) {
  try {
    await api(`canned-responses/${canned.id}`, { method: "DELETE" });
  } catch (error) {
    $("canned-error").textContent = error.message;
  }
  refreshCannedList();
}

export async function saveCanned(event) {
  event.preventDefault();
  const id = $("canned-id").value;
  const body = { shortcut: $("canned-shortcut").value.trim(), title: $("canned-title-input").value.trim(), text: $("canned-text").value };
  try {
    await api(id ? `canned-responses/${id}` : "canned-responses", { method: id ? "PATCH" : "POST", body });
    resetCannedForm();
    refreshCannedList();
  } catch (error) {
    $("canned-error").textContent = error.message;
  }
}

export function wireCanned() {
  $("canned-btn").addEventListener("click", openCannedDialog);
  $("canned-form").addEventListener("submit", saveCanned);
  $("canned-new").addEventListener("click", resetCannedForm);
  $("canned-close").addEventListener("click", () => $("canned-dialog").close());
}
