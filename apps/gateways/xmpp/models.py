from __future__ import annotations

from django.db import models


class XmppAccount(models.Model):
    """The client account (c2s) an XMPP inbox logs in as: customers write to its JID.

    `manage.py run_xmpp` keeps one connection per account. `archive_cursor` is the server
    archive id (XEP-0313/XEP-0359 stanza-id) up to which every message was taken into the
    inbound journal: after each (re)connect the archive is read from there on.
    """

    inbox = models.OneToOneField("accounts.Inbox", on_delete=models.CASCADE, related_name="xmpp_account")
    jid = models.CharField(max_length=320, unique=True, help_text="The bare JID, e.g. support@example.org.")
    password = models.CharField(max_length=255)
    host = models.CharField(
        max_length=255, blank=True, help_text="Server host to connect to; empty: found from the JID's domain (DNS SRV)."
    )
    port = models.PositiveIntegerField(null=True, blank=True, help_text="c2s port; empty: 5222 or DNS SRV.")
    upload_domain = models.CharField(
        max_length=255,
        blank=True,
        help_text="HTTP File Upload (XEP-0363) service, e.g. upload.example.org; empty: found by service discovery.",
    )
    enabled = models.BooleanField(default=True)
    archive_cursor = models.CharField(max_length=255, blank=True, help_text="Last archive id taken in (MAM).")
    archive_cursor_at = models.DateTimeField(null=True, blank=True, help_text="When that archived message was sent.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "XMPP account"

    def __str__(self) -> str:
        return self.jid
