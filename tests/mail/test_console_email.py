"""Email in the console, as agents use it: real Chromium, a real server process (`manage.py serve`,
which runs the SMTP listener in-process when INBOUND_EMAIL_DOMAIN is set), mail delivered with
smtplib into that listener, replies captured by a real SMTP server (aiosmtpd) through EMAIL_URL."""

from __future__ import annotations

import http.server
import smtplib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.accounts.models import Inbox
from apps.conversations.models import Conversation, Message
from apps.mail.models import EmailInboxSettings, EmailMessage
from tests.browser.support import open_console, require_browser, screenshot
from tests.factories import InboxFactory
from tests.mail.smtp_capture import SmtpCapture, free_port
from tests.mail.support import DOMAIN, INBOX_ADDRESS, JANE, MALLORY, compose, dsn
from tests.servers import LiveServer, start_server, stop_server, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201ffa6e2b0650000000049454e44ae426082"
)


class MailServer:
    """The server process with its SMTP listener, and the SMTP server its replies go to."""

    def __init__(self, live: LiveServer, smtp_port: int, outgoing: SmtpCapture) -> None:
        self.live = live
        self.smtp_port = smtp_port
        self.outgoing = outgoing

    def send(self, raw: bytes, *, rcpt: list[str] | None = None, mail_from: str = JANE) -> None:
        """Deliver a mail into the server's listener, as an MTA would."""
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10) as client:
            client.sendmail(mail_from, rcpt or [INBOX_ADDRESS], raw)


@pytest.fixture
def mail_server(tmp_path: Path, settings) -> Iterator[MailServer]:
    require_browser()
    smtp_port = free_port()
    with SmtpCapture() as outgoing:
        live = start_server(
            tmp_path,
            EMAIL_URL=outgoing.url,
            INBOUND_EMAIL_DOMAIN=DOMAIN,
            SMTP_LISTEN=f"127.0.0.1:{smtp_port}",
        )
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:  # the listener starts with the server
                try:
                    smtplib.SMTP("127.0.0.1", smtp_port, timeout=2).quit()
                    break
                except OSError:
                    time.sleep(0.2)
            yield MailServer(live, smtp_port, outgoing)
        finally:
            stop_server(live)


@pytest.fixture
def email_inbox(db, team, agent) -> Inbox:
    inbox = InboxFactory(name="Support mail", channel=Inbox.Channel.EMAIL, address=INBOX_ADDRESS, team=team)
    inbox.auto_assign = False
    inbox.save(update_fields=["auto_assign"])
    inbox.members.add(agent)
    EmailInboxSettings.objects.create(inbox=inbox, from_name="Acme Support")
    return inbox


