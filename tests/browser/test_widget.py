"""The web chat widget as visitors use it: real Chromium on the desk's demo page and on a page
served from another origin (a second HTTP server), one real server process for the module
(`manage.py serve` on PostgreSQL + Redis), agents answering through the console page and the
REST API."""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from rest_framework.authtoken.models import Token

from apps.accounts.models import Inbox
from apps.assignment.services import presence_set
from apps.conversations.models import Message
from apps.conversations.services import message_send
from apps.widget.models import Visitor, WidgetSettings
from tests.browser.support import (
    LiveServer,
    free_port,
    open_console,
    screenshot,
    start_server,
    stop_server,
    wait_for_js,
)
from tests.factories import InboxFactory
from tests.servers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

SECRET = "widget_secret_123"
MAX_UPLOAD = 200 * 1024  # the module's server refuses files above this (WIDGET_MAX_UPLOAD_BYTES)
WIDGET = "#supportdesk-widget"


def sign(user_id: str, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:6]}"


# ---- servers: the desk (one per module) and a host site on another origin ----


@pytest.fixture
def desk(tmp_path) -> Iterator[LiveServer]:
    """A server process per test. Shared by the module, it kept working (hub catch-up, the
    periodic sweep) while pytest-django truncated the tables after a test, and the TRUNCATE
    sometimes lost a deadlock to it, leaving the next test with the last one's rows. Stopped
    before the flush (fixtures end in reverse order), it cannot."""
    server = start_server(
        tmp_path,
        WIDGET_MAX_UPLOAD_BYTES=str(MAX_UPLOAD),
        WIDGET_RATE_CONNECTS="1000/60",
        WIDGET_HEARTBEAT_SECONDS="5",
        WIDGET_RATE_MESSAGES="3/2",
    )
    try:
        yield server
    finally:
        stop_server(server)


class HostSite(BaseHTTPRequestHandler):
    """A customer's site: `/?desk=<desk url>&inbox=<key>[&user_id=…&user_hash=…]` embeds the widget,
    under a strict Content-Security-Policy of its own."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        attrs = "".join(
            f' data-{name.replace("_", "-")}="{html.escape(query[name])}"'
            for name in ("user_id", "user_hash")
            if name in query
        )
        body = (
            "<!doctype html><html><head><meta charset=utf-8><title>Shop</title></head><body>"
            "<h1>A shop on another origin</h1>"
            f'<script src="{html.escape(query.get("desk", ""))}/widget.js" '
            f'data-inbox="{html.escape(query.get("inbox", ""))}"{attrs} async></script>'
            "</body></html>"
        ).encode()
        # A strict policy, as a careful shop has: the widget needs only its desk's origin
        # (scripts, requests, its socket, images), never inline style or script.
        desk = urlsplit(query.get("desk", ""))
        desk_origin = f"{desk.scheme}://{desk.netloc}"
        socket_origin = f"{'wss' if desk.scheme == 'https' else 'ws'}://{desk.netloc}"
        policy = (
            f"default-src 'self'; script-src 'self' {desk_origin}; style-src 'self'; "
            f"connect-src 'self' {desk_origin} {socket_origin}; img-src 'self' {desk_origin} data: blob:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
        )
        self.send_response(200)
        self.send_header("Content-Security-Policy", policy)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass


@pytest.fixture(scope="module")
def host_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), HostSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# ---- data ----


@pytest.fixture
def make_inbox(team, agent):
    def make(**settings: Any) -> Inbox:
        inbox = InboxFactory(name="Shop chat", channel=Inbox.Channel.WIDGET, address="", team=team, auto_assign=False)
        inbox.members.add(agent)
        WidgetSettings.objects.create(inbox=inbox, secret=SECRET, **settings)
        return inbox

    return make


@pytest.fixture
def inbox(make_inbox) -> Inbox:
    return make_inbox(greeting="Hello from the shop!")


def agent_token(agent) -> str:
    return Token.objects.get_or_create(user=agent)[0].key


def api_reply(desk: LiveServer, agent, conversation_id: int, body: str) -> dict:
    response = requests.post(
        f"{desk.url}/api/v1/conversations/{conversation_id}/messages",
        json={"body": body, "client_id": uuid.uuid4().hex},
        headers={"Authorization": f"Token {agent_token(agent)}"},
        timeout=15,
    )
    assert response.status_code in (200, 201), (response.status_code, response.text)
    return response.json()


# ---- the widget in a page ----


@dataclass
class WidgetPage:
    context: Any
    page: Any
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)  # the URLs of the sockets the page opened
    frames: list[str] = field(default_factory=list)  # what the desk sent on them, for failure reports

    def q(self, selector: str) -> Any:
        return self.page.locator(f"{WIDGET} {selector}")

    def mounted(self) -> WidgetPage:
        try:
            self.q(".launcher").wait_for()
        except Exception as exc:
            raise AssertionError(
                f"the widget did not mount: {exc}\nconsole: {self.warnings}\nerrors: {self.errors}"
            ) from None
        return self

    def live(self) -> WidgetPage:
        self.q(".root[data-connection=live]").wait_for(state="attached")
        return self

    def open(self) -> WidgetPage:
        if self.q(".panel").is_hidden():
            self.q(".launcher").click()
        self.q(".panel").wait_for()
        return self

    def send(self, text: str) -> None:
        self.q("textarea").fill(text)
        self.q("textarea").press("Enter")

    def message(self, text: str, *, mine: bool | None = None) -> Any:
        kind = "" if mine is None else (".mine" if mine else ".theirs")
        return self.q(f"li.msg{kind}").filter(has_text=text)

    def wait(self, locator: Any, server: LiveServer | None = None) -> None:
        """Wait for a locator; on a timeout, say what the desk sent to the page (and logged)."""
        try:
            locator.wait_for()
        except Exception as exc:
            log = server.log()[-3000:] if server else ""
            raise AssertionError(f"{exc}\nsockets: {self.sockets}\nframes: {self.frames}\nserver log: {log}") from None

    def state(self, text: str, state: str, mine: bool = True) -> Any:
        """The visitor's own message with this text, in this state (sending, sent, failed)."""
        return self.q(f"li.msg.{'mine' if mine else 'theirs'}[data-state={state}]").filter(has_text=text)

    def states(self) -> list[str]:
        """Each of the visitor's own messages as "state: text"."""
        return self.page.evaluate(
            """() => Array.from(document.querySelector('#supportdesk-widget').shadowRoot
                .querySelectorAll('li.msg.mine')).map(li => li.dataset.state + ': ' +
                (li.querySelector('.text') || {}).textContent)"""
        )

    def refused(self, key: str) -> str:
        """Wait until the loader gave up, and return what it told the host page's console."""
        wait_for_js(self.page, f"(window.__supportdeskWidgets || {{}})[{key!r}] === 'refused'")
        return "\n".join(self.warnings)


