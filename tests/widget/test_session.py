"""POST /widget/api/session: new and resumed visitors, identity by HMAC, origins."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.contacts.models import Identity
from apps.widget.models import Visitor
from apps.widget.services import user_hash
from tests.widget.conftest import SECRET, SITE, WidgetClient, sign


def test_hmac_matches_the_reference_vector():
    assert user_hash("widget_secret_123", "user-42") == (
        "be53f45103d05c66b62a1bc5c1b212ed031caa534ad5bf5a1066034e2951f58d"
    )
    assert sign("user-42") == user_hash(SECRET, "user-42")


def test_new_anonymous_visitor(widget, widget_inbox):
    response = widget.session(name="Jo")
    assert response.status_code == 200
    body = response.json()
    assert body["visitor"]["verified"] is False and body["visitor"]["name"] == "Jo"
    assert body["inbox"]["name"] == "Shop chat" and body["inbox"]["open"] is True
    assert body["inbox"]["online"] is False  # nobody is online
    assert body["limits"] == {
        "max_text": 4000,
        "max_upload_bytes": 10 * 1024 * 1024,
        "upload_types": [
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "application/pdf",
            "text/plain",
            "audio/webm",
            "audio/ogg",
            "audio/mpeg",
            "audio/mp4",
            "audio/aac",
            "audio/wav",
            "video/mp4",
            "video/webm",
            "video/quicktime",
        ],
    }
    assert body["socket"] == "/ws/widget/"
    assert response["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in response["Vary"]
    visitor = Visitor.objects.get()
    assert visitor.token_hash != body["token"] and len(visitor.token_hash) == 64  # only the hash is kept
    assert visitor.identity.kind == Identity.Kind.WIDGET and visitor.identity.address == body["visitor"]["id"]


def test_token_resumes_the_same_visitor(widget):
    first = widget.session().json()
    again = widget.session()
    assert again.status_code == 200
    assert again.json()["visitor"]["id"] == first["visitor"]["id"]
    assert again.json()["token"] == first["token"]
    assert Visitor.objects.count() == 1


def test_unknown_or_foreign_token_starts_a_new_visitor(widget, widget_inbox):
    first = widget.session().json()
    fresh = widget.session(token="not-a-token")
    assert fresh.status_code == 200 and fresh.json()["visitor"]["id"] != first["visitor"]["id"]


def test_unknown_inbox(widget):
    response = widget.session(inbox="nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_inbox"


def test_bad_request(widget):
    response = widget.http.post("/widget/api/session", "{", content_type="application/json", **widget.headers())
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"
    response = widget.session(inbox=["x"])
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


def test_disallowed_origin_is_refused(widget_inbox):
    evil = WidgetClient(widget_inbox, origin="https://evil.example.net")
    response = evil.session()
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    # The page may read the refusal (so the loader can say why it does not mount), nothing more.
    assert response["Access-Control-Allow-Origin"] == "https://evil.example.net"
    assert set(response.json()) == {"error"}
    assert Visitor.objects.count() == 0


def test_preflight_is_answered_for_an_allowed_origin(widget):
    response = widget.http.options(
        "/widget/api/session",
        HTTP_ORIGIN=SITE,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == SITE
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Content-Type" in response["Access-Control-Allow-Headers"]


def test_desk_own_origin_is_allowed_when_the_list_is_empty(widget_inbox):
    widget_inbox.widget.allowed_origins = ""
    widget_inbox.widget.save()
    assert WidgetClient(widget_inbox, origin="http://testserver").session().status_code == 200
    assert WidgetClient(widget_inbox, origin=SITE).session().status_code == 403


def test_a_page_of_the_desk_itself_is_allowed_on_whatever_address_the_desk_runs(widget_inbox, settings):
    """`make run PORT=8123`: the demo page comes from http://127.0.0.1:8123, which is neither
    PUBLIC_BASE_URL nor listed; it is the host the request went to, so it is the desk's own page."""
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    http = Client()

    def session(origin: str):
        return http.post(
            "/widget/api/session",
            {"inbox": widget_inbox.key},
            content_type="application/json",
            HTTP_HOST="127.0.0.1:8123",
            HTTP_ORIGIN=origin,
        )

    assert session("http://127.0.0.1:8123").status_code == 200
    refused = session("http://127.0.0.1:9999")  # another site on the same machine is not the desk
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "origin_not_allowed"


def test_verified_user_joins_the_contact_with_that_user_id(widget, widget_inbox):
    response = widget.session(user_id="user-42", user_hash=sign("user-42"), name="Kim")
    assert response.status_code == 200
    assert response.json()["visitor"]["verified"] is True
    visitor = Visitor.objects.get()
    assert visitor.user_id == "user-42"
    owner = Identity.objects.get(kind=Identity.Kind.USER_ID, address="user-42")
    assert owner.verified and visitor.identity.contact_id == owner.contact_id


