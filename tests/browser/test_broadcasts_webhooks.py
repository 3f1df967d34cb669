"""The admin pages as a supervisor uses them: a status broadcast composed, previewed, sent and
followed live to its report; a webhook made, its delivery log read and a delivery replayed.
Real Chromium, a real server process (its job loop sends), the local Twilio-compatible server."""

from __future__ import annotations

import json
import uuid

import pytest

from apps.accounts.models import Agent
from apps.broadcasts.models import BroadcastRecipient
from apps.contacts.models import Identity
from apps.conversations.models import Message
from apps.conversations.services import conversation_update
from apps.webhooks.models import WebhookDelivery
from tests.browser.support import open_console, screenshot, wait_for_js
from tests.conftest import twilio_params
from tests.factories import AgentFactory
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.servers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

WEBHOOK = "/webhooks/twilio/messages"
STATUS = "https://status.example.com/incidents/7"


@pytest.fixture
def supervisor(sms_inbox):
    agent = AgentFactory(username="sup", display_name="Sam Supervisor", role=Agent.Role.ADMIN)
    sms_inbox.members.add(agent)
    return agent


def _customer(console_server, number: str, body: str) -> Message:
    params = twilio_params(From=number, Body=body)
    console_server.post_twilio(WEBHOOK, params)
    return wait_for(lambda: Message.objects.filter(provider_id=params["MessageSid"]).first(), timeout=10)


def test_a_supervisor_composes_previews_sends_and_follows_a_broadcast(
    chromium, console_server, twilio_server, supervisor
):
    tag = uuid.uuid4().hex[:6]
    reached = [_customer(console_server, f"+1415555070{i}", f"No internet {tag}") for i in range(2)]
    stopped = _customer(console_server, "+14155550709", f"Down here too {tag}")
    Identity.objects.filter(pk=stopped.identity_id).update(opted_out=True)
    for message in (*reached, stopped):
        conversation_update(conversation_id=message.conversation_id, by=supervisor, labels=["outage"])
    twilio_server.post_status_callbacks(("sent", "delivered"), delay=0.1)

    sam = open_console(chromium, console_server, "sup")
    page = sam.page
    page.click("a.topbar-link:has-text('Broadcasts')")
    page.wait_for_url(console_server.url + "/console/admin/broadcasts/")
    wait_for_js(page, "document.body.dataset.ready === '1'")
    page.evaluate("() => { window.confirm = () => true; }")  # the send asks "are you sure?"

    page.fill("#bc-title", "Fibre outage")
    page.fill("#bc-body", "We know the internet is down in your area and are fixing it.")
    page.fill("#bc-url", STATUS)
    page.select_option("#bc-label", label="outage")
    screenshot(page, "broadcast-compose")
    page.click("#bc-preview-btn")
    page.locator("#bc-preview").wait_for()
    assert page.locator("#bc-preview-summary").inner_text() == "2 of 3 customers will get this notice."
    assert page.locator("#bc-preview-channels tbody tr").all_inner_texts() == ["SMS\t2"]
    assert "opted out" in page.locator("#bc-preview-skipped [data-reason=opted_out]").inner_text()
    assert page.locator("#bc-text").inner_text().endswith(STATUS)
    page.click("#bc-sample-box summary")
    sample = page.locator("#bc-sample tbody tr").all_inner_texts()
    ids = [m.conversation.contact_id for m in (*reached, stopped)]
    assert sorted(sample) == sorted(
        [
            f"Contact {ids[0]}\t+14155550700\tSMS",
            f"Contact {ids[1]}\t+14155550701\tSMS",
            f"Contact {ids[2]}\t+14155550709\tskipped: opted out of messages on this channel (texted STOP)",
        ]
    )
    screenshot(page, "broadcast-preview")

    page.click("#bc-send")
    page.locator("#bc-progress").wait_for()
    wait_for_js(
        page, "document.querySelector('#bc-counts [data-count=delivered] dd')?.textContent === '2'", timeout=30_000
    )
    assert page.locator("#bc-state").inner_text() == "Finished"
    assert page.locator("#bc-counts [data-count=skipped] dd").inner_text() == "1"
    assert page.locator("#bc-counts [data-count=failed] dd").inner_text() == "0"
    assert "opted out" in page.locator("#bc-reasons [data-reason=opted_out]").inner_text()
    wait_for_js(
        page,
        "document.querySelectorAll('#bc-recipients tbody tr').length === 3"
        " && !document.querySelector('#bc-recipients').innerText.includes('queued')",
        timeout=15_000,
    )
    screenshot(page, "broadcast-report")

    # Each reached customer has the notice once, in their own conversation, sent on SMS.
    for message in reached:
        notices = Message.objects.filter(conversation_id=message.conversation_id, direction="out", kind="message")
        assert [(n.body, n.status) for n in notices] == [
            (f"We know the internet is down in your area and are fixing it.\n\n{STATUS}", "delivered")
        ]
    assert sorted(p.field("To") for p in twilio_server.message_posts()) == ["+14155550700", "+14155550701"]
    assert BroadcastRecipient.objects.get(contact_id=stopped.conversation.contact_id).reason == "opted_out"

    # The report links to each customer's conversation, where the notice is in the timeline.
    row = page.locator("#bc-recipients tbody tr", has_text="+14155550700")
    row.locator("a", has_text="Conversation").click()
    page.wait_for_url(f"{console_server.url}/console/#c{reached[0].conversation_id}")
    page.locator("#timeline li.msg.out", has_text="We know the internet is down in your area").wait_for()
    assert page.locator("#conv-title").inner_text() != ""
    assert not sam.errors, sam.errors


