"""Browser-test support: a real server process on the test database, and headless Chromium.

Used by tests/browser (through conftest.py) and by bench/console_*.py. The server is
`manage.py serve` (uvicorn), started like tests/test_two_processes.py: on the pytest test
database and this run's channel-layer prefix, with Celery tasks eager (in the server process),
and Twilio pointed at the local Twilio-compatible server when one is given.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.conftest import failed_in_call
from tests.requires import missing
from tests.servers import LiveServer, free_port, start_server, stop_server  # noqa: F401 - re-exported

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "pw-agent-123"  # tests/factories.py AgentFactory


def browser_unavailable_reason() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"Chromium is not installed at {CHROMIUM} (Debian package `chromium`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package `playwright` is not installed (requirements-dev.txt)"
    if not (getattr(settings, "HAS_POSTGRES", False) and getattr(settings, "HAS_REDIS", False)):
        return "the console's server process needs PostgreSQL and Redis; one is not reachable (see the banner)"
    return None


def require_browser() -> None:
    """Skip (or, with REQUIRE_SERVICES=1, fail) when the browser tests cannot run here."""
    reason = browser_unavailable_reason()
    if reason is None:
        return
    missing(reason)


def start_live_server(log_dir: Path, *, twilio: Any | None = None, heartbeat: float = 5.0) -> LiveServer:
    return start_server(log_dir, twilio=twilio, heartbeat=heartbeat)


stop_live_server = stop_server


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


# Content-Security-Policy violations seen by any page of the tests (every frame, shadow roots
# included: the event is composed). A test fails on one (csp_violations_fail below): the pages
# run under the desk's policy (apps/core/csp.py) and must need nothing it forbids.
CSP_VIOLATIONS: list[str] = []
CSP_HOOK = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + JSON.stringify({
    directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber,
    sample: e.sample, document: e.documentURI, policy: e.originalPolicy,
  }));
}, true);
"""
CSP_PREFIX = "CSP violation: "
# Policies that confine content on purpose, whose refusals are the point: a mail shown "as
# formatted by its sender" (remote images refused until the agent asks; apps/console/static/
# console/email.js) and the widget's stored files.
CONFINED_POLICY = "default-src 'none'"


def _record_violation(message: Any) -> None:
    import json

    text = message.text
    if not text.startswith(CSP_PREFIX):
        return
    violation = json.loads(text[len(CSP_PREFIX) :])
    if violation.get("policy", "").startswith(CONFINED_POLICY):
        return
    CSP_VIOLATIONS.append(text)


def watch_csp(context: Any) -> Any:
    """Report every page's CSP violations (this context's pages, from their first script on)."""
    context.add_init_script(script=CSP_HOOK)
    context.on("page", lambda page: page.on("console", _record_violation))
    return context


def wait_for_js(page: Any, expression: str, *, timeout: float = 10_000, every: float = 0.02) -> None:
    """`page.wait_for_function` for pages under the desk's policy: Playwright compiles that one's
    predicate in the page with `new Function`, which `script-src 'self'` refuses (no
    'unsafe-eval'); `page.evaluate` is not the page's own script and is not refused."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} ms waiting for: {expression}")
        time.sleep(every)


class CspWatchedBrowser:
    """The browser, whose every context reports its pages' CSP violations."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def new_context(self, **options: Any) -> Any:
        return watch_csp(self._browser.new_context(**options))

    def new_page(self, **options: Any) -> Any:
        return self.new_context(**options).new_page()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


@pytest.fixture(autouse=True)
def csp_violations_fail() -> Iterator[None]:
    """A page that breaks the desk's Content-Security-Policy fails the test that opened it."""
    CSP_VIOLATIONS.clear()
    yield
    found, CSP_VIOLATIONS[:] = list(CSP_VIOLATIONS), []
    assert not found, "Content-Security-Policy violations:\n" + "\n".join(found)


