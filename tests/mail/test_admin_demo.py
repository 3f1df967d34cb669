"""The email settings on the Inbox admin page, and the demo email inbox of seed_demo."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.accounts.models import Agent, Inbox
from apps.mail.models import EmailInboxSettings
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = AgentFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def test_seed_demo_creates_an_email_inbox_with_ana_and_ben_and_is_safe_to_rerun(settings):
    settings.INBOUND_EMAIL_DOMAIN = ""
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115

    inbox = Inbox.objects.get(channel=Inbox.Channel.EMAIL)
    assert (inbox.name, inbox.address) == ("Demo Email", "support@support.localhost")
    assert sorted(inbox.members.values_list("username", flat=True)) == ["ana", "ben"]
    config = EmailInboxSettings.objects.get(inbox=inbox)
    assert (config.from_name, config.auto_ack_enabled) == ("Demo Support", True)
    assert Agent.objects.count() == 2


def test_seed_demo_uses_the_inbound_domain(settings):
    settings.INBOUND_EMAIL_DOMAIN = "help.example.org"
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert Inbox.objects.get(channel=Inbox.Channel.EMAIL).address == "support@help.example.org"


def test_inbox_admin_edits_the_email_settings_inline(admin_client, email_inbox):
    url = f"/admin/accounts/inbox/{email_inbox.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b"Automatic acknowledgement" in page.content
    form = page.context["adminform"].form
    inline = page.context["inline_admin_formsets"][0].formset
    data = {key: value for key, value in form.initial.items() if value is not None and key != "members"}
    data.update(
        {
            "name": email_inbox.name,
            "channel": "email",
            "address": email_inbox.address,
            "team": email_inbox.team_id,
            "auto_assign": "on",
            "config": "{}",
            "members": [m.pk for m in email_inbox.members.all()],
            f"{inline.prefix}-TOTAL_FORMS": "1",
            f"{inline.prefix}-INITIAL_FORMS": "1",
            f"{inline.prefix}-MIN_NUM_FORMS": "0",
            f"{inline.prefix}-MAX_NUM_FORMS": "1",
            f"{inline.prefix}-0-id": EmailInboxSettings.objects.get(inbox=email_inbox).pk,
            f"{inline.prefix}-0-inbox": email_inbox.pk,
            f"{inline.prefix}-0-from_name": "Acme Help",
            f"{inline.prefix}-0-auto_ack_enabled": "on",
            f"{inline.prefix}-0-auto_ack_subject": "Got it",
            f"{inline.prefix}-0-auto_ack_text": "We will answer soon.",
            f"{inline.prefix}-0-imap_port": "993",
            f"{inline.prefix}-0-imap_security": "ssl",
            f"{inline.prefix}-0-imap_folder": "INBOX",
        }
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    config = EmailInboxSettings.objects.get(inbox=email_inbox)
    assert (config.from_name, config.auto_ack_enabled, config.auto_ack_subject) == ("Acme Help", True, "Got it")


def test_sms_inbox_admin_offers_no_email_settings(admin_client, sms_inbox):
    page = admin_client.get(f"/admin/accounts/inbox/{sms_inbox.pk}/change/")

    assert page.status_code == 200
    assert len(page.context["inline_admin_formsets"][0].formset.forms) == 0
    assert b"Automatic acknowledgement" not in page.content
    assert EmailInboxSettings.objects.count() == 0
