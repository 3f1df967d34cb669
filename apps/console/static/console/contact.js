// The contact panel: name, identities, other conversations, notes, merge and undo.

import { clear, el, setAvatar, timeShort } from "./dom.js";
import { channelName } from "./timeline.js";

/** A widget visitor's context: the page they started on, their browser, their local time. */
export function visitorContext(visitor) {
  const rows = [];
  let page = null;
  try {
    const url = new URL(visitor.page);
    if (url.protocol === "http:" || url.protocol === "https:") page = url;
  } catch {
    page = null;
  }
  if (page) {
    rows.push(["Started on", el("a", { href: page.href, target: "_blank", rel: "noopener noreferrer", title: page.href }, `${page.host}${page.pathname}`)]);
  }
  if (visitor.browser) rows.push(["Browser", visitor.browser]);
  if (visitor.time_zone) {
    let local = "";
    try {
      local = new Date().toLocaleTimeString([], { timeZone: visitor.time_zone, hour: "2-digit", minute: "2-digit" });
    } catch {
      local = "";
    }
    if (local) rows.push(["Local time", `${local} (${visitor.time_zone.replace(/_/g, " ")})`]);
  }
  if (visitor.started_at) rows.push(["First seen", timeShort(visitor.started_at)]);
  if (!rows.length) return null;
  return el("dl", { class: "visitor-context" }, rows.map(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
}

export function setupContactPanel({ api, toast, openConversation, onContactChanged, onMerged }) {
  const $ = (id) => document.getElementById(id);
  let contact = null;
  let token = 0;
  let lastMerge = null;
  let renderedId = null;
  let picked = null; // the contact chosen in the merge search, waiting for confirmation

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
    const first = (contact.identities || [])[0];
    const label = contact.name || (first ? first.display || first.address : `Contact ${contact.id}`);
    $("contact-heading").textContent = label;
    setAvatar($("contact-avatar"), label, `contact:${contact.id}`);
    const list = clear($("identities"));
    for (const identity of contact.identities || []) {
      list.append(
        el("li", { dataset: { identity: String(identity.id) } },
          el("span", { class: "channel-badge" }, channelName(identity.kind)), " ",
          el("span", { class: "address" }, identity.display || identity.address), " ",
          el("span", { class: identity.verified ? "badge-ok" : "badge-warn" }, identity.verified ? "verified" : "unverified"),
          identity.opted_out ? [" ", el("span", { class: "badge-bad" }, "opted out")] : null,
          identity.visitor ? visitorContext(identity.visitor) : null),
      );
    }
    if (!list.children.length) list.append(el("li", { class: "empty" }, "No identities."));
    if (renderedId !== contact.id) {
      $("merge-result").textContent = "";
      resetMerge();
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

  // An email address the customer gave on another channel: unverified until they answer a mail.
  $("identity-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("identity-email");
    const address = input.value.trim();
    if (!contact || !address) return;
    try {
      await api(`contacts/${contact.id}/identities`, { method: "POST", body: { kind: "email", address } });
      input.value = "";
      show(contact.id);
    } catch (error) {
      toast(`Could not add ${address}: ${error.message}`);
    }
  });

  $("contact-name-form").addEventListener("submit", (event) => {
    event.preventDefault();
    save({ name: $("contact-name").value.trim() });
  });
  $("contact-notes-form").addEventListener("submit", (event) => {
    event.preventDefault();
    save({ notes: $("contact-notes").value });
  });

  // Merging: search for the other contact (name, phone, email), pick one, confirm in place
  // (no blocking confirm() dialog), then the merge can still be undone.
  const SEARCH_DELAY = 250;
  let searchTimer = null;
  let searchToken = 0;

  function resetMerge() {
    clearTimeout(searchTimer);
    searchToken++;
    picked = null;
    $("merge-search").value = "";
    clear($("merge-matches"));
    $("merge-confirm").hidden = true;
  }

  function identityLine(identity) {
    return el("span", { class: "match-identity" },
      el("span", { class: "channel-badge" }, channelName(identity.kind)), " ",
      identity.display || identity.address, " ",
      el("span", { class: identity.verified ? "badge-ok" : "badge-warn" }, identity.verified ? "verified" : "unverified"));
  }

  function contactLabel(found) {
    return found.name || `Contact ${found.id}`;
  }

  async function search(text) {
    const mine = ++searchToken;
    const list = $("merge-matches");
    if (text.length < 2) {
      clear(list);
      return;
    }
    try {
      const answer = await api("contacts", { query: { q: text } });
      if (mine !== searchToken || !contact) return;
      clear(list);
      const rows = (answer.results || []).filter((found) => found.id !== contact.id);
      for (const found of rows) {
        list.append(
          el("li", {},
            el("button", { type: "button", class: "merge-pick", dataset: { contact: String(found.id) }, onclick: () => pick(found) },
              el("span", { class: "match-name" }, contactLabel(found)),
              el("span", { class: "match-ids" },
                (found.identities || []).map((identity, i) => [i ? " · " : "", identityLine(identity)])))),
        );
      }
      if (!rows.length) list.append(el("li", { class: "empty" }, "No other contact matches."));
    } catch (error) {
      if (mine === searchToken) clear(list).append(el("li", { class: "empty" }, `Search failed: ${error.message}`));
    }
  }

  function pick(found) {
    picked = found;
    $("merge-question").textContent =
      `Merge ${contactLabel(found)} into ${contact.name || "this contact"}? Undo is possible.`;
    $("merge-confirm").hidden = false;
    $("merge-result").textContent = "";
    $("merge-confirm-btn").focus();
  }

  $("merge-search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    picked = null;
    $("merge-confirm").hidden = true;
    const text = $("merge-search").value.trim();
    searchTimer = setTimeout(() => search(text), SEARCH_DELAY);
  });
  $("merge-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    search($("merge-search").value.trim());
  });
  $("merge-cancel").addEventListener("click", () => {
    picked = null;
    $("merge-confirm").hidden = true;
  });
  $("merge-confirm-btn").addEventListener("click", async () => {
    if (!contact || !picked) return;
    const other = picked;
    const result = $("merge-result");
    resetMerge();
    try {
      const answer = await api(`contacts/${contact.id}/merge`, { method: "POST", body: { other: other.id } });
      lastMerge = { id: answer.merge && (answer.merge.id ?? answer.merge), contact: contact.id };
      clear(result).append(
        `Merged ${contactLabel(other)}. `,
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
