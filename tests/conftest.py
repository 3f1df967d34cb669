from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.conf import settings
from twilio.request_validator import RequestValidator

from apps.accounts.models import Inbox
from apps.api import authentication as api_authentication
from apps.dispatch.config import config_reset, routing_config
from apps.triage.services import triage_cache_reset, triage_retrain_timer_reset
from tests import flush, machine
from tests.factories import AgentFactory, InboxFactory, TeamFactory

TWILIO_ACCOUNT = "AC" + "1" * 32

flush.install()  # a transactional test's teardown empties PostgreSQL by DELETE (tests/flush.py)


# Test modules whose tests share one module-scoped run (tests/test_chaos.py: the short chaos
# run, about two minutes of a whole production layout). Under pytest-xdist each worker that picks
# one of its tests would start the run again: CI ran it three times at once on two cores and the
# machine, not the product, missed three of its checks. The scheduler below sends such a module's
# tests to one worker as one unit. (xdist's own `--dist loadgroup` marks the group by renaming
# the test's node id, which pytest 9 no longer lets a plugin do: the mark was silently ignored.)
ONE_WORKER_MODULES = frozenset({"tests/test_chaos.py"})


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "load":
        return None  # another --dist asked for: xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class ModulesOnOneWorker(LoadScopeScheduling):
        """`--dist load` (every test its own unit), but a module of ONE_WORKER_MODULES is one
        unit."""

        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else nodeid

    return ModulesOnOneWorker(config, log)


@pytest.fixture(autouse=True)
def _machine_shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Every test runs under a shared hold of the machine; a `machine_alone` module's tests take
    it alone where they need it (tests/machine.py)."""
    if request.node.get_closest_marker("machine_alone") is not None:
        yield
        return
    with machine.shared(tmp_path_factory):
        yield


class TokenClock:
    """The API token cache's clock (apps/api/authentication.py), moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def token_clock(monkeypatch) -> TokenClock:
    """Each test starts with an empty API token cache whose clock stands still unless the test
    moves it: a request's token query is there or not by what the test did, not by how long it
    took (query budgets count a warm cache)."""
    clock = TokenClock()
    api_authentication.token_cache_clear()
    monkeypatch.setattr(api_authentication, "clock", clock)
    yield clock
    api_authentication.token_cache_clear()


@pytest.fixture(autouse=True)
def _triage_fresh():
    """Each test starts with no triage rules or model loaded (its database has none) and without
    the first load's queries; the services that change rules or models reload them at once.
    The sweep's retraining check waits its period (tests of it make it due)."""
    triage_cache_reset(empty=True)
    triage_retrain_timer_reset(due=False)  # the sweep's retraining looks again a period later
    yield
    triage_cache_reset()


@pytest.fixture
def team(db):
    return TeamFactory(name="Support")


@pytest.fixture
def sms_inbox(db, team) -> Inbox:
    return InboxFactory(name="Main SMS", address="+15005550006", team=team)


@pytest.fixture
def agent(db, sms_inbox, team):
    agent = AgentFactory(username="ana", display_name="Ana")
    sms_inbox.members.add(agent)
    team.members.add(agent)
    return agent


@pytest.fixture
def other_agent(db, sms_inbox, team):
    agent = AgentFactory(username="ben", display_name="Ben")
    sms_inbox.members.add(agent)
    team.members.add(agent)
    return agent


def twilio_params(**overrides: str) -> dict[str, str]:
    """An inbound SMS webhook's fields, from the configured account (a desk refuses others')."""
    sid = overrides.pop("MessageSid", None) or "SM" + uuid.uuid4().hex
    params = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": settings.TWILIO_ACCOUNT_SID or TWILIO_ACCOUNT,
        "From": "+14155552671",
        "To": "+15005550006",
        "Body": "My router is down",
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    params.update(overrides)
    return params


def twilio_sign(path: str, params: dict[str, str], token: str | None = None) -> str:
    return RequestValidator(token or settings.TWILIO_AUTH_TOKEN).compute_signature(
        settings.PUBLIC_BASE_URL + path, params
    )


@pytest.fixture
def post_twilio(client):
    """POST a correctly signed Twilio webhook through the Django test client."""

    def post(path: str = "/webhooks/twilio/messages", **params: str):
        signature = twilio_sign(path, params)
        return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)

    return post


# --- the local Twilio server (tests/fakes/twilio_server.py) ----------------------------------

TWILIO_SERVER_ACCOUNT = "AC" + "7" * 32


@pytest.fixture(scope="session")
def _twilio_server_session():
    from tests.fakes.twilio_server import FakeTwilio

    with FakeTwilio(TWILIO_SERVER_ACCOUNT, settings.TWILIO_AUTH_TOKEN) as server:
        yield server


@pytest.fixture
def twilio_server(_twilio_server_session, settings):
    """A Twilio-compatible HTTP server on 127.0.0.1, with settings pointing at it.

    Setting TWILIO_ACCOUNT_SID makes the real TwilioGateway send (instead of the local sink).
    """
    server = _twilio_server_session
    server.reset()
    server.auth_token = settings.TWILIO_AUTH_TOKEN
    settings.TWILIO_ACCOUNT_SID = server.account_sid
    settings.TWILIO_API_BASE_URL = server.base_url
    settings.TWILIO_CONTENT_BASE_URL = server.base_url
    yield server
    server.reset()


def row_counts() -> dict[str, int]:
    """How many rows the inbound and outbound paths can write, by model."""
    from apps.bus.models import Event, InboundEntry, OutboxEntry, StatusReceipt
    from apps.contacts.models import Contact, Identity
    from apps.conversations.models import Attachment, Conversation, Message

    models = [InboundEntry, OutboxEntry, StatusReceipt, Event, Contact, Identity, Conversation, Message, Attachment]
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture
def receive_sms(post_twilio, django_capture_on_commit_callbacks, sms_inbox):
    """Deliver a signed inbound webhook and run its processing; returns the stored Message."""
    from apps.conversations.models import Message

    def receive(**overrides: str) -> Message:
        params = twilio_params(**overrides)
        with django_capture_on_commit_callbacks(execute=True):
            response = post_twilio(**params)
        assert response.status_code == 200, response.content
        return Message.objects.get(provider_id=params["MessageSid"])

    return receive


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Keep each phase's report on the test item, so that fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def failed_in_call(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return bool(report is not None and report.failed)


# --- routing's per-process configuration snapshot (apps/dispatch/config.py) --------------------


@pytest.fixture(autouse=True)
def routing_snapshot(request):
    """Each test starts from its own database's routing configuration: a rolled-back test sends
    no change signal, so the snapshot is dropped, then built before the test runs (a long-lived
    process builds it once; query budgets measure that steady state)."""
    config_reset()
    if request.node.get_closest_marker("django_db") is not None:
        request.getfixturevalue("_django_db_helper")
        routing_config()
    else:
        for name in ("db", "transactional_db"):
            if name in request.fixturenames:
                request.getfixturevalue(name)
                routing_config()
                break
    yield
    config_reset()
