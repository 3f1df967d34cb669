/* supportdesk web chat widget, the panel: loaded by widget.js once the desk accepted the session.
   A launcher and a chat panel in a shadow root (the host page's CSS does not reach in, ours does
   not leak out). Visitor and agent text is only ever put in the page through textContent. */
(function () {
  "use strict";
  if (window.__supportdeskPanel) return;

  const ACK_TIMEOUT = 12000;
  const CSAT_LINK = /\/csat\/([A-Za-z0-9_-]{16,})\s*$/;
  const PING_AFTER = 45000;
  const DEAD_AFTER = 100000;

  function newClientId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes); // randomUUID needs a secure context; host pages may be http
    return "w" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function formatBytes(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(n % 1048576 ? 1 : 0) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " KB";
    return n + " bytes";
  }

  // ---- DOM ----
  function h(tag, props, ...kids) {
    const node = document.createElement(tag);
    for (const name in props || {}) {
      const value = props[name];
      if (value == null || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const kid of kids) if (kid != null) node.append(kid); // strings become text nodes
    return node;
  }

  const CSS = `
:host{all:initial}
.root{--accent:#2f5bea;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330}
.root *{box-sizing:border-box}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
button{font:inherit;cursor:pointer}
.launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;height:56px;min-width:56px;padding:0 20px;
border:0;border-radius:28px;background:var(--accent);color:#fff;font-weight:600;box-shadow:0 4px 14px rgba(0,0,0,.25)}
.launcher:focus-visible,.panel :focus-visible{outline:3px solid #ffbf47;outline-offset:2px}
.badge{display:inline-block;margin-left:8px;min-width:20px;padding:0 6px;border-radius:10px;background:#fff;
color:var(--accent);font-size:12px;line-height:20px}
.panel{position:fixed;right:20px;bottom:88px;z-index:2147483001;width:370px;height:min(580px,calc(100vh - 110px));
display:flex;flex-direction:column;background:#fff;border-radius:12px;overflow:hidden;box-shadow:0 8px 30px rgba(0,0,0,.3)}
.panel[hidden],[hidden]{display:none!important}
header{display:flex;align-items:center;gap:8px;padding:12px 14px;background:var(--accent);color:#fff}
header div{flex:1;min-width:0}
h2{margin:0;font-size:16px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.presence{margin:0;font-size:12px;opacity:.9}
.close{border:0;background:transparent;color:#fff;font-size:24px;line-height:1;width:40px;height:40px;border-radius:20px}
.notice{margin:0;padding:8px 14px;background:#fff6dd;border-bottom:1px solid #f0e0a8;font-size:13px}
.conn{background:#fde8e8;border-color:#f3c0c0}
.queue{background:#eef3ff;border-color:#cdd9fb}
.email{display:flex;flex-wrap:wrap;gap:6px;align-items:center;padding:8px 14px;border-bottom:1px solid #e3e6ee;font-size:13px}
.email label{width:100%}
.email input{flex:1;min-width:0;padding:6px 8px;border:1px solid #b8bfcc;border-radius:6px;font:inherit}
.social{padding:6px 14px;border-bottom:1px solid #e3e6ee;font-size:12px}
.social button{border:0;background:transparent;color:var(--accent);text-decoration:underline;padding:0;font-size:12px}
.social code{font:600 15px/1.6 ui-monospace,Menlo,monospace;letter-spacing:.06em;user-select:all}
.social p{margin:4px 0 0}
.log{flex:1;overflow-y:auto;margin:0;padding:12px;list-style:none;background:#f6f7fb}
.log>li{margin:0 0 10px;max-width:85%;clear:both}
.msg{padding:8px 11px;border-radius:12px;background:#fff;border:1px solid #e3e6ee;width:fit-content}
.mine{margin-left:auto!important;background:var(--accent);color:#fff;border-color:transparent}
.text{white-space:pre-wrap;overflow-wrap:anywhere}
.who{margin:0 0 2px;font-size:12px;font-weight:600;color:#55607a}
.meta{margin-top:3px;font-size:11px;opacity:.8;text-align:right}
.failed{background:#fff;color:#1d2330;border:1px solid #d33}
.failed .meta{color:#b00;opacity:1}
.rating{display:flex;gap:4px;align-items:center;flex-wrap:wrap;margin-top:6px}
.rate{min-width:28px;padding:2px 6px;border:1px solid #c5cad6;border-radius:6px;background:#fff;cursor:pointer}
.rate:disabled{opacity:.6;cursor:default}
.rating-note{font-size:12px;color:#555}
.retry{margin-left:6px;padding:1px 8px;border:1px solid #b00;border-radius:10px;background:#fff;color:#b00;font-size:11px}
.files{margin:4px 0 0;padding:0;list-style:none}
.files a{color:inherit}
.files img,.files video{display:block;max-width:100%;max-height:180px;border-radius:6px;margin-top:4px}.files audio{display:block;max-width:100%;margin-top:4px}
.more{text-align:center;max-width:none!important}
.more button{border:1px solid #b8bfcc;border-radius:12px;background:#fff;padding:2px 12px;font-size:12px}
.typing{margin:0;padding:0 14px;min-height:18px;font-size:12px;color:#55607a;background:#f6f7fb}
.error{margin:0;padding:6px 14px;background:#fde8e8;color:#8a1010;font-size:13px}
form.composer{display:flex;align-items:flex-end;gap:6px;padding:10px;border-top:1px solid #e3e6ee}
textarea{flex:1;resize:none;max-height:120px;min-height:40px;padding:9px 10px;border:1px solid #b8bfcc;border-radius:8px;font:inherit;color:inherit}
.attach,.send,.email button{height:40px;padding:0 12px;border:1px solid #b8bfcc;border-radius:8px;background:#fff;color:#1d2330}
.send,.email button{background:var(--accent);color:#fff;border-color:transparent;font-weight:600}
@media (max-width:480px){.panel{inset:0;width:100%;height:100%;border-radius:0}.open .launcher{display:none}textarea{font-size:16px}}
`;

  window.__supportdeskPanel = function panel(ctx) {
    const KEY = ctx.key;
    const BASE = ctx.base;
    const store = ctx.store;
    const api = ctx.api;
    const sleep = ctx.sleep;

    function safeUrl(url) {
      try {
        const u = new URL(url, BASE);
        return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
      } catch (e) {
        return null;
      }
    }

    // ---- state ----
    let session = null;
    let limits = { max_text: 4000, max_upload_bytes: 10485760, upload_types: [] };
    let queue = store.get("queue", []); // [{client_id, text}] typed but not yet acknowledged
    const byId = new Map();
    const byClient = new Map();
    const inflight = new Map(); // client_id -> ack timer
    let ws = null;
    let ready = false; // hello received on the current socket
    let position = null; // last event id confirmed for this page view
    const seen = new Set();
    let attempt = 0;
    let reconnectTimer = null;
    let lastFrameAt = 0;
    let unread = 0;
    let seenUpTo = store.get("seen", 0); // the newest agent message the visitor had open in front of them
    let online = true;
    let typingTimer = null;
    let typingSent = 0;
    let typingStop = null;
    let more = false;
    let loadedEarlier = false;
    let failedOpens = 0;
    let ui = null;

    function build() {
      const host = h("div", { id: "supportdesk-widget", "data-inbox": KEY });
      const root = host.attachShadow({ mode: "open" });
      const c = {};
      c.host = host;
      c.badge = h("span", { class: "badge", hidden: true, "aria-hidden": "true" });
      c.launcherLabel = h("span", { text: "Chat" });
      c.launcher = h(
        "button",
        {
          class: "launcher",
          type: "button",
          "aria-label": "Open chat",
          "aria-expanded": "false",
          "aria-controls": "panel",
          onclick: () => (c.panel.hidden ? open() : close()),
        },
        c.launcherLabel,
        c.badge,
      );
      c.title = h("h2", { id: "title" });
      c.presence = h("p", { class: "presence" });
      c.notice = h("p", { class: "notice offline", role: "status", hidden: true });
      c.queue = h("p", { class: "notice queue", role: "status", "aria-live": "polite", hidden: true });
      c.conn = h("p", {
        class: "notice conn",
        role: "status",
        hidden: true,
        text: "You are offline. Messages you write now will be sent when the connection is back.",
      });
      c.emailInput = h("input", {
        id: "email",
        type: "email",
        required: true,
        autocomplete: "email",
        placeholder: "you@example.com",
      });
      c.emailNote = h("span", { class: "email-note", role: "status" });
      c.email = h(
        "form",
        { class: "email", hidden: true, onsubmit: saveEmail, novalidate: true },
        h("label", { for: "email", text: "Leave your email and we will answer you there:" }),
        c.emailInput,
        h("button", { type: "submit", text: "Save" }),
        c.emailNote,
      );
      c.emailDone = h("p", { class: "notice email-done", role: "status", hidden: true });
      // A signed-in customer links their Mastodon account: a one-time code to send privately.
      c.socialNote = h("div", { role: "status" });
      c.social = h(
        "div",
        { class: "social", hidden: true },
        h("button", { type: "button", text: "Link your Mastodon account", onclick: startLink }),
        c.socialNote,
      );
      c.moreButton = h("button", { type: "button", text: "Earlier messages", onclick: loadEarlier });
      c.more = h("li", { class: "more", hidden: true }, c.moreButton);
      c.greeting = h("li", { class: "msg greeting" });
      c.log = h(
        "ol",
        { class: "log", role: "log", "aria-live": "polite", "aria-label": "Messages", tabindex: "0" },
        c.more,
        c.greeting,
      );
      c.typing = h("p", { class: "typing", "aria-live": "polite" });
      c.error = h("p", { class: "error", role: "alert", hidden: true });
      c.text = h("textarea", {
        id: "text",
        rows: "1",
        placeholder: "Write a message…",
        onkeydown: onComposerKey,
        oninput: onComposerInput,
      });
      c.file = h("input", { id: "file", type: "file", class: "sr", tabindex: "-1", onchange: onFile });
      c.composer = h(
        "form",
        { class: "composer", onsubmit: onSubmit },
        h("label", { class: "sr", for: "text", text: "Message" }),
        c.text,
        c.file,
        h("button", {
          class: "attach",
          type: "button",
          "aria-label": "Attach a file",
          title: "Attach a file",
          text: "+",
          onclick: () => c.file.click(),
        }),
        h("button", { class: "send", type: "submit", text: "Send" }),
      );
      c.panel = h(
        "section",
        {
          class: "panel",
          id: "panel",
          role: "dialog",
          "aria-labelledby": "title",
          hidden: true,
          onkeydown: (e) => {
            if (e.key === "Escape") {
              e.stopPropagation();
              close();
            }
          },
        },
        h(
          "header",
          null,
          h("div", null, c.title, c.presence),
          h("button", {
            class: "close",
            type: "button",
            "aria-label": "Close chat",
            text: "×",
            onclick: close,
          }),
        ),
        c.notice,
        c.queue,
        c.conn,
        c.email,
        c.emailDone,
        c.social,
        c.log,
        c.typing,
        c.error,
        c.composer,
      );
      c.root = h("div", { class: "root" }, c.launcher, c.panel);
      // A constructed stylesheet, not a <style> element: host pages with a strict
      // Content-Security-Policy (style-src without 'unsafe-inline', as the desk's own demo page)
      // would refuse the element, and the panel would show unstyled.
      if (root.adoptedStyleSheets && typeof CSSStyleSheet === "function" && CSSStyleSheet.prototype.replaceSync) {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        root.adoptedStyleSheets = [sheet];
        root.append(c.root);
      } else {
        root.append(h("style", { text: CSS }), c.root);
      }
      document.body.append(host);
      return c;
    }

    function open() {
      ui.panel.hidden = false;
      ui.root.classList.add("open");
      ui.launcher.setAttribute("aria-expanded", "true");
      ui.launcher.setAttribute("aria-label", "Close chat");
      store.set("open", true);
      markSeen();
      unread = 0;
      showUnread();
      scrollDown();
      ui.text.focus();
    }

    function close() {
      ui.panel.hidden = true;
      ui.root.classList.remove("open");
      ui.launcher.setAttribute("aria-expanded", "false");
      store.set("open", false);
      showUnread();
      ui.launcher.focus();
    }

    function markSeen() {
      for (const id of byId.keys()) if (id > seenUpTo) seenUpTo = id;
      store.set("seen", seenUpTo);
    }

    function showUnread() {
      ui.badge.hidden = !unread;
      ui.badge.textContent = String(unread);
      if (ui.panel.hidden)
        ui.launcher.setAttribute(
          "aria-label",
          unread ? "Open chat, " + unread + " new message" + (unread > 1 ? "s" : "") : "Open chat",
        );
    }

    function showError(text) {
      ui.error.textContent = text || "";
      ui.error.hidden = !text;
    }

    function scrollDown() {
      ui.log.scrollTop = ui.log.scrollHeight;
    }

    function applySession(s) {
      session = s;
      const inbox = s.inbox || {};
      limits = Object.assign(limits, s.limits || {});
      if (/^#[0-9a-fA-F]{6}$/.test(inbox.colour || "")) ui.root.style.setProperty("--accent", inbox.colour);
      ui.title.textContent = inbox.name || "Chat";
      ui.panel.setAttribute("aria-label", "Chat with " + (inbox.name || "us"));
      ui.greeting.textContent = inbox.greeting || "Hello! How can we help?";
      ui.text.maxLength = limits.max_text;
      if (limits.upload_types && limits.upload_types.length)
        ui.file.accept = limits.upload_types.join(",");
      setOnline(inbox.online !== false && inbox.open !== false);
      ui.social.hidden = !(s.social_links && s.visitor && s.visitor.verified);
    }

    async function startLink() {
      const r = await api("POST", "/widget/api/link", { kind: "mastodon" });
      ui.socialNote.textContent = "";
      if (r.status !== 201) {
        ui.socialNote.append(h("p", { text: (r.error && r.error.message) || "That did not work; try again." }));
        return;
      }
      ui.socialNote.append(
        h("p", null, h("code", { text: r.data.code })),
        h("p", { text: r.data.instructions }),
      );
    }

    function setOnline(value) {
      online = value;
      const inbox = session.inbox || {};
      ui.presence.textContent = value ? "We are online" : "We are away";
      ui.notice.textContent =
        inbox.offline_message ||
        "Nobody is available right now. Leave a message and we will get back to you.";
      ui.notice.hidden = value;
      const askEmail = !value && inbox.ask_email && !(session.visitor && session.visitor.email);
      ui.email.hidden = !askEmail;
    }

    async function saveEmail(event) {
      event.preventDefault();
      const email = ui.emailInput.value.trim();
      if (!email || !ui.emailInput.checkValidity()) {
        ui.emailNote.textContent = "Please enter a valid email address.";
        return;
      }
      const r = await api("POST", "/widget/api/email", { email });
      if (r.status !== 200) {
        ui.emailNote.textContent = r.error.message || "That email address was not accepted.";
        return;
      }
      session.visitor = Object.assign(session.visitor || {}, { email: r.data.email });
      ui.email.hidden = true;
      ui.emailDone.textContent = "Thanks. If you leave, we will answer at " + r.data.email + ".";
      ui.emailDone.hidden = false;
    }

    // ---- messages ----
    function statusText(rec) {
      if (rec.local === "sending") return ready ? "Sending…" : "Waiting for connection…";
      if (rec.local === "failed") return "Not sent" + (rec.reason ? ": " + rec.reason : "");
      if (rec.direction === "in") return rec.status === "failed" ? "Not sent" : "Sent";
      return "";
    }

    function render(rec) {
      const mine = rec.direction === "in";
      const state = rec.local || "sent";
      const li = rec.el || (rec.el = h("li"));
      li.className = "msg " + (mine ? "mine" : "theirs") + (state === "failed" ? " failed" : "");
      li.dataset.state = state;
      if (rec.id != null) li.dataset.id = rec.id;
      if (rec.client_id) li.dataset.clientId = rec.client_id;
      const files = (rec.attachments || []).slice();
      if (rec.uploading) files.push({ name: rec.uploading });
      // The body is rebuilt only when it changes: a status update must not make screen readers
      // read the whole message again (nor reload its images, whose signed URLs change).
      const key = JSON.stringify([rec.author && rec.author.name, rec.text, files.map((f) => [f.id, f.name, !!f.url])]);
      if (rec.bodyKey !== key) {
        rec.bodyKey = key;
        rec.metaEl = null;
        li.textContent = "";
        if (!mine)
          li.append(h("p", { class: "who", text: (rec.author && rec.author.name) || ui.title.textContent }));
        else li.append(h("span", { class: "sr", text: "You: " }));
        if (rec.text) li.append(h("div", { class: "text", text: rec.text }));
        if (files.length) li.append(fileList(files));
        const survey = !mine && rec.text && rec.text.match(CSAT_LINK);
        if (survey) li.append(ratingRow(survey[1]));
      }
      const meta = h("div", { class: "meta" });
      if (rec.created_at) {
        const at = new Date(rec.created_at);
        if (!isNaN(at)) meta.append(at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
      }
      const status = statusText(rec);
      if (status) meta.append(h("span", { class: "status", text: (meta.textContent ? " · " : "") + status }));
      if (state === "failed" && rec.retry)
        meta.append(
          h("button", { class: "retry", type: "button", text: "Retry", onclick: () => rec.retry(rec) }),
        );
      if (rec.metaEl) rec.metaEl.replaceWith(meta);
      else li.append(meta);
      rec.metaEl = meta;
      place(rec);
    }

    // A satisfaction survey asked in the chat (apps.csat): rated inline, 1 to 5, once.
    function ratingRow(token) {
      const row = h("div", { class: "rating", role: "group", "aria-label": "Rate this conversation" });
      const note = h("span", { class: "rating-note", role: "status" });
      for (let n = 1; n <= 5; n++) {
        row.append(
          h("button", {
            type: "button",
            class: "rate",
            "aria-label": n + " out of 5",
            text: String(n),
            onclick: async () => {
              for (const b of row.querySelectorAll("button")) b.disabled = true;
              const r = await api("POST", "/widget/api/csat", { token, rating: n });
              if (r.status === 200) note.textContent = "Thanks! You rated us " + r.data.rating + "/5.";
              else {
                note.textContent = (r.error && r.error.message) || "Could not send the rating.";
                for (const b of row.querySelectorAll("button")) b.disabled = false;
              }
            },
          }),
        );
      }
      row.append(note);
      return row;
    }

    function fileList(files) {
      const list = h("ul", { class: "files" });
      for (const f of files) {
        const url = f.url ? safeUrl(f.url) : null;
        const label = (f.name || "file") + (f.size ? " (" + formatBytes(f.size) + ")" : "");
        const item = h("li");
        if (url) {
          const a = h("a", { target: "_blank", rel: "noopener noreferrer", text: label });
          a.href = url;
          item.append(a);
          if (/^image\//.test(f.content_type || "")) {
            const img = h("img", { alt: f.name || "image", loading: "lazy" });
            img.src = url;
            item.append(img);
          } else if (/^(audio|video)\//.test(f.content_type || "")) {
            // Voice notes and short videos play in place.
            const player = h(/^audio\//.test(f.content_type) ? "audio" : "video", { controls: "", preload: "metadata" });
            player.src = url;
            item.append(player);
          }
        } else item.append(label);
        list.append(item);
      }
      return list;
    }

    // Stored messages are ordered by id; those not stored yet stay at the end in typing order.
    function place(rec) {
      const li = rec.el;
      if (rec.id == null) {
        if (!li.parentNode) ui.log.append(li);
        return;
      }
      let before = null;
      for (const other of ui.log.children) {
        if (other === li || other.classList.contains("more") || other === ui.greeting) continue;
        const id = other.dataset.id;
        if (id === undefined || Number(id) > rec.id) {
          before = other;
          break;
        }
      }
      if (li.nextSibling !== before || li.parentNode !== ui.log) ui.log.insertBefore(li, before);
    }

    function upsert(m) {
      if (!m || m.id == null) return;
      const fromVisitor = m.direction === "in";
      let rec = byId.get(m.id) || (fromVisitor && m.client_id ? byClient.get(m.client_id) : null);
      const isNew = !rec;
      if (!rec) rec = {};
      const firstStored = rec.id == null; // a message the desk just stored (the visitor's own: after its pending copy)
      if (rec.id == null && m.client_id) {
        clearTimeout(inflight.get(m.client_id));
        inflight.delete(m.client_id);
      }
      Object.assign(rec, m, { local: null, reason: null, uploading: null });
      byId.set(m.id, rec);
      if (fromVisitor && m.client_id) {
        byClient.set(m.client_id, rec);
        forget(m.client_id);
      }
      const atBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 40;
      render(rec);
      if (firstStored) queueSoon(fromVisitor ? 800 : 300);
      if (isNew && !fromVisitor) {
        setTyping(null);
        if (!ui.panel.hidden) markSeen();
        else if (m.id > seenUpTo) {
          unread++;
          showUnread();
        }
      }
      if (atBottom || fromVisitor) scrollDown();
    }

    function forget(clientId) {
      const before = queue.length;
      queue = queue.filter((q) => q.client_id !== clientId);
      if (queue.length !== before) store.set("queue", queue);
    }

    function fail(rec, reason, keepQueued) {
      if (!rec || rec.id != null) return;
      clearTimeout(inflight.get(rec.client_id));
      inflight.delete(rec.client_id);
      if (!keepQueued) forget(rec.client_id);
      rec.local = "failed";
      rec.reason = reason || "";
      render(rec);
    }

    function retryText(rec) {
      if (!queue.some((q) => q.client_id === rec.client_id)) {
        queue.push({ client_id: rec.client_id, text: rec.text });
        store.set("queue", queue);
      }
      rec.local = "sending";
      rec.reason = null;
      render(rec);
      flush();
    }

    function pendingText(item) {
      const rec = {
        client_id: item.client_id,
        text: item.text,
        direction: "in",
        local: "sending",
        retry: retryText,
      };
      byClient.set(item.client_id, rec);
      render(rec);
      return rec;
    }

    function sendText(text) {
      const item = { client_id: newClientId(), text };
      queue.push(item);
      store.set("queue", queue);
      pendingText(item);
      scrollDown();
      flush();
    }

    // Sends what is queued, once per socket: a message whose ack was lost is sent again on the
    // next socket with the same client_id, and the server stores it once.
    function flush() {
      if (!ready) {
        for (const q of queue) {
          const rec = byClient.get(q.client_id);
          if (rec && rec.local === "sending") render(rec);
        }
        return;
      }
      for (const q of queue) {
        const rec = byClient.get(q.client_id);
        if (inflight.has(q.client_id) || (rec && rec.local === "failed")) continue;
        ws.send(JSON.stringify({ action: "send", client_id: q.client_id, text: q.text }));
        inflight.set(
          q.client_id,
          setTimeout(() => {
            inflight.delete(q.client_id);
            fail(byClient.get(q.client_id), "no answer from the server", true);
          }, ACK_TIMEOUT),
        );
        if (rec) render(rec);
      }
    }

    async function loadHistory(before) {
      const r = await api(
        "GET",
        "/widget/api/messages?limit=50" + (before != null ? "&before=" + encodeURIComponent(before) : ""),
      );
      if (r.status !== 200 || !r.data) return false;
      for (const m of r.data.messages || []) upsert(m);
      // The newest page says whether older ones exist until an older page has been loaded.
      if (before != null || !loadedEarlier) more = !!r.data.more;
      if (before != null) loadedEarlier = true;
      ui.more.hidden = !more;
      return true;
    }

    function loadEarlier() {
      let oldest = null;
      for (const id of byId.keys()) if (oldest === null || id < oldest) oldest = id;
      if (oldest !== null) loadHistory(oldest);
    }

    // ---- uploads ----
    function typeAllowed(type) {
      const types = limits.upload_types || [];
      return !types.length || types.indexOf(type) !== -1;
    }

    function describeTypes() {
      return (limits.upload_types || [])
        .map((t) => (t === "application/pdf" ? "PDF" : t === "text/plain" ? "text" : t.split("/")[1].toUpperCase()))
        .join(", ");
    }

    function onFile() {
      const file = ui.file.files && ui.file.files[0];
      ui.file.value = "";
      if (!file) return;
      if (file.size > limits.max_upload_bytes) {
        showError(
          "“" + file.name + "” is too large (" + formatBytes(file.size) + "). Files up to " +
            formatBytes(limits.max_upload_bytes) + " can be sent.",
        );
        return;
      }
      if (!typeAllowed(file.type)) {
        showError("“" + file.name + "” cannot be sent: this type of file is not accepted. Accepted: " + describeTypes() + ".");
        return;
      }
      showError("");
      const rec = { client_id: newClientId(), text: "", direction: "in", local: "sending", uploading: file.name };
      rec.retry = () => upload(rec, file);
      byClient.set(rec.client_id, rec);
      upload(rec, file);
    }

    async function upload(rec, file) {
      rec.local = "sending";
      rec.uploading = file.name;
      render(rec);
      scrollDown();
      const form = new FormData();
      form.append("client_id", rec.client_id);
      form.append("text", "");
      form.append("file", file, file.name);
      const r = await api("POST", "/widget/api/messages", form);
      if ((r.status === 200 || r.status === 201) && r.data && r.data.message) {
        upsert(r.data.message);
        return;
      }
      const reason = r.error.message || "the file was not accepted";
      if (r.status === 413 || r.status === 415) showError("“" + file.name + "” was refused: " + reason);
      fail(rec, r.status === 0 ? "no connection" : reason, false);
    }

    // ---- composer ----
    function onSubmit(event) {
      event.preventDefault();
      const text = ui.text.value.replace(/^\s+|\s+$/g, "");
      if (!text) return;
      if (text.length > limits.max_text) {
        showError("Your message is too long (" + text.length + " characters; the limit is " + limits.max_text + ").");
        return;
      }
      showError("");
      ui.text.value = "";
      sendTyping(false);
      sendText(text);
      ui.text.focus();
    }

    function onComposerKey(event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) onSubmit(event);
    }

    function onComposerInput() {
      const now = Date.now();
      if (now - typingSent > 3000) sendTyping(true);
      clearTimeout(typingStop);
      typingStop = setTimeout(() => sendTyping(false), 4000);
    }

    function sendTyping(active) {
      if (!active) clearTimeout(typingStop);
      if (!active && !typingSent) return;
      typingSent = active ? Date.now() : 0;
      if (ready) ws.send(JSON.stringify({ action: "typing", active }));
    }

    function setTyping(data) {
      clearTimeout(typingTimer);
      const name = data && data.agent && data.agent.name;
      ui.typing.textContent = data && data.active ? (name || "An agent") + " is typing…" : "";
      if (data && data.active) typingTimer = setTimeout(() => setTyping(null), 8000);
    }

    // ---- place in the queue (GET /widget/api/queue) ----
    // Asked while the visitor waits for an agent: every poll_seconds, and soon after they write
    // or an agent answers; not asked while nobody is waiting.
    let queueTimer = null;
    let queueAsking = false;

    function queueSoon(ms) {
      clearTimeout(queueTimer);
      queueTimer = setTimeout(queueAsk, ms);
    }

    async function queueAsk() {
      if (queueAsking) return queueSoon(1000);
      queueAsking = true;
      let r;
      try {
        r = await api("GET", "/widget/api/queue");
      } finally {
        queueAsking = false;
      }
      const d = (r && r.status === 200 && r.data) || null;
      if (!d) {
        queueSoon(30000); // a network error: try again later
        return;
      }
      if (d.waiting && d.position) {
        const where = d.position === 1 ? "You are next in the queue" : "You are number " + d.position + " in the queue";
        ui.queue.textContent = where + (d.expected_wait ? " · expected wait: " + d.expected_wait : "") + ".";
        ui.queue.dataset.position = String(d.position);
        ui.queue.hidden = false;
        queueSoon(Math.max(2, d.poll_seconds || 10) * 1000);
      } else {
        ui.queue.hidden = true;
        delete ui.queue.dataset.position;
        clearTimeout(queueTimer);
      }
    }

    // ---- socket ----
    function socketUrl() {
      const u = new URL(BASE + "/ws/widget/");
      u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      u.searchParams.set("inbox", KEY);
      u.searchParams.set("token", ctx.token);
      if (position !== null) u.searchParams.set("since", String(position));
      return u.href;
    }

    function setConnected(value) {
      ready = value;
      ui.conn.hidden = value;
      ui.root.dataset.connection = value ? "live" : "offline";
      for (const q of queue) {
        const rec = byClient.get(q.client_id);
        if (rec && rec.local === "sending") render(rec);
      }
    }

    function connect() {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      let socket;
      try {
        socket = new WebSocket(socketUrl());
      } catch (e) {
        schedule();
        return;
      }
      ws = socket;
      let opened = false;
      socket.onopen = () => {
        opened = true;
        failedOpens = 0;
        lastFrameAt = Date.now();
      };
      socket.onmessage = (message) => {
        if (ws !== socket) return;
        lastFrameAt = Date.now();
        let frame;
        try {
          frame = JSON.parse(message.data);
        } catch (e) {
          return;
        }
        handle(frame);
      };
      socket.onclose = (event) => {
        if (ws !== socket) return;
        ws = null;
        dropped();
        // A socket refused before it opened reaches the browser as 1006, not 4403: after a few
        // such refusals, check the session (an expired token is renewed, a refused origin stops).
        if (!opened) failedOpens++;
        if (event.code === 4403 || (failedOpens && failedOpens % 3 === 0 && navigator.onLine)) renewSession();
        else schedule();
      };
    }

    function dropped() {
      setConnected(false);
      for (const [clientId, timer] of inflight) {
        clearTimeout(timer);
        inflight.delete(clientId);
      }
    }

    function schedule() {
      if (reconnectTimer) return;
      attempt++;
      const ceiling = Math.min(500 * 2 ** (attempt - 1), 30000);
      reconnectTimer = setTimeout(connect, ceiling / 2 + (Math.random() * ceiling) / 2);
    }

    function drop() {
      if (!ws) return;
      const socket = ws;
      ws = null;
      try {
        socket.close();
      } catch (e) {
        /* already closed */
      }
      dropped();
      schedule();
    }

    // The socket refused us (origin or token): ask for a session again, which either renews the
    // token or tells the host page (console warning) why the widget cannot run here.
    async function renewSession() {
      await sleep(Math.min(30000, 1000 * 2 ** Math.min(attempt++, 5)));
      const s = await ctx.openSession();
      if (!s) {
        ui.host.remove();
        return;
      }
      applySession(s);
      connect();
    }

    function confirm(upto) {
      if (typeof upto === "number") position = position === null ? upto : Math.max(position, upto);
    }

    function handle(frame) {
      if (typeof frame.id === "number" && frame.type) {
        if (seen.has(frame.id)) return;
        seen.add(frame.id);
        confirm(frame.id);
        const data = frame.data || {};
        if (frame.type === "message.created" || frame.type === "message.updated") {
          if (frame.type === "message.updated" && !byId.has(data.id)) return;
          upsert(data);
        } else if (frame.type === "typing") setTyping(data);
        return;
      }
      switch (frame.type) {
        case "hello": {
          const first = position === null;
          attempt = 0;
          if (first) confirm(frame.last_event != null ? frame.last_event : frame.last_event_id);
          if (typeof frame.online === "boolean") setOnline(frame.online);
          setConnected(true);
          if (first) loadHistory();
          flush();
          break;
        }
        case "heartbeat":
          confirm(frame.last_event != null ? frame.last_event : frame.last_event_id);
          if (typeof frame.online === "boolean") setOnline(frame.online);
          break;
        case "resync.required":
          confirm(frame.last_event != null ? frame.last_event : frame.last_event_id);
          loadHistory();
          break;
        case "ack":
          upsert(frame.message);
          break;
        case "error":
          // Refused (too fast, too long, empty): not stored; the visitor decides to retry.
          if (frame.client_id) fail(byClient.get(frame.client_id), frame.message || frame.code, false);
          else if (frame.code === "rate_limited") showError(frame.message || "Please slow down.");
          break;
        default:
          break;
      }
    }

    function watch() {
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      const silent = Date.now() - lastFrameAt;
      if (silent > DEAD_AFTER) drop();
      else if (silent > PING_AFTER) ws.send(JSON.stringify({ action: "ping" }));
    }

    // ---- start ----
    ui = build();
    applySession(ctx.session);
    setConnected(false);
    ui.conn.hidden = true; // the offline note shows only once a connection was tried
    for (const item of queue) pendingText(item);
    if (store.get("open", false)) open();
    connect();
    // History at once even if the socket is slow; the first hello loads it again without a gap.
    loadHistory();
    queueSoon(0);
    setTimeout(() => {
      if (!ready) ui.conn.hidden = false;
    }, 3000);
    window.addEventListener("online", () => {
      if (!ws) {
        attempt = 0;
        connect();
      }
    });
    window.addEventListener("offline", drop);
    setInterval(watch, 5000);
  };
})();