def open_widget(browser: Any, url: str, *, viewport: dict | None = None, **options: Any) -> WidgetPage:
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800}, **options)
    context.set_default_timeout(10_000)
    return open_page(context, url)


def open_page(context: Any, url: str) -> WidgetPage:
    """A new page (tab) in this browser context, at url."""
    page = context.new_page()
    widget = WidgetPage(context=context, page=page)
    page.on("console", lambda m: widget.warnings.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda exc: widget.errors.append(str(exc)))

    def on_socket(ws: Any) -> None:
        widget.sockets.append(ws.url)
        ws.on("framereceived", lambda payload: widget.frames.append(str(payload)[:300]))
        ws.on("framesent", lambda payload: widget.frames.append("sent: " + str(payload)[:300]))

    page.on("websocket", on_socket)
    page.goto(url)
    return widget


def demo_url(desk: LiveServer, inbox: Inbox, **params: str) -> str:
    return f"{desk.url}/widget/demo/?{urlencode({'inbox': inbox.key, **params})}"


def visitor_messages(inbox: Inbox):
    return Message.objects.filter(inbox=inbox, direction=Message.Direction.INBOUND).order_by("id")


# ---- tests ----


def test_visitor_and_agent_chat_live_through_widget_and_console(chromium, desk, inbox, agent):
    visitor = open_widget(chromium, demo_url(desk, inbox)).mounted()
    console = None
    try:
        visitor.open().live()
        assert visitor.q(".greeting").text_content() == "Hello from the shop!"
        question = unique("Where is my parcel?")
        visitor.send(question)
        visitor.state(question, "sent").wait_for()
        stored = wait_for(lambda: visitor_messages(inbox).first(), what="the visitor's message stored")
        assert stored.body == question

        # The agent sees it in the console and answers; the visitor sees the typing, then the reply.
        console = open_console(chromium, desk, "ana")
        console.page.locator("#conv-list li", has_text=question).click()
        console.page.locator("#timeline li.msg.in", has_text=question).wait_for()
        # A person, not a raw id: "Visitor N" in the list, the header and the timeline, and where
        # they came from in the contact panel (the demo page, Chromium, their local time).
        visitor_row = Visitor.objects.get(inbox=inbox)
        label = f"Visitor {visitor_row.pk}"
        console.page.locator("#conv-title", has_text=label).wait_for()
        assert console.page.locator("#timeline li.msg.in .who").first.inner_text() == label
        assert visitor_row.public_id not in console.page.locator("#conv-pane").inner_text()
        assert visitor_row.public_id not in console.page.locator("#conv-list").inner_text()
        context = console.page.locator("#identities .visitor-context")
        context.wait_for()
        assert "/widget/demo/" in context.locator("a").get_attribute("href")
        assert re.search(r"Browser\s*Chrome \d+ on Linux", context.inner_text())
        assert "Local time" in context.inner_text()
        screenshot(visitor.page, "widget-open")
        answer = unique("It left our warehouse this morning.")
        console.page.click("#composer-text")
        console.page.keyboard.type(answer)
        visitor.wait(visitor.q(".typing").filter(has_text="Ana is typing"), desk)
        console.page.keyboard.press("Enter")
        reply = visitor.message(answer, mine=False)
        reply.wait_for()
        assert reply.locator(".who").text_content() == "Ana"
        assert visitor.q(".typing").text_content() == ""  # the reply ends the typing indicator
        console.page.locator("#timeline li.msg.out", has_text=answer).wait_for()
        screenshot(console.page, "console-widget-visitor")
        screenshot(visitor.page, "widget-reply")

        assert visitor.errors == [] and console.errors == []
    finally:
        visitor.context.close()
        if console is not None:
            console.context.close()


