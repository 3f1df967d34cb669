"""Files customers share as links (XEP-0066 out-of-band data, usually an HTTP File Upload URL):
fetched once into our storage, since upload URLs expire with the server's retention."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from django.conf import settings

from apps.gateways.base import PermanentSendError, TransientSendError
from apps.gateways.http_io import pinned_get, read_capped

TIMEOUT = 20.0


def xmpp_media_fetch(url: str) -> tuple[bytes, str]:
    """(bytes, content type) of a shared file; PermanentSendError when it is refused or gone."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PermanentSendError("media_refused", f"not an http(s) link: {url[:200]}")
    # A customer's link must not make the desk fetch from its own network (checked on the
    # address connected to, not on a lookup of its own).
    refused = PermanentSendError("media_refused", f"{parts.hostname} is not a public address")
    limit = settings.XMPP_MEDIA_MAX_BYTES
    try:
        with pinned_get(
            url, private_ok=settings.XMPP_MEDIA_PRIVATE_ADDRESSES, refused=refused, timeout=TIMEOUT
        ) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientSendError(f"HTTP {response.status_code} from {parts.hostname}")
            if response.status_code != 200:
                raise PermanentSendError("media_gone", f"HTTP {response.status_code} for the shared file")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise PermanentSendError(
                    "media_too_large", f"the shared file is {declared} bytes; the limit is {limit}"
                )
            too_large = PermanentSendError("media_too_large", f"the shared file is over {limit} bytes")
            data = read_capped(response, max_bytes=limit, too_large=too_large)
            content_type = (response.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip()
            return data, content_type
    except requests.RequestException as exc:
        raise TransientSendError(f"fetching the shared file failed: {exc}") from exc
