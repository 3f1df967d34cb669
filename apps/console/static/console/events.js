// A minimal live view of the console socket: connect, resume from the last id, show events.
const list = document.getElementById("events");
const state = document.getElementById("state");
let lastId = 0;
let delay = 500;

function show(frame) {
  const item = document.createElement("li");
  item.textContent = JSON.stringify(frame);  // text only: nothing a customer sends can run
  list.prepend(item);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const since = lastId ? `?since=${lastId}` : "";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/console/${since}`);
  socket.onopen = () => { state.textContent = "live"; delay = 500; };
  socket.onmessage = (msg) => {
    const frame = JSON.parse(msg.data);
    if (frame.type === "hello" && !lastId) lastId = frame.last_event_id;
    if (typeof frame.id === "number") {
      if (frame.id <= lastId && frame.type !== "hello") return;
      lastId = Math.max(lastId, frame.id);
      show(frame);
    } else if (frame.type === "heartbeat" && frame.last_event_id > lastId) {
      socket.send(JSON.stringify({ action: "resume", since: lastId }));
    } else if (frame.type === "resync.required") {
      lastId = frame.last_event_id;
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
