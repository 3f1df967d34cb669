"""The learned model: trained from labels, rolled out only when it beats the one in use on
held-out labels, stored in the database and picked up by every process."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.triage.classify import Context
from apps.triage.learner import Linear, is_held_out
from apps.triage.models import TriageLabel, TriageModel, TriageState
from apps.triage.services import (
    labels_import,
    rule_create,
    triage_cache_reset,
    triage_current,
    triage_retrain,
    triage_retrain_due,
    triage_retrain_timer_reset,
)
from tests.triage.conftest import corpus

pytestmark = pytest.mark.django_db


def test_too_few_labels_trains_nothing():
    labels_import([{"text": "my order is late", "actionable": True}, {"text": "thanks!", "actionable": False}])

    result = triage_retrain()

    assert result.outcome == "skipped"
    assert "not enough labels" in result.detail
    assert not TriageModel.objects.exists()
    assert triage_current().model is None


def test_a_model_from_the_corpus_beats_no_model_and_is_rolled_out():
    labels_import(corpus())

    result = triage_retrain()

    model = TriageModel.objects.get()
    assert (result.outcome, result.version, model.version, model.state) == ("rolled_out", 1, 1, "active")
    assert model.recall >= 0.9 and model.precision > model.previous_precision
    assert model.previous_recall == 1.0  # no model: everything actionable
    assert TriageState.objects.get().model_version == 1
    classifier = triage_current()
    assert classifier.model_version == 1
    assert classifier.classify("Congratulations! You won, claim your prize now", _context()).noise
    assert classifier.classify("my parcel never arrived, order 5521", _context()).actionable


def test_a_candidate_that_does_not_beat_the_model_in_use_is_kept_out():
    labels_import(corpus())
    assert triage_retrain().outcome == "rolled_out"
    # Keep the held-out labels, but only a handful to learn from: a weaker candidate.
    learn = [label for label in TriageLabel.objects.all() if not is_held_out(str(label.pk))]
    keep = {x.pk for x in [x for x in learn if x.actionable][:25] + [x for x in learn if not x.actionable][:25]}
    TriageLabel.objects.filter(pk__in=[x.pk for x in learn if x.pk not in keep]).delete()

    result = triage_retrain()

    assert result.outcome == "rejected"
    assert list(TriageModel.objects.order_by("version").values_list("version", "state")) == [
        (1, "active"),
        (2, "rejected"),
    ]
    assert TriageState.objects.get().model_version == 1
    assert triage_current().model_version == 1


def test_retraining_on_the_same_labels_is_no_better_and_is_not_rolled_out():
    labels_import(corpus())
    triage_retrain()

    assert triage_retrain().outcome == "rejected"  # same figures: not strictly better
    assert TriageModel.objects.get(state="active").version == 1


def test_another_process_loads_the_rolled_out_model_from_the_database():
    labels_import(corpus())
    triage_retrain()
    stored = TriageModel.objects.get()
    triage_cache_reset()  # a process that has loaded nothing yet

    classifier = triage_current()

    assert classifier.model_version == stored.version
    assert classifier.model is not None
    assert classifier.model.threshold == pytest.approx(Linear.from_bytes(bytes(stored.weights)).threshold)


def test_a_process_notices_new_rules_and_model_after_its_reload_period(settings, django_assert_num_queries):
    labels_import(corpus())
    triage_retrain()
    rule_create(by=None, name="Spam links", pattern=r"bit\.ly/", category="spam")
    settings.TRIAGE_RELOAD_SECONDS = 3600
    triage_cache_reset(empty=True)  # as a process that looked a moment before both changes

    with django_assert_num_queries(0):  # within its period: what it had, no query
        assert triage_current().model is None
        assert triage_current().rules.rules == []
    settings.TRIAGE_RELOAD_SECONDS = 0
    with django_assert_num_queries(3):  # the versions, the rules, the model
        classifier = triage_current()
    assert classifier.model_version == 1
    assert [r.name for r in classifier.rules.rules] == ["Spam links"]
    with django_assert_num_queries(1):  # nothing changed since: the versions only
        assert triage_current().model_version == 1


def test_the_sweep_retrains_once_enough_new_labels_came(settings):
    settings.TRIAGE_RETRAIN_NEW_LABELS = 50
    labels_import(corpus()[:40])
    triage_retrain_timer_reset(due=True)
    assert triage_retrain_due() == "40 new labels"
    assert triage_retrain_due() == "not yet"  # once a period
    labels_import(corpus()[40:])
    triage_retrain_timer_reset(due=True)

    assert triage_retrain_due() == "rolled_out"
    assert TriageModel.objects.get().state == "active"


def test_one_process_trains_at_a_time():
    labels_import(corpus())
    TriageState.objects.create(pk=1, training_since=timezone.now())

    assert triage_retrain().outcome == "skipped"
    assert not TriageModel.objects.exists()


def _context() -> Context:
    return Context(channel="phone", public=False, known_customer=False, automatic=False)
