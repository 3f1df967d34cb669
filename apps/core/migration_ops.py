"""Migration operations for indexes on big tables (issue 14).

On PostgreSQL they are built with CREATE INDEX CONCURRENTLY (no lock on writes; the migration
must say `atomic = False`). On SQLite (the embedded default) a portable index is a plain CREATE
INDEX, and a PostgreSQL-only one (a GIN trigram index) is not built at all: it is also kept out of
the model state, so that nothing PostgreSQL-only reaches SQLite's table rebuilds.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, RemoveIndex


class _ConcurrentlyOnPostgres:
    """The concurrent operation (the next base class) on PostgreSQL; `plain`'s elsewhere."""

    plain: Any

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)  # type: ignore[misc]
        else:
            self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)  # type: ignore[misc]
        else:
            self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddIndexConcurrentlyPortable(_ConcurrentlyOnPostgres, AddIndexConcurrently):
    """An index of the model's Meta.indexes: concurrently on PostgreSQL, plainly elsewhere."""

    plain = AddIndex


class RemoveIndexConcurrentlyPortable(_ConcurrentlyOnPostgres, RemoveIndexConcurrently):
    """An index of the model's Meta.indexes dropped: concurrently on PostgreSQL, plainly elsewhere."""

    plain = RemoveIndex


class AddPostgresIndexConcurrently(AddIndexConcurrently):
    """A PostgreSQL-only index, built concurrently there; nothing elsewhere, and not in the state."""

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        self._ensure_not_in_transaction(schema_editor)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        self._ensure_not_in_transaction(schema_editor)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)

    def describe(self) -> str:
        return f"Create PostgreSQL-only index {self.index.name} concurrently on {self.model_name} (none elsewhere)"
