// The contact panel (contact.js) kept in step with the list, the header and the timeline.

import * as hooks from "./hooks.js";
import { api } from "./api.js";
import { setupContactPanel } from "./contact.js";
import { state, toast, fetchConv } from "./state.js";
import { loadList, renderList } from "./list.js";
import { selectConv, renderHead, openTimeline, renderTimeline } from "./pane.js";
import { renderComposerChannels } from "./composer.js";

export const contactPanel = setupContactPanel({
  api,
  toast,
  openConversation: (id) => selectConv(id),
  onContactChanged: (contact) => {
    if (state.contact && contact.id === state.contact.id) {
      state.contact = { ...state.contact, ...contact };
      renderComposerChannels();
      renderTimeline();
    }
    for (const conv of state.convs.values()) {
      if (conv.contact && conv.contact.id === contact.id) conv.contact = { ...conv.contact, ...contact };
    }
    renderList();
    if (state.selected) renderHead();
  },
  onMerged: () => {
    if (state.selected) {
      fetchConv(state.selected).then(() => openTimeline(state.selected)).catch(() => {});
    }
    loadList();
  },
});

export async function reloadContact() {
  if (state.contact) contactPanel.show(state.contact.id);
}

export async function onContactUpdated(event) {
  const data = event.data || {};
  const contactId = data.id || data.contact;
  if (state.contact && contactId === state.contact.id) {
    reloadContact();
    hooks.contactUpdated(contactId);
  }
  for (const conv of state.convs.values()) {
    if (conv.contact && conv.contact.id === contactId && data.name !== undefined) conv.contact = { ...conv.contact, name: data.name };
  }
  renderList();
}
