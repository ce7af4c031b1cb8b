"""Several rows of one table updated, each with its own values, in one statement.

`rows_update` sends `UPDATE t SET … FROM (VALUES (…), (…)) AS v WHERE t.key = v.key …`: one
round trip and one statement for a group of rows where the ORM would send one `UPDATE` per row
(and build each through its query compiler). The bulk retry records a group of deliveries this
way (`integrations.delivery.services.delivering`). Values are prepared by each model field, so
dates and times are stored as the ORM would store them; works on PostgreSQL and SQLite (≥ 3.33).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection


def rows_update(
    model,
    *,
    match: Sequence[str],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    keep_when_none: Sequence[str] = (),
    where: str = "",
    returning: str | None = None,
) -> list[Any]:
    """Update one row of `model` per element of `rows`: each is the values of `match` (the
    columns that find the row, compared with `=`) then of `fields` (the new values). A field
    in `keep_when_none` keeps the row's value where the new one is None. `where` adds a
    condition in SQL (columns as `<table>.<column>`, no parameters); `returning` names one
    field whose values, for the rows updated, are returned. A row matched twice is updated once.
    """
    if not rows:
        return []
    ops = connection.ops
    table = ops.quote_name(model._meta.db_table)
    names = [*match, *fields]
    model_fields = [model._meta.get_field(name) for name in names]
    columns = [ops.quote_name(field.column) for field in model_fields]
    # PostgreSQL types a VALUES column from its values; a column of NULLs, or of strings meant
    # as dates, needs the type said. SQLite has no such types (and CAST would change the text).
    if connection.vendor == "postgresql":
        placeholders = [f"CAST(%s AS {field.cast_db_type(connection)})" for field in model_fields]
    else:
        placeholders = ["%s"] * len(model_fields)
    row_sql = "(" + ", ".join(placeholders) + ")"
    value = [f"v.column{n}" for n in range(1, len(names) + 1)]
    keep = set(keep_when_none)
    assignments = []
    for name, column, new in zip(fields, columns[len(match) :], value[len(match) :], strict=True):
        assignments.append(
            f"{column} = COALESCE({new}, {table}.{column})" if name in keep else f"{column} = {new}"
        )
    conditions = [
        f"{table}.{column} = {new}" for column, new in zip(columns, value[: len(match)], strict=False)
    ]
    if where:
        conditions.append(f"({where})")
    sql = (
        f"UPDATE {table} SET {', '.join(assignments)}"
        f" FROM (VALUES {', '.join([row_sql] * len(rows))}) AS v"
        f" WHERE {' AND '.join(conditions)}"
    )
    if returning:
        sql += f" RETURNING {table}.{ops.quote_name(model._meta.get_field(returning).column)}"
    params = [
        field.get_db_prep_value(item, connection, prepared=False)
        for row in rows
        for field, item in zip(model_fields, row, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [found for (found,) in cursor.fetchall()] if returning else []
