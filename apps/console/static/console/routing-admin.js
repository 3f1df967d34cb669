// The routing page (/console/routing/, administrators): rules (ordered, first match wins),
// assignment strategies per inbox and team, the queue reply, skills and who has them.
// Everything goes through the REST API (/api/v1/routing/…), which checks the role again.

import { api } from "./api.js";
import { clear, el } from "./dom.js";

const $ = (id) => document.getElementById(id);
const CHANNELS = [
  ["sms", "SMS"],
  ["whatsapp", "WhatsApp"],
  ["email", "Email"],
  ["widget", "Widget"],
  ["telegram", "Telegram"],
  ["xmpp", "XMPP"],
  ["mastodon", "Mastodon"],
];
const PRIORITIES = ["none", "low", "medium", "high", "urgent"];
const STRATEGIES = { round_robin: "Round robin", least_busy: "Least busy", skills: "Skills-based" };
const CUSTOMERS = { new: "new customer", known: "known customer", verified: "verified customer" };

const data = { rules: [], skills: [], teams: [], agents: [], settings: { inboxes: [], teams: [] } };

function status(text, bad = false) {
  const node = $("routing-status");
  node.textContent = text;
  node.classList.toggle("bad", bad);
}

function list(text) {
  return String(text || "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function teamName(id) {
  const team = data.teams.find((t) => t.id === id);
  return team ? team.name : `team ${id}`;
}

function skillName(id) {
  const skill = data.skills.find((s) => s.id === id);
  return skill ? skill.name : `skill ${id}`;
}

function describeWhen(rule) {
  const parts = [];
  if (rule.keywords.length) parts.push(`words: ${rule.keywords.join(", ")}`);
  if (rule.pattern) parts.push(`pattern /${rule.pattern}/`);
  if (rule.channels.length) parts.push(`channel: ${rule.channels.join(", ")}`);
  if (rule.languages.length) parts.push(`language: ${rule.languages.join(", ")}`);
  if (rule.customer !== "any") parts.push(CUSTOMERS[rule.customer]);
  if (rule.labels.length) parts.push(`label: ${rule.labels.join(", ")}`);
  return parts.length ? parts.join("; ") : "always (default)";
}

function describeThen(rule) {
  const parts = [];
  parts.push(rule.team ? `→ ${teamName(rule.team)}` : "→ inbox's team");
  if (rule.priority !== null && rule.priority !== undefined) parts.push(`priority ${PRIORITIES[rule.priority]}`);
  if (rule.skills.length) parts.push(`needs ${rule.skills.map(skillName).join(", ")}`);
  return parts.join("; ");
}

async function move(index, delta) {
  const ids = data.rules.map((r) => r.id);
  const [moved] = ids.splice(index, 1);
  ids.splice(index + delta, 0, moved);
  try {
    data.rules = (await api("routing/rules/order", { method: "PUT", body: { rules: ids } })).results;
    renderRules();
    status("Order saved.");
  } catch (e) {
    status(e.message, true);
  }
}

async function toggle(rule) {
  try {
    await api(`routing/rules/${rule.id}`, { method: "PATCH", body: { enabled: !rule.enabled } });
    await loadRules();
    status(`“${rule.name}” ${rule.enabled ? "disabled" : "enabled"}.`);
  } catch (e) {
    status(e.message, true);
  }
}

async function remove(rule) {
  if (!confirm(`Delete the rule “${rule.name}”?`)) return;
  try {
    await api(`routing/rules/${rule.id}`, { method: "DELETE" });
    await loadRules();
    status(`“${rule.name}” deleted.`);
  } catch (e) {
    status(e.message, true);
  }
}

function renderRules() {
  const body = clear($("rules"));
  $("rules-empty").hidden = data.rules.length > 0;
  data.rules.forEach((rule, index) => {
    body.append(
      el(
        "tr",
        { class: rule.enabled ? "" : "disabled", dataset: { rule: rule.id } },
        el("td", {}, String(index + 1)),
        el("th", { scope: "row" }, rule.name),
        el("td", {}, describeWhen(rule)),
        el("td", {}, describeThen(rule)),
        el("td", {}, rule.enabled ? "On" : "Off"),
        el(
          "td",
          { class: "actions" },
          el("button", { type: "button", "aria-label": `Move ${rule.name} up`, disabled: index === 0, onclick: () => move(index, -1) }, "↑"),
          el(
            "button",
            { type: "button", "aria-label": `Move ${rule.name} down`, disabled: index === data.rules.length - 1, onclick: () => move(index, 1) },
            "↓",
          ),
          el("button", { type: "button", onclick: () => edit(rule) }, "Edit"),
          el("button", { type: "button", onclick: () => toggle(rule) }, rule.enabled ? "Disable" : "Enable"),
          el("button", { type: "button", class: "danger", onclick: () => remove(rule) }, "Delete"),
        ),
      ),
    );
  });
}

function checkboxes(container, items, chosen, name) {
  clear(container);
  for (const [value, label] of items) {
    container.append(
      el("label", { class: "check" }, el("input", { type: "checkbox", name, value, checked: chosen.includes(value) }), ` ${label}`),
    );
  }
}

function checked(container) {
  return [...container.querySelectorAll("input:checked")].map((i) => i.value);
}

function fillForm(rule) {
  $("rule-id").value = rule ? rule.id : "";
  $("rule-name").value = rule ? rule.name : "";
  $("rule-keywords").value = rule ? rule.keywords.join(", ") : "";
  $("rule-pattern").value = rule ? rule.pattern : "";
  $("rule-languages").value = rule ? rule.languages.join(", ") : "";
  $("rule-labels").value = rule ? rule.labels.join(", ") : "";
  $("rule-customer").value = rule ? rule.customer : "any";
  $("rule-team").value = rule && rule.team ? String(rule.team) : "";
  $("rule-priority").value = rule && rule.priority !== null ? String(rule.priority) : "";
  $("rule-enabled").checked = rule ? rule.enabled : true;
  checkboxes($("rule-channels"), CHANNELS, rule ? rule.channels : [], "channel");
  checkboxes(
    $("rule-skills"),
    data.skills.map((s) => [String(s.id), s.name]),
    rule ? rule.skills.map(String) : [],
    "skill",
  );
  $("rule-form-title").textContent = rule ? `Edit “${rule.name}”` : "New rule";
  $("rule-save").textContent = rule ? "Save rule" : "Add rule";
  $("rule-cancel").hidden = !rule;
  $("rule-error").hidden = true;
}

function edit(rule) {
  fillForm(rule);
  $("rule-name").focus();
}

async function saveRule(event) {
  event.preventDefault();
  const id = $("rule-id").value;
  const body = {
    name: $("rule-name").value.trim(),
    keywords: list($("rule-keywords").value),
    pattern: $("rule-pattern").value.trim(),
    channels: checked($("rule-channels")),
    languages: list($("rule-languages").value).map((s) => s.toLowerCase()),
    customer: $("rule-customer").value,
    labels: list($("rule-labels").value),
    team: $("rule-team").value ? Number($("rule-team").value) : null,
    priority: $("rule-priority").value === "" ? null : Number($("rule-priority").value),
    skills: checked($("rule-skills")).map(Number),
    enabled: $("rule-enabled").checked,
  };
  try {
    if (id) await api(`routing/rules/${id}`, { method: "PATCH", body });
    else await api("routing/rules", { method: "POST", body });
    await loadRules();
    fillForm(null);
    status(id ? `“${body.name}” saved.` : `“${body.name}” added.`);
  } catch (e) {
    const error = $("rule-error");
    error.textContent = e.message;
    error.hidden = false;
  }
}

function strategySelect(value, label, onchange, allowNone = false) {
  const select = el("select", { "aria-label": label, onchange: (e) => onchange(e.target.value) });
  if (allowNone) select.append(el("option", { value: "" }, "The inbox's"));
  for (const [key, name] of Object.entries(STRATEGIES)) select.append(el("option", { value: key }, name));
  select.value = value || "";
  return select;
}

async function saveInbox(inboxId, body) {
  try {
    data.settings = await api(`inboxes/${inboxId}/routing`, { method: "PATCH", body });
    renderStrategies();
    status("Saved.");
  } catch (e) {
    status(e.message, true);
  }
}

function renderStrategies() {
  const inboxes = clear($("inbox-strategies"));
  for (const row of data.settings.inboxes) {
    const replies = ["sms", "telegram", "xmpp"].includes(row.channel);
    const text = el("input", {
      value: row.queue_reply_text,
      placeholder: "You are number {position} in the queue; expected wait {wait}.",
      "aria-label": `Queue reply text of ${row.name}`,
      hidden: !replies || !row.queue_reply,
      onchange: (e) => saveInbox(row.inbox, { queue_reply_text: e.target.value }),
    });
    inboxes.append(
      el(
        "tr",
        { dataset: { inbox: row.inbox } },
        el("th", { scope: "row" }, row.name),
        el("td", {}, strategySelect(row.strategy, `Strategy of ${row.name}`, (v) => saveInbox(row.inbox, { strategy: v }))),
        el(
          "td",
          {},
          replies
            ? el(
                "span",
                { class: "queue-reply" },
                el(
                  "label",
                  { class: "check" },
                  el("input", {
                    type: "checkbox",
                    checked: row.queue_reply,
                    onchange: (e) => saveInbox(row.inbox, { queue_reply: e.target.checked }),
                  }),
                  " Tell new customers their place once",
                ),
                text,
              )
            : el("span", { class: "muted" }, row.channel === "widget" ? "The widget shows it live" : "—"),
        ),
      ),
    );
  }
  const teams = clear($("team-strategies"));
  for (const row of data.settings.teams) {
    teams.append(
      el(
        "tr",
        {},
        el("th", { scope: "row" }, row.name),
        el(
          "td",
          {},
          strategySelect(
            row.strategy,
            `Strategy of ${row.name}`,
            async (v) => {
              try {
                data.settings = await api(`teams/${row.team}/routing`, { method: "PUT", body: { strategy: v || null } });
                renderStrategies();
                status("Saved.");
              } catch (e) {
                status(e.message, true);
              }
            },
            true,
          ),
        ),
      ),
    );
  }
}

function renderSkills() {
  const chips = clear($("skills"));
  for (const skill of data.skills) {
    chips.append(
      el(
        "li",
        {},
        skill.name,
        el(
          "button",
          {
            type: "button",
            "aria-label": `Delete skill ${skill.name}`,
            onclick: async () => {
              if (!confirm(`Delete the skill “${skill.name}”? Agents and rules lose it.`)) return;
              try {
                await api(`routing/skills/${skill.id}`, { method: "DELETE" });
                await Promise.all([loadSkills(), loadRules()]);
              } catch (e) {
                status(e.message, true);
              }
            },
          },
          "×",
        ),
      ),
    );
  }
  const rows = clear($("agent-skills"));
  for (const agent of data.agents) {
    const held = data.skills.filter((s) => s.agents.includes(agent.id)).map((s) => String(s.id));
    const box = el("div", { class: "inline-checks" });
    checkboxes(
      box,
      data.skills.map((s) => [String(s.id), s.name]),
      held,
      `agent-${agent.id}`,
    );
    box.addEventListener("change", async () => {
      try {
        await api(`agents/${agent.id}/skills`, { method: "PUT", body: { skills: checked(box).map(Number) } });
        await loadSkills();
        status(`Skills of ${agent.name || agent.username} saved.`);
      } catch (e) {
        status(e.message, true);
      }
    });
    rows.append(el("tr", { dataset: { agent: agent.id } }, el("th", { scope: "row" }, agent.name || agent.username), el("td", {}, box)));
  }
}

async function loadRules() {
  data.rules = (await api("routing/rules")).results;
  renderRules();
}

async function loadSkills() {
  data.skills = (await api("routing/skills")).results;
  renderSkills();
  if (!$("rule-id").value) fillForm(null);
}

async function boot() {
  $("rule-form").addEventListener("submit", saveRule);
  $("rule-cancel").addEventListener("click", () => fillForm(null));
  $("skill-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("skill-name").value.trim();
    if (!name) return;
    try {
      await api("routing/skills", { method: "POST", body: { name } });
      $("skill-name").value = "";
      await loadSkills();
      status(`Skill “${name}” added.`);
    } catch (e) {
      status(e.message, true);
    }
  });
  const [teams, agents, settings] = await Promise.all([api("teams"), api("agents"), api("routing/settings")]);
  data.teams = teams.results;
  data.agents = agents.results;
  data.settings = settings;
  const teamSelect = $("rule-team");
  for (const team of data.teams) teamSelect.append(el("option", { value: team.id }, team.name));
  await loadSkills();
  await loadRules();
  renderStrategies();
  document.body.dataset.ready = "1";
}

boot().catch((e) => status(`Could not load routing: ${e.message}`, true));
