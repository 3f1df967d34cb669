from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from apps.accounts.models import Inbox
from apps.mail.models import EmailInboxSettings, EmailThread


class EmailInboxSettingsForm(forms.ModelForm):
    class Meta:
        model = EmailInboxSettings
        fields = [
            "from_name",
            "auto_ack_enabled",
            "auto_ack_subject",
            "auto_ack_text",
            "imap_enabled",
            "imap_host",
            "imap_port",
            "imap_security",
            "imap_username",
            "imap_password",
            "imap_folder",
            "imap_processed_folder",
        ]
        widgets = {"imap_password": forms.PasswordInput(render_value=True)}


class EmailInboxSettingsInline(admin.StackedInline):
    """Email settings on the Inbox page (shown for email inboxes, and while adding one)."""

    model = EmailInboxSettings
    form = EmailInboxSettingsForm
    can_delete = False
    max_num = 1
    fieldsets = (
        (None, {"fields": ("from_name",)}),
        (
            "Automatic acknowledgement",
            {
                "fields": ("auto_ack_enabled", "auto_ack_subject", "auto_ack_text"),
                "description": "Sent once to a person who opens a new conversation (never to automatic mail, "
                "lists or daemons; at most one per conversation and address within an hour).",
            },
        ),
        (
            "IMAP mailbox (optional)",
            {
                "fields": (
                    "imap_enabled",
                    "imap_host",
                    "imap_port",
                    "imap_security",
                    "imap_username",
                    "imap_password",
                    "imap_folder",
                    "imap_processed_folder",
                ),
            },
        ),
    )

    def _for_email(self, obj: Any) -> bool:
        return obj is None or obj.channel == Inbox.Channel.EMAIL

    def get_extra(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> int:
        return 1 if self._for_email(obj) else 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._for_email(obj) and super().has_add_permission(request, obj)


@admin.register(EmailThread)
class EmailThreadAdmin(admin.ModelAdmin):
    list_display = ("conversation", "subject", "send_inbox", "suspicious", "created_at")
    search_fields = ("subject", "reply_token", "conversation__id")
    readonly_fields = ("conversation", "reply_token", "subject", "send_inbox", "suspicious_reason", "created_at")

    @admin.display(boolean=True)
    def suspicious(self, thread: EmailThread) -> bool:
        return bool(thread.suspicious_reason)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
