"""apps.core.rawsql: the bus's statements written once give the rows the ORM would (PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import Inbox
from apps.conversations.models import Conversation, Message
from apps.core import rawsql
from tests.factories import ContactFactory, ConversationFactory, InboxFactory
from tests.requires import needs_postgres

pytestmark = [needs_postgres, pytest.mark.django_db]


def _fields(obj):
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


@pytest.mark.parametrize("prepare", [True, False], ids=["prepared pipeline", "one query string"])
def test_instances_are_the_orms(prepare, settings):
    settings.DATABASE_PREPARE = prepare
    inbox = InboxFactory(config={"n": 12345678901234567890, "text": "é"})  # JSON, a long number
    conversation = ConversationFactory(inbox=inbox, last_message={"body": "hi", "at": None})
    (rows_inbox, rows_conversation) = rawsql.run(
        [
            (f"{rawsql.select_sql(Inbox)} WHERE t.id = %s", [inbox.pk]),
            (f"{rawsql.select_sql(Conversation)} WHERE t.id = %s", [conversation.pk]),
        ]
    )
    (read_inbox,) = rawsql.instances(Inbox, rows_inbox)
    (read_conversation,) = rawsql.instances(Conversation, rows_conversation)
    assert _fields(read_inbox) == _fields(Inbox.objects.get(pk=inbox.pk))
    assert read_inbox.config == {"n": 12345678901234567890, "text": "é"}
    assert _fields(read_conversation) == _fields(Conversation.objects.get(pk=conversation.pk))
    assert not read_conversation._state.adding and read_conversation._state.db == "default"


def test_run_gives_each_statement_its_rows_and_its_own_snapshot():
    contact = ContactFactory()
    results = rawsql.run(
        [
            ("SELECT id FROM contacts_contact WHERE id = %s FOR NO KEY UPDATE", [contact.pk]),
            ("UPDATE contacts_contact SET name = %s WHERE id = %s", ["Ada", contact.pk]),
            ("SELECT name FROM contacts_contact WHERE id = %s", [contact.pk]),  # sees the UPDATE
        ]
    )
    assert results == [[(contact.pk,)], [], [("Ada",)]]


@pytest.mark.parametrize("prepare", [True, False], ids=["prepared pipeline", "one query string"])
def test_an_error_in_run_is_djangos(prepare, settings):
    settings.DATABASE_PREPARE = prepare
    inbox = InboxFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        rawsql.run(
            [
                ("SELECT 1", []),
                (
                    "INSERT INTO accounts_inbox (name, channel, key, address, auto_assign, config, created_at)"
                    " SELECT name, channel, key, address, auto_assign, config, created_at FROM accounts_inbox WHERE id = %s",
                    [inbox.pk],
                ),  # the same key again
            ]
        )


def test_insert_writes_what_create_would():
    inbox = InboxFactory()
    contact = ContactFactory()
    conversation = Conversation(inbox=inbox, contact=contact, last_activity_at=timezone.now())
    rawsql.insert(conversation)
    assert conversation.pk is not None and not conversation._state.adding
    stored = Conversation.objects.get(pk=conversation.pk)
    assert stored.status == Conversation.Status.OPEN  # the model's default
    assert stored.created_at is not None and stored.created_at == conversation.created_at  # auto_now_add


def test_insert_pair_writes_a_conversation_and_its_first_message_in_one_statement(django_assert_num_queries):
    inbox = InboxFactory()
    contact = ContactFactory()
    now = timezone.now()
    conversation = Conversation(inbox=inbox, contact=contact, last_activity_at=now, last_seq=1)
    message = Message(
        conversation=conversation, seq=1, inbox=inbox, direction="in", channel="phone", body="hi", created_at=now
    )
    with django_assert_num_queries(1):
        rawsql.insert_pair(conversation, message, "conversation")
        assert message.conversation is conversation  # kept: no read to find it again
    assert message.conversation_id == conversation.pk
    assert Message.objects.get(pk=message.pk).conversation_id == Conversation.objects.get(pk=conversation.pk).pk
    assert Message.objects.get(pk=message.pk).updated_at is not None  # auto_now


def test_insert_pair_leaves_out_a_child_that_conflicts_when_asked():
    from apps.contacts.models import Contact, Identity

    taken = ContactFactory()
    Identity.objects.create(contact=taken, kind="phone", address="+14155550111", display="+14155550111")
    contact = Contact(name="Second")
    identity = Identity(kind="phone", address="+14155550111", display="+14155550111")
    assert rawsql.insert_pair(contact, identity, "contact", child_unless_conflict=True) is False
    assert contact.pk is not None and identity.pk is None  # the parent alone, for the caller
    assert Identity.objects.get(address="+14155550111").contact_id == taken.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        rawsql.insert_pair(Contact(name="Third"), Identity(kind="phone", address="+14155550111"), "contact")


def test_update_writes_many_rows_in_one_statement(django_assert_num_queries):
    first, second = ConversationFactory(), ConversationFactory()
    first.last_message = {"body": "one"}
    first.snoozed_until = timezone.now() + dt.timedelta(hours=1)
    first.last_seq = 7
    second.last_message = None
    second.snoozed_until = None
    second.last_seq = 3
    with django_assert_num_queries(1):
        assert rawsql.update([first, second], ["last_message", "snoozed_until", "last_seq"]) == 2
    for obj in (first, second):
        stored = Conversation.objects.get(pk=obj.pk)
        assert (stored.last_message, stored.snoozed_until, stored.last_seq) == (
            obj.last_message,
            obj.snoozed_until,
            obj.last_seq,
        )


def test_prepared_statements_are_planned_once_per_connection(settings):
    settings.DATABASE_PREPARE = True
    contact = ContactFactory()
    sql = "SELECT name FROM contacts_contact WHERE id = %s"
    for _ in range(3):
        rawsql.run([(sql, [contact.pk]), ("SELECT 1 WHERE %s", [True])])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["%contacts_contact%"])
        assert cursor.fetchone()[0] == 1
    with CaptureQueriesContext(connection) as ctx:
        rawsql.run([(sql, [contact.pk])], prepare=False)
    assert ctx.captured_queries[0]["sql"] == f"SELECT name FROM contacts_contact WHERE id = {contact.pk}"
