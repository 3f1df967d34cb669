from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from apps.core.pg_timestamps import on_connection_created

        # psycopg's C timestamptz loader on UTC connections (apps/core/pg_timestamps.py).
        connection_created.connect(on_connection_created, dispatch_uid="core.pg_timestamps")
