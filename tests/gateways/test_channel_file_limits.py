"""Every channel that carries an agent's files declares its limits, so that a file that cannot go
out is refused with words before the reply is queued (message_send checks them; see
tests/gateways/test_twilio_media_out.py for the refusal end to end)."""

from __future__ import annotations

from apps.bus import registry
from apps.gateways.xmpp.channel import xmpp_limits

MB = 1024 * 1024
# Mail and the widget carry what AGENT_ATTACHMENTS_MAX_BYTES allows: no provider limits them.
NO_PROVIDER_LIMIT = {"email", "widget"}


def test_every_kind_that_carries_files_declares_its_limits():
    undeclared = sorted(
        kind for kind in registry.attachment_kinds() if kind not in NO_PROVIDER_LIMIT and not registry.file_limits(kind)
    )
    assert undeclared == []


def test_telegram_refuses_a_photo_over_10_mb_and_takes_a_document_up_to_50_mb():
    limits = registry.file_limits("telegram")
    assert limits.refusal([("shot.png", "image/png", 11 * MB)]) == (
        "shot.png is 11.0 MB; Telegram takes image/png files up to 10.0 MB."
    )
    assert limits.refusal([("manual.pdf", "application/pdf", 40 * MB)]) == ""
    assert "Telegram cannot carry files of type text/html" in limits.refusal([("x.html", "text/html", 10)])


def test_xmpp_follows_the_servers_upload_limit(settings):
    settings.XMPP_MEDIA_MAX_BYTES = 2 * MB
    limits = xmpp_limits()
    assert limits.refusal([("photo.jpg", "image/jpeg", 3 * MB)]) == (
        "photo.jpg is 3.0 MB; XMPP takes image/jpeg files up to 2.0 MB."
    )
    assert limits.refusal([("photo.jpg", "image/jpeg", MB)]) == ""
