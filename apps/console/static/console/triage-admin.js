// The triage page (/console/triage/): the learned model's status and trainings, and the rules
// (administrators add, edit, reorder, switch off and delete them through /api/v1/triage/*).

import { api } from "./api.js";
import { clear, el } from "./dom.js";

const $ = (id) => document.getElementById(id);
const ADMIN = document.body.dataset.admin === "1";
const CATEGORY = { praise: "praise", chatter: "chatter", spam: "spam", automated: "automated", off_topic: "off-topic", other: "other" };
let rules = [];

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.hidden = true), 4000);
}

const pct = (value) => (value === null || value === undefined ? "—" : `${(value * 100).toFixed(1)} %`);
const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

async function loadModel() {
  const status = await api("triage/model");
  // A training under way (the periodic one, or another administrator's): look again shortly.
  clearTimeout(loadModel.timer);
  if (status.training) loadModel.timer = setTimeout(() => loadModel().catch(() => {}), 2000);
  const box = clear($("model-status"));
  const active = status.active;
  const lines = [
    active
      ? el("p", {}, el("strong", {}, `Version ${active.version} in use`), ` · precision ${pct(active.precision)} · recall ${pct(active.recall)} on ${active.held_out_count} held-out labels`)
      : el("p", {}, el("strong", {}, "No model in use yet"), " · rules decide; everything else is actionable"),
    status.training ? el("p", { class: "hint" }, "Training now…") : null,
    el("p", { class: "hint" }, `${status.labels.total} labels (${status.labels.actionable} actionable, ${status.labels.noise} not; ${status.labels.from_agents} from agents' clicks), ${status.labels.since_last_training} since the last training.`),
    status.last_result ? el("p", { class: "hint" }, `Last training: ${status.last_result}`) : null,
  ];
  box.append(...lines.filter(Boolean));
  const body = clear($("model-history"));
  for (const m of status.history) {
    body.append(el("tr", { dataset: { version: String(m.version), state: m.state } },
      el("td", {}, `v${m.version}`),
      el("td", {}, { active: "in use", retired: "replaced", rejected: "not better: kept out" }[m.state] || m.state),
      el("td", {}, pct(m.precision)),
      el("td", {}, pct(m.recall)),
      el("td", {}, m.previous_precision === null ? "—" : `${pct(m.previous_precision)} / ${pct(m.previous_recall)}`),
      el("td", {}, String(m.labels_count)),
      el("td", {}, String(m.held_out_count)),
      el("td", {}, new Date(m.trained_at).toLocaleString()),
    ));
  }
}

function describe(rule) {
  const parts = [];
  if (rule.keywords.length) parts.push(`words: ${rule.keywords.join(", ")}`);
  if (rule.pattern) parts.push(`pattern: ${rule.pattern}`);
  if (rule.languages.length) parts.push(`language: ${rule.languages.join(", ")}`);
  if (rule.known_customer !== null) parts.push(rule.known_customer ? "known customers" : "new people");
  if (rule.visibility) parts.push(`${rule.visibility} only`);
  return parts.join(" · ");
}

async function loadRules() {
  rules = (await api("triage/rules")).results || [];
  const body = clear($("rules"));
  for (const rule of rules) {
    body.append(el("tr", { dataset: { rule: String(rule.id) }, class: rule.enabled ? "" : "disabled" },
      el("td", {}, String(rule.position)),
      el("td", {}, rule.name, rule.enabled ? null : el("span", { class: "hint" }, " (off)")),
      el("td", {}, describe(rule)),
      el("td", {}, rule.action === "noise" ? `not actionable (${CATEGORY[rule.category] || rule.category})` : "actionable"),
      el("td", {}, rule.channels.length ? rule.channels.join(", ") : "all channels"),
      ADMIN ? el("td", { class: "row" },
        el("button", { type: "button", onclick: () => edit(rule) }, "Edit"),
        el("button", { type: "button", onclick: () => patch(rule, { enabled: !rule.enabled }) }, rule.enabled ? "Switch off" : "Switch on"),
        el("button", { type: "button", onclick: () => remove(rule) }, "Delete"),
      ) : null,
    ));
  }
  $("rules-empty").hidden = rules.length > 0;
}

function edit(rule) {
  $("rule-form-title").textContent = rule ? `Edit “${rule.name}”` : "New rule";
  $("rule-id").value = rule ? String(rule.id) : "";
  $("rule-name").value = rule ? rule.name : "";
  $("rule-keywords").value = rule ? rule.keywords.join(", ") : "";
  $("rule-pattern").value = rule ? rule.pattern : "";
  $("rule-channels").value = rule ? rule.channels.join(", ") : "";
  $("rule-languages").value = rule ? rule.languages.join(", ") : "";
  $("rule-known").value = rule && rule.known_customer !== null ? String(rule.known_customer) : "";
  $("rule-visibility").value = rule ? rule.visibility : "";
  $("rule-action").value = rule ? rule.action : "noise";
  $("rule-category").value = rule ? rule.category || "other" : "other";
  $("rule-enabled").checked = rule ? rule.enabled : true;
  $("rule-error").textContent = "";
  $("rule-name").focus();
}

async function patch(rule, fields) {
  try {
    await api(`triage/rules/${rule.id}`, { method: "PATCH", body: fields });
    await loadRules();
  } catch (error) {
    toast(`Could not change the rule: ${error.message}`);
  }
}

async function remove(rule) {
  try {
    await api(`triage/rules/${rule.id}`, { method: "DELETE" });
    toast(`Deleted “${rule.name}”`);
    await loadRules();
  } catch (error) {
    toast(`Could not delete the rule: ${error.message}`);
  }
}

async function save(event) {
  event.preventDefault();
  const id = $("rule-id").value;
  const known = $("rule-known").value;
  const body = {
    name: $("rule-name").value.trim(),
    keywords: list($("rule-keywords").value),
    pattern: $("rule-pattern").value.trim(),
    channels: list($("rule-channels").value),
    languages: list($("rule-languages").value),
    known_customer: known === "" ? null : known === "true",
    visibility: $("rule-visibility").value,
    action: $("rule-action").value,
    category: $("rule-category").value,
    enabled: $("rule-enabled").checked,
  };
  try {
    await api(id ? `triage/rules/${id}` : "triage/rules", { method: id ? "PATCH" : "POST", body });
    toast(id ? "Rule saved" : "Rule added");
    edit(null);
    await loadRules();
  } catch (error) {
    $("rule-error").textContent = error.message;
  }
}

async function retrain() {
  const button = $("retrain-btn");
  button.disabled = true;
  button.textContent = "Training…";
  try {
    const result = await api("triage/model/retrain", { method: "POST" });
    toast({ rolled_out: "A better model is in use", rejected: "The new model was not better: kept the one in use", skipped: "Not trained" }[result.outcome] + `: ${result.detail}`);
    await loadModel();
  } catch (error) {
    toast(`Training failed: ${error.message}`);
  } finally {
    button.disabled = false;
    button.textContent = "Retrain now";
  }
}

if (ADMIN) {
  $("rule-form").addEventListener("submit", save);
  $("rule-new").addEventListener("click", () => edit(null));
  $("retrain-btn").addEventListener("click", retrain);
}
Promise.all([loadModel(), loadRules()]).catch((error) => toast(`Could not load triage: ${error.message}`));
