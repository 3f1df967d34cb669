/* supportdesk web chat widget, the loader (GET /widget.js). Embed:
   <script src="https://desk.example.com/widget.js" data-inbox="KEY" async></script>
   Optional: data-user-id, data-user-hash (HMAC-SHA256 of the id), data-user-name, data-user-email.
   The loader opens the visitor session; only when the desk accepts it (origin, identity) does it
   load the panel (panel.js), which mounts in a shadow root. */
(function () {
  "use strict";
  const script =
    document.currentScript || document.querySelector('script[data-inbox][src*="/widget.js"]');
  if (!script) return;
  const ds = script.dataset;
  const KEY = ds.inbox || "";
  const TAG = "supportdesk widget: ";
  if (!KEY) {
    console.warn(TAG + "the script tag has no data-inbox");
    return;
  }
  const BASE = script.src.replace(/\/widget\.js(?:[?#].*)?$/, "");
  const PANEL = "/static/widget/panel.js"; // the /widget.js view puts the collected file's URL here
  const mounted = (window.__supportdeskWidgets = window.__supportdeskWidgets || {});
  if (mounted[KEY]) return;

  // ---- storage (per inbox key; localStorage may be unavailable) ----
  const PREFIX = "supportdesk-widget:" + KEY + ":";
  const store = {
    get(name, fallback) {
      try {
        const raw = localStorage.getItem(PREFIX + name);
        return raw === null ? fallback : JSON.parse(raw);
      } catch (e) {
        return fallback;
      }
    },
    set(name, value) {
      try {
        localStorage.setItem(PREFIX + name, JSON.stringify(value));
      } catch (e) {
        /* storage full or disabled: the widget still works for this page view */
      }
    },
  };

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // ---- HTTP ----
  let token = store.get("token", "");

  async function api(method, path, body) {
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    let payload;
    if (body instanceof FormData) payload = body;
    else if (body) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(BASE + path, {
        method,
        headers,
        body: payload,
        mode: "cors",
        credentials: "omit",
      });
    } catch (e) {
      return { status: 0, data: null, error: { code: "network", message: "No connection." } };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      /* not JSON */
    }
    const error = response.ok
      ? null
      : (data && data.error) || { code: "http_" + response.status, message: "Something went wrong." };
    return { status: response.status, data, error };
  }

  async function reachable() {
    try {
      await fetch(BASE + "/widget.js", { mode: "no-cors", cache: "no-store", credentials: "omit" });
      return true;
    } catch (e) {
      return false;
    }
  }

  // Resolves to the session, or to null when the desk refuses this page (origin, identity,
  // unknown inbox): the host page has to fix its embed, and the visitor sees nothing.
  async function openSession() {
    const body = { inbox: KEY };
    if (token) body.token = token;
    if (ds.userId) body.user_id = ds.userId;
    if (ds.userHash) body.user_hash = ds.userHash;
    if (ds.userName) body.name = ds.userName;
    if (ds.userEmail) body.email = ds.userEmail;
    // For the agent: the page the visitor starts on and their time zone (their local time).
    body.page = location.href;
    try {
      body.time_zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (e) {
      /* no Intl: the agent sees no local time */
    }
    let blocked = 0;
    for (let attempt = 0; ; attempt++) {
      const r = await api("POST", "/widget/api/session", body);
      if (r.status === 200 && r.data && r.data.token) {
        token = r.data.token;
        store.set("token", token);
        // Another visitor now (another user signed in on this browser): what the previous one
        // left unsent is theirs, never to be sent as this one.
        const visitor = (r.data.visitor && r.data.visitor.id) || "";
        if (store.get("visitor", visitor) !== visitor) store.set("queue", []);
        store.set("visitor", visitor);
        return r.data;
      }
      // The desk answers a refused origin without CORS headers, so the page sees a network
      // error. If the desk is reachable all the same (an opaque request gets through), twice,
      // it is the origin that was refused.
      if (r.status === 0 && navigator.onLine && (await reachable()) && ++blocked >= 2) {
        console.warn(
          TAG + "not started: origin_not_allowed: the desk did not accept this page's origin (" +
            location.origin + "); add it to the inbox's allowed origins",
        );
        return null;
      }
      if (r.status === 0 && blocked) {
        await sleep(500);
        continue;
      }
      if (r.status === 0 || r.status === 429 || r.status >= 500) {
        await sleep(Math.min(60000, 1000 * 2 ** Math.min(attempt, 6)));
        continue;
      }
      console.warn(TAG + "not started: " + r.error.code + ": " + r.error.message);
      return null;
    }
  }

  async function start() {
    mounted[KEY] = "starting";
    const session = await openSession();
    if (!session) {
      mounted[KEY] = "refused";
      return;
    }
    const context = {
      key: KEY,
      base: BASE,
      store,
      api,
      sleep,
      openSession,
      session,
      get token() {
        return token;
      },
    };
    const boot = () => {
      mounted[KEY] = "mounted";
      window.__supportdeskPanel(context);
    };
    if (window.__supportdeskPanel) return boot();
    const panel = document.createElement("script");
    panel.src = new URL(PANEL, BASE + "/").href;
    panel.async = true;
    panel.onload = boot;
    panel.onerror = () => console.warn(TAG + "could not load " + panel.src);
    document.head.append(panel);
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
