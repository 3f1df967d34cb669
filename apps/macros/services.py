"""Applying a macro: its actions in one transaction, recorded in the timeline."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Agent
from apps.conversations.events import emit_message
from apps.conversations.models import Conversation, Message
from apps.conversations.services import conversation_update, message_send
from apps.conversations.services.timeline import activity_add
from apps.core.errors import InvalidInput, NotFound
from apps.macros.models import Macro, MacroApplication


def macro_render(text: str, *, conversation: Conversation, agent: Agent) -> str:
    """{contact} and {agent} in a macro's reply become names; nothing else is interpreted."""
    return text.replace("{contact}", conversation.contact.name or "there").replace("{agent}", agent.name)


def macro_apply(*, macro_id: int, conversation_id: int, agent: Agent, client_id: str) -> tuple[Conversation, bool]:
    """Apply the macro's actions in order: the reply (or note) first, then labels, team,
    priority and status (so that "reply and resolve" resolves after the reply is queued).
    All or nothing; repeating the same `client_id` does nothing more (returns created=False)."""
    if not client_id or len(client_id) > 48:
        raise InvalidInput("client_id must be 1 to 48 characters", code="invalid_client_id")
    macro = Macro.objects.select_related("team").filter(pk=macro_id).first()
    if macro is None:
        raise NotFound("no such macro")
    try:
        with transaction.atomic():
            conversation = (
                Conversation.objects.select_for_update(of=("self",), no_key=True)
                .select_related("contact")
                .filter(pk=conversation_id)
                .first()
            )
            if conversation is None:
                raise NotFound("no such conversation")
            MacroApplication.objects.create(macro=macro, conversation=conversation, agent=agent, client_id=client_id)
            now = timezone.now()
            activity = activity_add(
                conversation,
                f"{agent.name} applied the macro “{macro.name}”",
                now=now,
                meta={"by": agent.pk, "macro": {"id": macro.pk, "name": macro.name}},
            )
            conversation.save(update_fields=["last_seq"])
            emit_message(activity)
            if macro.reply.strip():
                message_send(
                    conversation_id=conversation.pk,
                    agent=agent,
                    body=macro_render(macro.reply, conversation=conversation, agent=agent),
                    client_id=f"macro-{client_id}",
                    kind=Message.Kind.NOTE if macro.reply_is_note else Message.Kind.MESSAGE,
                )
            labels = None
            if macro.add_labels or macro.remove_labels:
                current = set(conversation.labels.values_list("name", flat=True))
                removed = {" ".join(n.split()).lower() for n in macro.remove_labels}
                labels = sorted((current | {n for n in macro.add_labels}) - removed)
            status = macro.status or None
            snoozed_until = None
            if status == Conversation.Status.SNOOZED:
                snoozed_until = now + dt.timedelta(minutes=macro.snooze_minutes or 60)
            kwargs: dict = {}
            if macro.team_id is not None:
                kwargs["team_id"] = macro.team_id
            conversation_update(
                conversation_id=conversation.pk,
                by=agent,
                status=status,
                priority=macro.priority,
                labels=labels,
                snoozed_until=snoozed_until,
                **kwargs,
            )
    except IntegrityError:
        if MacroApplication.objects.filter(conversation_id=conversation_id, client_id=client_id).exists():
            return Conversation.objects.get(pk=conversation_id), False
        raise
    return Conversation.objects.get(pk=conversation_id), True


@transaction.atomic
def macro_save(*, pk: int | None, data: dict, by: Agent | None = None) -> Macro:
    macro = Macro(created_by=by) if pk is None else Macro.objects.filter(pk=pk).first()
    if macro is None:
        raise NotFound("no such macro")
    for field, value in data.items():
        setattr(macro, field, value)
    try:
        macro.full_clean()
    except DjangoValidationError as exc:
        raise InvalidInput("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
    macro.save()
    return macro


def macro_delete(*, pk: int) -> None:
    if not Macro.objects.filter(pk=pk).delete()[0]:
        raise NotFound("no such macro")
