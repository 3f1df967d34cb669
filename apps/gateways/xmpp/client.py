"""One XMPP account's connection (slixmpp, asyncio): what comes in is handed to run_xmpp's
runner (apps.gateways.xmpp.runner), which makes it durable; replies go out from here.

Everything in this module runs on run_xmpp's event loop and never touches the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import slixmpp
from django.conf import settings
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.plugins.xep_0363 import FileTooBig, UploadServiceNotFound
from slixmpp.xmlstream.handler import Collector
from slixmpp.xmlstream.matcher import MatchXMLMask

from apps.gateways.base import OutboundMessage, PermanentSendError, SendOutcomeUnknown, TransientSendError
from apps.gateways.xmpp import ids
from apps.gateways.xmpp.services import AccountConfig, StanzaRecord

if TYPE_CHECKING:
    from apps.gateways.xmpp.runner import AccountRunner

log = logging.getLogger(__name__)

NS_OOB = "jabber:x:oob"
NS_NICK = "http://jabber.org/protocol/nick"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_SID = "urn:xmpp:sid:0"
RESOURCE = "supportdesk"


class ArchiveGap(Exception):
    """The archive no longer has the id the catch-up would start after (it expired)."""


def _stamp(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value or "")


class DeskClient(slixmpp.ClientXMPP):  # type: ignore[misc]
    """A support account's c2s session. One per connection: run_xmpp makes a new one for each
    (re)connect, so that no state of a dead session (queued stanzas, pending queries) leaks
    into the next."""

    def __init__(self, account: AccountConfig, runner: AccountRunner) -> None:
        super().__init__(f"{account.jid}/{RESOURCE}", account.password)
        self.account = account
        self.runner = runner
        self.own = account.jid
        self.ready = False
        self.started: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        for plugin in ("xep_0030", "xep_0059", "xep_0066", "xep_0085", "xep_0199", "xep_0203"):
            self.register_plugin(plugin)
        self.register_plugin("xep_0184", {"auto_ack": False})  # acked once durable, below
        self.register_plugin("xep_0297")
        self.register_plugin("xep_0313")
        self.register_plugin("xep_0359")
        self.register_plugin("xep_0363")
        if settings.XMPP_ALLOW_PLAINTEXT:
            mechanisms = self.plugin["feature_mechanisms"]
            mechanisms.unencrypted_plain = True
            mechanisms.unencrypted_scram = True
        self.auto_authorize = True  # customers may see the desk online …
        self.auto_subscribe = False  # … but it does not ask for theirs
        self.add_event_handler("session_start", self._session_start)
        self.add_event_handler("failed_auth", self._failed_auth)
        self.add_event_handler("disconnected", self._disconnected)
        # A whole round of connection attempts failed (slixmpp would retry on its own, backing
        # off to 5 minutes): run_xmpp's supervisor retries with its own backoff instead.
        self.add_event_handler("reconnect_delay", self._disconnected)
        self.add_event_handler("message", self._message)
        self.add_event_handler("receipt_received", self._receipt)
        self.add_event_handler("message_error", self._bounce)
        for state in ("active", "composing", "paused", "inactive", "gone"):
            self.add_event_handler(f"chatstate_{state}", self._chat_state)

    # --- session ---------------------------------------------------------------------------
    async def _session_start(self, _event: Any) -> None:
        self.send_presence()
        self.ready = True
        if not self.started.done():
            self.started.set_result(True)

    def _failed_auth(self, _event: Any) -> None:
        log.error("xmpp %s: the server refused the password", self.own)
        if not self.started.done():
            self.started.set_result(False)

    def _disconnected(self, _reason: Any) -> None:
        self.ready = False
        if not self.started.done():
            self.started.set_result(False)

    def discard(self) -> None:
        """Drop this client for good (the supervisor makes a new one for the next connection)."""
        self.ready = False
        self.cancel_connection_attempt()
        if self.transport is not None:
            self.abort()
        task = getattr(self, "_run_out_filters", None)
        if task is not None and not task.done():
            task.cancel()

    # --- in ---------------------------------------------------------------------------------
    def record_of(self, msg: Any, *, archive_id: str = "", stamp: str = "") -> StanzaRecord | None:
        """A customer's chat message, or None for what is not one (ours, empty, group chat)."""
        if msg["type"] not in ("chat", "normal", ""):
            return None
        sender = msg["from"].bare.lower()
        if not sender or sender == self.own or "@" not in sender:
            return None
        body = msg["body"] or ""
        oob = tuple(
            ((x.findtext(f"{{{NS_OOB}}}url") or "").strip(), (x.findtext(f"{{{NS_OOB}}}desc") or "").strip())
            for x in msg.xml.findall(f"{{{NS_OOB}}}x")
        )
        oob = tuple(item for item in oob if item[0])
        if not body.strip() and not oob:
            return None
        stanza_id = archive_id
        if not stanza_id:
            # Trust only the id our own server stamped (XEP-0359 §Security): a sender can forge others.
            for element in msg.xml.findall(f"{{{NS_SID}}}stanza-id"):
                if (element.get("by") or "").lower() == self.own:
                    stanza_id = element.get("id") or ""
        origin = msg.xml.find(f"{{{NS_SID}}}origin-id")
        origin_id = origin.get("id", "") if origin is not None else ""
        if stanza_id:
            key = stanza_id
        elif origin_id:
            key = f"origin:{sender}:{origin_id}"  # a server without stanza-ids (no MAM)
        elif msg["id"]:
            key = f"id:{msg['from'].full}:{msg['id']}"
        else:
            return None  # nothing to dedupe it by, and no archive to find it in later
        delay = msg.xml.find("{urn:xmpp:delay}delay")
        return StanzaRecord(
            key=key,
            sender=sender,
            sender_full=str(msg["from"]),
            recipient=self.own,
            body=body,
            stanza_id=stanza_id,
            origin_id=origin_id,
            id=msg["id"] or "",
            nick=(msg.xml.findtext(f"{{{NS_NICK}}}nick") or "").strip(),
            sent_at=stamp or (delay.get("stamp", "") if delay is not None else ""),
            archived=bool(archive_id),
            oob=oob,
        )

    def _message(self, msg: Any) -> None:
        if msg["type"] == "error":
            return
        record = self.record_of(msg)
        if record is None:
            return
        ack = self._acker(msg)
        self.runner.take(record, str(msg).encode(), then=ack)

    def _acker(self, msg: Any) -> Callable[[], None] | None:
        """A receipt (XEP-0184) for a message that asked for one, sent once it is durable."""
        if msg.xml.find(f"{{{NS_RECEIPTS}}}request") is None or not msg["id"]:
            return None
        to, msg_id = msg["from"], msg["id"]

        def ack() -> None:
            if self.ready:
                answer = self.make_message(mto=to)
                answer["receipt"] = msg_id
                answer.send()

        return ack

    def _receipt(self, msg: Any) -> None:
        self.runner.receipt(msg["receipt"], msg["from"].bare.lower(), "delivered")

    def _bounce(self, msg: Any) -> None:
        """The server (or the customer's) could not deliver one of our messages."""
        if not msg["id"] or ids.message_of(msg["id"]) is None:
            return
        condition = msg["error"]["condition"] or "error"
        text = msg["error"]["text"] or f"the XMPP server could not deliver it ({condition})"
        self.runner.receipt(msg["id"], msg["from"].bare.lower(), "failed", f"xmpp:{condition}", text)

    def _chat_state(self, msg: Any) -> None:
        if msg["type"] == "error":
            return
        sender = msg["from"].bare.lower()
        if sender == self.own:
            return
        self.runner.typing(sender, msg["chat_state"] == "composing")

    # --- the archive (MAM) -------------------------------------------------------------------
    async def archive_page(
        self,
        *,
        after: str = "",
        start: dt.datetime | None = None,
        with_jid: str | None = None,
        size: int | None = None,
    ) -> tuple[list[Any], str, bool]:
        """One page of the account's archive: (results, the last id, complete). Errors raise
        (a timeout, a refusal): a catch-up never takes a failed query for the end."""
        mam = self.plugin["xep_0313"]
        iq, mask = mam._pre_mam_retrieve(None, start, None, slixmpp.JID(with_jid) if with_jid else None, None)
        iq["mam"]["rsm"]["max"] = str(size or settings.XMPP_MAM_PAGE_SIZE)
        if after:
            iq["mam"]["rsm"]["after"] = after
        collector = Collector(f"MAM_Results_{iq['id']}", MatchXMLMask(str(mask)))
        self.register_handler(collector)
        try:
            result = await iq.send(timeout=settings.XMPP_SEND_TIMEOUT_SECONDS)
        except IqError as exc:
            if after and exc.iq["error"]["condition"] == "item-not-found":
                raise ArchiveGap(after) from exc
            raise
        finally:
            results = collector.stop()
        fin = result["mam_fin"]
        complete = (fin.xml.get("complete") or "").lower() in ("true", "1")
        last = fin["rsm"]["last"] or (results[-1]["mam_result"]["id"] if results else "")
        return results, last, complete or not results

    async def catch_up(self, cursor: str, cursor_at: dt.datetime | None) -> None:
        """Take in everything archived after `cursor` (the last archive id taken in), page by
        page, each page durable before the cursor moves past it."""
        start: dt.datetime | None = None
        while True:
            try:
                results, last, complete = await self.archive_page(after="" if start else cursor, start=start)
            except ArchiveGap:
                if start is not None or cursor_at is None:
                    raise
                log.warning("xmpp %s: archive id %s expired; catching up from %s", self.own, cursor, cursor_at)
                start = cursor_at - dt.timedelta(seconds=1)
                continue
            newest_at = cursor_at
            for result in results:
                forwarded = result["mam_result"]["forwarded"]
                stanza = forwarded["stanza"]
                archive_id = result["mam_result"]["id"]
                stamp = forwarded["delay"]["stamp"]
                newest_at = stamp if isinstance(stamp, dt.datetime) else newest_at
                if stanza.xml.find(f"{{{NS_RECEIPTS}}}received") is not None:
                    receipt = stanza.xml.find(f"{{{NS_RECEIPTS}}}received")
                    if stanza["from"].bare.lower() != self.own:
                        self.runner.receipt(receipt.get("id", ""), stanza["from"].bare.lower(), "delivered")
                    continue
                record = self.record_of(stanza, archive_id=archive_id, stamp=_stamp(stamp))
                if record is not None:
                    await self.runner.take_now(record, str(stanza).encode())
            if last and results:
                await self.runner.save_cursor(last, newest_at)
                cursor, cursor_at, start = last, newest_at, None
            if complete:
                return

    async def archived_ids(self, *, with_jid: str, since: dt.datetime) -> set[str]:
        """Ids (and origin-ids) of our own messages to `with_jid` the archive has since then."""
        found: set[str] = set()
        after = ""
        while True:
            results, last, complete = await self.archive_page(after=after, start=since, with_jid=with_jid)
            for result in results:
                stanza = result["mam_result"]["forwarded"]["stanza"]
                if stanza["from"].bare.lower() != self.own:
                    continue
                if stanza["id"]:
                    found.add(stanza["id"])
                origin = stanza.xml.find(f"{{{NS_SID}}}origin-id")
                if origin is not None and origin.get("id"):
                    found.add(origin.get("id"))
            if complete or not last:
                return found
            after = last

    # --- out ----------------------------------------------------------------------------------
    async def upload(self, name: str, data: bytes, content_type: str) -> str:
        """A file to the server's HTTP File Upload service (XEP-0363): its GET URL."""
        plugin = self.plugin["xep_0363"]
        try:
            return str(
                await plugin.upload_file(
                    name,
                    size=len(data),
                    content_type=content_type or "application/octet-stream",
                    input_file=io.BytesIO(data),
                    domain=slixmpp.JID(self.account.upload_domain) if self.account.upload_domain else None,
                    timeout=settings.XMPP_SEND_TIMEOUT_SECONDS,
                )
            )
        except FileTooBig as exc:
            raise PermanentSendError("xmpp_file_too_large", f"{name} is larger than the server takes ({exc})") from exc
        except UploadServiceNotFound as exc:
            raise PermanentSendError("xmpp_no_upload", "the XMPP server offers no file upload (XEP-0363)") from exc
        except IqError as exc:
            condition = exc.iq["error"]["condition"]
            if condition in ("not-acceptable", "forbidden", "not-allowed", "resource-constraint"):
                raise PermanentSendError("xmpp_upload_refused", f"the server refused {name} ({condition})") from exc
            raise TransientSendError(f"upload slot for {name}: {condition}") from exc
        except IqTimeout as exc:
            raise TransientSendError(f"no upload slot for {name} in time") from exc
        except Exception as exc:  # noqa: BLE001 - the HTTP PUT (aiohttp): try again later
            raise TransientSendError(f"uploading {name} failed: {exc!r}") from exc

    async def send_reply(
        self,
        outbound: OutboundMessage,
        parts: list[tuple[str, tuple[str, bytes, str] | None]],
        *,
        skip: set[str],
    ) -> None:
        """Write a reply's stanzas (those the server does not have yet), then make sure the
        server got them (see apps.gateways.xmpp.gateway)."""
        if not self.ready:
            raise TransientSendError("the XMPP account is not connected")  # nothing written
        stanzas: list[tuple[str, str, str]] = []  # (id, body, oob url)
        for n, (text, file) in enumerate(parts):
            stanza_id = ids.stanza_id(outbound.message_id, n)
            if stanza_id in skip:
                continue
            if file is None:
                stanzas.append((stanza_id, text, ""))
            else:
                url = await self.upload(*file)  # before any stanza: a failed upload sends nothing
                stanzas.append((stanza_id, url, url))
        if not self.ready:
            raise TransientSendError("the XMPP connection dropped before the reply was written")
        # No await from here to the last send(): written in one go, or (a drop) discarded whole.
        for stanza_id, body, url in stanzas:
            message = self.make_message(mto=outbound.to, mbody=body, mtype="chat")
            message["id"] = stanza_id
            message["origin_id"]["id"] = stanza_id
            message["request_receipt"] = True
            message["chat_state"] = "active"
            if url:
                message["oob"]["url"] = url
            message.send()
        try:
            await self.plugin["xep_0199"].send_ping(self.boundjid.domain, timeout=settings.XMPP_SEND_TIMEOUT_SECONDS)
        except IqError:
            pass  # an error answer is an answer: the server has handled what came before it
        except IqTimeout as exc:
            raise SendOutcomeUnknown("the XMPP server did not confirm the reply") from exc

    def send_chat_state(self, to: str, state: str) -> None:
        if self.ready:
            message = self.make_message(mto=to, mtype="chat")
            message["chat_state"] = state
            message.send()

    async def keepalive(self) -> bool:
        """Whether the server still answers (dead-peer detection)."""
        try:
            await self.plugin["xep_0199"].send_ping(self.boundjid.domain, timeout=settings.XMPP_SEND_TIMEOUT_SECONDS)
        except IqError:
            return True
        except IqTimeout:
            return False
        return True
