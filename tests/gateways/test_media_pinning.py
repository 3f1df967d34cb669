"""Links a customer (XMPP) or a remote server (Mastodon) gave are fetched from the address that was
checked, never from a second lookup of the name: a DNS server that answers a public address to the
check and a private one to the fetch (DNS rebinding) cannot make the desk fetch from its own network.

127.0.0.2 and 127.0.0.3 stand for servers on the internet here (`address_is_public` is told so);
127.0.0.1 stays the desk's own network. Only the name lookup is faked (`socket.getaddrinfo` for
one made-up name); the connections are real ones to local servers.
"""

from __future__ import annotations

import errno
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from apps.gateways import http_io
from apps.gateways.base import TransientSendError
from apps.gateways.mastodon.gateway import MastodonGateway
from apps.gateways.xmpp.media import xmpp_media_fetch
from tests.servers import self_signed_certificate

NAME = "media.rebind.test"
WORLD = {"127.0.0.2", "127.0.0.3"}  # "public" for these tests
PUBLIC_FILE = b"the customer's screenshot"
INTERNAL_FILE = b"an internal service's secret"


@dataclass
class FileServer:
    """Answers every GET with one file; records the Host header of each request and the TLS
    server name (SNI) of each handshake."""

    address: str
    port: int
    body: bytes
    tls: ssl.SSLContext | None = None
    hosts: list[str] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        files = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                files.hosts.append(self.headers.get("Host", ""))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(files.body)))
                self.end_headers()
                self.wfile.write(files.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((self.address, self.port), Handler)
        self.server.daemon_threads = True
        if self.tls is not None:
            self.tls.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers() -> Iterator[Callable[..., tuple[FileServer, FileServer]]]:
    """A "public" server on 127.0.0.2 and an internal one on 127.0.0.1, on the same port (a URL
    names one port; only the address the name resolves to decides which one answers)."""
    started: list[FileServer] = []

    def start(*, public_tls: ssl.SSLContext | None = None, internal_tls: ssl.SSLContext | None = None):
        for _ in range(20):
            public = FileServer("127.0.0.2", 0, PUBLIC_FILE, public_tls)
            try:
                internal = FileServer("127.0.0.1", public.port, INTERNAL_FILE, internal_tls)
            except OSError as exc:
                public.close()
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            started.extend((public, internal))
            return public, internal
        raise RuntimeError("no port free on both 127.0.0.1 and 127.0.0.2")

    yield start
    for server in started:
        server.close()


@dataclass
class FakeDNS:
    """The answers for NAME, one list per lookup (the last one repeats), and the lookups made."""

    answers: list[list[str]] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)


@pytest.fixture
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS()
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host != NAME:
            return real(host, port, *args, **kwargs)
        fake.lookups.append(host)
        addresses = fake.answers.pop(0) if len(fake.answers) > 1 else fake.answers[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, int(port))) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(http_io, "address_is_public", lambda a, real=http_io.address_is_public: a in WORLD or real(a))
    return fake


@pytest.fixture
def no_private_addresses(settings, db):
    settings.XMPP_MEDIA_PRIVATE_ADDRESSES = False
    settings.MASTODON_MEDIA_PRIVATE_ADDRESSES = False
    return settings


def _xmpp(url: str) -> tuple[bytes, str]:
    return xmpp_media_fetch(url)


def _mastodon(url: str) -> tuple[bytes, str]:
    return MastodonGateway().fetch_media(url)


FETCHERS = pytest.mark.parametrize("fetch", [_xmpp, _mastodon], ids=["xmpp", "mastodon"])


@FETCHERS
def test_the_fetch_connects_to_the_checked_address_not_to_a_second_lookup(fetch, servers, dns, no_private_addresses):
    public, internal = servers()
    dns.answers.extend([["127.0.0.2"], ["127.0.0.1"]])  # public to the check, loopback afterwards
    assert fetch(f"http://{NAME}:{public.port}/shot.png") == (PUBLIC_FILE, "text/plain")
    assert internal.hosts == []
    assert public.hosts == [f"{NAME}:{public.port}"]
    assert dns.lookups == [NAME]


@FETCHERS
def test_a_checked_address_that_refuses_the_connection_is_followed_by_the_next(
    fetch, servers, dns, no_private_addresses
):
    public, internal = servers()  # nothing listens on 127.0.0.3
    dns.answers.extend([["127.0.0.3", "127.0.0.2"], ["127.0.0.1"]])
    assert fetch(f"http://{NAME}:{public.port}/shot.png") == (PUBLIC_FILE, "text/plain")
    assert internal.hosts == []
    assert dns.lookups == [NAME]


def _serving(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def _trust(monkeypatch, directory: Path, *certs: Path) -> None:
    bundle = directory / "trusted.pem"
    bundle.write_text("".join(cert.read_text() for cert in certs))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))  # these self-signed certificates only


@FETCHERS
def test_https_on_the_checked_address_keeps_the_hosts_name_for_sni_and_the_certificate(
    fetch, servers, dns, no_private_addresses, tmp_path, monkeypatch
):
    cert, key = self_signed_certificate(tmp_path, NAME)
    _trust(monkeypatch, tmp_path, cert)
    public, internal = servers(public_tls=_serving(cert, key), internal_tls=_serving(cert, key))
    dns.answers.extend([["127.0.0.2"], ["127.0.0.1"]])
    assert fetch(f"https://{NAME}:{public.port}/shot.png") == (PUBLIC_FILE, "text/plain")
    assert public.server_names == [NAME]
    assert public.hosts == [f"{NAME}:{public.port}"]
    assert internal.server_names == [] and internal.hosts == []


@FETCHERS
def test_https_on_the_checked_address_refuses_a_certificate_for_another_name(
    fetch, servers, dns, no_private_addresses, tmp_path, monkeypatch
):
    other_cert, other_key = self_signed_certificate(tmp_path, "other.example")
    cert, key = self_signed_certificate(tmp_path, NAME)
    _trust(monkeypatch, tmp_path, other_cert, cert)
    # The checked address has a trusted certificate, but for another name; the second lookup's
    # address would have the right one.
    public, internal = servers(public_tls=_serving(other_cert, other_key), internal_tls=_serving(cert, key))
    dns.answers.extend([["127.0.0.2"], ["127.0.0.1"]])
    with pytest.raises(TransientSendError) as failed:
        fetch(f"https://{NAME}:{public.port}/shot.png")
    assert "certificate" in str(failed.value).lower()
    assert public.hosts == []
    assert internal.server_names == [] and internal.hosts == []


@FETCHERS
def test_a_local_server_is_fetched_when_private_addresses_are_allowed(fetch, servers, settings, db):
    settings.XMPP_MEDIA_PRIVATE_ADDRESSES = True
    settings.MASTODON_MEDIA_PRIVATE_ADDRESSES = True
    _, internal = servers()
    assert fetch(f"http://localhost:{internal.port}/shot.png") == (INTERNAL_FILE, "text/plain")
    assert internal.hosts == [f"localhost:{internal.port}"]
