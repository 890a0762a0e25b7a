"""Tables of the recall projection, in their own schema (``recalls``).

``recalls.scope`` is the scope subscribers were last told, item by item (one ``json`` document per recall: a
10K-lot scope is read and written in one go). ``outbox.body`` is the alert's Avro body, encoded once; the
relay only adds the wire framing.

These tables are not part of the lineage rebuild: a replay of the lineage must never re-publish an alert, so
the state that remembers what subscribers were told (scopes, sequences, the outbox) survives rebuilds.
"""

from __future__ import annotations

from typing import Any

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
