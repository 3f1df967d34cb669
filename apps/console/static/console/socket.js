// The console socket (README "Console WebSocket"): reconnect with exponential backoff and jitter,
// resume from the last confirmed position, deliver each event id once.

import { toSignIn } from "./api.js";

const BASE_DELAY = 500;
const MAX_DELAY = 30000;
const PING_EVERY = 25000;
const SILENT_LIMIT = 70000; // no frame at all for this long: the link is dead, reconnect
const SEEN_LIMIT = 20000;

export class ConsoleSocket {
  constructor({ onEvent, onFrame, onState, onResync, onHello }) {
    this.onEvent = onEvent;
    this.onFrame = onFrame || (() => {});
    this.onState = onState || (() => {});
    this.onResync = onResync || (() => {});
    this.onHello = onHello || (() => {});
    // `position` is what the server confirmed (hello, heartbeat, pong, resync.required): every
    // visible event up to it has been delivered. Reconnects resume from it. Events are kept by
    // id: a push the channel layer dropped arrives later, after higher ids, and must not be
    // discarded for being lower than the newest seen.
    this.position = 0;
    this.hasPosition = false; // 0 is a position too (an empty event log)
    this.lastId = 0;
    this.seen = new Set();
    this.seenOrder = [];
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.lastFrameAt = 0;
  }

  start() {
    this.connect();
    window.addEventListener("online", () => this.reconnectNow());
    window.addEventListener("offline", () => this.drop());
    setInterval(() => this.watch(), 5000);
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const since = this.hasPosition ? `?since=${this.position}` : "";
    return `${scheme}://${location.host}/ws/console/${since}`;
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    this.onState(this.attempt ? "reconnecting" : "connecting", {});
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.lastFrameAt = Date.now();
    };
    ws.onmessage = (message) => {
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      this.handle(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (event.code === 4401) {
        toSignIn();
        return;
      }
      this.schedule();
    };
  }

  schedule() {
    this.attempt += 1;
    const ceiling = Math.min(BASE_DELAY * 2 ** (this.attempt - 1), MAX_DELAY);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2); // jitter: no thundering herd
    this.onState("offline", { delay, attempt: this.attempt });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Close the current socket (it reconnects by itself). */
  drop() {
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try {
        ws.close();
      } catch {
        /* already closed */
      }
      this.schedule();
    }
  }

  reconnectNow() {
    if (this.ws) return;
    this.attempt = Math.max(this.attempt, 1);
    this.connect();
  }

  watch() {
    if (!this.isOpen) return;
    const silent = Date.now() - this.lastFrameAt;
    if (silent > SILENT_LIMIT) this.drop();
    else if (silent > PING_EVERY) this.send({ action: "ping" });
  }

  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  remember(id) {
    this.seen.add(id);
    this.seenOrder.push(id);
    if (this.seenOrder.length > SEEN_LIMIT) this.seen.delete(this.seenOrder.shift());
  }

  confirm(upto) {
    if (typeof upto === "number") this.position = Math.max(this.position, upto);
  }

  handle(frame) {
    if (typeof frame.id === "number" && frame.type) {
      if (this.seen.has(frame.id)) return;
      this.remember(frame.id);
      this.lastId = Math.max(this.lastId, frame.id);
      this.onEvent(frame);
      return;
    }
    switch (frame.type) {
      case "hello":
        this.attempt = 0;
        if (!this.hasPosition) {
          this.position = frame.last_event_id;
          this.hasPosition = true;
        }
        this.onState("live", {});
        this.onHello(frame);
        break;
      case "heartbeat": {
        const known = Math.max(this.position, this.lastId);
        if (frame.last_event_id > known) {
          // The log moved past what we saw: ask for anything visible we may have missed
          // (ids already seen are dropped above).
          this.send({ action: "resume", since: this.position });
        }
        this.confirm(frame.last_event_id);
        break;
      }
      case "pong":
        this.confirm(frame.last_event_id);
        break;
      case "resync.required":
        this.position = frame.last_event_id;
        this.seen.clear();
        this.seenOrder = [];
        this.onResync(frame);
        break;
      default:
        this.onFrame(frame);
    }
  }
}