def test_admin_attached_user_id_puts_the_chat_on_that_contact(widget, widget_inbox):
    from tests.factories import IdentityFactory

    sms = IdentityFactory(kind=Identity.Kind.PHONE, address="+14155550100")
    Identity.objects.create(contact=sms.contact, kind=Identity.Kind.USER_ID, address="u-42")
    assert widget.session(user_id="u-42", user_hash=sign("u-42")).status_code == 200
    assert Visitor.objects.get().identity.contact_id == sms.contact_id


def test_bad_hash_is_refused(widget):
    response = widget.session(user_id="user-42", user_hash=sign("user-43"))
    assert response.status_code == 403 and response.json()["error"]["code"] == "identity_invalid"
    response = widget.session(user_id="user-42")
    assert response.status_code == 403 and response.json()["error"]["code"] == "identity_invalid"
    assert Visitor.objects.count() == 0


def test_identity_required(widget, widget_inbox):
    widget_inbox.widget.require_identity = True
    widget_inbox.widget.save()
    response = widget.session()
    assert response.status_code == 403 and response.json()["error"]["code"] == "identity_required"
    assert widget.session(user_id="user-42", user_hash=sign("user-42")).status_code == 200


def test_token_of_another_user_starts_a_new_visitor(widget):
    """A shared computer: B's page must never show A's chat."""
    alice = widget.session(user_id="alice", user_hash=sign("alice")).json()
    widget.send("my card number is …", "a-1")
    bob = widget.session(user_id="bob", user_hash=sign("bob")).json()
    assert bob["visitor"]["id"] != alice["visitor"]["id"] and bob["token"] != alice["token"]
    assert widget.history().json()["messages"] == []


def test_anonymous_token_then_signed_in_starts_a_new_visitor(widget):
    anonymous = widget.session().json()
    signed = widget.session(user_id="alice", user_hash=sign("alice")).json()
    assert signed["visitor"]["id"] != anonymous["visitor"]["id"]


def test_typed_email_is_an_unverified_claim(widget):
    widget.session(email="Jo@Example.com")
    identity = Identity.objects.get(kind=Identity.Kind.EMAIL)
    assert identity.address == "jo@example.com" and identity.verified is False


def test_typed_email_of_another_contact_never_merges(widget):
    from tests.factories import IdentityFactory

    owner = IdentityFactory(kind=Identity.Kind.EMAIL, address="jo@example.com", verified=True)
    widget.session(email="jo@example.com")
    visitor = Visitor.objects.get()
    assert visitor.email == "jo@example.com"
    assert visitor.identity.contact_id != owner.contact_id
    assert Identity.objects.filter(kind=Identity.Kind.EMAIL).count() == 1


@pytest.mark.parametrize("email", ["not an email", "a@", "x" * 300 + "@example.com"])
def test_invalid_email_in_session(widget, email):
    response = widget.session(email=email)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_email"


# --- identity required after the visitor started (issue 10, security finding 3) -------------


def _require_identity(widget_inbox) -> None:
    widget_inbox.widget.require_identity = True
    widget_inbox.widget.save()


def test_identity_required_later_refuses_the_anonymous_token_reading_history(
    widget, widget_inbox, agent, django_capture_on_commit_callbacks
):
    from apps.conversations.models import Message
    from apps.conversations.services import message_send

    widget.session()
    sent = widget.send("my address is 1 Main St", "c-1").json()["message"]
    with django_capture_on_commit_callbacks(execute=True):
        reply, _ = message_send(conversation_id=sent["conversation"], agent=agent, body="We ship there tomorrow")
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT
    _require_identity(widget_inbox)
    response = widget.history()
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "identity_required"
    assert "1 Main St" not in response.content.decode() and "tomorrow" not in response.content.decode()
    # The refused read did not count as the visitor having seen the reply.
    reply.refresh_from_db()
    assert reply.status == Message.Status.SENT


def test_identity_required_later_refuses_the_anonymous_token_posting(widget, widget_inbox):
    from apps.conversations.models import Message

    widget.session()
    _require_identity(widget_inbox)
    response = widget.send("still here", "c-2")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "identity_required"
    assert Message.objects.count() == 0


def test_identity_required_later_refuses_the_anonymous_token_leaving_an_email(widget, widget_inbox):
    widget.session()
    _require_identity(widget_inbox)
    response = widget.set_email("jo@example.com")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "identity_required"
    assert Visitor.objects.get().email == ""
    assert not Identity.objects.filter(kind=Identity.Kind.EMAIL).exists()


def test_identity_required_later_still_admits_a_signed_in_visitor(widget, widget_inbox):
    widget.session(user_id="user-42", user_hash=sign("user-42"))
    _require_identity(widget_inbox)
    assert widget.send("hello", "c-1").status_code == 201
    assert [m["text"] for m in widget.history().json()["messages"]] == ["hello"]


def test_socket_and_http_share_one_admission_rule():
    """One rule, not two copies: both paths call apps.widget.services.visitor_admit."""
    import inspect

    from apps.widget import consumers, views

    assert "visitor_admit(" in inspect.getsource(consumers.socket_admit)
    assert "visitor_admit(" in inspect.getsource(views._visitor)
    assert "require_identity" not in inspect.getsource(consumers)
    assert "require_identity" not in inspect.getsource(views)
