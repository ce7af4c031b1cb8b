"""Several rows of one table written, each with its own values, in one statement.

`rows_update` sends `UPDATE t SET … FROM (VALUES (…), (…)) AS v WHERE t.key = v.key …` and
`rows_insert` a multi-row `INSERT … RETURNING`: one round trip and one statement for a group of
rows where the ORM would send one `UPDATE` per row (and build each through its query compiler).
The bulk retry claims, logs and records a group of deliveries this way
(`integrations.delivery.services.delivering`). Values are prepared by each model field, so dates
and times are stored as the ORM would store them; works on PostgreSQL and SQLite (≥ 3.35).
The text of a statement depends only on its shape (table, columns, number of rows), so it is
built once per shape and process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models


def rows_update(
    model,
    *,
    match: Sequence[str],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    keep_when_none: Sequence[str] = (),
    match_nulls: Sequence[str] = (),
    where: str = "",
    where_params: Sequence[Any] = (),
    returning: str | None = None,
) -> list[Any]:
    """Update one row of `model` per element of `rows`: each is the values of `match` (the
    columns that find the row, compared with `=`; for those in `match_nulls` NULL matches NULL)
    then of `fields` (the new values). A field in `keep_when_none` keeps the row's value where
    the new one is None. `where` adds a condition in SQL (columns as `<table>.<column>`, `%s`
    for each of `where_params`, which are passed as given: adapt dates with
    `connection.ops`); `returning` names one field whose values, for the rows updated, are
    returned. A row matched twice is updated once.
    """
    if not rows:
        return []
    connection = connections[DEFAULT_DB_ALIAS]
    sql, prepare = _update_statement(
        connection.vendor,
        model,
        tuple(match),
        tuple(fields),
        frozenset(keep_when_none),
        frozenset(match_nulls),
        where,
        returning,
        len(rows),
    )
    params = [prep(item, connection) for row in rows for prep, item in zip(prepare, row, strict=True)]
    params.extend(where_params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [found for (found,) in cursor.fetchall()] if returning else []


def rows_insert(model, *, fields: Sequence[str], rows: Sequence[Sequence[Any]], returning: str) -> list[Any]:
    """Insert one row of `model` per element of `rows` (the values of `fields`, in order);
    returns the `returning` field of each inserted row, in the order of `rows`."""
    if not rows:
        return []
    connection = connections[DEFAULT_DB_ALIAS]
    sql, prepare = _insert_statement(connection.vendor, model, tuple(fields), returning, len(rows))
    params = [prep(item, connection) for row in rows for prep, item in zip(prepare, row, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [found for (found,) in cursor.fetchall()]


Prepare = Callable[[Any, Any], Any]
# Fields of exactly these classes store a Python int, str or bool as it is: their own preparation
# only converts it to itself, which was a tenth of the bulk retry's CPU (values are prepared per
# row). Any other field, a subclass included (an encrypted text field, say), prepares its values.
PLAIN_FIELDS = (
    models.AutoField,
    models.BigAutoField,
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
    models.CharField,
    models.TextField,
    models.BooleanField,
)
PLAIN_VALUES = (int, str, bool)


def _preparer(field) -> Prepare:
    stored = field.target_field if isinstance(field, models.ForeignKey) else field
    prep = field.get_db_prep_value
    if type(stored) in PLAIN_FIELDS:
        return lambda value, connection: (
            value if value is None or type(value) in PLAIN_VALUES else prep(value, connection, prepared=False)
        )
    return lambda value, connection: None if value is None else prep(value, connection, prepared=False)


@lru_cache(maxsize=128)
def _update_statement(
    vendor: str,
    model,
    match: tuple[str, ...],
    fields: tuple[str, ...],
    keep: frozenset[str],
    nulls: frozenset[str],
    where: str,
    returning: str | None,
    count: int,
) -> tuple[str, list[Prepare]]:
    ops = connections[DEFAULT_DB_ALIAS].ops
    table = ops.quote_name(model._meta.db_table)
    model_fields = [model._meta.get_field(name) for name in (*match, *fields)]
    columns = [ops.quote_name(field.column) for field in model_fields]
    value = [f"v.column{n}" for n in range(1, len(model_fields) + 1)]
    assignments = [
        f"{column} = COALESCE({new}, {table}.{column})" if name in keep else f"{column} = {new}"
        for name, column, new in zip(fields, columns[len(match) :], value[len(match) :], strict=True)
    ]
    same = "IS NOT DISTINCT FROM" if vendor == "postgresql" else "IS"
    conditions = [
        f"{table}.{column} {same if name in nulls else '='} {new}"
        for name, column, new in zip(match, columns, value, strict=False)
    ]
    if where:
        conditions.append(f"({where})")
    sql = (
        f"UPDATE {table} SET {', '.join(assignments)}"
        f" FROM (VALUES {_values(vendor, model_fields, count)}) AS v"
        f" WHERE {' AND '.join(conditions)}"
    )
    if returning:
        sql += f" RETURNING {table}.{ops.quote_name(model._meta.get_field(returning).column)}"
    return sql, [_preparer(field) for field in model_fields]


@lru_cache(maxsize=64)
def _insert_statement(
    vendor: str, model, fields: tuple[str, ...], returning: str, count: int
) -> tuple[str, list[Prepare]]:
    ops = connections[DEFAULT_DB_ALIAS].ops
    model_fields = [model._meta.get_field(name) for name in fields]
    columns = ", ".join(ops.quote_name(field.column) for field in model_fields)
    row = "(" + ", ".join(["%s"] * len(model_fields)) + ")"
    sql = (
        f"INSERT INTO {ops.quote_name(model._meta.db_table)} ({columns}) VALUES {', '.join([row] * count)}"
        f" RETURNING {ops.quote_name(model._meta.get_field(returning).column)}"
    )
    return sql, [_preparer(field) for field in model_fields]


def _values(vendor: str, model_fields: list, count: int) -> str:
    """The VALUES rows of `count` rows. PostgreSQL types a VALUES column from its values, and a
    column of NULLs, or of strings meant as dates, needs the type said: the first row says it,
    the others follow it. SQLite has no such types (and CAST would change the text)."""
    plain = "(" + ", ".join(["%s"] * len(model_fields)) + ")"
    if vendor != "postgresql":
        return ", ".join([plain] * count)
    connection = connections[DEFAULT_DB_ALIAS]
    typed = "(" + ", ".join(f"CAST(%s AS {field.cast_db_type(connection)})" for field in model_fields) + ")"
    return ", ".join([typed] + [plain] * (count - 1))
