// The desk's settings page (admins change, everyone reads): business hours (calendars and
// holidays), SLA policies and their escalation rules, macros. One generic editor per resource,
// driven by a field list; every change goes through the REST API (which enforces the roles).

import { api } from "./api.js";
import { clear, el } from "./dom.js";

const $ = (id) => document.getElementById(id);
const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const PRIORITIES = [["", "Any"], ["0", "None"], ["1", "Low"], ["2", "Medium"], ["3", "High"], ["4", "Urgent"]];
const STATUSES = [["", "Unchanged"], ["open", "Open"], ["pending", "Pending"], ["resolved", "Resolved"], ["snoozed", "Snoozed"]];
const ctx = { teams: [], inboxes: [], calendars: [], policies: [], canManage: false };

const teamOptions = (none = "None") => [["", none], ...ctx.teams.map((t) => [String(t.id), t.name])];
const inboxOptions = () => [["", "Any inbox"], ...ctx.inboxes.map((i) => [String(i.id), i.name])];
const calendarOptions = () => [["", "Every calendar"], ...ctx.calendars.map((c) => [String(c.id), c.name])];
const policyOptions = () => ctx.policies.map((p) => [String(p.id), p.name]);
const nameOf = (options, value) => (options.find(([v]) => v === String(value ?? "")) || [, ""])[1];

function weekText(week) {
  return DAYS.filter((d) => (week || {})[d] && week[d].length)
    .map((d) => `${d} ${week[d].map((s) => s.join("–")).join(", ")}`)
    .join(" · ") || "no hours (around the clock)";
}

