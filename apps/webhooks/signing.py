"""Signing (docs/webhooks.md "Verifying a delivery"): the Standard Webhooks scheme.

    signed  = "<webhook-id>.<webhook-timestamp>.<body>"
    webhook-signature: v1,<base64 of HMAC-SHA256(key, signed)>

The key is the secret's bytes after "whsec_", base64-decoded. The timestamp (Unix seconds) is
in its own header, so a receiver refuses a delivery whose timestamp is far from its clock
(a replayed capture); the id is the same on every attempt, so it dedupes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def secret_new() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret[len(PREFIX) :] if secret.startswith(PREFIX) else secret)


def signature(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret=secret, webhook_id=webhook_id, timestamp=timestamp, body=body),
    }
