"""HTTP plumbing the vendor gateways share (all of them speak to their provider with `requests`).

Whether a failed request certainly never left (so sending again cannot double a message), whether
a host is on the public internet (so a link a customer or a remote server gave cannot make the
desk fetch from its own network), and a streamed body read with a size cap. Each gateway keeps its
own error codes and words: the callers say what to raise.
"""

from __future__ import annotations

import ipaddress
import socket

import requests
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


def host_is_public(host: str, port: int) -> bool:
    """Every address `host` resolves to is a global one (TransientSendError when it does not
    resolve now: DNS may answer later)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise TransientSendError(f"cannot resolve {host}: {exc}") from exc
    return all(address_is_public(str(info[4][0])) for info in infos)


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