def test_an_admin_makes_a_webhook_reads_its_log_and_replays_a_delivery(
    chromium, console_server, twilio_server, supervisor
):
    with WebhookReceiver() as receiver:
        receiver.script(Reply(410))  # the first delivery is refused for good
        sam = open_console(chromium, console_server, "sup")
        page = sam.page
        page.goto(console_server.url + "/console/admin/webhooks/")
        wait_for_js(page, "document.body.dataset.ready === '1'")
        page.click("#wh-new")
        page.fill("#wh-url", receiver.url)
        page.fill("#wh-description", "CRM")
        page.check("#wh-types input[value='message.created']")
        page.check("#wh-private")
        page.click("#wh-form button[type=submit]")
        page.locator("#wh-detail").wait_for()
        secret = page.locator("#wh-secret").inner_text()
        assert secret.startswith("whsec_")

        _customer(console_server, "+14155550801", "Hello webhooks")
        wait_for(lambda: WebhookDelivery.objects.filter(state="failed").exists(), timeout=15, what="a failed delivery")
        page.select_option("#wh-state", "failed")
        row = page.locator("#wh-log tbody tr", has_text="message.created")
        row.wait_for()
        assert "HTTP 410" in row.inner_text()

        page.evaluate("() => { window.confirm = () => true; }")
        row.locator("button", has_text="Replay").click()
        wait_for(lambda: WebhookDelivery.objects.filter(state="succeeded").exists(), timeout=15, what="the replay")
        page.select_option("#wh-state", "")
        done = page.locator("#wh-log tbody tr", has_text="succeeded")
        done.wait_for(timeout=10_000)
        done.locator("button", has_text="Attempts").click()
        attempts = page.locator("#wh-log tr.attempts")
        attempts.wait_for()
        assert "(replay)" in attempts.inner_text() and "HTTP 410" in attempts.inner_text()
        attempts.locator("summary", has_text="Payload").click()
        assert '"type": "message.created"' in attempts.locator("pre.payload").inner_text()
        screenshot(page, "webhooks-log")

        bodies = [json.loads(r.body) for r in receiver.received]
        assert [b["type"] for b in bodies] == ["message.created", "message.created"]
        assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]

        page.click("#wh-ping")  # "Send test event"
        ping = page.locator("#wh-log tbody tr", has_text="ping")
        ping.wait_for(timeout=10_000)
        wait_for(lambda: len(receiver.received) == 3, timeout=10, what="the test event")
        assert json.loads(receiver.received[2].body)["type"] == "ping"
        assert not sam.errors, sam.errors
