"""HTTP plumbing the vendor gateways share (all of them speak to their provider with `requests`).

Whether a failed request certainly never left (so sending again cannot double a message), a GET
of a link a customer or a remote server gave that cannot make the desk fetch from its own network
(the host is resolved once, every address checked, and the connection made to a checked address:
a second lookup could answer another one, DNS rebinding), and a streamed body read with a size
cap. Each gateway keeps its own error codes and words: the callers say what to raise.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from apps.gateways.base import TransientSendError

CHUNK_BYTES = 64 * 1024


def never_sent(exc: Exception) -> bool:
    """The request never left: no connection was made (refused, unresolved, connect timeout).
    A read timeout or a reset mid-answer may come after the provider took the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, NewConnectionError | ConnectTimeoutError | NameResolutionError)
    return False


class PrivateAddress(Exception):
    """`host` resolves to `address`, which is not a public one."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to {address}, which is not a public address")
        self.host = host
        self.address = address


def resolve(host: str, port: int) -> list[str]:
    """The distinct addresses `host` resolves to now, in the resolver's order (TransientSendError
    when it does not resolve: DNS may answer later)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TransientSendError(f"cannot resolve {host}: {exc}") from exc
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise TransientSendError(f"{host} resolves to no address")
    return addresses


def checked_addresses(host: str, port: int, *, private_ok: bool) -> list[str]:
    """The addresses of `host` (one lookup), every one of them public unless `private_ok`;
    PrivateAddress when one is not. Connect to these, never to the name again."""
    addresses = resolve(host, port)
    if not private_ok:
        for address in addresses:
            if not address_is_public(address):
                raise PrivateAddress(host, address)
    return addresses


def pinned_get(
    url: str, *, private_ok: bool, refused: Exception, timeout: float | tuple[float, float]
) -> requests.Response:
    """A streamed GET of `url` (redirects not followed) from an address its host was checked to
    have: `refused` when the host resolves to an address that is not public (and not
    `private_ok`), TransientSendError when it does not resolve. The addresses are tried in the
    resolver's order while one refuses the connection (not after a timeout). The TLS server name,
    the certificate check and the Host header stay the URL's host name. No proxy is used: it
    would look the name up again. The caller closes the response (`with`)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise refused
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = checked_addresses(parts.hostname, port, private_ok=private_ok)
    except PrivateAddress as exc:
        raise refused from exc
    adapter = _PinnedAdapter(addresses)
    with requests.Session() as session:
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session.get(url, stream=True, timeout=timeout, allow_redirects=False)


class _Pinned(HTTPConnection):
    """Connects to the checked addresses; `host` (Host header, TLS server name and certificate
    check) stays the name."""

    def __init__(self, *args: Any, pinned_addresses: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pinned_addresses = tuple(pinned_addresses)

    def _new_conn(self) -> socket.socket:
        name = self._dns_host  # what urllib3 would look up; put back before TLS and the request
        try:
            for address in self._pinned_addresses[:-1]:
                self._dns_host = address
                try:
                    return super()._new_conn()
                except NewConnectionError:  # refused or unreachable: nothing was sent
                    continue
            self._dns_host = self._pinned_addresses[-1]
            return super()._new_conn()
        finally:
            self._dns_host = name


class _PinnedHTTPConnection(_Pinned):
    pass


class _PinnedHTTPSConnection(_Pinned, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class _PinnedAdapter(HTTPAdapter):
    def __init__(self, addresses: Sequence[str]) -> None:
        self._addresses = tuple(addresses)
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        # urllib3 only calls these (pool_cls(host, port, **context)): a factory that adds the
        # addresses (handed on to each connection) serves as the class.
        self.poolmanager.pool_classes_by_scheme = {
            "http": partial(_PinnedHTTPPool, pinned_addresses=self._addresses),  # type: ignore[dict-item]
            "https": partial(_PinnedHTTPSPool, pinned_addresses=self._addresses),  # type: ignore[dict-item]
        }

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies={})


# IPv6 forms that carry an IPv4 address a router or the host's stack may hand on: NAT64's
# well-known prefix (RFC 6052) and the deprecated IPv4-compatible form (::a.b.c.d).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def address_is_public(text: str) -> bool:
    """A global unicast address, and so is any IPv4 address it carries (IPv4-mapped, 6to4, NAT64,
    IPv4-compatible): `2002:7f00:1::1` or `64:ff9b::7f00:1` is 127.0.0.1 in disguise."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        inner: list[ipaddress.IPv4Address] = [a for a in (address.ipv4_mapped, address.sixtofour) if a]
        if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
            inner.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return all(a.is_global for a in inner)
    return True


def read_capped(response: requests.Response, *, max_bytes: int, too_large: Exception) -> bytes:
    """The body of a streamed response, given up with `too_large` as soon as it passes
    `max_bytes` (a sender that declares no length, or a false one, cannot fill the memory)."""
    chunks, size = [], 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
