"""PostgreSQL chores around the trace benchmark's bulk load: indexes off and on, sequences,
VACUUM ANALYZE. Plain psycopg on the benchmark database; nothing here knows the data."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
from django.db.models import Model


@dataclass(frozen=True)
class Deferred:
    """A secondary index (or the unique constraint it backs), dropped for the load."""

    drop: str
    create: str


_INDEXES = """
SELECT ic.relname, pg_get_indexdef(i.indexrelid), con.conname, pg_get_constraintdef(con.oid)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype = 'u'
WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
"""


def indexes_drop(url: str, tables: Iterable[str]) -> list[Deferred]:
    """Drop every non-primary index of `tables` (unique constraints included); returns the
    statements that build each again exactly as the migrations made it."""
    deferred = []
    with psycopg.connect(url) as conn:
        for table in tables:
            for index, definition, constraint, constraint_def in conn.execute(_INDEXES, [table]).fetchall():
                if constraint:
                    drop = f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"'
                    create = f'ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" {constraint_def}'
                    deferred.append(Deferred(drop, create))
                else:
                    deferred.append(Deferred(f'DROP INDEX "{index}"', definition))
        for each in deferred:
            conn.execute(each.drop)
    return deferred


def indexes_create(url: str, deferred: list[Deferred], *, workers: int = 2) -> None:
    """Build the dropped indexes again, `workers` at a time; raises if any fails, so a
    half-indexed database is never marked seeded."""

    def build(each: Deferred) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '512MB'")
            conn.execute(each.create)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(build, deferred))


def sequences_reset(url: str, models: Iterable[type[Model]]) -> None:
    """Point each model's id sequence past the ids the load wrote explicitly."""
    with psycopg.connect(url, autocommit=True) as conn:
        for model in models:
            table = model._meta.db_table
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f'(SELECT coalesce(max(id), 1) FROM "{table}"))'
            )


def vacuum_analyze(url: str, models: Iterable[type[Model]]) -> None:
    """Visibility map and statistics as autovacuum leaves them on a long-running database
    (index-only scans and the planner's estimates depend on both)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for model in models:
            conn.execute(f'VACUUM (ANALYZE) "{model._meta.db_table}"')
