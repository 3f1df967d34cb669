"""Outgoing webhooks against a real HTTP receiver on 127.0.0.1 (tests/fakes/webhook_receiver.py)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from django.utils import timezone

from apps.bus.events import EventType, event_append
from apps.conversations.services import conversation_update
from apps.webhooks.models import WebhookAttempt, WebhookCursor, WebhookDelivery
from apps.webhooks.services import (
    webhook_subscription_create,
    webhooks_dispatch,
    webhooks_fan_out,
    webhooks_job,
)
from tests.fakes.webhook_receiver import Reply
from tests.requires import missing

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def snippet(name: str) -> str:
    """The code block that follows `<!-- snippet: name -->` in docs/webhooks.md."""
    text = DOC.read_text()
    match = re.search(rf"<!-- snippet: {name} -->\n```\w+\n(.*?)```", text, re.S)
    assert match, f"docs/webhooks.md has no snippet {name}"
    return match.group(1)


def documented_verify():
    namespace: dict = {}
    exec(compile(snippet("verify-python"), "docs/webhooks.md", "exec"), namespace)  # noqa: S102
    return namespace["verify_webhook"]


def run_jobs(limit: int = 20) -> None:
    """What the bus worker's job loop does, until nothing more is due now."""
    for _ in range(limit):
        if not webhooks_job():
            return


def subscribe(admin, receiver, **kwargs):
    kwargs.setdefault("allow_private", True)  # the receiver is on loopback
    return webhook_subscription_create(by=admin, url=receiver.url, **kwargs)


def test_sms_events_are_posted_in_order_signed_and_verify_with_the_documented_snippet(admin, receiver, receive_sms):
    subscription = subscribe(admin, receiver)
    message = receive_sms(Body="Is the outage over?")
    run_jobs()

    types = [json.loads(r.body)["type"] for r in receiver.received]
    assert types == ["conversation.created", "message.created"]
    event_ids = [json.loads(r.body)["event_id"] for r in receiver.received]
    assert event_ids == sorted(event_ids)
    body = json.loads(receiver.received[1].body)
    assert body["data"]["message"]["id"] == message.pk
    assert body["data"]["message"]["body"] == "Is the outage over?"
    assert body["id"] == receiver.received[1].headers["webhook-id"]

    verify = documented_verify()
    for request in receiver.received:
        assert verify(subscription.secret, request.headers, request.body) is True
        assert request.headers["webhook-attempt"] == "1"
    first = receiver.received[0]
    assert verify(subscription.secret, first.headers, first.body + b" ") is False  # body changed
    stale = dict(first.headers, **{"webhook-timestamp": str(int(time.time()) - 3600)})
    assert verify(subscription.secret, stale, first.body) is False  # an old capture, replayed
    other_secret = subscribe(admin, receiver).secret
    assert verify(other_secret, first.headers, first.body) is False
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {"succeeded"}
    attempt = WebhookAttempt.objects.order_by("id").first()
    assert attempt.status_code == 200 and attempt.latency_ms is not None and attempt.outcome == "succeeded"


