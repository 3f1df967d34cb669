// DOM helpers. Every piece of customer or agent text goes in as a text node (never as HTML):
// nothing a customer sends can become markup or script in the console.

/** el("a", {href, class}, "text", childNode, …): attributes are set as attributes, strings become text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?'")\]}]+$/;

/** Text with http(s) URLs turned into safe links; everything else (javascript:, data:, …) stays text. */
export function linkify(text) {
  const fragment = document.createDocumentFragment();
  const source = String(text ?? "");
  let last = 0;
  for (const match of source.matchAll(URL_RE)) {
    const raw = match[0].replace(TRAILING, "");
    const start = match.index;
    let href = null;
    try {
      const url = new URL(raw);
      if (url.protocol === "http:" || url.protocol === "https:") href = url.href;
    } catch {
      href = null;
    }
    fragment.append(document.createTextNode(source.slice(last, start)));
    if (href) {
      fragment.append(el("a", { href, rel: "noopener noreferrer", target: "_blank" }, raw));
    } else {
      fragment.append(document.createTextNode(raw));
    }
    last = start + raw.length;
  }
  fragment.append(document.createTextNode(source.slice(last)));
  return fragment;
}

export function timeShort(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const now = new Date();
  const sameDay = at.toDateString() === now.toDateString();
  return sameDay
    ? at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : at.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function ago(iso) {
  if (!iso) return "";
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return "now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** A client id for a send: random, so that a retry of the same send is recognized by the server. */
export function clientId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "c-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Up to two initials of a name ("Dana Whitfield" → "DW", "+1 415…" → "#"). */
export function initials(name) {
  const words = String(name || "").trim().split(/\s+/).filter((w) => /\p{L}/u.test(w[0] || ""));
  if (!words.length) return "#";
  const first = [...words[0]][0];
  const last = words.length > 1 ? [...words[words.length - 1]][0] : "";
  return (first + last).toUpperCase();
}

/** A stable hue (0–11) for a person: the same contact has the same colour everywhere. */
export function hueOf(seed) {
  let hash = 0;
  for (const char of String(seed)) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return hash % 12;
}

/** An avatar: initials on the person's colour (decorative: the name is always written beside it). */
export function avatar(name, seed, size = "", extra = "") {
  return el("span", { class: `avatar ${size} ${extra}`.trim(), "aria-hidden": "true", dataset: { hue: String(hueOf(seed ?? name)) } }, initials(name));
}

/** An avatar element already in the page, made to show this person. */
export function setAvatar(node, name, seed) {
  node.textContent = initials(name);
  node.dataset.hue = String(hueOf(seed ?? name));
}

export function clockTime(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** "Today", "Yesterday", "Monday 3 March" or "3 March 2025": a day separator of the timeline. */
export function dayLabel(iso) {
  const at = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today);
  yesterday.setDate(today.getDate() - 1);
  if (at.toDateString() === today.toDateString()) return "Today";
  if (at.toDateString() === yesterday.toDateString()) return "Yesterday";
  const sameYear = at.getFullYear() === today.getFullYear();
  return at.toLocaleDateString([], sameYear ? { weekday: "long", day: "numeric", month: "long" } : { day: "numeric", month: "long", year: "numeric" });
}