@pytest.fixture
def image_host() -> Iterator[dict]:
    """A web server standing for a sender's tracking-pixel host: it counts what is fetched."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_address[1]}", "hits": hits}
    finally:
        server.shutdown()


def html_mail(subject: str, image_url: str) -> bytes:
    from email.message import EmailMessage as Mime

    mail = Mime()
    mail["From"] = f"Jane Doe <{JANE}>"
    mail["To"] = INBOX_ADDRESS
    mail["Subject"] = subject
    mail["Message-ID"] = f"<{uuid.uuid4().hex}@customer.example>"
    mail.set_content("My router is down (see the picture).")
    mail.add_alternative(
        "<p>My router is <b>down</b>.</p><img alt='inline' src='cid:pic1@customer.example'>"
        f"<img alt='remote' src='{image_url}/pixel.png'><script>parent.document.title='pwned'</script>",
        subtype="html",
    )
    mail.get_payload()[1].add_related(PNG, "image", "png", cid="<pic1@customer.example>", filename="pic.png")
    return mail.as_bytes()


def test_mail_is_shown_with_subject_sandboxed_html_no_remote_loads_and_the_original(
    chromium, mail_server, email_inbox, agent, image_host
):
    subject = f"Router problem {uuid.uuid4().hex[:6]}"
    mail_server.send(html_mail(subject, image_host["url"]))
    mail_server.send(
        compose(subject=f"Out of office {subject}", body="I am away.", headers={"Auto-Submitted": "auto-replied"})
    )
    ana = open_console(chromium, mail_server.live, "ana")
    try:
        page = ana.page
        page.locator("#conv-list li", has_text="Jane Doe").first.click()
        message = page.locator("#timeline li.msg.in", has_text="My router is down")
        message.locator(".mail-subject", has_text=subject).wait_for()
        page.locator("#timeline li.msg.in", has_text="I am away.").locator(
            ".mail-badge", has_text="Automatic reply"
        ).wait_for()

        message.locator("button.show-formatted").click()
        frame_element = message.locator("iframe.mail-frame")
        frame_element.wait_for()
        assert frame_element.get_attribute("sandbox") == "allow-popups allow-popups-to-escape-sandbox"
        srcdoc = frame_element.get_attribute("srcdoc")
        assert "default-src 'none'; img-src data:;" in srcdoc
        assert "<script" not in srcdoc
        frame = frame_element.content_frame
        frame.locator("b", has_text="down").wait_for()
        # The inline image (cid:) shows, from the stored attachment; the remote one does not load.
        wait_for(lambda: frame.locator("img[alt=inline]").evaluate("i => i.naturalWidth") == 1, what="inline image")
        assert frame.locator("img[alt=remote]").evaluate("i => i.naturalWidth") == 0
        time.sleep(0.5)
        assert image_host["hits"] == []
        assert page.title() != "pwned"

        message.locator("button.load-remote").click()
        wait_for(lambda: image_host["hits"] == ["/pixel.png"], what="the remote image, once asked for")
        screenshot(page, "email-formatted")

        original = message.locator("a.show-original")
        href = original.get_attribute("href")
        stored = EmailMessage.objects.get(message__body__startswith="My router is down").message_id
        assert href == f"/api/v1/messages/{stored}/original"
        raw = page.request.get(mail_server.live.url + href)
        assert raw.status == 200
        assert f"Subject: {subject}" in raw.text()
        assert ana.errors == []
    finally:
        ana.context.close()


def test_a_spoofed_mail_shows_a_suspicious_banner(chromium, mail_server, email_inbox, agent):
    mail_server.send(compose(subject="Invoice"))
    janes = wait_for(lambda: Conversation.objects.filter(contact__identities__address=JANE).first(), what="Jane's mail")
    mail_server.send(
        compose(sender=f"Jane Doe <{MALLORY}>", subject=f"Re: Invoice [#{janes.pk}]", body="Please send it to me"),
        mail_from=MALLORY,
    )
    spoof = wait_for(lambda: Message.objects.filter(identity__address=MALLORY).first(), what="the spoofed mail")
    ana = open_console(chromium, mail_server.live, "ana")
    try:
        page = ana.page
        page.locator(f"#conv-list li[data-id='{spoof.conversation_id}']").click()
        page.locator("#timeline li.msg.in", has_text="Please send it to me").locator(
            ".mail-badge.suspicious"
        ).wait_for()
        banner = page.locator("#conv-warning")
        banner.wait_for()
        assert f"points at conversation #{janes.pk}" in banner.inner_text()
        screenshot(page, "email-suspicious")
        page.locator(f"#conv-list li[data-id='{janes.pk}']").click()
        page.locator("#timeline li.msg.in", has_text="My router is down").wait_for()
        page.wait_for_selector("#conv-warning", state="hidden")
        assert ana.errors == []
    finally:
        ana.context.close()


def test_sms_customer_gets_an_email_reply_with_a_file_and_its_bounce_shows_on_the_reply(
    chromium, mail_server, email_inbox, sms_inbox, agent, tmp_path
):
    from tests.conftest import twilio_params

    sms_inbox.members.add(agent)
    mail_server.live.post_twilio("/webhooks/twilio/messages", twilio_params(Body="Please email me the manual"))
    ana = open_console(chromium, mail_server.live, "ana")
    try:
        page = ana.page
        page.locator("#conv-list li", has_text="Please email me the manual").click()
        page.fill("#identity-email", JANE)
        page.click("#identity-form button[type=submit]")
        page.locator("#identities li", has_text=JANE).wait_for()
        option = page.locator("#reply-channel option", has_text=f"Email: {JANE} (unverified)")
        option.wait_for(state="attached")
        page.select_option("#reply-channel", option.get_attribute("value"))

        manual = tmp_path / "manual.pdf"
        manual.write_bytes(b"%PDF-1.4 manual")
        page.set_input_files("#attach-input", str(manual))
        page.locator("#attach-list li", has_text="manual.pdf").wait_for()
        page.fill("#composer-text", "Here is the manual.")
        page.keyboard.press("Enter")
        sent = page.locator("#timeline li.msg.out:not(.pending)", has_text="Here is the manual.")
        sent.locator(".tick[data-status=sent]").wait_for()
        sent.locator("a.attachment", has_text="manual.pdf").wait_for()

        [captured] = mail_server.outgoing.wait_for(1)
        mail = captured.message
        assert captured.rcpt_tos == [JANE]
        assert mail["From"] == f"Acme Support <{INBOX_ADDRESS}>"
        [attachment] = list(mail.iter_attachments())
        assert (attachment.get_filename(), attachment.get_content()) == ("manual.pdf", b"%PDF-1.4 manual")

        # The customer's server bounces it: the reply turns failed, with the diagnostic, live.
        mail_server.send(dsn(original_message_id=mail["Message-ID"].strip("<>")), mail_from="")
        failed = sent.locator(".tick[data-status=failed]")
        failed.wait_for()
        assert "550 5.1.1" in failed.inner_text()
        assert sent.locator("a.show-original", has_text="Show the bounce").count() == 1
        screenshot(page, "email-bounced-reply")
        assert page.locator("#timeline li.msg.in").count() == 1  # the bounce is not a customer message
        assert ana.errors == []
    finally:
        ana.context.close()
