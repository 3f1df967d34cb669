"""/console/login/: repeated failed sign-ins are refused for a while (HTTP 429)."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache
from django.test import Client

from apps.console import views
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-agent-123"


@pytest.fixture
def address():
    """A client address of this test alone (the cache is shared with other test runs)."""
    value = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    yield value
    cache.delete_many([views._address_key(value), views._address_key(value) + ":since"])


@pytest.fixture
def user():
    agent = AgentFactory(username=f"throttle-{uuid.uuid4().hex[:8]}")
    yield agent
    key = views._username_key(agent.username)
    cache.delete_many([key, key + ":since"])


def sign_in(address: str, username: str, password: str):
    return Client(REMOTE_ADDR=address).post("/console/login/", {"username": username, "password": password})


def test_wrong_password_says_so(user, address):
    response = sign_in(address, user.username, "wrong")
    assert response.status_code == 200
    assert b"Wrong username or password." in response.content


def test_five_failures_for_a_username_refuse_the_sixth_even_with_the_right_password(user, address):
    for _ in range(5):
        assert sign_in(address, user.username, "wrong").status_code == 200

    response = sign_in(address, user.username, PASSWORD)

    assert response.status_code == 429
    assert response.context["throttled_message"] == "Too many failed sign-ins. Try again in 15 minutes."
    assert b"Too many failed sign-ins. Try again in 15 minutes." in response.content
    assert "_auth_user_id" not in response.wsgi_request.session
    # Another user from elsewhere is not affected.
    other = AgentFactory(username=f"throttle-{uuid.uuid4().hex[:8]}")
    try:
        assert sign_in("10.255.0.1", other.username, PASSWORD).status_code == 302
    finally:
        cache.delete_many([views._username_key(other.username), views._address_key("10.255.0.1")])


def test_the_username_is_throttled_from_any_address(user, address):
    for n in range(5):
        sign_in(f"{address}{n}", user.username, "wrong")
    try:
        assert sign_in(address, user.username.upper(), PASSWORD).status_code == 429
    finally:
        cache.delete_many([views._address_key(f"{address}{n}") for n in range(5)])


def test_twenty_failures_from_an_address_refuse_it_for_every_username(address):
    for n in range(20):
        assert sign_in(address, f"nobody-{uuid.uuid4().hex[:8]}-{n}", "wrong").status_code == 200
    user = AgentFactory(username=f"throttle-{uuid.uuid4().hex[:8]}")
    response = sign_in(address, user.username, PASSWORD)
    assert response.status_code == 429
    assert b"Too many failed sign-ins." in response.content


def test_a_success_resets_the_username_counter(user, address):
    for _ in range(4):
        sign_in(address, user.username, "wrong")
    assert sign_in(address, user.username, PASSWORD).status_code == 302
    for _ in range(4):
        assert sign_in(address, user.username, "wrong").status_code == 200
    assert sign_in(address, user.username, PASSWORD).status_code == 302


def test_the_wait_is_counted_from_the_first_failure(user, address, monkeypatch):
    import time

    start = time.time()
    for _ in range(5):
        sign_in(address, user.username, "wrong")
    monkeypatch.setattr(views.time, "time", lambda: start + 14 * 60 + 10)
    response = sign_in(address, user.username, PASSWORD)
    assert response.context["throttled_message"] == "Too many failed sign-ins. Try again in 1 minute."
