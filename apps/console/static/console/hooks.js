// Hooks of the channel panels (whatsapp.js): app.js adds them at boot; the list, pane, composer
// and event modules call them without knowing which channel panels exist.

const panels = [];

export function addPanel(panel) {
  panels.push(panel);
}

/** A message of the open contact's conversations arrived. */
export function messageArrived(data) {
  for (const panel of panels) panel.onMessage?.(data);
}

/** The server refused a send (an API error code or a socket error frame's code). */
export function sendRefused(code) {
  for (const panel of panels) panel.onRefused?.(code);
}

/** The channel panels' choices a reply carries (Mastodon: {visibility}). */
export function replyOptions() {
  return Object.assign({}, ...panels.map((panel) => panel.replyOptions?.() || {}));
}

/** The open contact changed on the server (identities, merges). */
export function contactUpdated(contactId) {
  for (const panel of panels) panel.onContact?.(contactId);
}

/** Another conversation (or reply channel) was chosen. */
export function conversationChosen() {
  for (const panel of panels) panel.refresh?.();
}
