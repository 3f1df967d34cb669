// A message's file in the timeline: images shown, voice notes and videos played inline
// (<audio>/<video controls>), anything else as a link. Only the API's own protected download
// URLs are ever used as sources.

import { el } from "./dom.js";

const PROTECTED = /^\/api\/v1\/attachments\/\d+$/;

export function attachmentNode(a) {
  if (!a.url || !PROTECTED.test(a.url)) {
    return el("div", { class: "attachment missing" }, `Attachment not stored${a.error ? ": " + a.error : ""}`);
  }
  const type = (a.content_type || "").toLowerCase();
  const name = a.filename || "attachment";
  const link = el("a", { href: a.url, target: "_blank", rel: "noopener noreferrer" }, `📎 ${name}`);
  if (type.startsWith("image/")) {
    return el("a", { class: "attachment", href: a.url, target: "_blank", rel: "noopener noreferrer" }, el("img", { src: a.url, alt: name, loading: "lazy" }));
  }
  if (type.startsWith("audio/")) {
    return el("div", { class: "attachment media audio" }, el("audio", { src: a.url, controls: "", preload: "metadata", "aria-label": name }), link);
  }
  if (type.startsWith("video/")) {
    return el("div", { class: "attachment media video" }, el("video", { src: a.url, controls: "", preload: "metadata", "aria-label": name }), link);
  }
  return el("a", { class: "attachment", href: a.url, target: "_blank", rel: "noopener noreferrer" }, `📎 ${name}`);
}
