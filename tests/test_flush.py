"""The suite's own teardown of transactional tests (tests/flush.py): it must leave the database as
Django's flush does, or every later test would start from another test's rows."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import TransactionTestCase

from apps.conversations.models import Message
from tests import flush

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="no PostgreSQL reachable: the suite runs on SQLite, where a teardown is Django's own flush and "
    "tests/flush.py is not used (REQUIRE_SERVICES=1, as CI sets it, fails the run instead)",
)


class _Case(TransactionTestCase):
    databases = {"default"}


def _teardown() -> None:
    flush.fast_teardown(_Case(methodName="__init__"))


def _model_rows() -> dict[str, int]:
    kept = set(flush.KEPT_TABLES)
    return {
        model._meta.db_table: model._base_manager.count()
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy and model._meta.db_table not in kept
    }


@pytest.mark.django_db(transaction=True)
def test_it_empties_every_table_linked_by_foreign_keys_and_keeps_content_types(receive_sms, agent):
    flush.note_reference("default")  # as a test starts, the content types are the flush's
    receive_sms(Body="first")
    receive_sms(Body="second")
    agent.refresh_from_db()
    assert Message.objects.count() == 2
    assert sum(_model_rows().values()) > 2
    kept = (ContentType.objects.count(), Permission.objects.count())

    _teardown()

    assert {table: rows for table, rows in _model_rows().items() if rows} == {}
    assert (ContentType.objects.count(), Permission.objects.count()) == kept
    assert flush._delete_all("default")  # the DELETEs ran, not a fallback to Django's flush


@pytest.mark.django_db(transaction=True)
def test_a_missing_content_type_brings_back_djangos_flush_which_writes_it_again():
    flush.note_reference("default")
    kept = (ContentType.objects.count(), Permission.objects.count())
    ContentType.objects.get_for_model(Message).delete()  # its permissions go with it
    assert not flush._delete_all("default")

    _teardown()

    assert (ContentType.objects.count(), Permission.objects.count()) == kept
    assert ContentType.objects.filter(app_label="conversations", model="message").exists()
