"""Tables of the recall projection, in their own schema (``recalls``).

``recalls.scope`` is the scope subscribers were last told, item by item (one ``json`` document per recall: a
10K-lot scope is read and written in one go). ``outbox.body`` is the alert's Avro body, encoded once; the
relay only adds the wire framing. Both are large for a large recall (3 MB of scope and a 2.6 MB alert for 10K
lots): where the server has lz4, they are compressed with it (PostgreSQL's default, pglz, took twice as long to
write them, ~70 ms of the alert's latency).

These tables are not part of the lineage rebuild: a replay of the lineage must never re-publish an alert, so
the state that remembers what subscribers were told (scopes, sequences, the outbox) survives rebuilds.
"""

from __future__ import annotations

from typing import Any

import psycopg2.errors

from projections.framework import quote_ident

SCHEMA = "recalls"


def create_tables(cur: Any, schema: str = SCHEMA) -> None:
    s = quote_ident(schema)
    cur.execute(f"""
        CREATE TABLE IF NOT EXISTS {s}.recalls (
            recall_id        text PRIMARY KEY,
            gtin             text NOT NULL,
            lot              text NOT NULL,
            reason           text,
            status           text NOT NULL CHECK (status IN ('active', 'lifted')),
            declared_position bigint NOT NULL,
            ended_position   bigint,
            sequence         integer NOT NULL DEFAULT 0,
            scope            json NOT NULL DEFAULT '{{}}'
        )""")
    cur.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS recalls_one_active ON {s}.recalls (gtin, lot) "
                "WHERE status = 'active'")
    cur.execute(f"""
        CREATE TABLE IF NOT EXISTS {s}.outbox (
            id           bigserial PRIMARY KEY,
            alert_id     text NOT NULL UNIQUE,
            recall_id    text NOT NULL,
            lot_key      text NOT NULL,
            sequence     integer NOT NULL,
            kind         text NOT NULL,
            body         bytea NOT NULL,
            summary      jsonb NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
            published_at timestamptz
        )""")
    cur.execute(f"CREATE INDEX IF NOT EXISTS outbox_unpublished ON {s}.outbox (id) WHERE published_at IS NULL")
    _compress_with_lz4(cur, schema, (("recalls", "scope"), ("outbox", "body")))


def _compress_with_lz4(cur: Any, schema: str, columns: tuple[tuple[str, str], ...]) -> None:
    """Store new values of ``columns`` lz4-compressed, unless they already are or the server was built without
    lz4 (then they stay pglz); existing values are left as they are."""
    cur.execute("SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND a.attcompression = 'l'",
                (schema,))
    done = set(cur.fetchall())
    todo = [(table, column) for table, column in columns if (table, column) not in done]
    if not todo:
        return
    cur.execute("SAVEPOINT lz4")
    try:
        for table, column in todo:
            cur.execute(f"ALTER TABLE {quote_ident(schema)}.{table} ALTER COLUMN {column} SET COMPRESSION lz4")
    except psycopg2.errors.FeatureNotSupported:  # "compression method lz4 not supported"
        cur.execute("ROLLBACK TO SAVEPOINT lz4")
    else:
        cur.execute("RELEASE SAVEPOINT lz4")