const RESOURCES = [
  {
    key: "calendars",
    noun: "calendar",
    path: "sla/calendars",
    title: "Business hours",
    help: "The desk's hours (no team) and a team's own hours. SLA clocks and the widget's online/offline follow them.",
    fields: [
      { name: "name", label: "Name", type: "text", required: true },
      { name: "tz", label: "Time zone", type: "text", placeholder: "Europe/Paris", initial: "UTC" },
      { name: "team", label: "Team (empty: the whole desk)", type: "select", options: () => teamOptions("The whole desk") },
      { name: "week", label: "Open hours", type: "week" },
    ],
    summary: (r) => `${r.name} — ${r.tz} — ${r.team ? "team " + nameOf(teamOptions(), r.team) : "whole desk"} — ${weekText(r.week)}`,
  },
  {
    key: "holidays",
    noun: "holiday",
    path: "sla/holidays",
    title: "Holidays",
    help: "Closed days: SLA clocks do not count them.",
    fields: [
      { name: "date", label: "Date", type: "date", required: true },
      { name: "name", label: "Name", type: "text" },
      { name: "calendar", label: "Calendar", type: "select", options: calendarOptions },
    ],
    summary: (r) => `${r.date} ${r.name} — ${nameOf(calendarOptions(), r.calendar)}`,
  },
  {
    key: "policies",
    noun: "policy",
    path: "sla/policies",
    title: "SLA policies",
    help: "Targets in business minutes for the conversations a policy matches; the most specific match wins (priority, then team, then inbox).",
    fields: [
      { name: "name", label: "Name", type: "text", required: true },
      { name: "inbox", label: "Inbox", type: "select", options: inboxOptions },
      { name: "team", label: "Team", type: "select", options: () => teamOptions("Any team") },
      { name: "priority", label: "Priority", type: "select", options: () => PRIORITIES },
      { name: "first_response_minutes", label: "First reply within (minutes)", type: "number" },
      { name: "resolution_minutes", label: "Resolved within (minutes)", type: "number" },
      { name: "business_hours", label: "Count business hours only", type: "checkbox", initial: true },
      { name: "active", label: "Active", type: "checkbox", initial: true },
    ],
    summary: (r) =>
      `${r.name} — ${nameOf(inboxOptions(), r.inbox)}, ${nameOf(teamOptions("Any team"), r.team)}, priority ${nameOf(PRIORITIES, r.priority)} — ` +
      `first reply ${r.first_response_minutes ?? "–"} min, resolution ${r.resolution_minutes ?? "–"} min${r.business_hours ? " (business hours)" : ""}${r.active ? "" : " — inactive"}`,
  },
  {
    key: "escalations",
    noun: "escalation",
    path: "sla/escalations",
    title: "Escalations",
    help: "What happens when a policy's target is missed (once per conversation and target).",
    fields: [
      { name: "policy", label: "Policy", type: "select", options: policyOptions, required: true },
      { name: "target", label: "Target", type: "select", options: () => [["first_response", "First reply"], ["resolution", "Resolution"]] },
      { name: "action", label: "Action", type: "select", options: () => [["notify", "Notify assignee and supervisors"], ["priority", "Raise the priority"], ["team", "Reassign to a team"]] },
      { name: "priority", label: "Priority (raise to)", type: "select", options: () => PRIORITIES.slice(1) },
      { name: "team", label: "Team (reassign to)", type: "select", options: () => teamOptions() },
    ],
    summary: (r) => `${nameOf(policyOptions(), r.policy)}: on ${r.target.replace("_", " ")} missed → ${r.action}${r.action === "priority" ? " " + nameOf(PRIORITIES, r.priority) : ""}${r.action === "team" ? " " + nameOf(teamOptions(), r.team) : ""}`,
  },
  {
    key: "macros",
    noun: "macro",
    path: "macros",
    title: "Macros",
    help: "Actions applied in one step from a conversation. {contact} and {agent} in the reply become names.",
    fields: [
      { name: "name", label: "Name", type: "text", required: true },
      { name: "reply", label: "Reply (optional)", type: "textarea" },
      { name: "reply_is_note", label: "Add the reply as a private note", type: "checkbox" },
      { name: "add_labels", label: "Add labels (comma-separated)", type: "list" },
      { name: "remove_labels", label: "Remove labels (comma-separated)", type: "list" },
      { name: "team", label: "Move to team", type: "select", options: () => teamOptions("Unchanged") },
      { name: "priority", label: "Priority", type: "select", options: () => [["", "Unchanged"], ...PRIORITIES.slice(1)] },
      { name: "status", label: "Status", type: "select", options: () => STATUSES },
      { name: "snooze_minutes", label: "Snooze for (minutes, with status snoozed)", type: "number" },
    ],
    summary: (r) => `${r.name} — ${(r.actions || []).join(" · ") || "does nothing"}`,
  },
];

function input(field, value) {
  const id = `f-${field.form}-${field.name}`;
  let control;
  if (field.type === "select") {
    control = el("select", { id, name: field.name }, field.options().map(([v, label]) => el("option", { value: v }, label)));
    control.value = value === null || value === undefined ? "" : String(value);
  } else if (field.type === "checkbox") {
    control = el("input", { id, name: field.name, type: "checkbox" });
    control.checked = value === undefined ? Boolean(field.initial) : Boolean(value);
  } else if (field.type === "textarea") {
    control = el("textarea", { id, name: field.name, rows: "3" });
    control.value = value || "";
  } else if (field.type === "week") {
    const box = el("fieldset", { class: "week", id });
    box.append(el("legend", {}, field.label + " (e.g. 09:00-12:00, 13:00-17:30; empty: closed)"));
    for (const day of DAYS) {
      const spans = ((value || {})[day] || []).map((s) => s.join("-")).join(", ");
      box.append(el("label", {}, day, el("input", { name: `week-${day}`, value: spans, placeholder: "closed", dataset: { day } })));
    }
    return box;
  } else {
    control = el("input", { id, name: field.name, type: field.type === "list" ? "text" : field.type, placeholder: field.placeholder || "" });
    control.value = field.type === "list" ? (value || []).join(", ") : value ?? field.initial ?? "";
  }
  return el("label", { for: id }, field.label, control);
}

