"""Browser tests: real Chromium (Playwright, /usr/bin/chromium), a real server process, on the
test run's PostgreSQL database and Redis; Twilio is the local Twilio-compatible server."""

from tests.browser.support import chromium, console_server, csp_violations_fail  # noqa: F401 - fixtures
