"""Triage services: the verdict of an inbound message (called by the receive path), labels from
agents' clicks, the admin's rules, and the periodic retraining that rolls a model out only when it
beats the one in use on held-out labels.

Every process caches the rules and the active model (`triage_current`) and checks the versions
in TriageState at most every TRIAGE_RELOAD_SECONDS: the receive path costs no query in the steady
state, one every period, and three when something changed.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from apps.contacts.models import Identity
from apps.conversations.models import Message
from apps.core.errors import InvalidInput, NotFound
from apps.triage.classify import Category, Classifier, Context, Source, Verdict
from apps.triage.learner import Linear, Metrics, Sample, evaluate, is_held_out, train
from apps.triage.models import TriageLabel, TriageModel, TriageRule, TriageState
from apps.triage.rules import RuleError, RuleSet, compile_rule, pattern_regex

log = logging.getLogger(__name__)

STATE_PK = 1
KNOWN_AFTER = dt.timedelta(minutes=1)  # an address first seen longer ago than this is known
TRAINING_LEASE = dt.timedelta(minutes=15)


# --- the per-process cache ---------------------------------------------------------------


@dataclass
class _Loaded:
    classifier: Classifier
    rules_version: int | None
    model_version: int | None
    checked_at: float


_lock = threading.Lock()
_loaded: _Loaded | None = None


def triage_cache_reset(*, empty: bool = False) -> None:
    """Forget what this process loaded. With `empty`, start from no rules and no model, as
    checked now (tests: each starts from an empty database without paying the first load)."""
    global _loaded
    with _lock:
        _loaded = (
            _Loaded(Classifier(rules=RuleSet([]), model=None, model_version=None), 0, None, time.monotonic())
            if empty
            else None
        )


def _expire() -> None:
    """Reload on the next use (this process changed the rules or the model)."""
    loaded = _loaded
    if loaded is not None:
        loaded.checked_at = float("-inf")


def triage_current() -> Classifier:
    global _loaded
    loaded = _loaded
    now = time.monotonic()
    if loaded is not None and now - loaded.checked_at < settings.TRIAGE_RELOAD_SECONDS:
        return loaded.classifier
    with _lock:
        state = TriageState.objects.filter(pk=STATE_PK).values("rules_version", "model_version").first() or {
            "rules_version": 0,
            "model_version": None,
        }
        loaded = _loaded
        rules = loaded.classifier.rules if loaded is not None else None
        if rules is None or loaded is None or loaded.rules_version != state["rules_version"]:
            rules = _ruleset(TriageRule.objects.filter(enabled=True).order_by("position", "id"))
        model = loaded.classifier.model if loaded is not None else None
        if loaded is None or loaded.model_version != state["model_version"]:
            model = _model_load(state["model_version"])
        _loaded = _Loaded(
            Classifier(rules=rules, model=model, model_version=state["model_version"] if model else None),
            state["rules_version"],
            state["model_version"],
            now,
        )
        return _loaded.classifier


def _ruleset(rules: Iterable[TriageRule]) -> RuleSet:
    compiled = []
    for row in _rule_rows(rules):
        try:
            compiled.append(compile_rule(row))
        except RuleError:
            # Saved around the services (a database edit): skipped, never a reason to stop messages.
            log.exception("triage rule %s cannot be compiled; skipped", row["id"])
    return RuleSet(compiled)


def _model_load(version: int | None) -> Linear | None:
    if version is None:
        return None
    weights = TriageModel.objects.filter(version=version).values_list("weights", flat=True).first()
    if weights is None:
        return None
    try:
        return Linear.from_bytes(bytes(weights))
    except (ValueError, OSError, KeyError):
        # A model that cannot be read must not stop messages: rules only until the next one.
        log.exception("triage model v%s cannot be read; triaging by rules only", version)
        return None


def _rule_rows(rules: Iterable[TriageRule]) -> list[dict[str, Any]]:
    return [
        {
            "id": r.pk,
            "name": r.name,
            "action": r.action,
            "category": r.category,
            "keywords": r.keywords,
            "pattern": r.pattern,
            "channels": r.channels,
            "languages": r.languages,
            "known_customer": r.known_customer,
            "visibility": r.visibility,
        }
        for r in rules
    ]


def _state() -> TriageState:
    state, _ = TriageState.objects.get_or_create(pk=STATE_PK)
    return state


# --- the verdict ---------------------------------------------------------------------------


def message_triage(
    *, text: str, channel: str, meta: Mapping[str, Any], identity: Identity, automatic: bool, now: dt.datetime
) -> Verdict:
    """The verdict of an inbound message, before it is stored. No query in the steady state.

    Known customer: the gateway says so (meta["known_customer"], e.g. a linked social account),
    or the address was first seen before this message. Public: meta["visibility"] is public or
    unlisted (a social mention), or meta["public"] is true.
    """
    known = meta.get("known_customer")
    if not isinstance(known, bool):
        known = identity.created_at is not None and identity.created_at < now - KNOWN_AFTER
    public = meta.get("visibility") in ("public", "unlisted") or meta.get("public") is True
    context = Context(channel=channel, public=public, known_customer=known, automatic=automatic)
    return triage_current().classify(text, context)


def agent_verdict(*, actionable: bool, by_name: str) -> Verdict:
    category = Category.ACTIONABLE if actionable else Category.OTHER
    words = "actionable" if actionable else "not actionable"
    return Verdict(actionable, category, f"Marked {words} by {by_name}", Source.AGENT)


# --- labels --------------------------------------------------------------------------------


def label_record(*, message: Message, actionable: bool, by: Any) -> TriageLabel:
    """An agent said whether this message is actionable: the model's next lesson. One label per
    message; a second click replaces the first."""
    label, _ = TriageLabel.objects.update_or_create(
        message=message,
        defaults={
            "text": message.body,
            "channel": message.channel,
            "actionable": actionable,
            "by": by,
            "source": TriageLabel.Source.AGENT,
        },
    )
    return label


def labels_import(rows: Iterable[Mapping[str, Any]]) -> int:
    """Labels from a corpus (text, actionable[, channel]): a new desk's first lessons."""
    labels = [
        TriageLabel(
            text=str(row["text"]),
            actionable=bool(row["actionable"]),
            channel=str(row.get("channel") or ""),
            source=TriageLabel.Source.IMPORT,
        )
        for row in rows
    ]
    TriageLabel.objects.bulk_create(labels, batch_size=500)
    return len(labels)


