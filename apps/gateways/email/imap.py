"""IMAP polling (imapclient) of the mailboxes of email inboxes with `imap_enabled`.

One poll of one inbox: select its folder, take the mails past the cursor in UID order, in
batches: journal each (`email_accept`, BODY.PEEK[] so nothing is marked read before it is
ours), then move the batch to `imap_processed_folder` (or flag it \\Seen when there is none),
then move the cursor. A crash anywhere loses nothing (the cursor never passes a mail that is not
journaled) and doubles nothing (a mail fetched again is deduplicated by the journal). A new
UIDVALIDITY rescans the folder from the start, deduplicated the same way.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from apps.gateways.email.intake import email_accept, envelope_of
from apps.gateways.models import ImapCursor
from apps.mail.models import EmailInboxSettings

log = logging.getLogger(__name__)

BATCH = 25
LEASE = dt.timedelta(minutes=5)
TIMEOUT_SECONDS = 30.0
SEEN = b"\\Seen"
FLAGGED = b"\\Flagged"
DELETED = b"\\Deleted"


@dataclass
class PollResult:
    inbox_id: int
    folder: str = ""
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    too_big: int = 0
    rescanned: bool = False
    skipped: str = ""  # why nothing was done
    error: str = ""
    uids: list[int] = field(default_factory=list)


def _connect(config: Any) -> IMAPClient:
    security = config.imap_security
    context = ssl.create_default_context()
    client = IMAPClient(
        config.imap_host,
        port=config.imap_port,
        ssl=security == "ssl",
        ssl_context=context if security == "ssl" else None,
        timeout=TIMEOUT_SECONDS,
    )
    if security == "starttls":
        client.starttls(ssl_context=context)
    client.login(config.imap_username, config.imap_password)
    return client


def _claim(cursor: ImapCursor) -> bool:
    now = timezone.now()
    return bool(
        ImapCursor.objects.filter(pk=cursor.pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + LEASE)
    )


def _renew(cursor: ImapCursor) -> None:
    ImapCursor.objects.filter(pk=cursor.pk).update(lease_until=timezone.now() + LEASE)


def _acknowledge(client: IMAPClient, uids: list[int], processed_folder: str) -> None:
    """The batch is journaled: move it out of the way (or mark it read)."""
    if not processed_folder:
        client.add_flags(uids, [SEEN])
        return
    if not client.folder_exists(processed_folder):
        client.create_folder(processed_folder)
    if client.has_capability("MOVE"):
        client.move(uids, processed_folder)
        return
    client.copy(uids, processed_folder)
    client.add_flags(uids, [DELETED])
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)
    else:
        client.expunge()


def _poll_folder(client: IMAPClient, config: Any, cursor: ImapCursor, result: PollResult) -> None:
    folder_info = client.select_folder(cursor.folder)
    uidvalidity = int(folder_info[b"UIDVALIDITY"])
    if cursor.uidvalidity != uidvalidity:
        if cursor.uidvalidity is not None:
            log.warning(
                "IMAP inbox %s folder %s: UIDVALIDITY changed %s -> %s; rescanning (duplicates are dropped)",
                cursor.inbox_id,
                cursor.folder,
                cursor.uidvalidity,
                uidvalidity,
            )
            result.rescanned = True
        cursor.uidvalidity, cursor.last_uid = uidvalidity, 0
        cursor.save(update_fields=["uidvalidity", "last_uid"])
    uids = sorted(uid for uid in client.search(["UID", f"{cursor.last_uid + 1}:*"]) if uid > cursor.last_uid)
    if not uids:
        return
    processed = config.imap_processed_folder.strip()
    for start in range(0, len(uids), BATCH):
        batch = uids[start : start + BATCH]
        _renew(cursor)
        sizes = client.fetch(batch, [b"RFC822.SIZE"])
        wanted = [uid for uid in batch if int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0)) <= settings.EMAIL_MAX_BYTES]
        too_big = [uid for uid in batch if uid in sizes and uid not in wanted]
        bodies = client.fetch(wanted, [b"BODY.PEEK[]"]) if wanted else {}
        done: list[int] = []
        for uid in wanted:
            raw = bodies.get(uid, {}).get(b"BODY[]")
            if raw is None:
                continue  # expunged by someone else meanwhile
            envelope = envelope_of(
                transport="imap",
                mail_from=None,
                peer=config.imap_host,
                inbox_id=config.inbox_id,
                imap={"uidvalidity": uidvalidity, "uid": uid, "folder": cursor.folder},
            )
            _, created = email_accept(raw=bytes(raw), envelope=envelope)
            result.fetched += 1
            result.stored += int(created)
            result.duplicates += int(not created)
            result.uids.append(uid)
            done.append(uid)
        if too_big:
            # Left on the server, flagged for a person; never half-taken.
            client.add_flags(too_big, [FLAGGED])
            result.too_big += len(too_big)
            log.error(
                "IMAP inbox %s: %d mail(s) over EMAIL_MAX_BYTES left in %s and flagged (UIDs %s)",
                cursor.inbox_id,
                len(too_big),
                cursor.folder,
                too_big,
            )
        if done:
            _acknowledge(client, done, processed)
        cursor.last_uid = batch[-1]
        cursor.mails_taken += len(done)
        cursor.save(update_fields=["last_uid", "mails_taken"])


def imap_poll_inbox(*, inbox_id: int) -> PollResult:
    """Poll one inbox's mailbox once. Errors are recorded on the cursor and returned, not raised."""

    result = PollResult(inbox_id=inbox_id)
    config = EmailInboxSettings.objects.filter(inbox_id=inbox_id, imap_enabled=True).first()
    if config is None or not config.imap_host:
        result.skipped = "IMAP is not enabled for this inbox"
        return result
    folder = config.imap_folder or "INBOX"
    result.folder = folder
    cursor, _ = ImapCursor.objects.get_or_create(inbox_id=inbox_id, folder=folder)
    if not _claim(cursor):
        result.skipped = "another poller holds this folder"
        return result
    client = None
    try:
        client = _connect(config)
        _poll_folder(client, config, cursor, result)
    except (IMAPClientError, OSError) as exc:  # OSError: refused, reset, timeouts, TLS
        result.error = f"{type(exc).__name__}: {exc}"
        log.warning("IMAP poll of inbox %s (%s) failed: %s", inbox_id, config.imap_host, result.error)
    finally:
        if client is not None:
            try:
                client.logout()
            except Exception:  # noqa: BLE001 - the connection may be gone already
                pass
        ImapCursor.objects.filter(pk=cursor.pk).update(
            lease_until=None, last_polled_at=timezone.now(), last_error=result.error[:2000]
        )
    if result.fetched or result.too_big:
        log.info(
            "IMAP inbox %s %s: %d new, %d already had, %d too big",
            inbox_id,
            folder,
            result.stored,
            result.duplicates,
            result.too_big,
        )
    return result


def imap_inbox_ids() -> list[int]:

    return list(
        EmailInboxSettings.objects.filter(imap_enabled=True).exclude(imap_host="").values_list("inbox_id", flat=True)
    )


def imap_poll_all() -> list[PollResult]:
    return [imap_poll_inbox(inbox_id=inbox_id) for inbox_id in imap_inbox_ids()]
