"""Status broadcasts: audience, preview, sending through the outbox (real local Twilio server),
opt-outs, WhatsApp's window, pacing, crash safety, progress and the report."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import Agent
from apps.broadcasts.models import Broadcast, BroadcastRecipient
from apps.broadcasts.services import (
    broadcast_create,
    broadcast_preview,
    broadcast_report,
    broadcast_send,
    broadcasts_dispatch,
)
from apps.bus import registry
from apps.bus.models import Event
from apps.contacts.models import Identity
from apps.conversations.models import Conversation, Label, Message
from apps.conversations.services import conversation_update
from apps.core.errors import Conflict
from apps.webhooks import catalogue
from apps.whatsapp.services import whatsapp_templates_sync
from tests.factories import AgentFactory

STATUS = "https://status.example.com/incidents/42"


def _label(message: Message, by, name: str = "outage") -> Label:
    conversation_update(conversation_id=message.conversation_id, by=by, labels=[name])
    return Label.objects.get(name=name)


def _dispatch_all(capture, now=None) -> int:
    """What the bus job does, with the outbox's sends run (they run after commit)."""
    total = 0
    while True:
        with capture(execute=True):
            done = broadcasts_dispatch(now=now or timezone.now() + dt.timedelta(hours=1))
        total += done
        if not done:
            return total


@pytest.fixture
def audience(admin, customer):
    """Four customers with the `outage` label: SMS, SMS opted out, WhatsApp in the window,
    WhatsApp outside it."""
    sms = customer("+14155550101")
    stopped = customer("+14155550102")
    Identity.objects.filter(pk=stopped.identity_id).update(opted_out=True, opted_out_at=timezone.now())
    wa_open = customer("+14155550103", whatsapp=True)
    wa_closed = customer("+14155550104", whatsapp=True, hours_ago=30)
    label = _label(sms, admin)
    for message in (stopped, wa_open, wa_closed):
        _label(message, admin)
    return {"label": label, "sms": sms, "stopped": stopped, "wa_open": wa_open, "wa_closed": wa_closed}


def _create(admin, label, **kwargs):
    return broadcast_create(
        by=admin,
        title="Outage in Lisbon",
        body="We know the internet is down in Lisbon and are fixing it.",
        status_url=STATUS,
        audience={"kind": "label", "label": label.pk},
        **kwargs,
    )


def test_preview_counts_who_gets_it_on_which_channel_and_who_is_skipped(admin, audience):
    broadcast = _create(admin, audience["label"])
    preview = broadcast_preview(by=admin, broadcast_id=broadcast.pk)
    assert preview["audience"] == 4
    assert preview["will_send"] == 2
    assert preview["channels"] == {"phone": 1, "whatsapp": 1}
    assert {k: v["count"] for k, v in preview["skipped"].items()} == {"opted_out": 1, "whatsapp_window_closed": 1}
    assert preview["text"].endswith("\n\n" + STATUS)
    assert sorted((r["address"], r["channel"], r["skipped"]) for r in preview["sample"]) == [
        ("+14155550101", "phone", ""),
        ("+14155550102", "phone", "opted_out"),
        ("+14155550103", "whatsapp", ""),
        ("+14155550104", "whatsapp", "whatsapp_window_closed"),
    ]
    assert BroadcastRecipient.objects.count() == 0  # a preview writes nothing
    assert Message.objects.filter(direction="out", kind="message").count() == 0


