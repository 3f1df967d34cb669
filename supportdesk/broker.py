"""The Celery broker's Redis transport, with one of kombu's teardown paths made survivable.

When Redis goes away, Celery's consumer closes its broker connection and reconnects. Closing the
channel returns the messages it had taken but not acknowledged (`restore_unacked`), which needs a
Redis client; if the transport's `client` has already been cleared by then (a second close of
the same connection, as the chaos run's Redis restarts showed), kombu reads the connection's
address from `None` and the AttributeError is not one of the connection errors kombu ignores
while closing: the worker stopped with "Unrecoverable error: 'NoneType' object has no attribute
'hostname'". Here that case is a Redis ConnectionError, which the close ignores: the worker
reconnects, and the messages come back after the visibility timeout as they would had the
restore failed for Redis being down.

Selected by `CELERY_BROKER_TRANSPORT` when the broker is Redis (supportdesk/settings.py).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
