"""Browser tests: real Chromium (Playwright, /usr/bin/chromium), a real server process, on the
test run's PostgreSQL database and Redis; Twilio is the local Twilio-compatible server."""

from tests.browser.support import chromium, console_server, csp_violations_fail  # noqa: F401 - fixtures

# The XMPP console test's: a private prosody, run_xmpp, a customer's client.
from tests.gateways.xmpp.conftest import (  # noqa: E402, F401 - fixtures
    accounts,
    customer,
    desk,
    prosody_server,
    xmpp_inbox,
    xmpp_settings,
)
