"""Model rows read and written by SQL written once, for the bus's one-message path (issue 9).

The ORM builds every statement from its query objects each time it runs. On the bus's drain,
where at light load every message is a transaction of its own, that building was about half of
the worker's CPU for a message (bench/profile_inbound.py under py-spy): more than PostgreSQL's
own work. These helpers give the same rows with SQL whose text is made once per model:

- `select_sql(model, alias)` is the column list of every concrete field, in the order
  `instances` reads them back; `instances` turns rows into model instances as the ORM does
  (Django's converters for the values that have one, such as JSON; `Model.from_db`).
- `insert` writes one instance (every concrete field but the primary key, with defaults and
  `auto_now_add` applied as `save()` would) and sets its primary key.
- `update` writes some fields of many instances with one statement (values as `save()` would
  write them: `pre_save` applied, so `auto_now` stays true).

`save()` would also send `pre_save`/`post_save`; like `QuerySet.update` and `bulk_create`, these
do not. PostgreSQL only: callers keep the ORM for other databases (`supported()`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Field, Model

from apps.core.pg_prepared import prepared_cursor

Converter = Callable[[Any, Any, Any], Any]


def supported() -> bool:
    return connection.vendor == "postgresql"


def qn(name: str | None) -> str:
    if name is None:  # a field without a column (none of the concrete fields read here)
        raise ValueError("no column to name")
    return connection.ops.quote_name(name)


@dataclass(frozen=True)
class _Shape:
    select: str  # "t"."id", "t"."inbox_id", …
    attnames: tuple[str, ...]
    converters: tuple[tuple[int, tuple[Converter, ...], Any], ...]  # (column, converters, expression)


_SHAPES: dict[tuple[type[Model], str], _Shape] = {}


def _shape(model: type[Model], alias: str) -> _Shape:
    shape = _SHAPES.get((model, alias))
    if shape is None:
        fields = model._meta.concrete_fields
        converters = []
        for position, field in enumerate(fields):
            # As SQLCompiler.get_converters does for a column: the backend's, then the field's.
            column = field.get_col(alias)
            found = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
            if found:
                converters.append((position, tuple(found), column))
        shape = _Shape(
            select=", ".join(f"{qn(alias)}.{qn(f.column)}" for f in fields),
            attnames=tuple(f.attname for f in fields),
            converters=tuple(converters),
        )
        _SHAPES[(model, alias)] = shape
    return shape


def columns_sql(model: type[Model], alias: str = "t") -> str:
    """Every concrete column of `model` under `alias`, in the order `instances` reads them."""
    return _shape(model, alias).select


def select_sql(model: type[Model], alias: str = "t") -> str:
    """`SELECT <every concrete column> FROM <table> AS <alias>`: add the rest (WHERE, ORDER BY,
    FOR … UPDATE) and read the rows back with `instances(model, rows, alias)`."""
    return f"SELECT {_shape(model, alias).select} FROM {qn(model._meta.db_table)} AS {qn(alias)}"


def instances(model: type[Model], rows: Iterable[Sequence[Any]], alias: str = "t") -> list[Any]:
    """Model instances of rows read with `select_sql(model, alias)`, as the ORM makes them."""
    shape = _shape(model, alias)
    alias_db = connection.alias
    made = []
    for row in rows:
        if shape.converters:
            row = list(row)
            for position, converters, expression in shape.converters:
                value = row[position]
                for converter in converters:
                    value = converter(value, expression, connection)
                row[position] = value
        made.append(model.from_db(alias_db, shape.attnames, row))
    return made


def insert_columns(obj: Model) -> tuple[list[Field], list[Any]]:
    """The fields an INSERT of `obj` writes and their values, as `obj.save(force_insert=True)`
    would write them (the primary key left to the database unless set; defaults and
    `auto_now_add` applied, on `obj` too)."""
    fields: list[Field] = []
    values = []
    for field in type(obj)._meta.concrete_fields:
        if field.primary_key and getattr(obj, field.attname) is None:
            continue
        fields.append(field)
        values.append(field.get_db_prep_save(field.pre_save(obj, add=True), connection))
    return fields, values


def insert_values(obj: Model) -> tuple[str, list[Any]]:
    """`INSERT INTO <table> (<columns>) VALUES (%s, …)` of `obj` and its values (insert_columns)."""
    fields, values = insert_columns(obj)
    columns = ", ".join(qn(f.column) for f in fields)
    return f"INSERT INTO {qn(type(obj)._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(values))})", values


def inserted(obj: Model, pk: Any) -> None:
    """Mark `obj` as written with primary key `pk` (as `save()` leaves it)."""
    setattr(obj, type(obj)._meta.pk.attname, pk)
    obj._state.adding = False
    obj._state.db = connection.alias


def insert(obj: Model) -> None:
    """INSERT `obj` as `obj.save(force_insert=True)` would, in one statement, and set its pk."""
    sql, values = insert_values(obj)
    ((pk,),) = run([(f"{sql} RETURNING {qn(type(obj)._meta.pk.column)}", values)])[0]
    inserted(obj, pk)


Statement = tuple[str, Sequence[Any]]


def run(statements: Sequence[Statement], *, prepare: bool = True) -> list[list[tuple[Any, ...]]]:
    """Send `statements` in one round trip and return each one's rows ([] for a statement that
    returns none). PostgreSQL runs them in order, each with a snapshot of its own (READ
    COMMITTED: a statement sees what committed before it started, such as the rows it waited on
    a lock for), inside the caller's transaction.

    With `prepare` (and DATABASE_PREPARE): each statement is prepared on the connection
    (apps.core.pg_prepared) and they go in one psycopg pipeline. PostgreSQL planned most of the
    bus's statements for longer than it ran them (0.1-0.7 ms against 0.02-0.3); a statement
    whose text changes with its rows (a VALUES list per object) is better not prepared, nor one
    that runs rarely. Otherwise they go as one query string (Django's cursors bind values on
    the client)."""
    if prepare and settings.DATABASE_PREPARE and supported():
        return _run_prepared(statements)
    with connection.cursor() as cursor:
        cursor.execute("; ".join(sql for sql, _ in statements), [v for _, values in statements for v in values])
        results: list[list[tuple[Any, ...]]] = []
        for i in range(len(statements)):
            if i:
                cursor.nextset()
            results.append(cursor.fetchall() if cursor.description is not None else [])
    return results


def _run_prepared(statements: Sequence[Statement]) -> list[list[tuple[Any, ...]]]:
    cursors = [prepared_cursor(connection) for _ in statements]
    try:
        # psycopg's errors at the pipeline's sync as Django's, as its cursors raise them.
        with connection.wrap_database_errors:
            if len(statements) == 1:
                cursors[0].execute(*statements[0])
            else:
                with connection.connection.pipeline():
                    for cursor, (sql, values) in zip(cursors, statements, strict=True):
                        cursor.execute(sql, values)
            return [cursor.fetchall() if cursor.description is not None else [] for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


def insert_many_statement(objs: Sequence[Model]) -> Statement:
    """One INSERT of `objs` (one model; their primary keys left to the database and not read
    back), values as `save()` would write them."""
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for obj in objs for f in fields]
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
        f"VALUES {', '.join([row_sql] * len(objs))}"
    )
    return sql, params


def insert_pair(parent: Model, child: Model, link: str, *, child_unless_conflict: bool = False) -> bool:
    """INSERT a new `parent` and a new `child` whose foreign key `link` points to it, in one
    statement (the child's row takes the parent's new id), and set both primary keys. With
    `child_unless_conflict`, a child that would break a unique constraint is not written
    (`ON CONFLICT DO NOTHING`): False, the parent written alone (its pk set) for the caller to
    deal with. True when both were written."""
    parent_sql, parent_values = insert_values(parent)
    field = type(child)._meta.get_field(link)
    fields, values = insert_columns(child)
    index = fields.index(field)  # type: ignore[arg-type]
    selected = ["%s"] * len(fields)
    selected[index] = "p.id"
    del values[index]
    child_meta = type(child)._meta
    sql = (
        f"WITH p AS ({parent_sql} RETURNING {qn(type(parent)._meta.pk.column)} AS id),"
        f" c AS (INSERT INTO {qn(child_meta.db_table)} ({', '.join(qn(f.column) for f in fields)})"
        f" SELECT {', '.join(selected)} FROM p{' ON CONFLICT DO NOTHING' if child_unless_conflict else ''}"
        f" RETURNING {qn(child_meta.pk.column)} AS id)"
        " SELECT p.id, c.id FROM p LEFT JOIN c ON true"
    )
    ((parent_pk, child_pk),) = run([(sql, [*parent_values, *values])])[0]
    inserted(parent, parent_pk)
    if child_pk is None:
        return False
    setattr(child, field.name, parent)  # its id, and the instance kept (as the ORM's save leaves it)
    inserted(child, child_pk)
    return True


def instances_joined(
    model: type[Model], related: type[Model], link: str, rows: Iterable[Sequence[Any]], aliases: tuple[str, str]
) -> list[Any]:
    """Instances of rows read as `columns_sql(model, aliases[0]), columns_sql(related,
    aliases[1])`, each with its `link` set to its related instance (`select_related(link)`)."""
    rows = list(rows)
    width = len(model._meta.concrete_fields)
    made = instances(model, [row[:width] for row in rows], aliases[0])
    for obj, other in zip(made, instances(related, [row[width:] for row in rows], aliases[1]), strict=True):
        setattr(obj, link, other)
    return made


def update(objs: Sequence[Model], field_names: Sequence[str]) -> int:
    """UPDATE `field_names` of every one of `objs` (one model) to their values on the instances,
    with one statement; returns the rows written."""
    if not objs:
        return 0
    sql, params = update_statement(objs, field_names)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def update_statement(objs: Sequence[Model], field_names: Sequence[str]) -> Statement:
    """The statement of `update` (for `run`)."""
    model = type(objs[0])
    meta = model._meta
    fields: list[Field] = [meta.get_field(name) for name in field_names]  # type: ignore[misc]
    pk = meta.pk
    types = [pk.db_type(connection), *(f.db_type(connection) for f in fields)]
    row_sql = "(" + ", ".join(["%s"] * (1 + len(fields))) + ")"
    # The first row names the types (a VALUES list takes its columns' types from it).
    first = "(" + ", ".join(f"%s::{t}" for t in types) + ")"
    params: list[Any] = []
    for obj in objs:
        params.append(pk.get_db_prep_save(obj.pk, connection))
        params.extend(f.get_db_prep_save(f.pre_save(obj, add=False), connection) for f in fields)
    names = ["pk", *(f"v{i}" for i in range(len(fields)))]
    sets = ", ".join(f"{qn(f.column)} = v.v{i}" for i, f in enumerate(fields))
    sql = (
        f"UPDATE {qn(meta.db_table)} AS t SET {sets} "
        f"FROM (VALUES {', '.join([first, *[row_sql] * (len(objs) - 1)])}) AS v({', '.join(names)}) "
        f"WHERE t.{qn(pk.column)} = v.pk"
    )
    return sql, params
