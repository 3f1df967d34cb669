// The contact panel: name, identities, other conversations, notes, merge and undo.

import { clear, el, timeShort } from "./dom.js";
import { channelName } from "./timeline.js";

export function setupContactPanel({ api, toast, openConversation, onContactChanged, onMerged }) {
  const $ = (id) => document.getElementById(id);
  let contact = null;
  let token = 0;
  let lastMerge = null;
  let renderedId = null;
  let armed = null; // the other contact's id once "Merge" was pressed: the next press confirms

  async function show(contactId) {
    const mine = ++token;
    try {
      const fresh = await api(`contacts/${contactId}`);
      if (mine !== token) return;
      contact = fresh;
      render();
      onContactChanged(fresh);
    } catch (error) {
      if (mine === token) toast(`Could not load the contact: ${error.message}`);
      return;
    }
    loadConversations(contactId, mine);
  }

  function render() {
    $("contact-empty").hidden = true;
    $("contact").hidden = false;
    $("contact").dataset.contact = String(contact.id);
    $("contact-name").value = contact.name || "";
    $("contact-notes").value = contact.notes || "";
    const list = clear($("identities"));
    for (const identity of contact.identities || []) {
      list.append(
        el("li", { dataset: { identity: String(identity.id) } },
          el("span", { class: "channel-badge" }, channelName(identity.kind)), " ",
          el("span", { class: "address" }, identity.display || identity.address), " ",
          el("span", { class: identity.verified ? "badge-ok" : "badge-warn" }, identity.verified ? "verified" : "unverified"),
          identity.opted_out ? [" ", el("span", { class: "badge-bad" }, "opted out")] : null),
      );
    }
    if (!list.children.length) list.append(el("li", { class: "empty" }, "No identities."));
    if (renderedId !== contact.id) {
      $("merge-result").textContent = "";
      $("merge-other").value = "";
      armed = null;
      $("merge-btn").textContent = "Merge";
    }
    renderedId = contact.id;
  }

  async function loadConversations(contactId, mine) {
    const list = clear($("other-convs"));
    try {
      const result = await api(`contacts/${contactId}/conversations`);
      if (mine !== token) return;
      for (const conv of result.results || []) {
        list.append(
          el("li", {},
            el("button", { type: "button", class: "linklike", onclick: () => openConversation(conv.id) }, `#${conv.id}`),
            ` ${conv.status} · ${timeShort(conv.last_activity_at)}`,
            conv.last_message ? el("div", { class: "preview" }, conv.last_message.body || "") : null),
        );
      }
      if (!list.children.length) list.append(el("li", { class: "empty" }, "None."));
    } catch (error) {
      if (mine === token) list.append(el("li", { class: "empty" }, `Not available (${error.message}).`));
    }
  }

  async function save(fields) {
    if (!contact) return;
    try {
      const updated = await api(`contacts/${contact.id}`, { method: "PATCH", body: fields });
      contact = { ...contact, ...(updated || fields) };
      render();
      onContactChanged(contact);
      toast("Saved.");
    } catch (error) {
      toast(`Could not save: ${error.message}`);
    }
  }

  $("contact-name-form").addEventListener("submit", (event) => {
    event.preventDefault();
    save({ name: $("contact-name").value.trim() });
  });
  $("contact-notes-form").addEventListener("submit", (event) => {
    event.preventDefault();
    save({ notes: $("contact-notes").value });
  });

  // Merging is two steps (Merge, then Confirm) instead of a blocking confirm() dialog.
  $("merge-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!contact) return;
    const other = Number($("merge-other").value);
    const result = $("merge-result");
    if (!other || other === contact.id) {
      result.textContent = "Enter the id of another contact.";
      return;
    }
    if (armed !== other) {
      armed = other;
      $("merge-btn").textContent = "Confirm merge";
      result.textContent = `Contact ${other} will be merged into ${contact.name || "this contact"} (verified identities only). Press Confirm merge.`;
      return;
    }
    armed = null;
    $("merge-btn").textContent = "Merge";
    try {
      const answer = await api(`contacts/${contact.id}/merge`, { method: "POST", body: { other } });
      lastMerge = { id: answer.merge && (answer.merge.id ?? answer.merge), contact: contact.id };
      $("merge-other").value = "";
      clear(result).append(
        `Merged contact ${other}. `,
        el("button", { type: "button", id: "merge-undo", onclick: () => undo(lastMerge.id) }, "Undo merge"),
      );
      if (answer.contact) contact = answer.contact;
      render();
      onContactChanged(contact);
      onMerged();
      loadConversations(contact.id, token);
    } catch (error) {
      result.textContent = `Could not merge: ${error.message}`;
    }
  });

  async function undo(mergeId) {
    try {
      await api(`contact-merges/${mergeId}/undo`, { method: "POST", body: {} });
      lastMerge = null;
      $("merge-result").textContent = "Merge undone.";
      await show(contact.id);
      onMerged();
    } catch (error) {
      $("merge-result").textContent = `Could not undo: ${error.message}`;
    }
  }

  return { show, get contact() { return contact; } };
}