def test_send_puts_the_notice_in_each_customers_conversation_once_and_reports(
    admin, audience, twilio_server, django_capture_on_commit_callbacks, post_twilio
):
    templates_sid = twilio_server.add_content("Outage", "Service notice: {{1}}", variables={"1": "outage"})
    whatsapp_templates_sync()
    broadcast = _create(admin, audience["label"], whatsapp_template={"sid": templates_sid, "variables": {"1": STATUS}})
    assert broadcast_preview(by=admin, broadcast_id=broadcast.pk)["channels"] == {
        "phone": 1,
        "whatsapp": 1,
        "whatsapp_template": 1,
    }
    broadcast_send(by=admin, broadcast_id=broadcast.pk)
    assert _dispatch_all(django_capture_on_commit_callbacks) == 3  # the opted-out one was skipped at once

    notices = Message.objects.filter(direction="out", kind="message").order_by("id")
    assert notices.count() == 3
    by_conversation = {m.conversation_id: m for m in notices}
    text = f"We know the internet is down in Lisbon and are fixing it.\n\n{STATUS}"
    assert by_conversation[audience["sms"].conversation_id].body == text
    assert by_conversation[audience["wa_open"].conversation_id].body == text
    templated = by_conversation[audience["wa_closed"].conversation_id]
    assert templated.meta["template"]["sid"] == templates_sid
    assert templated.body == f"Service notice: {STATUS}"
    assert audience["stopped"].conversation_id not in by_conversation
    # The provider got exactly one send each, on the channel each customer uses.
    posts = twilio_server.message_posts()
    assert sorted(p.field("To") for p in posts) == [
        "+14155550101",
        "whatsapp:+14155550103",
        "whatsapp:+14155550104",
    ]
    # A notice does not hand the conversations to the supervisor who sent it.
    assert Conversation.objects.filter(assignee=admin).count() == 0

    report = broadcast_report(broadcast_id=broadcast.pk)
    assert report["state"] == "finished"
    assert report["counts"]["recipients"] == 4
    assert report["counts"]["skipped"] == 1 and report["skipped"]["opted_out"]["count"] == 1
    assert report["counts"]["queued"] == 3 and report["counts"]["sent"] == 0 and report["counts"]["pending"] == 0

    # Twilio's status callbacks come back: two delivered, one undelivered.
    sms_notice = by_conversation[audience["sms"].conversation_id]
    for notice, status, code in (
        (sms_notice, "delivered", ""),
        (by_conversation[audience["wa_open"].conversation_id], "delivered", ""),
        (templated, "undelivered", "63024"),
    ):
        notice.refresh_from_db()
        params = twilio_server.status_callback_params(notice.provider_id, status, code)
        assert post_twilio("/webhooks/twilio/status", **params).status_code == 200
    report = broadcast_report(broadcast_id=broadcast.pk)
    assert {k: report["counts"][k] for k in ("sent", "delivered", "failed", "skipped", "queued")} == {
        "sent": 2,
        "delivered": 2,
        "failed": 1,
        "skipped": 1,
        "queued": 0,
    }
    assert report["failed"] == {"63024": 1}
    assert report["channels"]["whatsapp_template"] == {"failed": 1}
    assert report["channels"]["phone"] == {"delivered": 1, "sent": 1, "skipped": 1}  # the opted-out one

    # Nothing is sent twice: the job again, the send again, a second row for a contact.
    assert _dispatch_all(django_capture_on_commit_callbacks) == 0
    with pytest.raises(Conflict):
        broadcast_send(by=admin, broadcast_id=broadcast.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        BroadcastRecipient.objects.create(broadcast=broadcast, contact_id=audience["sms"].conversation.contact_id)
    assert len(twilio_server.message_posts()) == 3


def test_a_reply_lands_in_the_customers_conversation(admin, audience, customer, django_capture_on_commit_callbacks):
    broadcast = _create(admin, audience["label"])
    broadcast_send(by=admin, broadcast_id=broadcast.pk)
    _dispatch_all(django_capture_on_commit_callbacks)
    reply = customer("+14155550101", "Thanks, when will it be back?")
    assert reply.conversation_id == audience["sms"].conversation_id
    notice = BroadcastRecipient.objects.get(contact_id=audience["sms"].conversation.contact_id).message
    assert notice.conversation_id == reply.conversation_id and notice.seq < reply.seq


def test_a_crash_part_way_redoes_only_what_did_not_commit(admin, customer, django_capture_on_commit_callbacks):
    messages = [customer(f"+1415555020{i}") for i in range(4)]
    label = _label(messages[0], admin)
    for message in messages[1:]:
        _label(message, admin)
    broadcast = _create(admin, label)
    broadcast_send(by=admin, broadcast_id=broadcast.pk)
    saved = registry.snapshot()
    calls = {"n": 0}

    def crash_on_third(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        from apps.bus.registry import ReplyPlan

        return ReplyPlan(body=kwargs["body"])

    registry.register_reply_check("phone", crash_on_third)
    try:
        with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
            broadcasts_dispatch(now=timezone.now() + dt.timedelta(hours=1), limit=2)  # commits 2
            broadcasts_dispatch(now=timezone.now() + dt.timedelta(hours=1), limit=2)  # dies on the 3rd
    finally:
        registry.restore(saved)
    assert Message.objects.filter(direction="out", kind="message").count() == 2
    assert BroadcastRecipient.objects.filter(state="sent").count() == 2
    _dispatch_all(django_capture_on_commit_callbacks)
    outbound = Message.objects.filter(direction="out", kind="message")
    assert outbound.count() == 4
    assert sorted(outbound.values_list("conversation_id", flat=True)) == sorted(m.conversation_id for m in messages)


def test_each_sender_number_is_paced_at_its_declared_rate(
    admin, customer, settings, django_capture_on_commit_callbacks
):
    assert registry.send_rate("phone") == settings.TWILIO_SMS_MPS == 1.0
    messages = [customer(f"+1415555030{i}") for i in range(3)]
    label = _label(messages[0], admin)
    for message in messages[1:]:
        _label(message, admin)
    broadcast = _create(admin, label)
    broadcast_send(by=admin, broadcast_id=broadcast.pk)
    start = Broadcast.objects.get(pk=broadcast.pk).started_at
    dues = list(BroadcastRecipient.objects.order_by("due_at").values_list("due_at", flat=True))
    assert [(d - start).total_seconds() for d in dues] == [0.0, 1.0, 2.0]
    with django_capture_on_commit_callbacks(execute=True):
        assert broadcasts_dispatch(now=start) == 1
        assert broadcasts_dispatch(now=start + dt.timedelta(seconds=0.5)) == 0
        assert broadcasts_dispatch(now=start + dt.timedelta(seconds=2)) == 2


def test_a_customer_who_opts_out_after_the_start_is_skipped(admin, audience, django_capture_on_commit_callbacks):
    broadcast = _create(admin, audience["label"])
    broadcast_send(by=admin, broadcast_id=broadcast.pk)
    Identity.objects.filter(pk=audience["sms"].identity_id).update(opted_out=True)
    _dispatch_all(django_capture_on_commit_callbacks)
    row = BroadcastRecipient.objects.get(contact_id=audience["sms"].conversation.contact_id)
    assert (row.state, row.reason, row.message_id) == ("skipped", "opted_out", None)
    assert not Message.objects.filter(
        conversation_id=audience["sms"].conversation_id, direction="out", kind="message"
    ).exists()


def test_progress_events_go_to_the_sender_and_finished_is_a_webhook_event(
    admin, audience, django_capture_on_commit_callbacks
):
    broadcast = _create(admin, audience["label"])
    broadcast_send(by=admin, broadcast_id=broadcast.pk)
    _dispatch_all(django_capture_on_commit_callbacks)
    progress = list(Event.objects.filter(type="broadcast.progress").order_by("id"))
    assert progress and all(e.agent_id == admin.pk for e in progress)
    assert progress[0].data["state"] == "sending" and progress[-1].data["state"] == "finished"
    finished = Event.objects.get(type="broadcast.finished")
    assert finished.agent_id is None
    assert [name for name, _ in catalogue.public_events(finished)] == ["broadcast.finished"]


def test_search_audience_takes_open_conversations_matching_the_text(admin, customer):
    customer("+14155550401", "fibre cut on my street")
    other = customer("+14155550402", "billing question")
    resolved = customer("+14155550403", "fibre is slow")
    conversation_update(conversation_id=resolved.conversation_id, by=admin, status="resolved")
    broadcast = broadcast_create(
        by=admin, title="Fibre", body="Fibre works tonight.", audience={"kind": "search", "q": "fibre"}
    )
    preview = broadcast_preview(by=admin, broadcast_id=broadcast.pk)
    assert preview["audience"] == 1 and preview["channels"] == {"phone": 1}
    listed = broadcast_create(
        by=admin,
        title="Billing",
        body="Billing is fixed.",
        audience={"kind": "contacts", "contacts": [other.conversation.contact_id]},
    )
    assert broadcast_preview(by=admin, broadcast_id=listed.pk)["audience"] == 1


def test_only_supervisors_and_admins_broadcast_through_the_api(admin_api, agent_api, audience):
    payload = {
        "title": "Outage",
        "body": "We are on it.",
        "status_url": STATUS,
        "audience": {"kind": "label", "label": audience["label"].pk},
    }
    assert agent_api.post("/api/v1/broadcasts", payload, format="json").status_code == 403
    assert agent_api.get("/api/v1/broadcasts").status_code == 403
    created = admin_api.post("/api/v1/broadcasts", payload, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert agent_api.get(f"/api/v1/broadcasts/{pk}/preview").status_code == 403
    preview = admin_api.get(f"/api/v1/broadcasts/{pk}/preview").json()
    assert preview["will_send"] == 2
    assert agent_api.post(f"/api/v1/broadcasts/{pk}/send").status_code == 403
    assert admin_api.post(f"/api/v1/broadcasts/{pk}/send").status_code == 202
    assert admin_api.post(f"/api/v1/broadcasts/{pk}/send").json()["error"]["code"] == "already_sent"
    detail = admin_api.get(f"/api/v1/broadcasts/{pk}").json()
    assert detail["state"] == "sending" and detail["report"]["counts"]["pending"] == 2
    recipients = admin_api.get(f"/api/v1/broadcasts/{pk}/recipients").json()["results"]
    assert sorted(r["state"] for r in recipients) == ["pending", "pending", "skipped", "skipped"]


def test_a_supervisor_broadcasts_and_an_agent_does_not(agent_api, audience, sms_inbox):
    supervisor = AgentFactory(username="sue", display_name="Sue", role=Agent.Role.SUPERVISOR)
    sms_inbox.members.add(supervisor)
    client = APIClient()
    client.force_authenticate(supervisor)
    payload = {
        "title": "Outage",
        "body": "We are on it.",
        "status_url": STATUS,
        "audience": {"kind": "label", "label": audience["label"].pk},
    }
    assert agent_api.post("/api/v1/broadcasts", payload, format="json").status_code == 403
    created = client.post("/api/v1/broadcasts", payload, format="json")
    assert created.status_code == 201, created.content
    assert client.get(f"/api/v1/broadcasts/{created.json()['id']}/preview").json()["will_send"] == 2
