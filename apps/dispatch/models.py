"""Routing: which team a conversation goes to, how urgent it is, which skills it needs, and how
each inbox or team hands its queue out (the assignment strategy)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Strategy(models.TextChoices):
    ROUND_ROBIN = "round_robin", "Round robin"
    LEAST_BUSY = "least_busy", "Least busy"
    SKILLS = "skills", "Skills-based"


class Skill(models.Model):
    """Something an agent can do: a language ("lang:fr"), a product area ("billing")."""

    name = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentSkill(models.Model):
    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skill_links")
    skill = models.ForeignKey(Skill, on_delete=models.CASCADE, related_name="agent_links")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "skill"], name="agent_skill_unique")]


class RoutingRule(models.Model):
    """One rule: conditions (all that are set must hold) and what happens when they do.

    Rules are tried by `position` (then id); the first that matches wins. A rule with no
    condition at all matches everything (a default).
    """

    class Customer(models.TextChoices):
        ANY = "any", "Anyone"
        NEW = "new", "New customer (first conversation)"
        KNOWN = "known", "Known customer (has written before)"
        VERIFIED = "verified", "Verified identity"

    name = models.CharField(max_length=120)
    position = models.IntegerField(default=0)
    enabled = models.BooleanField(default=True)
    # Conditions.
    keywords = models.JSONField(
        default=list, blank=True, help_text="Words or phrases, any of which in the message matches (case-insensitive)."
    )
    pattern = models.CharField(max_length=500, blank=True, help_text="A regular expression searched in the message.")
    channels = models.JSONField(default=list, blank=True, help_text="Channels (sms, whatsapp, email, widget, …).")
    languages = models.JSONField(default=list, blank=True, help_text="ISO 639-1 codes (en, fr, …).")
    customer = models.CharField(max_length=16, choices=Customer.choices, default=Customer.ANY)
    labels = models.JSONField(
        default=list, blank=True, help_text="Label names any earlier conversation of the customer carries (e.g. vip)."
    )
    inboxes = models.JSONField(default=list, blank=True, help_text="Inbox ids (empty: every inbox).")
    # Actions.
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    priority = models.IntegerField(null=True, blank=True, help_text="0 none … 4 urgent; empty: unchanged.")
    skills = models.ManyToManyField(Skill, blank=True, related_name="rules", help_text="Skills the agent must have.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class InboxRouting(models.Model):
    """An inbox's assignment strategy and its automatic queue reply."""

    inbox = models.OneToOneField("accounts.Inbox", on_delete=models.CASCADE, related_name="routing")
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.ROUND_ROBIN)
    queue_reply = models.BooleanField(
        default=False, help_text="SMS, Telegram, XMPP: tell a new customer once their place in the queue."
    )
    queue_reply_text = models.CharField(max_length=500, blank=True)


class TeamRouting(models.Model):
    """A team's assignment strategy; it wins over the inbox's for the team's conversations."""

    team = models.OneToOneField("accounts.Team", on_delete=models.CASCADE, related_name="routing")
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.ROUND_ROBIN)


class ConversationRouting(models.Model):
    """The skills an agent needs for a conversation, as its routing rule required (a row only
    when there are some; the decision itself is in the timeline activity's meta)."""

    conversation = models.OneToOneField("conversations.Conversation", on_delete=models.CASCADE, related_name="routing")
    rule = models.ForeignKey(RoutingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    skills = models.JSONField(default=list, blank=True, help_text="Skill ids the assignee must have.")
    language = models.CharField(max_length=8, blank=True)
    routed_at = models.DateTimeField()


class QueueWait(models.Model):
    """How long a conversation waited before an agent was given it (for expected waits)."""

    inbox = models.ForeignKey("accounts.Inbox", on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    waited_seconds = models.PositiveIntegerField()
    assigned_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["inbox", "assigned_at"], name="queuewait_inbox_idx")]