def test_visitor_typing_shows_in_the_console(chromium, desk, inbox, agent):
    visitor = open_widget(chromium, demo_url(desk, inbox)).mounted()
    console = None
    try:
        visitor.open().live()
        question = unique("Typing test")
        visitor.send(question)
        visitor.state(question, "sent").wait_for()
        console = open_console(chromium, desk, "ana")
        console.page.locator("#conv-list li", has_text=question).click()
        console.page.locator("#timeline li.msg.in", has_text=question).wait_for()
        before = len(visitor.frames)
        # Typing for a few seconds, as people do: the widget says so again every 3 s.
        visitor.q("textarea").press_sequentially("Still there? I have one more question", delay=100)
        typing = 'sent: {"action":"typing","active":true}'
        assert typing in visitor.frames[before:], visitor.frames[before:]
        console.page.locator("#typing", has_text="The customer is typing").wait_for()
    finally:
        visitor.context.close()
        if console is not None:
            console.context.close()


def test_reload_keeps_history_token_and_visitor(chromium, desk, inbox, agent):
    visitor = open_widget(chromium, demo_url(desk, inbox)).mounted()
    try:
        visitor.open().live()
        first = unique("First question")
        visitor.send(first)
        visitor.state(first, "sent").wait_for()
        stored = wait_for(lambda: visitor_messages(inbox).first(), what="stored")
        answer = unique("An answer")
        api_reply(desk, agent, stored.conversation_id, answer)
        visitor.message(answer, mine=False).wait_for()
        token = visitor.page.evaluate(f"localStorage.getItem('supportdesk-widget:{inbox.key}:token')")
        assert token

        visitor.page.reload()
        visitor.mounted().live()
        visitor.q(".panel").wait_for()  # it was open: it opens again
        visitor.message(answer, mine=False).wait_for()
        assert visitor.message(first, mine=True).count() == 1
        assert visitor.message(answer, mine=False).count() == 1
        assert visitor.page.evaluate(f"localStorage.getItem('supportdesk-widget:{inbox.key}:token')") == token
        assert Visitor.objects.filter(inbox=inbox).count() == 1

        # Closed, a new reply shows as unread on the launcher.
        visitor.page.keyboard.press("Escape")
        visitor.q(".panel").wait_for(state="hidden")
        later = unique("One more thing")
        api_reply(desk, agent, stored.conversation_id, later)
        visitor.q(".badge").filter(has_text="1").wait_for()
        assert visitor.q(".launcher").get_attribute("aria-label") == "Open chat, 1 new message"
        # Still one unread after a reload (the history is not all new).
        visitor.page.reload()
        visitor.mounted().live()
        visitor.q(".badge").filter(has_text="1").wait_for()
        visitor.page.wait_for_timeout(300)
        assert visitor.q(".badge").text_content() == "1"
        visitor.q(".launcher").click()
        visitor.q(".badge").wait_for(state="hidden")
        visitor.message(later, mine=False).wait_for()
    finally:
        visitor.context.close()


