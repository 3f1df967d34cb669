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
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return False
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
