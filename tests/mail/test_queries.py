"""The router path, pinned by query count (the numbers are the budget; lower is fine): intake
(one INSERT) plus processing (parser, bus, router), tasks run eagerly, no agent online;
BEGIN/COMMIT and the test's re-read of the journal entry included."""

from __future__ import annotations

import pytest

from apps.conversations.models import Message
from tests.mail.support import DOMAIN, compose

# Lowered with the batch reads of apps.mail.router.MailBatch (was 34 / 25 / 25); the batch
# drain's own budget per mail is in test_batch.py.
FIRST_MAIL_QUERIES = 30  # new contact (named once the mail is known not to be a spoof), identity, conversation, thread; auto-ack settings
REPLY_BY_SUBJECT_QUERIES = 24  # known customer, thread found by [#id]
REPLY_BY_TOKEN_QUERIES = 25  # thread found by its reply address


@pytest.mark.django_db(transaction=True)
def test_first_mail_of_a_new_customer_query_budget(email_inbox, deliver, django_assert_max_num_queries):
    with django_assert_max_num_queries(FIRST_MAIL_QUERIES):
        deliver(compose())
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_reply_by_subject_token_query_budget(email_inbox, deliver, django_assert_max_num_queries):
    first = Message.objects.get(pk=deliver(compose()).message_id)
    with django_assert_max_num_queries(REPLY_BY_SUBJECT_QUERIES):
        deliver(compose(subject=f"Re: Router problem [#{first.conversation_id}]"))
    assert Message.objects.filter(conversation_id=first.conversation_id).count() == 2


@pytest.mark.django_db(transaction=True)
def test_reply_by_token_query_budget(email_inbox, deliver, django_assert_max_num_queries):
    first = Message.objects.get(pk=deliver(compose()).message_id)
    address = f"reply+{first.conversation.email_thread.reply_token}@{DOMAIN}"
    with django_assert_max_num_queries(REPLY_BY_TOKEN_QUERIES):
        deliver(compose(to=address), rcpt_tos=[address])
    assert Message.objects.filter(conversation_id=first.conversation_id).count() == 2