def test_history_pages_back_and_never_shows_notes(chromium, desk, inbox, agent):
    visitor = open_widget(chromium, demo_url(desk, inbox)).mounted()
    try:
        visitor.open().live()
        visitor.send("Hello, a long story follows")
        visitor.state("Hello, a long story follows", "sent").wait_for()
        conversation_id = visitor_messages(inbox).get().conversation_id
        replies = [f"Reply {i:02d}" for i in range(51)]
        for i, body in enumerate(replies):
            message_send(conversation_id=conversation_id, agent=agent, body=body, client_id=f"r{i}")
            if i == 30:
                message_send(
                    conversation_id=conversation_id, agent=agent, body="NOTE: internal", kind=Message.Kind.NOTE
                )
        visitor.message("Reply 50", mine=False).wait_for()

        visitor.page.reload()
        visitor.mounted().live()
        visitor.message("Reply 50", mine=False).wait_for()
        shown = visitor.q("li.msg.theirs .text").all_text_contents()
        assert shown == replies[-50:]  # the newest page, oldest first
        visitor.q(".more button").click()
        visitor.message("Reply 00", mine=False).wait_for()
        assert visitor.q("li.msg.theirs .text").all_text_contents() == replies
        assert visitor.q("li.msg.mine .text").all_text_contents() == ["Hello, a long story follows"]
        assert visitor.q("li.msg").filter(has_text="NOTE").count() == 0
        visitor.q(".more").wait_for(state="hidden")
    finally:
        visitor.context.close()


def test_messages_typed_offline_are_sent_once_and_the_missed_reply_arrives_once(chromium, desk, inbox, agent):
    visitor = open_widget(chromium, demo_url(desk, inbox)).mounted()
    try:
        visitor.open().live()
        hello = unique("Before the tunnel")
        visitor.send(hello)
        visitor.state(hello, "sent").wait_for()
        conversation_id = visitor_messages(inbox).get().conversation_id

        visitor.context.set_offline(True)
        visitor.q(".root[data-connection=offline]").wait_for(state="attached")
        visitor.q(".conn").wait_for()
        # The agent answers while the visitor's socket is down.
        missed = unique("Answered while you were in the tunnel")
        api_reply(desk, agent, conversation_id, missed)
        texts = [unique("Typed on the train"), unique("And another one")]
        for text in texts:
            visitor.send(text)
            visitor.state(text, "sending").filter(has_text="Waiting for connection").wait_for()
        queued = visitor.page.evaluate(f"JSON.parse(localStorage.getItem('supportdesk-widget:{inbox.key}:queue'))")
        assert [item["text"] for item in queued] == texts
        time.sleep(0.5)
        assert visitor_messages(inbox).count() == 1
        assert visitor.message(missed).count() == 0

        visitor.context.set_offline(False)
        for text in texts:
            visitor.state(text, "sent").wait_for()
        visitor.message(missed, mine=False).wait_for()
        visitor.q(".conn").wait_for(state="hidden")
        time.sleep(1.0)  # a second send or a second copy would have landed by now
        stored = list(visitor_messages(inbox))
        assert [m.body for m in stored] == [hello, *texts]
        assert [m.provider_id.rsplit(":", 1)[1] for m in stored[1:]] == [item["client_id"] for item in queued]
        assert visitor.page.evaluate(f"localStorage.getItem('supportdesk-widget:{inbox.key}:queue')") == "[]"
        assert visitor.q("li.msg.mine .text").all_text_contents() == [hello, *texts]
        assert visitor.message(missed, mine=False).count() == 1
        # The first socket of the page starts from now; the reconnect resumes from a position.
        assert "since" not in parse_qs(urlsplit(visitor.sockets[0]).query)
        assert int(parse_qs(urlsplit(visitor.sockets[-1]).query)["since"][0]) >= 0
    finally:
        visitor.context.close()


