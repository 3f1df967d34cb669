// Mastodon in the console: what a post was (public mention, direct message) and who wrote it (a
// known customer or not) on timeline messages; the public/private choice in the composer with a
// preview of exactly what goes out and who can see it; and the contact panel's linked social
// accounts (start a link: a one-time code the customer sends privately; undo a link).

import { api, ApiError } from "./api.js";
import { clear, el, timeShort } from "./dom.js";

const $ = (id) => document.getElementById(id);

const VISIBILITY_WORDS = {
  public: "Public mention",
  unlisted: "Public mention (unlisted)",
  private: "Followers-only mention",
  direct: "Direct message",
};

const REPLY_WORDS = {
  public: "Public reply",
  unlisted: "Public reply (unlisted)",
  private: "Reply to followers",
  direct: "Private reply",
};

function safeUrl(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
}

/**
 * Badges of a Mastodon message in the timeline's header line. `context.identities` (the open
 * contact's) keeps "known customer" current: an account linked after the post counts too.
 */
export function mastodonBadges(message, context = {}) {
  const details = message.meta && message.meta.mastodon;
  if (!details || message.kind === "activity") return null;
  if (message.direction !== "in") {
    const words = REPLY_WORDS[details.visibility] || "Reply";
    return [" ", el("span", { class: `md-badge md-${details.audience === "public" ? "public" : "private"}`, title: details.audience === "public" ? "Everyone who can see the customer's post can see this reply" : "Only the customer can see this reply" }, words)];
  }
  const url = safeUrl(details.url);
  const kind = VISIBILITY_WORDS[details.visibility] || "Mention";
  const parts = [" ", url ? el("a", { class: `md-badge md-${details.visibility === "direct" ? "private" : "public"}`, href: url, target: "_blank", rel: "noopener noreferrer", title: "Open the post on its instance" }, kind) : el("span", { class: "md-badge" }, kind)];
  if (details.visibility !== "direct") {
    const known = details.known_customer || (context.identities || []).some((i) => i.verified && i.kind !== "mastodon");
    parts.push(" ", known
      ? el("span", { class: "md-badge md-known", title: "This account is linked to a customer known by another verified identity" }, "Known customer")
      : el("span", { class: "md-badge md-unknown", title: "This account is not linked to a customer account" }, "Not a known customer"));
  }
  if (details.link_code_public) {
    parts.push(" ", el("span", { class: "md-badge md-flag", role: "note", title: "A link code posted where anyone can read it is never accepted" }, "⚠ Link code posted publicly — refused"));
  }
  return parts;
}

/**
 * The composer's audience choice for Mastodon replies. getConversation() -> the selected
 * conversation id; getIdentity() -> the "Reply on" identity id (or null: the last channel).
 */
export function setupMastodon({ getConversation, getIdentity }) {
  const state = { info: null, choice: "", token: 0, conversation: null };
  const box = $("md-audience");
  const preview = $("md-preview");

  function isNote() {
    return $("note-toggle").checked;
  }

  function render() {
    const info = state.info;
    box.hidden = !info || isNote();
    if (box.hidden) return;
    const publicInput = $("md-public");
    publicInput.disabled = !info.public_allowed;
    $("md-public-label").title = info.public_allowed ? "" : info.public_refusal;
    if (!info.public_allowed && state.choice === "public") state.choice = "private";
    publicInput.checked = state.choice === "public";
    $("md-private").checked = state.choice === "private";
    const text = $("composer-text").value.trim();
    const mention = info.mention || "";
    const shown = mention && !text.toLowerCase().startsWith(mention.toLowerCase()) ? `${mention} ${text}` : text;
    const who = state.choice === "public"
      ? info.public_visibility === "unlisted" ? "Anyone (unlisted: not on public timelines) will see:"
        : info.public_visibility === "private" ? "The customer's followers will see:"
          : "Everyone will see this public reply:"
      : `Only ${mention || "the customer"} will see this direct message:`;
    clear(preview).append(el("span", { class: "md-who" }, who), " ", el("q", {}, shown || "…"));
    preview.dataset.audience = state.choice;
    const over = shown.length > info.max_characters;
    $("md-count").textContent = `${shown.length} / ${info.max_characters}`;
    $("md-count").classList.toggle("over", over);
  }

  async function refresh({ keepChoice = false } = {}) {
    const conversation = getConversation();
    const token = ++state.token;
    const kept = keepChoice && conversation === state.conversation ? state.choice : "";
    state.conversation = conversation;
    if (!conversation) {
      state.info = null;
      return render();
    }
    try {
      const info = await api(`conversations/${conversation}/mastodon-reply`, { query: { identity: getIdentity() } });
      if (token !== state.token) return;
      state.info = info.mastodon ? info : null;
      // An agent's explicit choice stands while the conversation stays open; otherwise the
      // reply goes the way the customer wrote.
      state.choice = info.mastodon ? kept || info.default : "";
    } catch {
      if (token !== state.token) return;
      state.info = null;
    }
    render();
  }

  for (const id of ["md-public", "md-private"]) {
    $(id).addEventListener("change", (event) => {
      if (event.target.checked) state.choice = event.target.value;
      render();
    });
  }
  // "input" while typing; "keyup" too, so the preview empties when a send clears the text.
  for (const type of ["input", "keyup"]) $("composer-text").addEventListener(type, () => state.info && render());
  $("note-toggle").addEventListener("change", render);

  return {
    refresh,
    onMessage(message) {
      if (message.direction === "in" && message.channel === "mastodon" && message.conversation === getConversation()) refresh({ keepChoice: true });
    },
    /** What a reply's send carries: the explicit choice, when the reply goes out on Mastodon. */
    replyOptions() {
      return state.info && !isNote() && state.choice ? { visibility: state.choice } : {};
    },
  };
}