def test_documented_node_snippet_verifies_a_real_delivery(admin, receiver, receive_sms, tmp_path):
    if shutil.which("node") is None:
        missing("Node.js is not installed (the documented Node.js verification snippet is run by it)")
    subscription = subscribe(admin, receiver, event_types=["message.created"])
    receive_sms()
    run_jobs()
    [request] = receiver.received
    script = tmp_path / "verify.js"
    script.write_text(
        snippet("verify-node")
        + textwrap.dedent(
            """
            const [secret, headers, body, tampered] = JSON.parse(require("fs").readFileSync(0, "utf8"));
            console.log(JSON.stringify([
              verifyWebhook(secret, headers, Buffer.from(body, "base64")),
              verifyWebhook(secret, headers, Buffer.from(tampered, "base64")),
            ]));
            """
        )
    )
    import base64

    args = [
        subscription.secret,
        request.headers,
        base64.b64encode(request.body).decode(),
        base64.b64encode(request.body.replace(b"}", b" }", 1)).decode(),
    ]
    out = subprocess.run(["node", str(script)], input=json.dumps(args), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [True, False]


def test_5xx_is_retried_with_backoff_and_the_same_id_until_taken(admin, receiver, receive_sms):
    subscribe(admin, receiver, event_types=["message.created"])
    receiver.script(Reply(503), Reply(502))
    receive_sms()
    before = timezone.now()
    webhooks_fan_out()
    assert webhooks_dispatch() == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 503)
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 10 <= wait < 15
    assert webhooks_dispatch() == 0  # not due yet: nothing is sent early
    assert len(receiver.received) == 1

    second_due = delivery.next_attempt_at
    assert webhooks_dispatch(now=second_due) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 2, 502)
    second_wait = (delivery.next_attempt_at - second_due).total_seconds()
    assert 60 <= second_wait < 65

    assert webhooks_dispatch(now=delivery.next_attempt_at) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("succeeded", 3, 200)
    assert [r.headers["webhook-id"] for r in receiver.received] == [delivery.webhook_id] * 3
    assert [r.headers["webhook-attempt"] for r in receiver.received] == ["1", "2", "3"]
    assert list(delivery.attempt_log.order_by("id").values_list("status_code", "outcome")) == [
        (503, "retry"),
        (502, "retry"),
        (200, "succeeded"),
    ]


@pytest.mark.parametrize("status", [408, 429])
def test_408_and_429_are_retried(admin, receiver, receive_sms, status):
    subscribe(admin, receiver, event_types=["message.created"])
    receiver.script(Reply(status))
    receive_sms()
    run_jobs()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.last_status) == ("pending", status)


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_other_4xx_fail_at_once_without_retry(admin, receiver, receive_sms, status):
    subscribe(admin, receiver, event_types=["message.created"])
    receiver.script(Reply(status))
    receive_sms()
    run_jobs()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("failed", 1, status)
    assert webhooks_dispatch(now=timezone.now() + dt.timedelta(days=2)) == 0
    assert len(receiver.received) == 1


def test_a_timeout_is_retried(admin, receiver, receive_sms, settings):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    subscribe(admin, receiver, event_types=["message.created"])
    receiver.script(Reply(200, delay=1.5))
    receive_sms()
    run_jobs()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, None)
    assert "timed out" in delivery.last_error.lower() or "timeout" in delivery.last_error.lower()


def test_a_receiver_down_for_a_day_fails_the_delivery_after_a_day_of_retries(admin, receiver, receive_sms):
    subscribe(admin, receiver, event_types=["message.created"])
    receiver.script(*[Reply(500)] * 30)
    receive_sms()
    webhooks_fan_out()
    delivery = WebhookDelivery.objects.get()
    first_due = delivery.next_attempt_at
    now = timezone.now()
    while True:
        webhooks_dispatch(now=now)
        delivery.refresh_from_db()
        if delivery.state != "pending":
            break
        now = delivery.next_attempt_at
    assert delivery.state == "failed"
    assert "gave up after a day" in delivery.last_error
    last_try = delivery.attempt_log.order_by("-id").first()
    assert now - first_due <= dt.timedelta(hours=24)
    assert now - first_due >= dt.timedelta(hours=15)  # it kept trying for most of the day
    # The documented schedule: tries at 0 s, 10 s, 1 min 10 s, … 23.6 h; the next would pass the day.
    assert delivery.attempts == len(receiver.received) == 10
    assert last_try.outcome == "failed"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.0.0.1", "169.254.169.254", "[::1]"])
def test_private_and_loopback_destinations_are_refused_without_an_admin_allowance(admin, receiver, receive_sms, host):
    url = receiver.url.replace("127.0.0.1", host)
    webhook_subscription_create(by=admin, url=url, event_types=["message.created"])
    receive_sms()
    run_jobs()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "failed"
    assert delivery.last_error.startswith("refused:")
    assert "private, loopback or reserved" in delivery.last_error
    assert receiver.received == []


