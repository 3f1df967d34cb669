from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from apps.accounts.models import Inbox
from apps.widget.models import OfflineEmail, Visitor, WidgetSettings, new_secret
from apps.widget.services import WIDGET_FIELDS, embed_snippet, hmac_recipes


class WidgetSettingsForm(forms.ModelForm):
    regenerate_secret = forms.BooleanField(
        required=False,
        help_text="Draw a new secret on save. Hashes signed with the old one stop working: update the site first.",
    )

    class Meta:
        model = WidgetSettings
        fields = list(WIDGET_FIELDS)
        widgets = {
            "allowed_origins": forms.Textarea(attrs={"rows": 3, "placeholder": "https://shop.example.com"}),
            "colour": forms.TextInput(attrs={"type": "color"}),
            "business_hours": forms.Textarea(attrs={"rows": 3}),
        }

    def save(self, commit: bool = True) -> Any:
        if self.cleaned_data.get("regenerate_secret"):
            self.instance.secret = new_secret()
        return super().save(commit=commit)


class WidgetSettingsInline(admin.StackedInline):
    """Widget settings on the Inbox page (shown for widget inboxes, and while adding one)."""

    model = WidgetSettings
    form = WidgetSettingsForm
    can_delete = False
    max_num = 1
    readonly_fields = ("secret", "embed", "hmac_recipe")
    fieldsets = (
        (None, {"fields": ("allowed_origins", "greeting", "offline_message", "colour", "business_hours")}),
        (
            "Identity",
            {
                "fields": ("require_identity", "secret", "regenerate_secret", "hmac_recipe", "ask_email_when_offline"),
                "description": "Signed-in users of the site are vouched for by an HMAC-SHA256 of their user id, "
                "keyed with the secret, computed on the site's server (never in the browser).",
            },
        ),
        ("Embed", {"fields": ("embed",)}),
    )

    def _for_widget(self, obj: Any) -> bool:
        return obj is None or obj.channel == Inbox.Channel.WIDGET

    def get_extra(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> int:
        return 1 if self._for_widget(obj) else 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._for_widget(obj) and super().has_add_permission(request, obj)

    @admin.display(description="Embed snippet")
    def embed(self, obj: WidgetSettings) -> str:
        if obj is None or obj.pk is None:
            return "Save the inbox to get its snippet."
        return format_html(
            "<p>Paste before &lt;/body&gt; on every page of the site:</p><pre>{}</pre>", embed_snippet(obj.inbox)
        )

    @admin.display(description="Computing data-user-hash")
    def hmac_recipe(self, obj: WidgetSettings) -> str:
        secret = obj.secret if obj is not None and obj.pk else "<widget secret>"
        recipes = hmac_recipes(secret)
        return format_html_join(
            "",
            "<p><strong>{}</strong></p><pre>{}</pre>",
            (
                (name, code)
                for name, code in (("Python", recipes["python"]), ("Node", recipes["node"]), ("PHP", recipes["php"]))
            ),
        )


@admin.register(Visitor)
class VisitorAdmin(admin.ModelAdmin):
    list_display = ("public_id", "inbox", "name", "email", "user_id", "created_at", "last_seen_at")
    list_filter = ("inbox",)
    search_fields = ("public_id", "name", "email", "user_id")
    readonly_fields = ("inbox", "public_id", "token_hash", "identity", "user_id", "created_at", "last_seen_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(OfflineEmail)
class OfflineEmailAdmin(admin.ModelAdmin):
    list_display = ("message", "to", "state", "attempts", "created_at", "sent_at", "error")
    list_filter = ("state",)
    readonly_fields = (
        "message",
        "visitor",
        "to",
        "state",
        "attempts",
        "last_attempt_at",
        "created_at",
        "sent_at",
        "error",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