def test_a_refused_message_fails_and_is_sent_once_on_retry(chromium, desk, inbox):
    """More messages than the per-visitor rate (3 per 2 s here): the refused ones say so and
    offer a retry; retried, each is stored once."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    visitor = open_widget(chromium, demo_url(desk, inbox)).mounted()
    try:
        visitor.open().live()
        texts = [f"Burst {i} {uuid.uuid4().hex[:4]}" for i in range(7)]
        for text in texts:
            visitor.send(text)
        for text in texts:
            visitor.q("li.msg.mine:not([data-state=sending])").filter(has_text=text).wait_for()
        failed = visitor.q("li.msg.mine[data-state=failed]")
        assert failed.count() >= 1  # 7 in at most two 2 s windows: at least 4 in one of them
        assert "too fast" in failed.first.inner_text()
        deadline = time.monotonic() + 30
        # One snapshot of every state per look: counting the failed and then the sending ones
        # in two reads let a retry that went from sending to failed between them end the loop.
        while not all(state.startswith("sent: ") for state in visitor.states()):
            assert time.monotonic() < deadline, visitor.states()
            time.sleep(1.0)
            for _ in range(failed.count()):
                try:
                    failed.locator(".retry").first.click(timeout=2000)
                except PlaywrightTimeout:
                    break  # it changed state under the click: look again
        assert sorted(visitor.states()) == sorted(f"sent: {text}" for text in texts), visitor.states()
        time.sleep(0.5)
        assert sorted(m.body for m in visitor_messages(inbox)) == sorted(texts)
    finally:
        visitor.context.close()


@pytest.mark.parametrize(
    ("require", "user_id", "user_hash", "outcome"),
    [
        (True, "user-42", sign("user-42"), "verified"),
        (False, "user-42", sign("user-43"), "identity_invalid"),
        (True, "", "", "identity_required"),
    ],
    ids=["valid-hash", "invalid-hash", "missing-when-required"],
)
def test_identity_hash(chromium, desk, make_inbox, require, user_id, user_hash, outcome):
    inbox = make_inbox(require_identity=require)
    params = {"user_id": user_id, "user_hash": user_hash} if user_id else {}
    visitor = open_widget(chromium, demo_url(desk, inbox, **params))
    try:
        if outcome == "verified":
            visitor.mounted().open().live()
            text = unique("Signed in and verified")
            visitor.send(text)
            visitor.state(text, "sent").wait_for()
            only = Visitor.objects.get(inbox=inbox)
            assert only.user_id == "user-42"
            assert visitor_messages(inbox).get().body == text
        else:
            warnings = visitor.refused(inbox.key)
            assert outcome in warnings
            assert visitor.page.locator(WIDGET).count() == 0
            assert Visitor.objects.filter(inbox=inbox).count() == 0
    finally:
        visitor.context.close()


def test_another_user_on_the_same_browser_gets_neither_history_nor_unsent_messages(chromium, desk, make_inbox):
    inbox = make_inbox(require_identity=True)
    first = open_widget(chromium, demo_url(desk, inbox, user_id="user-42", user_hash=sign("user-42")))
    try:
        first.mounted().open().live()
        first.send("Order 42 is mine")
        first.state("Order 42 is mine", "sent").wait_for()
        first.context.set_offline(True)
        first.q(".root[data-connection=offline]").wait_for(state="attached")
        first.send("Unsent words of user 42")
        first.state("Unsent words of user 42", "sending").wait_for()
        first.page.close()  # left with a message unsent
        first.context.set_offline(False)
        # The same browser, later: user 43 signs in on the host site.
        second = open_page(first.context, demo_url(desk, inbox, user_id="user-43", user_hash=sign("user-43")))
        second.mounted().live()
        second.q(".panel").wait_for()
        time.sleep(1.0)  # the queue would have been sent by now
        assert second.q("li.msg.mine").count() == 0
        assert second.page.evaluate(f"localStorage.getItem('supportdesk-widget:{inbox.key}:queue')") == "[]"
        assert sorted(Visitor.objects.filter(inbox=inbox).values_list("user_id", flat=True)) == ["user-42", "user-43"]
        assert [m.body for m in visitor_messages(inbox)] == ["Order 42 is mine"]
    finally:
        first.context.close()


def test_page_on_an_allowed_other_origin_chats(chromium, desk, host_site, make_inbox):
    inbox = make_inbox(allowed_origins=f"https://shop.example.com\n{host_site}")
    visitor = open_widget(chromium, f"{host_site}/?{urlencode({'desk': desk.url, 'inbox': inbox.key})}")
    try:
        visitor.mounted().open().live()
        text = unique("Hello from another site")
        visitor.send(text)
        visitor.state(text, "sent").wait_for()
        assert visitor_messages(inbox).get().body == text
        assert visitor.errors == []
    finally:
        visitor.context.close()


def test_page_on_an_origin_not_allowed_gets_no_widget(chromium, desk, host_site, make_inbox):
    inbox = make_inbox(allowed_origins="https://shop.example.com")
    visitor = open_widget(chromium, f"{host_site}/?{urlencode({'desk': desk.url, 'inbox': inbox.key})}")
    try:
        warnings = visitor.refused(inbox.key)
        assert "origin_not_allowed" in warnings
        assert visitor.page.locator(WIDGET).count() == 0
        assert Visitor.objects.filter(inbox=inbox).count() == 0
        # What the page may read of the refusal is the refusal itself: no token, no visitor.
        answer = visitor.page.evaluate(
            """async ([desk, key]) => {
                const r = await fetch(desk + "/widget/api/session", {method: "POST",
                    headers: {"Content-Type": "application/json"}, body: JSON.stringify({inbox: key})});
                return [r.status, await r.json()];
            }""",
            [desk.url, inbox.key],
        )
        assert answer[0] == 403 and answer[1]["error"]["code"] == "origin_not_allowed" and "token" not in answer[1]
        assert Visitor.objects.filter(inbox=inbox).count() == 0
    finally:
        visitor.context.close()


def test_agent_text_with_markup_is_shown_as_text(chromium, desk, inbox, agent):
    agent.display_name = "<b>Ana</b>"
    agent.save(update_fields=["display_name"])
    visitor = open_widget(chromium, demo_url(desk, inbox)).mounted()
    try:
        visitor.open().live()
        visitor.send("Hi")
        visitor.state("Hi", "sent").wait_for()
        conversation_id = wait_for(lambda: visitor_messages(inbox).first(), what="stored").conversation_id
        attacks = [
            '<img src=x onerror="window.__xss = 1">',
            "<script>window.__xss = 2</script>",
            '<a href="javascript:window.__xss=3">click</a> & &amp; "quotes"',
        ]
        for attack in attacks:
            api_reply(desk, agent, conversation_id, attack)
        for attack in attacks:
            visitor.q("li.msg.theirs .text").filter(has_text=attack).wait_for()
        texts = visitor.q("li.msg.theirs .text").all_text_contents()
        assert texts == attacks
        assert visitor.q("li.msg.theirs .who").first.text_content() == "<b>Ana</b>"
        assert visitor.q("li.msg img, li.msg script, li.msg a, li.msg b").count() == 0
        assert visitor.page.evaluate("window.__xss") is None
    finally:
        visitor.context.close()


def test_uploads_oversized_refused_with_a_message_and_image_accepted(chromium, desk, inbox, agent):
    visitor = open_widget(chromium, demo_url(desk, inbox)).mounted()
    console = None
    try:
        visitor.open().live()
        # Refused in the browser: too large, and a type the desk does not take.
        visitor.q("input[type=file]").set_input_files(
            {"name": "holiday.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n" + b"0" * MAX_UPLOAD}
        )
        error = visitor.q(".error")
        error.filter(has_text="too large").wait_for()
        assert "holiday.png" in error.text_content() and "200 KB" in error.text_content()
        visitor.q("input[type=file]").set_input_files(
            {"name": "tool.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ" + b"0" * 100}
        )
        error.filter(has_text="not accepted").wait_for()
        # Refused by the desk: a "PNG" whose bytes are not one.
        visitor.q("input[type=file]").set_input_files(
            {"name": "fake.png", "mimeType": "image/png", "buffer": b"<html>not an image</html>"}
        )
        visitor.q("li.msg.failed").filter(has_text="fake.png").wait_for()
        error.filter(has_text="fake.png").wait_for()
        assert visitor.q("li.msg.failed .retry").count() == 1
        assert visitor_messages(inbox).count() == 0

        # A real image goes through and is shown.
        png = (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
            b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
        )
        visitor.q("input[type=file]").set_input_files({"name": "dot.png", "mimeType": "image/png", "buffer": png})
        visitor.q("li.msg.mine[data-state=sent] .files a").filter(has_text="dot.png").wait_for()
        wait_for_js(
            visitor.page,
            "document.querySelector('#supportdesk-widget').shadowRoot.querySelector('li.msg.mine img')?.naturalWidth === 1",
        )
        stored = visitor_messages(inbox).get()
        assert [a.filename for a in stored.attachments.all()] == ["dot.png"]

        # The agent sees the image in the console.
        console = open_console(chromium, desk, "ana")
        console.page.locator(f"#conv-list li[data-id='{stored.conversation_id}']").click()
        image = console.page.locator("#timeline li.msg.in a.attachment img[alt='dot.png']")
        image.wait_for()
        wait_for_js(
            console.page,
            "document.querySelector(\"#timeline li.msg.in a.attachment img[alt='dot.png']\").naturalWidth === 1",
        )
        assert console.errors == []
    finally:
        visitor.context.close()
        if console is not None:
            console.context.close()


def test_offline_inbox_says_so_and_takes_an_email(chromium, desk, inbox):
    visitor = open_widget(chromium, demo_url(desk, inbox)).mounted()
    try:
        visitor.open()
        visitor.q(".notice.offline").wait_for()
        assert visitor.q(".presence").text_content() == "We are away"
        visitor.q("input[type=email]").fill("not an address")
        visitor.q(".email button").click()
        visitor.q(".email-note").filter(has_text="valid email").wait_for()
        visitor.q("input[type=email]").fill("Traveller@Example.com")
        visitor.q(".email button").click()
        visitor.q(".email-done").filter(has_text="traveller@example.com").wait_for()
        assert Visitor.objects.get(inbox=inbox).email == "traveller@example.com"
        # It still takes the message.
        visitor.live()
        text = unique("Anyone there?")
        visitor.send(text)
        visitor.state(text, "sent").wait_for()
    finally:
        visitor.context.close()


def test_online_inbox_shows_no_offline_notice(chromium, desk, inbox, agent):
    presence_set(agent_id=agent.pk, status="online")
    visitor = open_widget(chromium, demo_url(desk, inbox)).mounted()
    try:
        visitor.open()
        assert visitor.q(".presence").text_content() == "We are online"
        assert visitor.q(".notice.offline").is_hidden()
        assert visitor.q("form.email").is_hidden()
    finally:
        visitor.context.close()


def test_phone_viewport_full_screen_keyboard_and_screenshot(chromium, desk, inbox):
    visitor = open_widget(
        chromium,
        demo_url(desk, inbox),
        viewport={"width": 375, "height": 667},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    ).mounted()
    try:
        launcher = visitor.q(".launcher")
        # The host page's rude CSS (red buttons, 30px) does not reach the widget.
        assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") != "rgb(204, 0, 0)"
        assert launcher.evaluate("b => getComputedStyle(b).fontSize") == "14px"
        assert launcher.get_attribute("aria-expanded") == "false"
        launcher.focus()
        visitor.page.keyboard.press("Enter")
        panel = visitor.q(".panel")
        panel.wait_for()
        box = panel.bounding_box()
        assert box == {"x": 0, "y": 0, "width": 375, "height": 667}
        assert panel.get_attribute("role") == "dialog"
        assert (
            visitor.page.evaluate("document.querySelector('#supportdesk-widget').shadowRoot.activeElement?.tagName")
            == "TEXTAREA"
        )
        visitor.live()
        visitor.send("Typed on a phone")
        visitor.state("Typed on a phone", "sent").wait_for()
        path = screenshot(visitor.page, "widget-phone")
        assert path.stat().st_size > 5_000
        # Escape closes the panel and gives the focus back to the launcher.
        visitor.page.keyboard.press("Escape")
        panel.wait_for(state="hidden")
        assert launcher.get_attribute("aria-expanded") == "false"
        assert (
            visitor.page.evaluate("document.querySelector('#supportdesk-widget').shadowRoot.activeElement?.className")
            == "launcher"
        )
    finally:
        visitor.context.close()


def test_loader_is_served_small_with_a_short_cache(desk):
    response = requests.get(desk.url + "/widget.js", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert len(response.content) < 30_000
    again = requests.get(desk.url + "/widget.js", headers={"If-None-Match": response.headers["ETag"]}, timeout=10)
    assert again.status_code == 304
    # The panel it loads is where it says (the static files' URL, hashed in production).
    panel_path = re.search(r'const PANEL = "([^"]+)"', response.text).group(1)
    panel = requests.get(desk.url + panel_path, timeout=10)
    assert panel.status_code == 200 and "__supportdeskPanel" in panel.text
