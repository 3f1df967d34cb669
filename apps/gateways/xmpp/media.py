"""Files customers share as links (XEP-0066 out-of-band data, usually an HTTP File Upload URL):
fetched once into our storage, since upload URLs expire with the server's retention."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings

from apps.gateways.base import PermanentSendError, TransientSendError

TIMEOUT = 20.0


def _public(host: str, port: int) -> bool:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise TransientSendError(f"cannot resolve {host}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return False
    return True


def xmpp_media_fetch(url: str) -> tuple[bytes, str]:
    """(bytes, content type) of a shared file; PermanentSendError when it is refused or gone."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PermanentSendError("media_refused", f"not an http(s) link: {url[:200]}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not settings.XMPP_MEDIA_PRIVATE_ADDRESSES and not _public(parts.hostname, port):
        # A customer's link must not make the desk fetch from its own network.
        raise PermanentSendError("media_refused", f"{parts.hostname} is not a public address")
    limit = settings.XMPP_MEDIA_MAX_BYTES
    try:
        with requests.get(url, stream=True, timeout=TIMEOUT, allow_redirects=False) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientSendError(f"HTTP {response.status_code} from {parts.hostname}")
            if response.status_code != 200:
                raise PermanentSendError("media_gone", f"HTTP {response.status_code} for the shared file")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise PermanentSendError(
                    "media_too_large", f"the shared file is {declared} bytes; the limit is {limit}"
                )
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise PermanentSendError("media_too_large", f"the shared file is over {limit} bytes")
                chunks.append(chunk)
            content_type = (response.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip()
            return b"".join(chunks), content_type
    except requests.RequestException as exc:
        raise TransientSendError(f"fetching the shared file failed: {exc}") from exc
