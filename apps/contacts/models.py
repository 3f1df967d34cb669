from __future__ import annotations

from django.conf import settings
from django.db import models


class Contact(models.Model):
    """One customer, whatever channels they write from."""

    name = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Contact search answers by name: a common match walks this index and stops at 20.
        indexes = [models.Index(fields=["name", "id"], name="contact_name_idx")]

    def __str__(self) -> str:
        return self.name or f"Contact {self.pk}"


class Identity(models.Model):
    """An address a contact writes from, normalised so that one address is one row."""

    class Kind(models.TextChoices):
        PHONE = "phone", "Phone (SMS/MMS)"
        WHATSAPP = "whatsapp", "WhatsApp"
        EMAIL = "email", "Email"
        WIDGET = "widget", "Widget visitor"
        TELEGRAM = "telegram", "Telegram"
        XMPP = "xmpp", "XMPP"
        # A social account (Mastodon): its stable account id on its instance, not the handle.
        MASTODON = "mastodon", "Mastodon"
        # The host site's user id, proven by the widget's HMAC (verified) or attached by an admin.
        USER_ID = "user_id", "Site user id"

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    address = models.CharField(max_length=320, help_text="Normalised: E.164, lower-cased email, …")
    display = models.CharField(max_length=320, blank=True, help_text="As the customer wrote it.")
    verified = models.BooleanField(default=False, help_text="The channel proved the customer controls this address.")
    opted_out = models.BooleanField(default=False, help_text="Texted STOP: nothing may be sent.")
    opted_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "address"], name="identity_unique")]
        verbose_name_plural = "identities"

    def __str__(self) -> str:
        return f"{self.kind}:{self.address}"


class ContactMerge(models.Model):
    """A recorded merge, so that it can be undone."""

    survivor = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges_kept")
    merged = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges_absorbed")
    identity_ids = models.JSONField(default=list)
    conversation_ids = models.JSONField(default=list)
    merged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)


class ContactNameWord(models.Model):
    """A word of an unmerged contact's name, upper-cased, beside the whole name: contact search
    finds the first contacts by name among those with a word containing what was typed by walking
    (word, name, contact_id) for each matching word (apps.api.selectors), instead of reading every
    contact whose name matches. PostgreSQL only: written by a trigger on contacts_contact (contacts
    migration 0007), never by the application; empty on SQLite, which searches by LIKE."""

    contact_id = models.BigIntegerField()
    word = models.CharField(max_length=200)
    name = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact_id", "word"], name="contactnameword_unique")]
        indexes = [models.Index(fields=["word", "name", "contact_id"], name="contactnameword_walk_idx")]


class NameWord(models.Model):
    """Every word that has been in a contact's name (see ContactNameWord), once or, after two
    contacts brought a new word at the same moment, twice: a trigram index finds the words that
    contain what was typed. Never pruned (a word no contact has any more finds nobody).
    PostgreSQL only, written by the same trigger."""

    word = models.CharField(max_length=200, db_index=True)