/**
 * The contact panel's linked social accounts. getContact() -> the open contact's id; enabled()
 * -> whether the desk has a Mastodon inbox the agent works in (else the section stays hidden).
 */
export function setupSocialLinks({ getContact, enabled, toast }) {
  const state = { contact: null, token: 0 };

  async function load() {
    $("social-links").hidden = !enabled();
    if ($("social-links").hidden) return;
    const contact = getContact();
    const token = ++state.token;
    if (contact !== state.contact) {
      state.contact = contact;
      $("social-code").hidden = true;
    }
    if (!contact) return;
    try {
      const data = await api(`contacts/${contact}/linked-accounts`);
      if (token === state.token) render(data);
    } catch {
      // The panel keeps what it showed; the next event refreshes it.
    }
  }

  function render(data) {
    const list = clear($("social-accounts"));
    for (const account of data.accounts) {
      list.append(
        el("li", { class: "social-account", dataset: { identity: String(account.identity) } },
          el("span", { class: "channel-badge", dataset: { channel: account.kind } }, account.kind_name),
          " ",
          el("strong", {}, account.handle || account.stable_id),
          " ",
          el("span", { class: "muted", title: `Stable id ${account.stable_id}: it stays the same when the handle changes` }, account.proof === "code" ? `linked ${timeShort(account.linked_at)} by a one-time code` : "wrote to the desk from it"),
          account.merge ? [" ", el("button", { type: "button", class: "link-undo", onclick: () => undo(account) }, "Undo link")] : null),
      );
    }
    if (!data.accounts.length) list.append(el("li", { class: "empty" }, "No social accounts linked."));
    const waiting = data.pending[0];
    if (!waiting) $("social-code").hidden = true; // used, or expired: the code is no longer worth showing
    $("social-pending").textContent = waiting ? `A link code is waiting for the customer (expires ${timeShort(waiting.expires_at)}).` : "";
  }

  async function undo(account) {
    try {
      await api(`contact-merges/${account.merge}/undo`, { method: "POST" });
      toast(`${account.handle} is no longer linked to this customer.`);
      load();
    } catch (error) {
      toast(`Could not undo the link: ${error.message}`);
    }
  }

  $("social-link-start").addEventListener("click", async () => {
    const contact = getContact();
    if (!contact) return;
    const box = $("social-code");
    try {
      const issued = await api(`contacts/${contact}/linked-accounts`, { method: "POST", body: { kind: "mastodon" } });
      clear(box).append(
        el("p", {}, "Give the customer this code:"),
        el("p", { class: "social-code-value" }, el("code", {}, issued.code)),
        el("p", { class: "muted" }, issued.instructions, ` It expires at ${timeShort(issued.expires_at)} and works once.`),
      );
      box.hidden = false;
      load();
    } catch (error) {
      clear(box).append(el("p", { class: "social-error", role: "alert" }, error instanceof ApiError ? error.message : "The network is down; try again."));
      box.hidden = false;
    }
  });

  return {
    refresh: load,
    onContact: load,
    onMessage(message) {
      if (message.kind === "activity" && message.meta && message.meta.link) load();
    },
  };
}
