// Keyboard shortcuts and the help overlay.

import { $, state } from "./state.js";
import { selectConv, patchConv, closeMenus } from "./pane.js";
import { closeCanned } from "./composer.js";

export function isTyping(target) {
  return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

export function moveSelection(step) {
  if (!state.order.length) return;
  let index = state.order.indexOf(state.selected);
  index = index === -1 ? (step > 0 ? 0 : state.order.length - 1) : Math.min(Math.max(index + step, 0), state.order.length - 1);
  selectConv(state.order[index]);
}

export function toggleHelp(show) {
  const help = $("help");
  const visible = show ?? help.hidden;
  help.hidden = !visible;
  if (visible) $("help-close").focus();
}

export function onKey(event) {
  if (event.key === "Escape") {
    if (!$("help").hidden) return toggleHelp(false);
    if (!$("canned-picker").hidden) return closeCanned();
    if (closeMenus()) return;
    // Leave a field (the composer, a select…) so that the single-key shortcuts work again.
    if (isTyping(document.activeElement) && !$("canned-dialog").open) return document.activeElement.blur();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (isTyping(event.target)) return;
  if ($("canned-dialog").open) return;
  switch (event.key) {
    case "j":
    case "ArrowDown":
      event.preventDefault();
      moveSelection(1);
      break;
    case "k":
    case "ArrowUp":
      event.preventDefault();
      moveSelection(-1);
      break;
    case "r":
      if (state.selected) {
        event.preventDefault();
        $("composer-text").focus();
      }
      break;
    case "e":
      if (state.selected) {
        event.preventDefault();
        patchConv({ status: "resolved" });
      }
      break;
    case "n":
      // Triage: Mark actionable / Mark not actionable (triage.js).
      if (state.selected && !$("triage-btn").disabled) {
        event.preventDefault();
        $("triage-btn").click();
      }
      break;
    case "?":
      event.preventDefault();
      toggleHelp();
      break;
    default:
      break;
  }
}

export function wireKeys() {
  $("help-btn").addEventListener("click", () => toggleHelp());
  $("help-close").addEventListener("click", () => toggleHelp(false));
  $("help").addEventListener("click", (e) => { if (e.target === $("help")) toggleHelp(false); });
  document.addEventListener("keydown", onKey);
}
