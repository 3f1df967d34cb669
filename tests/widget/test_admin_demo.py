"""The widget settings on the Inbox admin page, and the demo widget inbox of seed_demo."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from apps.accounts.models import Inbox
from apps.widget.demo import demo_widget_inbox_get
from apps.widget.models import WidgetSettings
from tests.factories import AgentFactory
from tests.widget.conftest import SECRET, WidgetClient, sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = AgentFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def test_seed_demo_creates_the_demo_widget_inbox_and_is_safe_to_rerun(settings):
    settings.PUBLIC_BASE_URL = "http://localhost:8000"  # make run's default
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    inbox = demo_widget_inbox_get()
    assert inbox is not None and inbox.name == "Demo widget"
    assert Inbox.objects.filter(channel=Inbox.Channel.WIDGET).count() == 1
    assert sorted(inbox.members.values_list("username", flat=True)) == ["ana", "ben"]
    origins = inbox.widget.origins()
    assert "http://127.0.0.1:8000" in origins and "http://localhost:8000" in origins
    for origin in ("http://127.0.0.1:8000", "http://localhost:8000"):
        assert WidgetClient(inbox, origin=origin).session().status_code == 200


def test_seed_demo_allows_the_port_make_run_serves_on(settings):
    """`make run PORT=9000` sets PUBLIC_BASE_URL=http://localhost:9000: the demo page works there."""
    settings.PUBLIC_BASE_URL = "http://localhost:9000"
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    inbox = demo_widget_inbox_get()
    assert inbox.widget.origins() == ["http://localhost:9000", "http://127.0.0.1:9000"]
    for origin in ("http://localhost:9000", "http://127.0.0.1:9000"):
        assert WidgetClient(inbox, origin=origin).session().status_code == 200
    assert WidgetClient(inbox, origin="http://localhost:8000").session().status_code == 403


def test_seed_demo_allows_a_public_base_url_elsewhere(settings):
    settings.PUBLIC_BASE_URL = "https://desk.example.com"
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert demo_widget_inbox_get().widget.origins() == ["https://desk.example.com"]


def _post_data(page, inbox, **inline_values):
    form = page.context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None and key not in ("members", "config")}
    data.update(
        {
            "name": inbox.name,
            "channel": inbox.channel,
            "address": inbox.address,
            "team": inbox.team_id or "",
            "auto_assign": "on",
            "config": "{}",
            "members": [m.pk for m in inbox.members.all()],
        }
    )
    for wrapper in page.context["inline_admin_formsets"]:
        formset = wrapper.formset
        prefix = formset.prefix
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": str(len(formset.forms)),
                f"{prefix}-INITIAL_FORMS": str(formset.initial_form_count()),
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1",
            }
        )
        if formset.model is WidgetSettings:
            row = WidgetSettings.objects.get(inbox=inbox)
            data.update(
                {
                    f"{prefix}-0-id": row.pk,
                    f"{prefix}-0-inbox": inbox.pk,
                    f"{prefix}-0-allowed_origins": row.allowed_origins,
                    f"{prefix}-0-greeting": row.greeting,
                    f"{prefix}-0-offline_message": row.offline_message,
                    f"{prefix}-0-colour": row.colour,
                    f"{prefix}-0-business_hours": "{}",
                    f"{prefix}-0-ask_email_when_offline": "on",
                }
            )
            data.update({f"{prefix}-0-{k}": v for k, v in inline_values.items()})
    return data


def test_inbox_admin_shows_snippet_and_hmac_recipes(admin_client, widget_inbox):
    page = admin_client.get(f"/admin/accounts/inbox/{widget_inbox.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"data-inbox=&quot;{widget_inbox.key}&quot;" in html  # the snippet, escaped as text
    assert "/widget.js" in html
    assert "hmac.new" in html and "createHmac" in html and "hash_hmac" in html
    assert SECRET in html


def test_inbox_admin_edits_widget_settings(admin_client, widget_inbox):
    url = f"/admin/accounts/inbox/{widget_inbox.pk}/change/"
    page = admin_client.get(url)
    data = _post_data(page, widget_inbox, greeting="Welcome!", require_identity="on")
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context and [
        f.errors for f in response.context["inline_admin_formsets"][0].formset.forms
    ]
    widget_inbox.widget.refresh_from_db()
    assert widget_inbox.widget.greeting == "Welcome!" and widget_inbox.widget.require_identity
    assert widget_inbox.widget.secret == SECRET


def test_inbox_admin_refuses_a_wildcard_origin(admin_client, widget_inbox):
    url = f"/admin/accounts/inbox/{widget_inbox.pk}/change/"
    page = admin_client.get(url)
    response = admin_client.post(url, _post_data(page, widget_inbox, allowed_origins="*"))
    assert response.status_code == 200  # the form again, with the error
    assert "is not allowed" in response.content.decode()
    widget_inbox.widget.refresh_from_db()
    assert "*" not in widget_inbox.widget.allowed_origins


def test_inbox_admin_regenerates_the_secret(admin_client, widget_inbox):
    url = f"/admin/accounts/inbox/{widget_inbox.pk}/change/"
    page = admin_client.get(url)
    assert admin_client.post(url, _post_data(page, widget_inbox, regenerate_secret="on")).status_code == 302
    widget_inbox.widget.refresh_from_db()
    assert widget_inbox.widget.secret != SECRET
    client = WidgetClient(widget_inbox)
    assert client.session(user_id="u", user_hash=sign("u")).status_code == 403


def test_sms_inbox_admin_offers_no_widget_settings(admin_client, sms_inbox):
    page = admin_client.get(f"/admin/accounts/inbox/{sms_inbox.pk}/change/")
    assert page.status_code == 200
    assert all(w.formset.model is not WidgetSettings for w in page.context["inline_admin_formsets"])
    assert WidgetSettings.objects.count() == 0


def test_adding_a_widget_inbox_in_the_admin_saves_its_settings(admin_client, team):
    from apps.mail.models import EmailInboxSettings

    page = admin_client.get("/admin/accounts/inbox/add/")
    assert page.status_code == 200
    data = {"name": "Shop", "channel": "widget", "address": "", "team": team.pk, "auto_assign": "on", "config": "{}"}
    for wrapper in page.context["inline_admin_formsets"]:
        formset = wrapper.formset
        prefix = formset.prefix
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "1",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1",
            }
        )
        for name, field in formset.forms[0].fields.items():
            initial = formset.forms[0].get_initial_for_field(field, name)
            if initial not in (None, False) and name not in ("id", "inbox"):
                data[f"{prefix}-0-{name}"] = initial() if callable(initial) else initial
        if formset.model is WidgetSettings:
            data[f"{prefix}-0-allowed_origins"] = "https://shop.example.com"
            data[f"{prefix}-0-business_hours"] = "{}"
    response = admin_client.post("/admin/accounts/inbox/add/", data)
    assert response.status_code == 302, response.context and [
        (w.formset.prefix, w.formset.errors) for w in response.context["inline_admin_formsets"]
    ]
    inbox = Inbox.objects.get(name="Shop")
    assert inbox.widget.origins() == ["https://shop.example.com"]
    assert len(inbox.widget.secret) == 48
    assert EmailInboxSettings.objects.count() == 0
