"""Widget-socket helpers: connect through the real ASGI application and read frames."""

from __future__ import annotations

from channels.testing import WebsocketCommunicator

from supportdesk.asgi import application
from tests.sockets import Socket
from tests.widget.conftest import SITE


def site_headers(origin: str | None = SITE, ip: str = "203.0.113.5") -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return headers


# A visitor's connection: the same client as the console's (frames read without cancelling the
# app on a timeout; heartbeats skipped unless asked for).
VisitorSocket = Socket


def widget_path(inbox_key: str, token: str, since: int | None = None) -> str:
    path = f"/ws/widget/?inbox={inbox_key}&token={token}"
    return path + (f"&since={since}" if since is not None else "")


async def connect(path: str, headers: list[tuple[bytes, bytes]] | None = None):
    """(accepted, close code, socket)."""
    communicator = WebsocketCommunicator(application, path, headers=headers if headers is not None else site_headers())
    accepted, code = await communicator.connect(timeout=5)
    return accepted, code, VisitorSocket(communicator)
