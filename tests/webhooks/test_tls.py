"""HTTPS deliveries: the connection goes to the address that was checked, and the certificate is
still verified for the URL's host name (a pinned address must not weaken TLS)."""

from __future__ import annotations

import ssl

from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import webhook_subscription_create, webhooks_job
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.servers import self_signed_certificate


def _certificate(tmp_path, name: str):
    cert, key = self_signed_certificate(tmp_path, name)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


def _run() -> None:
    for _ in range(5):
        if not webhooks_job():
            return


def test_https_delivery_to_a_trusted_certificate_for_the_urls_host(admin, receive_sms, tmp_path, monkeypatch):
    cert, context = _certificate(tmp_path, "localhost")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust this self-signed certificate only
    with WebhookReceiver(tls=context) as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        webhook_subscription_create(by=admin, url=url, event_types=["message.created"], allow_private=True)
        receive_sms()
        _run()
        delivery = WebhookDelivery.objects.get()
        assert (delivery.state, delivery.last_status) == ("succeeded", 200), delivery.last_error
        assert receiver.received[0].headers["host"].startswith("localhost:")


def test_https_refuses_a_certificate_for_another_name(admin, receive_sms, tmp_path, monkeypatch):
    cert, context = _certificate(tmp_path, "other.example")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with WebhookReceiver(tls=context) as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost")
        webhook_subscription_create(by=admin, url=url, event_types=["message.created"], allow_private=True)
        receive_sms()
        _run()
        delivery = WebhookDelivery.objects.get()
        assert delivery.state == "pending" and delivery.last_status is None  # retried later
        assert "certificate" in delivery.last_error.lower()
        assert receiver.received == []
