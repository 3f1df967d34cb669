"""Canned responses: list (with ?q=), create, edit, delete."""

from __future__ import annotations

import pytest

from apps.conversations.models import CannedResponse

pytestmark = pytest.mark.django_db(transaction=True)


def create(api, shortcut: str, title: str, text: str = "Some text"):
    return api.post("/api/v1/canned-responses", {"shortcut": shortcut, "title": title, "text": text}, format="json")


def test_create_and_list(api, agent):
    response = create(api, "/Refund", "Refund policy", "Refunds take 5 days.")
    assert response.status_code == 201
    canned = CannedResponse.objects.get()
    assert response.json() == {
        "id": canned.pk,
        "shortcut": "refund",
        "title": "Refund policy",
        "text": "Refunds take 5 days.",
        "created_by": agent.pk,
        "updated_at": response.json()["updated_at"],
    }
    assert api.get("/api/v1/canned-responses").json()["results"] == [response.json()]


def test_q_matches_shortcut_prefix_or_part_and_title(api):
    for shortcut, title in (("hello", "Greeting"), ("refund", "Money back"), ("shipping-delay", "Late parcel")):
        create(api, shortcut, title)

    def shortcuts(q: str) -> list[str]:
        return [c["shortcut"] for c in api.get(f"/api/v1/canned-responses?q={q}").json()["results"]]

    assert shortcuts("ref") == ["refund"]
    assert shortcuts("re") == ["hello", "refund"]  # "Greeting" has it too
    assert shortcuts("/he") == ["hello"]
    assert shortcuts("delay") == ["shipping-delay"]
    assert shortcuts("money") == ["refund"]
    assert shortcuts("zzz") == []
    assert shortcuts("") == ["hello", "refund", "shipping-delay"]


def test_duplicate_shortcut_is_409(api):
    create(api, "hello", "Greeting")
    response = create(api, "HELLO", "Another")
    assert (response.status_code, response.json()["error"]["code"]) == (409, "shortcut_taken")
    assert CannedResponse.objects.count() == 1


def test_invalid_shortcut_is_400(api):
    response = create(api, "two words", "Greeting")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_shortcut")
    assert not CannedResponse.objects.exists()


def test_edit_and_delete(api):
    canned_id = create(api, "hello", "Greeting", "Hi!").json()["id"]
    response = api.patch(f"/api/v1/canned-responses/{canned_id}", {"text": "Hello there!"}, format="json")
    assert response.status_code == 200
    assert (response.json()["shortcut"], response.json()["text"]) == ("hello", "Hello there!")
    assert CannedResponse.objects.get().text == "Hello there!"

    assert api.delete(f"/api/v1/canned-responses/{canned_id}").status_code == 204
    assert not CannedResponse.objects.exists()
    assert api.delete(f"/api/v1/canned-responses/{canned_id}").status_code == 404
    assert api.patch(f"/api/v1/canned-responses/{canned_id}", {"text": "x"}, format="json").status_code == 404


def test_needs_authentication(client):
    assert client.get("/api/v1/canned-responses").status_code in (401, 403)
