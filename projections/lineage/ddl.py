"""The lineage tables, created in any schema (the live ``lineage``, a rebuild, or an as-of snapshot).

Facts are kept per event, keyed by ``event_key``; derived state is either rebuilt per transformation
(``lot_edges``) or resolved when read (pallet contents, item lots, retractions), which is what keeps the
result independent of arrival order. Tables are created first and indexes after, so a rebuild can bulk-load
into bare tables (design-notes: "bulk load, indexes after").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from projections.framework import quote_ident

TABLES: dict[str, str] = {
    "lots": "id integer PRIMARY KEY, gtin text NOT NULL, lot text NOT NULL, "
            "identifiers text[] NOT NULL DEFAULT '{}'",  # denormalised from lot_identifiers for traces
    "lot_identifiers": "lot_id integer NOT NULL, identifier text NOT NULL",
    "items": "item text NOT NULL, lot_id integer NOT NULL",
    "lineage_events": "event_key text NOT NULL, event_id text, event_type text NOT NULL, "
                      "event_time timestamptz NOT NULL, tz_offset text NOT NULL, position bigint NOT NULL, "
                      "location text",
    "retractions": "event_key text NOT NULL, reason text, corrective_ids text[] NOT NULL, "
                   "declared_at timestamptz, position bigint NOT NULL",
    "lot_origins": "lot_id integer NOT NULL, event_key text NOT NULL",
    "transformation_io": "tkey text NOT NULL, event_key text NOT NULL, role text NOT NULL, lot_id integer, "
                         "item text, quantity numeric, uom text",
    "lot_edges": "src integer NOT NULL, dst integer NOT NULL, tkey text NOT NULL",
    "aggregations": "event_key text NOT NULL, sscc text NOT NULL, action text NOT NULL, "
                    "event_time timestamptz NOT NULL, lot_id integer, item text, quantity numeric, uom text",
    "movements": "event_key text NOT NULL, kind text NOT NULL, party text, party_location text, location text, "
                 "documents jsonb NOT NULL, pallet text",
    "movement_lines": "event_key text NOT NULL, lot_id integer, item text, quantity numeric, uom text",
    "movement_ssccs": "event_key text NOT NULL, sscc text NOT NULL",
}

INDEXES: tuple[str, ...] = (
    "CREATE UNIQUE INDEX IF NOT EXISTS lots_key ON {s}.lots (gtin, lot)",
    "CREATE UNIQUE INDEX IF NOT EXISTS lot_identifiers_pk ON {s}.lot_identifiers (lot_id, identifier)",
    "CREATE UNIQUE INDEX IF NOT EXISTS items_pk ON {s}.items (item, lot_id)",
    "CREATE INDEX IF NOT EXISTS items_lot ON {s}.items (lot_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS lineage_events_pk ON {s}.lineage_events (event_key)",
    "CREATE UNIQUE INDEX IF NOT EXISTS retractions_pk ON {s}.retractions (event_key)",
    "CREATE UNIQUE INDEX IF NOT EXISTS lot_origins_pk ON {s}.lot_origins (lot_id, event_key)",
    "CREATE INDEX IF NOT EXISTS transformation_io_tkey ON {s}.transformation_io (tkey)",
    "CREATE INDEX IF NOT EXISTS transformation_io_event ON {s}.transformation_io (event_key)",
    "CREATE INDEX IF NOT EXISTS transformation_io_item ON {s}.transformation_io (item) WHERE item IS NOT NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS lot_edges_fwd ON {s}.lot_edges (src, dst, tkey)",
    "CREATE INDEX IF NOT EXISTS lot_edges_bwd ON {s}.lot_edges (dst, src)",
    "CREATE INDEX IF NOT EXISTS lot_edges_tkey ON {s}.lot_edges (tkey)",
    "CREATE INDEX IF NOT EXISTS aggregations_sscc ON {s}.aggregations (sscc, event_time)",
    "CREATE INDEX IF NOT EXISTS aggregations_lot ON {s}.aggregations (lot_id)",
    "CREATE INDEX IF NOT EXISTS aggregations_item ON {s}.aggregations (item) WHERE item IS NOT NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS movements_pk ON {s}.movements (event_key)",
    "CREATE INDEX IF NOT EXISTS movement_lines_lot ON {s}.movement_lines (lot_id)",
    "CREATE INDEX IF NOT EXISTS movement_lines_event ON {s}.movement_lines (event_key)",
    "CREATE INDEX IF NOT EXISTS movement_lines_item ON {s}.movement_lines (item) WHERE item IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS movement_ssccs_sscc ON {s}.movement_ssccs (sscc)",
    "CREATE INDEX IF NOT EXISTS movement_ssccs_event ON {s}.movement_ssccs (event_key)",
)


def create_tables(cur: Any, schema: str) -> None:
    """Create the lineage tables in ``schema`` (bare: no indexes)."""
    s = quote_ident(schema)
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
    for name, columns in TABLES.items():
        cur.execute(f"CREATE TABLE IF NOT EXISTS {s}.{name} ({columns})")


def create_indexes(cur: Any, schema: str, tables: Iterable[str] | None = None) -> None:
    """Create every index the projection and the traces rely on (idempotent); only those of ``tables`` when
    given (a rebuild indexes each table in the connection that filled it)."""
    s = quote_ident(schema)
    only = None if tables is None else set(tables)
    for ddl in INDEXES:
        if only is None or ddl.split(" ON {s}.", 1)[1].split(" ", 1)[0] in only:
            cur.execute(ddl.format(s=s))
