// A minimal live view of the console socket: connect, resume from the last position, show events.
const list = document.getElementById("events");
const state = document.getElementById("state");
// The position the server confirmed (hello, heartbeat, pong, resync): every visible event up to
// it has been shown. Reconnects resume from here, not from the newest id seen: a push the
// channel layer dropped arrives later (with the heartbeat), after higher ids.
let position = 0;
const seen = new Set();  // ids above `position` already shown
let delay = 500;

function show(frame) {
  const item = document.createElement("li");
  item.textContent = JSON.stringify(frame);  // text only: nothing a customer sends can run
  list.prepend(item);
}

function confirm(upto) {
  position = Math.max(position, upto);
  for (const id of seen) if (id <= position) seen.delete(id);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const since = position ? `?since=${position}` : "";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/console/${since}`);
  socket.onopen = () => { state.textContent = "live"; delay = 500; };
  socket.onmessage = (msg) => {
    const frame = JSON.parse(msg.data);
    if (frame.type === "hello") {
      if (!position) position = frame.last_event_id;
    } else if (typeof frame.id === "number") {
      if (frame.id <= position || seen.has(frame.id)) return;
      seen.add(frame.id);
      show(frame);
    } else if (frame.type === "heartbeat" || frame.type === "pong") {
      confirm(frame.last_event_id);
    } else if (frame.type === "resync.required") {
      position = frame.last_event_id;
      seen.clear();
      show(frame);
    } else {
      show(frame);
    }
  };
  socket.onclose = () => {
    state.textContent = `reconnecting in ${Math.round(delay / 1000)}s…`;
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 15000);
  };
}
connect();
