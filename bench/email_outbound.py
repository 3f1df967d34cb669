"""Email routing and mail out, measured in one process on PostgreSQL: the time the router adds to a
mail (after parsing), and replies per second through the outbox to a real SMTP server.

    .venv/bin/python bench/email_outbound.py                 # about half a minute
    .venv/bin/python bench/email_outbound.py --mails 2000 --replies 1000

It resets its own database (supportdesk_bench_mailout), migrates, creates an email inbox and an
agent, and starts an SMTP server (aiosmtpd on loopback) that `EMAIL_URL` points at. Then:

1. ROUTE: `--mails` mails from `--senders` customers go into the journal (`email_accept`) and are
   processed one at a time (`inbound_process`: parser, bus, router, events); a customer's first
   mail opens a conversation, the next ones answer it with `[#id]` in the subject. Printed: mails
   per second, the time per mail, and the parse alone (the gateway's `parse_inbound`) so that the
   router's share shows.
2. SEND: an agent replies `--replies` times (`message_send`, queued), then the outbox sends them
   one at a time (`outbox_deliver`: headers decided and stored, MIME built, SMTP). Printed: replies
   per second and the time per send; every reply is checked to have reached the SMTP server once.

Figures are for one process and one connection at a time: the pipeline's own cost, not the
throughput of a deployment (workers scale it out).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOMAIN = "bench.example"
INBOX = f"support@{DOMAIN}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/email_outbound.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--mails", type=int, default=600, help="mails to route (default 600)")
    p.add_argument("--senders", type=int, default=150, help="distinct customers (default 150)")
    p.add_argument("--replies", type=int, default=300, help="replies to send (default 300)")
    p.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    p.add_argument("--database", default="supportdesk_bench_mailout", help="dropped and recreated")
    return p.parse_args(argv)


def log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{1000 * ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]:.1f}"


class Sink:
    """An SMTP server that counts what it is sent (aiosmtpd on a free loopback port)."""

    def __init__(self) -> None:
        import socket

        from aiosmtpd.controller import Controller

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.ids: list[str] = []
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                head = bytes(envelope.content).split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
                for line in head.splitlines():
                    if line.lower().startswith("message-id:"):
                        with sink.lock:
                            sink.ids.append(line.split(":", 1)[1].strip())
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)


def reset(args: argparse.Namespace, env: dict[str, str]) -> None:
    import psycopg

    log(f"resetting database {args.database}")
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.database}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def raw_mail(sender: int, subject: str, token: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"Customer {sender} <customer{sender}@customers.example>"
    message["To"] = INBOX
    message["Subject"] = subject
    message["Message-ID"] = f"<{token}@customers.example>"
    message.set_content(f"Hello, this is {token}.\n\nOn Monday, Support <{INBOX}> wrote:\n> How can we help?\n")
    message.add_alternative(f"<p>Hello, this is <b>{token}</b>.</p>", subtype="html")
    return message.as_bytes()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    sink = Sink()
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "supportdesk.settings",
            "DATABASE_URL": f"{args.pg}/{args.database}",
            "DATABASE_POOL": "0",
            "REDIS_URL": "",
            "TASKS_EAGER": "0",  # the bench calls the services itself, one at a time
            "INBOUND_EMAIL_DOMAIN": DOMAIN,
            "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}",
            "DEBUG": "0",
            "SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "ALLOWED_HOSTS": "localhost",
            "LOG_LEVEL": "WARNING",
        }
    )
    reset(args, env)
    os.environ.update(env)
    import django

    django.setup()
    from apps.accounts.models import Inbox
    from apps.accounts.services import agent_create
    from apps.bus.services import inbound_process, outbox_deliver
    from apps.conversations.models import Message
    from apps.conversations.services import message_send
    from apps.gateways.email.gateway import EmailGateway
    from apps.gateways.email.intake import email_accept, envelope_of
    from apps.mail.models import EmailInboxSettings

    inbox = Inbox.objects.create(name="Bench mail", channel=Inbox.Channel.EMAIL, address=INBOX)
    EmailInboxSettings.objects.create(inbox=inbox, from_name="Bench Support")
    agent, _ = agent_create(username="bench", password="bench-pass-1", inboxes=[inbox], max_conversations=10**6)
    sink.controller.start()
    try:
        # 1. ROUTE
        conversations: dict[int, int] = {}
        route_times: list[float] = []
        parse_times: list[float] = []
        gateway = EmailGateway()
        started = time.perf_counter()
        for index in range(args.mails):
            sender = index % args.senders
            token = f"m{index}-{uuid.uuid4().hex[:8]}"
            subject = f"Re: Question [#{conversations[sender]}]" if sender in conversations else f"Question {index}"
            raw = raw_mail(sender, subject, token)
            envelope = envelope_of(transport="smtp", mail_from=f"customer{sender}@customers.example", rcpt_tos=[INBOX])
            entry, _ = email_accept(raw=raw, envelope=envelope)
            assert entry is not None
            t0 = time.perf_counter()
            assert inbound_process(entry_id=entry.pk) == "done"
            route_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            gateway.parse_inbound(envelope, raw=raw)
            parse_times.append(time.perf_counter() - t0)
            if sender not in conversations:
                conversations[sender] = Message.objects.get(provider_id=entry.provider_message_id).conversation_id
        route_wall = time.perf_counter() - started
        assert Message.objects.filter(direction="in").count() == args.mails
        assert len(set(conversations.values())) == min(args.senders, args.mails)

        # 2. SEND
        targets = list(conversations.values())
        queued = []
        for index in range(args.replies):
            message, _ = message_send(
                conversation_id=targets[index % len(targets)],
                agent=agent,
                body=f"Reply {index}: have you tried turning it off and on again?",
                client_id=f"bench-{index}",
            )
            queued.append(message.pk)
        send_times: list[float] = []
        started = time.perf_counter()
        for message_id in queued:
            t0 = time.perf_counter()
            assert outbox_deliver(message_id=message_id) == "sent"
            send_times.append(time.perf_counter() - t0)
        send_wall = time.perf_counter() - started
        deadline = time.monotonic() + 10
        while len(sink.ids) < len(queued) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(sink.ids) == len(set(sink.ids)) == len(queued), (len(sink.ids), len(queued))
    finally:
        sink.controller.stop()

    router_only = [max(0.0, r - p) for r, p in zip(route_times, parse_times, strict=True)]
    print(f"email bench (PostgreSQL, one process, one at a time) — {time.strftime('%Y-%m-%d %H:%M')}")
    print(
        f"ROUTE  {args.mails} mails from {args.senders} customers: {args.mails / route_wall:.0f} mails/s; "
        f"per mail p50 {ms(route_times, 50)} ms, p95 {ms(route_times, 95)} ms "
        f"(parse alone p50 {ms(parse_times, 50)} ms; router, bus and events p50 {ms(router_only, 50)} ms)"
    )
    print(
        f"SEND   {args.replies} replies through the outbox to SMTP: {args.replies / send_wall:.0f} replies/s; "
        f"per send p50 {ms(send_times, 50)} ms, p95 {ms(send_times, 95)} ms, max {ms(send_times, 100)} ms; "
        f"{len(sink.ids)} mails received, each once"
    )
    print(
        f"       (mean route {1000 * statistics.mean(route_times):.1f} ms, mean send {1000 * statistics.mean(send_times):.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
