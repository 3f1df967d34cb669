from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from apps.bus.events import event_append
from apps.bus.models import Event
from apps.bus.services import events_prune


def _old_events(n: int, age: dt.timedelta) -> list[int]:
    with transaction.atomic():
        ids = [event_append(type="agent.updated", data={"n": i}).id for i in range(n)]
    Event.objects.filter(id__in=ids).update(created_at=timezone.now() - age)
    return ids


@pytest.mark.django_db(transaction=True)
def test_prune_drops_events_past_retention_but_keeps_the_newest(settings):
    settings.EVENT_RETENTION_DAYS = 7
    ids = _old_events(3, dt.timedelta(days=30))

    assert events_prune() == 2

    assert list(Event.objects.values_list("id", flat=True)) == [ids[-1]]


@pytest.mark.django_db(transaction=True)
def test_prune_keeps_events_within_retention(settings):
    settings.EVENT_RETENTION_DAYS = 7
    old = _old_events(2, dt.timedelta(days=30))
    recent = _old_events(2, dt.timedelta(days=1))

    assert events_prune() == 2

    assert list(Event.objects.order_by("id").values_list("id", flat=True)) == recent
    assert not Event.objects.filter(id__in=old).exists()