@dataclass
class Console:
    """One agent's console in its own browser context."""

    context: Any
    page: Any
    dialogs: list[str]
    errors: list[str]
    log: list[str]


# The consoles the running test opened: printed when it fails (tests/browser/support.py).
OPENED: list[Console] = []


def describe_consoles() -> str:
    """What each console of a failed test shows and logged, for the failure report."""
    parts = []
    for number, console in enumerate(OPENED, 1):
        try:
            state = console.page.evaluate(
                "() => ({conn: document.getElementById('conn')?.dataset.state,"
                " list: document.getElementById('conv-list')?.innerText.slice(0, 800),"
                " timeline: document.getElementById('timeline')?.innerText.slice(0, 1500)})"
            )
        except Exception as exc:  # noqa: BLE001 - the page may be closed already
            state = f"(page not readable: {exc})"
        parts.append(f"console {number}: {state}\nbrowser log: {console.log[-40:]}\npage errors: {console.errors}")
    return "\n".join(parts)


def set_server_password(username: str) -> None:
    """Give the agent a password the server process can check.

    The test settings hash with MD5 (fast), which the server's settings do not accept; a PBKDF2
    hash with few iterations is accepted (and upgraded on sign-in).
    """
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from apps.accounts.models import Agent

    encoded = PBKDF2PasswordHasher().encode(PASSWORD, "browsertests", iterations=1000)
    assert Agent.objects.filter(username=username).update(password=encoded) == 1


def open_console(
    browser: Any, server: LiveServer, username: str, *, viewport: dict | None = None, color_scheme: str = "light"
) -> Console:
    set_server_password(username)
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 800}, color_scheme=color_scheme)
    context.set_default_timeout(10_000)
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log: list[str] = []
    page.on("console", lambda message: log.append(f"{time.strftime('%H:%M:%S')} {message.type}: {message.text}"))
    page.on(
        "requestfailed",
        lambda request: log.append(f"{time.strftime('%H:%M:%S')} request failed: {request.url} {request.failure}"),
    )
    page.on(
        "response",
        lambda response: (
            log.append(f"{time.strftime('%H:%M:%S')} HTTP {response.status} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    page.goto(server.url + "/console/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/console/")
    try:
        page.wait_for_selector("#conn[data-state=live]")
    except Exception as exc:
        raise AssertionError(
            f"the console did not go live: {exc}\nbrowser console: {log}\npage errors: {errors}\n"
            f"url: {page.url}\npage: {page.content()[:1500]}\n"
            f"server log: {server.log()[-4000:]}"
        ) from None
    console = Console(context=context, page=page, dialogs=dialogs, errors=errors, log=log)
    OPENED.append(console)
    return console


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


@pytest.fixture(scope="module")
def chromium(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Any]:
    """Headless Chromium for one test module.

    Module-scoped, not session-scoped: Playwright's sync API keeps an asyncio loop running in
    this thread while it is started, which the asyncio tests elsewhere in the suite must not
    inherit. While it runs, Django's "no ORM in an event loop" guard would refuse the tests'
    own (synchronous) ORM calls and the database teardown, hence DJANGO_ALLOW_ASYNC_UNSAFE for
    this module only; the server process does not inherit it.
    """
    require_browser()
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                yield CspWatchedBrowser(browser)
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def console_server(request: pytest.FixtureRequest, tmp_path: Path, twilio_server: Any) -> Iterator[LiveServer]:
    """The server process, sending through the local Twilio-compatible server.

    When the test fails, the consoles' state and logs and the server's log tail are printed
    (pytest shows them under "Captured stdout teardown").
    """
    require_browser()
    OPENED.clear()
    server = start_live_server(tmp_path, twilio=twilio_server)
    try:
        yield server
    finally:
        if failed_in_call(request):
            print(describe_consoles())
            print(f"server log (tail):\n{server.log()[-6000:]}")
        OPENED.clear()
        stop_live_server(server)
