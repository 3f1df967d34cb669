"""Files customers share as links: fetched within limits, never from the desk's own network."""

from __future__ import annotations

import pytest

from apps.gateways.base import PermanentSendError
from apps.gateways.xmpp.media import xmpp_media_fetch


@pytest.fixture
def shared_url(customer) -> str:
    return customer.upload("notes.txt", b"a" * 200, "text/plain")


def test_a_shared_file_is_fetched(shared_url, xmpp_settings):
    assert xmpp_media_fetch(shared_url) == (b"a" * 200, "text/plain")


def test_a_link_to_a_private_address_is_refused_by_default(shared_url, settings):
    settings.XMPP_MEDIA_PRIVATE_ADDRESSES = False
    with pytest.raises(PermanentSendError) as refused:
        xmpp_media_fetch(shared_url)
    assert refused.value.code == "media_refused"


def test_a_file_over_the_limit_is_refused(shared_url, xmpp_settings):
    xmpp_settings.XMPP_MEDIA_MAX_BYTES = 100
    with pytest.raises(PermanentSendError) as refused:
        xmpp_media_fetch(shared_url)
    assert refused.value.code == "media_too_large"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "javascript:alert(1)"])
def test_only_http_links_are_fetched(url, xmpp_settings):
    with pytest.raises(PermanentSendError) as refused:
        xmpp_media_fetch(url)
    assert refused.value.code == "media_refused"