# --- rules ---------------------------------------------------------------------------------

RULE_FIELDS = (
    "name",
    "enabled",
    "position",
    "action",
    "category",
    "keywords",
    "pattern",
    "channels",
    "languages",
    "known_customer",
    "visibility",
)


def _rule_check(rule: TriageRule) -> None:
    if not rule.name.strip():
        raise InvalidInput("a rule needs a name", code="invalid_rule")
    if not (
        rule.keywords
        or rule.pattern
        or rule.channels
        or rule.languages
        or rule.known_customer is not None
        or rule.visibility
    ):
        raise InvalidInput("a rule needs at least one condition", code="invalid_rule")
    if not isinstance(rule.keywords, list) or not all(isinstance(k, str) for k in rule.keywords):
        raise InvalidInput("keywords must be a list of words or phrases", code="invalid_rule")
    try:
        pattern_regex(rule.pattern)
    except RuleError as exc:
        raise InvalidInput(str(exc), code="invalid_pattern") from None


def rules_changed() -> None:
    """Every process reloads the rules (at its next check; this one at once)."""
    _state()
    TriageState.objects.filter(pk=STATE_PK).update(rules_version=F("rules_version") + 1)
    _expire()
    transaction.on_commit(_expire)


@transaction.atomic
def rule_create(*, by: Any, **fields: Any) -> TriageRule:
    rule = TriageRule(created_by=by, **{k: v for k, v in fields.items() if k in RULE_FIELDS})
    if "position" not in fields:
        rule.position = (TriageRule.objects.aggregate(top=Max("position"))["top"] or 0) + 1
    _rule_check(rule)
    rule.save()
    rules_changed()
    return rule


@transaction.atomic
def rule_update(*, rule_id: int, **fields: Any) -> TriageRule:
    rule = TriageRule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("no such rule")
    for key, value in fields.items():
        if key in RULE_FIELDS:
            setattr(rule, key, value)
    _rule_check(rule)
    rule.save()
    rules_changed()
    return rule


@transaction.atomic
def rule_delete(*, rule_id: int) -> None:
    deleted, _ = TriageRule.objects.filter(pk=rule_id).delete()
    if not deleted:
        raise NotFound("no such rule")
    rules_changed()


# --- training and rollout ------------------------------------------------------------------


@dataclass(frozen=True)
class Training:
    outcome: str  # "rolled_out", "rejected", "skipped"
    detail: str
    version: int | None = None


def _samples() -> tuple[list[Sample], int]:
    rows = list(TriageLabel.objects.order_by("id").values_list("id", "text", "actionable"))
    return [Sample(key=str(pk), text=text, actionable=actionable) for pk, text, actionable in rows], (
        rows[-1][0] if rows else 0
    )