def test_the_setting_allows_private_destinations_for_every_webhook(admin, receiver, receive_sms, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    webhook_subscription_create(by=admin, url=receiver.url, event_types=["message.created"])
    receive_sms()
    run_jobs()
    assert WebhookDelivery.objects.get().state == "succeeded"
    assert len(receiver.received) == 1


def test_a_redirect_to_another_private_host_is_refused(admin, receiver, receive_sms):
    subscribe(admin, receiver, event_types=["message.created"])
    receiver.script(Reply(307, headers={"Location": f"http://localhost:{receiver.port}/elsewhere"}))
    receive_sms()
    run_jobs()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "failed"
    assert "refused" in delivery.last_error and "localhost" in delivery.last_error
    assert [r.path for r in receiver.received] == ["/hook"]


def test_a_307_on_the_same_host_is_followed_with_the_body(admin, receiver, receive_sms):
    subscribe(admin, receiver, event_types=["message.created"])
    receiver.script(Reply(307, headers={"Location": "/moved"}))
    receive_sms()
    run_jobs()
    assert WebhookDelivery.objects.get().state == "succeeded"
    assert [r.path for r in receiver.received] == ["/hook", "/moved"]
    assert receiver.received[0].body == receiver.received[1].body


def test_replay_from_the_api_sends_the_same_delivery_again_from_the_job(admin, admin_api, receiver, receive_sms):
    subscription = subscribe(admin, receiver, event_types=["message.created"])
    receiver.script(Reply(404))
    receive_sms()
    run_jobs()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "failed"

    response = admin_api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay")
    assert response.status_code == 202, response.content
    assert len(receiver.received) == 1  # not sent on the request: the job sends it
    run_jobs()
    delivery.refresh_from_db()
    assert delivery.state == "succeeded"
    assert [r.headers["webhook-id"] for r in receiver.received] == [delivery.webhook_id] * 2
    assert receiver.received[0].body == receiver.received[1].body
    assert documented_verify()(subscription.secret, receiver.received[1].headers, receiver.received[1].body)
    log = admin_api.get(f"/api/v1/webhook-deliveries/{delivery.pk}").json()
    assert [(a["status"], a["replay"]) for a in log["attempt_log"]] == [(404, False), (200, True)]
    page = admin_api.get(f"/api/v1/webhooks/{subscription.pk}/deliveries").json()
    assert [d["state"] for d in page["results"]] == ["succeeded"]


def test_fan_out_makes_one_delivery_per_subscription_and_event_even_when_run_again(admin, receiver, receive_sms):
    subscribe(admin, receiver)
    receive_sms()
    receive_sms()
    webhooks_fan_out()
    count = WebhookDelivery.objects.count()
    assert count == 3  # one conversation.created, two message.created
    WebhookCursor.objects.update(last_event_id=0)  # as if a crash lost the cursor's move
    webhooks_fan_out()
    assert WebhookDelivery.objects.count() == count


def test_event_type_filter_and_resolved(admin, receiver, receive_sms):
    subscribe(admin, receiver, event_types=["conversation.resolved"])
    message = receive_sms()
    conversation_update(conversation_id=message.conversation_id, by=admin, status="resolved")
    run_jobs()
    [request] = receiver.received
    body = json.loads(request.body)
    assert body["type"] == "conversation.resolved"
    assert body["data"]["conversation"]["status"] == "resolved"


def test_agent_notifications_are_not_webhook_events(admin, receiver, db):
    from django.db import transaction

    subscribe(admin, receiver)
    with transaction.atomic():
        event_append(type=EventType.NOTIFICATION_CREATED, data={"kind": "mention"}, agent_id=admin.pk)
    run_jobs()
    assert receiver.received == []


def test_only_admins_manage_webhooks(agent_api, admin_api, receiver):
    assert agent_api.get("/api/v1/webhooks").status_code == 403
    assert agent_api.post("/api/v1/webhooks", {"url": receiver.url}, format="json").status_code == 403
    created = admin_api.post(
        "/api/v1/webhooks", {"url": receiver.url, "event_types": ["message.created"]}, format="json"
    )
    assert created.status_code == 201
    assert created.json()["secret"].startswith("whsec_")
    assert admin_api.get("/api/v1/webhooks").json()["results"][0]["url"] == receiver.url
    assert "secret" not in admin_api.get("/api/v1/webhooks").json()["results"][0]
    bad = admin_api.post("/api/v1/webhooks", {"url": receiver.url, "event_types": ["nope"]}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_event_types"


def test_without_an_active_subscription_the_fan_out_reads_nothing(
    admin, receiver, receive_sms, django_assert_num_queries
):
    receive_sms()
    with django_assert_num_queries(1):
        assert webhooks_fan_out() == 0
    subscription = subscribe(admin, receiver)
    receive_sms()
    assert webhooks_fan_out() == 1  # the new message only: what came before the subscription is not read
    assert WebhookDelivery.objects.filter(subscription=subscription).count() == 1


def test_settled_deliveries_leave_the_log_after_its_retention(admin, receiver, receive_sms, settings):
    from apps.webhooks.services import webhooks_log_prune

    settings.WEBHOOKS_LOG_DAYS = 30
    subscribe(admin, receiver, event_types=["message.created"])
    receive_sms()
    receive_sms()
    run_jobs()
    old, new = WebhookDelivery.objects.order_by("id")
    WebhookDelivery.objects.filter(pk=old.pk).update(finished_at=timezone.now() - dt.timedelta(days=31))
    assert webhooks_log_prune() == 2  # the delivery and its attempt
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [new.pk]
    assert WebhookAttempt.objects.filter(delivery_id=old.pk).count() == 0


def test_a_test_event_is_queued_signed_and_logged(admin, admin_api, receiver):
    subscription = subscribe(admin, receiver, event_types=["message.created"])
    response = admin_api.post(f"/api/v1/webhooks/{subscription.pk}/ping")
    assert response.status_code == 202
    assert receiver.received == []  # the job sends it
    run_jobs()
    [request] = receiver.received
    body = json.loads(request.body)
    assert body["type"] == "ping" and body["data"]["webhook"]["id"] == subscription.pk
    assert documented_verify()(subscription.secret, request.headers, request.body)
    assert WebhookDelivery.objects.get().state == "succeeded"
    admin_api.post(f"/api/v1/webhooks/{subscription.pk}/ping")
    run_jobs()
    assert len(receiver.received) == 2 and WebhookDelivery.objects.count() == 2


def test_a_paused_webhook_sends_nothing_until_resumed(admin, receiver, receive_sms):
    from apps.webhooks.services import webhook_subscription_update

    subscription = subscribe(admin, receiver, event_types=["message.created"])
    receiver.script(Reply(503))
    receive_sms()
    run_jobs()
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == "pending"
    webhook_subscription_update(by=admin, subscription_id=subscription.pk, active=False)
    receive_sms()  # while paused: not delivered, ever
    assert webhooks_dispatch(now=timezone.now() + dt.timedelta(hours=1)) == 0  # the retry waits too
    assert len(receiver.received) == 1
    webhook_subscription_update(by=admin, subscription_id=subscription.pk, active=True)
    assert webhooks_dispatch(now=timezone.now() + dt.timedelta(hours=1)) == 1
    delivery.refresh_from_db()
    assert delivery.state == "succeeded"
    run_jobs()
    assert WebhookDelivery.objects.count() == 1  # the message sent while paused was not queued


@pytest.mark.django_db(transaction=True)
def test_a_second_worker_skips_the_fan_out_while_another_holds_it(admin, receiver):
    import threading

    from django.db import connection, transaction

    subscribe(admin, receiver)
    with transaction.atomic():
        event_append(type=EventType.CONTACT_UPDATED, data={"id": 1, "name": "Jane"})
    WebhookCursor.objects.get_or_create(pk=1)
    held, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        try:
            with transaction.atomic():
                WebhookCursor.objects.select_for_update().get(pk=1)
                held.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        assert webhooks_fan_out() == 0  # not blocked behind the other worker
        assert time.monotonic() - started < 2
        assert WebhookDelivery.objects.count() == 0
    finally:
        release.set()
        thread.join(10)
    assert webhooks_fan_out() == 1
    assert WebhookDelivery.objects.get().event_type == "contact.updated"