function read(resource, form) {
  const body = {};
  for (const field of resource.fields) {
    if (field.type === "week") {
      const week = {};
      for (const node of form.querySelectorAll("input[data-day]")) {
        const spans = node.value.split(",").map((s) => s.trim()).filter(Boolean).map((s) => s.split(/\s*[-–]\s*/));
        if (spans.length) week[node.dataset.day] = spans;
      }
      body.week = week;
      continue;
    }
    const node = form.elements[field.name];
    if (field.type === "checkbox") body[field.name] = node.checked;
    else if (field.type === "list") body[field.name] = node.value.split(",").map((s) => s.trim()).filter(Boolean);
    else if (field.type === "number" || field.type === "select") {
      const raw = node.value;
      body[field.name] = raw === "" ? (field.name === "status" ? "" : null) : /^\d+$/.test(raw) && field.name !== "target" ? Number(raw) : raw;
    } else body[field.name] = node.value;
  }
  return body;
}

function errorText(error) {
  const body = error.body && error.body.error;
  if (body && body.fields) return Object.entries(body.fields).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("; ");
  return error.message;
}

function renderResource(resource, rows) {
  const section = clear($(`s-${resource.key}`));
  section.append(el("h2", {}, resource.title), el("p", { class: "help" }, resource.help));
  const list = el("ul", { class: "rows", "aria-label": resource.title });
  for (const row of rows) {
    list.append(
      el("li", { dataset: { id: String(row.id) } },
        el("span", { class: "summary" }, resource.summary(row)),
        ctx.canManage ? el("button", { type: "button", onclick: () => showForm(resource, row) }, "Edit") : null,
        ctx.canManage
          ? el("button", {
              type: "button",
              class: "danger",
              onclick: async () => {
                if (!confirm(`Delete “${row.name || row.date || row.id}”?`)) return;
                await api(`${resource.path}/${row.id}`, { method: "DELETE" });
                await renderAll();
              },
            }, "Delete")
          : null),
    );
  }
  if (!rows.length) list.append(el("li", { class: "empty" }, "None yet."));
  section.append(list);
  if (ctx.canManage) section.append(el("button", { type: "button", id: `new-${resource.key}`, onclick: () => showForm(resource, null) }, `New ${resource.noun}`));
  section.append(el("div", { id: `form-${resource.key}` }));
}

function showForm(resource, row) {
  const box = clear($(`form-${resource.key}`));
  const form = el("form", { class: "editor", "aria-label": `${row ? "Edit" : "New"} ${resource.title}` });
  for (const field of resource.fields) form.append(input({ ...field, form: resource.key }, row ? row[field.name] : undefined));
  const error = el("p", { class: "error", role: "alert" });
  form.append(el("div", { class: "row" }, el("button", { type: "submit", class: "primary" }, "Save"), el("button", { type: "button", onclick: () => clear(box) }, "Cancel")), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const body = read(resource, form);
      await api(row ? `${resource.path}/${row.id}` : resource.path, { method: row ? "PATCH" : "POST", body });
      await renderAll();
    } catch (e) {
      error.textContent = errorText(e);
    }
  });
  box.append(form);
  form.querySelector("input, select, textarea")?.focus();
}

async function renderAll() {
  // Everything is read first, then drawn at once: the page never shows a half-drawn state.
  const pages = await Promise.all(RESOURCES.map((resource) => api(resource.path)));
  const rows = pages.map((page) => (page && page.results) || []);
  ctx.calendars = rows[RESOURCES.findIndex((r) => r.key === "calendars")];
  ctx.policies = rows[RESOURCES.findIndex((r) => r.key === "policies")];
  RESOURCES.forEach((resource, i) => renderResource(resource, rows[i]));
}

async function boot() {
  const me = await api("me");
  ctx.canManage = Boolean(me.permissions && me.permissions.manage);
  $("readonly-note").hidden = ctx.canManage;
  const [teams, inboxes] = await Promise.all([api("teams"), api("inboxes")]);
  ctx.teams = teams.results || [];
  ctx.inboxes = inboxes.results || [];
  await renderAll();
}

boot();