def triage_retrain(*, force: bool = False) -> Training:
    """Train a candidate on the labels not held out; roll it out only if its F2 (recall weighs
    four times precision) on the held-out labels beats the model in use on the same labels (no
    model: everything actionable). One process trains at a time (a lease on TriageState)."""
    now = timezone.now()
    _state()
    leased = (
        TriageState.objects.filter(pk=STATE_PK)
        .filter(Q(training_since__isnull=True) | Q(training_since__lt=now - TRAINING_LEASE))
        .update(training_since=now, last_attempt_at=now)
    )
    if not leased:
        return Training("skipped", "another process is training")
    try:
        result = _retrain(force=force)
    except Exception as exc:
        TriageState.objects.filter(pk=STATE_PK).update(training_since=None, last_result=f"failed: {exc}"[:200])
        raise
    TriageState.objects.filter(pk=STATE_PK).update(training_since=None, last_result=result.detail[:200])
    return result


def _retrain(*, force: bool) -> Training:
    samples, last_id = _samples()
    held = [s for s in samples if is_held_out(s.key)]
    learn = [s for s in samples if not is_held_out(s.key)]
    minimum = settings.TRIAGE_MIN_LABELS_PER_KIND
    for name, part in (("training", learn), ("held-out", held)):
        kinds = (sum(1 for s in part if s.actionable), sum(1 for s in part if not s.actionable))
        needed = minimum if name == "training" else max(1, minimum // 4)
        if min(kinds) < needed:
            detail = f"not enough labels: {name} has {kinds[0]} actionable and {kinds[1]} not (needs {needed} of each)"
            TriageState.objects.filter(pk=STATE_PK).update(last_trained_label_id=last_id)
            return Training("skipped", detail)
    started = time.process_time()
    candidate = train(learn)
    seconds = time.process_time() - started
    active = TriageModel.objects.filter(state=TriageModel.State.ACTIVE).first()
    current = Linear.from_bytes(bytes(active.weights)) if active is not None else None
    mine: Metrics = evaluate(candidate, held)
    theirs: Metrics = evaluate(current, held)
    better = mine.f2 > theirs.f2
    with transaction.atomic():
        version = (TriageModel.objects.aggregate(top=Max("version"))["top"] or 0) + 1
        if better:
            TriageModel.objects.filter(state=TriageModel.State.ACTIVE).update(state=TriageModel.State.RETIRED)
        TriageModel.objects.create(
            version=version,
            state=TriageModel.State.ACTIVE if better else TriageModel.State.REJECTED,
            weights=candidate.to_bytes(),
            threshold=candidate.threshold,
            labels_count=len(learn),
            held_out_count=len(held),
            precision=mine.precision,
            recall=mine.recall,
            previous_precision=theirs.precision,
            previous_recall=theirs.recall,
            last_label_id=last_id,
            train_seconds=seconds,
        )
        update: dict[str, Any] = {"last_trained_label_id": last_id}
        if better:
            update["model_version"] = version
        TriageState.objects.filter(pk=STATE_PK).update(**update)
        if better:
            _expire()  # this process at once (it reads its own transaction), the others at their next check
            transaction.on_commit(_expire)
    who = f"v{active.version}" if active is not None else "no model"
    detail = (
        f"v{version}: precision {mine.precision:.3f} recall {mine.recall:.3f} on {len(held)} held-out labels "
        f"vs {who}: precision {theirs.precision:.3f} recall {theirs.recall:.3f}"
    )
    if better:
        log.info("triage model %s rolled out: %s", version, detail)
        return Training("rolled_out", detail, version)
    return Training("rejected", detail + " (kept the model in use)", version)


_last_due_check = float("-inf")


def triage_retrain_timer_reset(*, due: bool) -> None:
    """Start the sweep's period now (`due`=False) or make the next sweep look at once (tests)."""
    global _last_due_check
    _last_due_check = float("-inf") if due else time.monotonic()


def triage_retrain_due() -> str:
    """The bus sweep's turn: at most every TRIAGE_RETRAIN_SECONDS per process, retrain when
    TRIAGE_RETRAIN_NEW_LABELS labels came since the last training."""
    global _last_due_check
    now = time.monotonic()
    if now - _last_due_check < settings.TRIAGE_RETRAIN_SECONDS:
        return "not yet"
    _last_due_check = now
    state = _state()
    new = TriageLabel.objects.filter(pk__gt=state.last_trained_label_id).count()
    if new < settings.TRIAGE_RETRAIN_NEW_LABELS:
        return f"{new} new labels"
    return triage_retrain().outcome
