"""Reads of triage: the rules, and the model's status (what is in use and how it did)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

from apps.triage.models import TriageLabel, TriageModel, TriageRule, TriageState


def rule_list() -> QuerySet[TriageRule]:
    return TriageRule.objects.order_by("position", "id")


def _model_data(model: TriageModel) -> dict[str, Any]:
    return {
        "version": model.version,
        "state": model.state,
        "precision": round(model.precision, 4),
        "recall": round(model.recall, 4),
        "previous_precision": None if model.previous_precision is None else round(model.previous_precision, 4),
        "previous_recall": None if model.previous_recall is None else round(model.previous_recall, 4),
        "threshold": round(model.threshold, 4),
        "labels_count": model.labels_count,
        "held_out_count": model.held_out_count,
        "trained_at": model.trained_at.isoformat(),
        "train_seconds": round(model.train_seconds, 3),
    }


def model_status() -> dict[str, Any]:
    """The model in use (None before the first rollout), the labels there are, the last
    trainings and what the last attempt said."""
    models = list(TriageModel.objects.defer("weights").order_by("-version")[:10])
    active = next((m for m in models if m.state == TriageModel.State.ACTIVE), None)
    if active is None:
        active = TriageModel.objects.defer("weights").filter(state=TriageModel.State.ACTIVE).first()
    counts = TriageLabel.objects.aggregate(
        total=Count("id"),
        actionable=Count("id", filter=Q(actionable=True)),
        agents=Count("id", filter=Q(source="agent")),
    )
    state = TriageState.objects.filter(pk=1).first()
    return {
        "active": _model_data(active) if active else None,
        "labels": {
            "total": counts["total"],
            "actionable": counts["actionable"],
            "noise": counts["total"] - counts["actionable"],
            "from_agents": counts["agents"],
            "since_last_training": TriageLabel.objects.filter(pk__gt=state.last_trained_label_id).count()
            if state
            else counts["total"],
        },
        "last_attempt_at": state.last_attempt_at.isoformat() if state and state.last_attempt_at else None,
        "last_result": state.last_result if state else "",
        "training": bool(state and state.training_since),
        "history": [_model_data(m) for m in models],
    }
