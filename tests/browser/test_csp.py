"""The desk's pages under their Content-Security-Policy, in Chromium: what they need loads, and
what the policy forbids is refused and reported (tests/browser/support.py fails any test that
met a violation)."""

from __future__ import annotations

import pytest

from tests.browser.support import CSP_VIOLATIONS, PASSWORD, set_server_password
from tests.factories import AgentFactory

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_an_injected_inline_script_is_refused_and_reported(chromium, console_server):
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(console_server.url + "/console/login/")
        page.wait_for_selector("#id_username")
        assert page.evaluate("() => getComputedStyle(document.querySelector('button')).color") == "rgb(255, 255, 255)"
        # What an injection would add: a script element with inline code. The policy refuses it.
        page.evaluate(
            """() => { const s = document.createElement('script');
                s.textContent = 'window.injected = true'; document.body.append(s); }"""
        )
        page.wait_for_timeout(200)
        assert page.evaluate("() => window.injected === true") is False
        assert any('"directive":"script-src-elem"' in v for v in CSP_VIOLATIONS), CSP_VIOLATIONS
        CSP_VIOLATIONS.clear()  # seen and expected: the test would otherwise fail on it
    finally:
        context.close()


def test_admin_pages_work_under_the_policy(chromium, console_server):
    admin = AgentFactory(username="root", is_staff=True, is_superuser=True)
    set_server_password(admin.username)
    context = chromium.new_context()
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(console_server.url + "/admin/login/?next=/admin/")
        page.fill("#id_username", "root")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(console_server.url + "/admin/")
        page.goto(console_server.url + "/admin/accounts/inbox/add/")
        page.wait_for_selector("#inbox_form")
        assert errors == []
    finally:
        context.close()
