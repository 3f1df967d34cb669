"""Proving that a social account belongs to a customer: one-time codes and the attempts made."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.contacts.models import Contact, ContactMerge, Identity


class LinkCode(models.Model):
    """A one-time code the desk issued for a contact; the customer sends it privately from the
    social account to be linked. Only its hash is stored."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for the customer"
        USED = "used", "Used: the account is linked"
        EXPOSED = "exposed", "Posted publicly: refused and cancelled"
        CANCELLED = "cancelled", "Replaced by a newer code"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="link_codes")
    kind = models.CharField(max_length=16, help_text="The identity kind to link (mastodon).")
    code_hash = models.CharField(max_length=64, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    identity = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    merge = models.ForeignKey(ContactMerge, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message_id = models.BigIntegerField(null=True, blank=True, help_text="The message that carried the code.")

    class Meta:
        indexes = [models.Index(fields=["contact", "created_at"], name="linkcode_contact_idx")]


class LinkAttempt(models.Model):
    """A code sent to the desk from a social account, good or not: failures are rate-limited
    per account so that codes cannot be guessed."""

    kind = models.CharField(max_length=16)
    address = models.CharField(max_length=320)
    ok = models.BooleanField(default=False)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "address", "at"], name="linkattempt_sender_idx")]
