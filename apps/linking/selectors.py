"""What the contact panel shows about linked social accounts."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.contacts.models import Identity
from apps.linking.models import LinkCode
from apps.linking.services import LINKABLE_KINDS


def linked_accounts(*, contact_id: int) -> dict[str, Any]:
    """The contact's social identities (with how each was proven and the merge to undo), and
    its codes still waiting for the customer."""
    identities = list(
        Identity.objects.filter(contact_id=contact_id, kind__in=list(LINKABLE_KINDS)).order_by("created_at", "id")
    )
    links = {
        link.identity_id: link
        for link in LinkCode.objects.filter(identity_id__in=[i.pk for i in identities], state=LinkCode.State.USED)
        .select_related("merge")
        .order_by("used_at")
    }
    accounts = []
    for identity in identities:
        link = links.get(identity.pk)
        merge = link.merge if link is not None else None
        accounts.append(
            {
                "identity": identity.pk,
                "kind": identity.kind,
                "kind_name": LINKABLE_KINDS.get(identity.kind, identity.kind),
                "stable_id": identity.address,
                "handle": identity.display,
                "verified": identity.verified,
                "linked_at": link.used_at if link is not None else None,
                "proof": "code" if link is not None else "channel",
                "merge": merge.pk if merge is not None and merge.undone_at is None else None,
            }
        )
    now = timezone.now()
    pending = [
        {"id": code.pk, "kind": code.kind, "expires_at": code.expires_at, "created_at": code.created_at}
        for code in LinkCode.objects.filter(
            contact_id=contact_id, state=LinkCode.State.PENDING, expires_at__gt=now
        ).order_by("-created_at")[:5]
    ]
    return {"accounts": accounts, "pending": pending}
