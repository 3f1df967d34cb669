from typing import Any

from django import forms
from django.contrib import admin

from apps.gateways.xmpp.models import XmppAccount


class XmppAccountForm(forms.ModelForm):
    # Never shown back; left empty on an existing account, the stored password is kept.
    password = forms.CharField(widget=forms.PasswordInput(), required=False)

    class Meta:
        model = XmppAccount
        fields = ["inbox", "jid", "password", "host", "port", "upload_domain", "enabled"]

    def clean_password(self) -> str:
        password: str = self.cleaned_data.get("password") or ""
        if not password and self.instance.pk:
            return self.instance.password
        if not password:
            raise forms.ValidationError("The account's password is required.")
        return password

    def clean_jid(self) -> Any:
        return (self.cleaned_data.get("jid") or "").strip().lower()


@admin.register(XmppAccount)
class XmppAccountAdmin(admin.ModelAdmin):
    form = XmppAccountForm
    list_display = ["jid", "inbox", "enabled", "archive_cursor", "updated_at"]
    readonly_fields = ["archive_cursor", "archive_cursor_at"]
