"""The lineage tables, created in any schema (the live ``lineage``, a rebuild, or an as-of snapshot).

Facts are kept per event, keyed by ``event_key``; derived state is either rebuilt per transformation
(``lot_edges``) or resolved when read (pallet contents, item lots, retractions), which is what keeps the
result independent of arrival order. Tables are created first and indexes after, so a rebuild can bulk-load
into bare tables (design-notes: "bulk load, indexes after").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from projections.framework import quote_ident

TEXT = 'text COLLATE "C"'
"""Every text column of the lineage: identifiers, keys and codes, compared and ordered byte by byte. Under the
database's default collation (C.UTF-8 here, a language's elsewhere) PostgreSQL compares them through strcoll
and without abbreviated keys: building the indexes of a rebuild and gathering their statistics cost about a
third more (docs/performance.md, "Rebuild"). Byte order is also the order Python sorts them in."""

TABLES: dict[str, str] = {
    "lots": f"id integer PRIMARY KEY, gtin {TEXT} NOT NULL, lot {TEXT} NOT NULL, "
            "identifiers text[] NOT NULL DEFAULT '{}'",  # denormalised from lot_identifiers for traces
    "lot_identifiers": f"lot_id integer NOT NULL, identifier {TEXT} NOT NULL",
    "items": f"item {TEXT} NOT NULL, lot_id integer NOT NULL",
    # every event projected (so a redelivery adds nothing), with its transformation key (tkey) if it has one
    "lineage_events": f"event_key {TEXT} NOT NULL, tkey {TEXT}",
    "retractions": f"event_key {TEXT} NOT NULL, reason {TEXT}, corrective_ids text[] NOT NULL, "
                   "declared_at timestamptz, position bigint NOT NULL",
    "transformation_io": f"tkey {TEXT} NOT NULL, event_key {TEXT} NOT NULL, role {TEXT} NOT NULL, "
                         f"lot_id integer, item {TEXT}, quantity numeric, uom {TEXT}",
    "lot_edges": f"src integer NOT NULL, dst integer NOT NULL, tkey {TEXT} NOT NULL",
    "aggregations": f"event_key {TEXT} NOT NULL, sscc {TEXT} NOT NULL, action {TEXT} NOT NULL, "
                    f"event_time timestamptz NOT NULL, lot_id integer, item {TEXT}, quantity numeric, uom {TEXT}, "
                    f"child_sscc {TEXT}, "  # an SSCC inside the SSCC (a case on a pallet): lot, item and quantity NULL
                    f"gtin {TEXT}",  # content of no known lot (see movement_lines)
    "movements": f"event_key {TEXT} NOT NULL, event_id {TEXT}, event_time timestamptz NOT NULL, "
                 f"tz_offset {TEXT} NOT NULL, kind {TEXT} NOT NULL, party {TEXT}, party_location {TEXT}, "
                 f"location {TEXT}, documents jsonb NOT NULL, pallet {TEXT}",
    # gtin: content of no known lot (a GTIN alone: lot_id and item NULL; or a serialised item whose lot no event
    # named when the line was written: the item set, its lot found through items once an event names it)
    "movement_lines": f"event_key {TEXT} NOT NULL, lot_id integer, item {TEXT}, quantity numeric, uom {TEXT}, "
                      f"gtin {TEXT}",
    "movement_ssccs": f"event_key {TEXT} NOT NULL, sscc {TEXT} NOT NULL",
}

INDEXES: tuple[str, ...] = (
    "CREATE UNIQUE INDEX IF NOT EXISTS lots_key ON {s}.lots (gtin, lot)",
    "CREATE UNIQUE INDEX IF NOT EXISTS lot_identifiers_pk ON {s}.lot_identifiers (lot_id, identifier)",
    "CREATE UNIQUE INDEX IF NOT EXISTS items_pk ON {s}.items (item, lot_id)",
    "CREATE INDEX IF NOT EXISTS items_lot ON {s}.items (lot_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS lineage_events_pk ON {s}.lineage_events (event_key)",
    "CREATE UNIQUE INDEX IF NOT EXISTS retractions_pk ON {s}.retractions (event_key)",
    "CREATE INDEX IF NOT EXISTS transformation_io_tkey ON {s}.transformation_io (tkey)",
    "CREATE INDEX IF NOT EXISTS transformation_io_item ON {s}.transformation_io (item) WHERE item IS NOT NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS lot_edges_fwd ON {s}.lot_edges (src, dst, tkey)",
    "CREATE INDEX IF NOT EXISTS lot_edges_bwd ON {s}.lot_edges (dst, src)",
    "CREATE INDEX IF NOT EXISTS aggregations_sscc ON {s}.aggregations (sscc, event_time)",
    "CREATE INDEX IF NOT EXISTS aggregations_lot ON {s}.aggregations (lot_id)",
    "CREATE INDEX IF NOT EXISTS aggregations_item ON {s}.aggregations (item) WHERE item IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS aggregations_child ON {s}.aggregations (child_sscc) WHERE child_sscc IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS aggregations_gtin ON {s}.aggregations (gtin) WHERE gtin IS NOT NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS movements_pk ON {s}.movements (event_key)",
    "CREATE INDEX IF NOT EXISTS movement_lines_lot ON {s}.movement_lines (lot_id)",
    "CREATE INDEX IF NOT EXISTS movement_lines_item ON {s}.movement_lines (item) WHERE item IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS movement_lines_gtin ON {s}.movement_lines (gtin) WHERE gtin IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS movement_ssccs_sscc ON {s}.movement_ssccs (sscc)",
)

ANALYZED: dict[str, tuple[str, ...]] = {
    "lots": ("id", "gtin", "lot"),
    "lot_identifiers": ("lot_id", "identifier"),
    "items": ("item", "lot_id"),
    "lineage_events": ("event_key",),
    "retractions": ("event_key",),
    "transformation_io": ("tkey", "event_key", "role", "lot_id", "item"),
    "lot_edges": ("src", "dst", "tkey"),
    "aggregations": ("event_key", "sscc", "action", "event_time", "lot_id", "item", "quantity", "child_sscc",
                     "gtin"),
    "movements": ("event_key", "kind"),
    "movement_lines": ("event_key", "lot_id", "item", "gtin"),
    "movement_ssccs": ("event_key", "sscc"),
}
"""The columns that traces and the incremental projection join or filter on: a fresh build gathers statistics
for these only (identifier arrays, documents, quantities and the like are only ever returned; statistics on
them cost a third of ANALYZE's time and inform no plan). Autovacuum later analyses every column.

Each at statistics target :data:`STATISTICS` (set on the column, so a build, the projector's statistics keeper
and autovacuum gather the same)."""

STATISTICS = 50
"""The statistics target of the :data:`ANALYZED` columns (PostgreSQL's default is 100): ANALYZE samples 300 rows
per unit, and the lineage's plans need row counts, distinct counts and the commonest values of a few codes,
not fine histograms. A rebuild's ANALYZE takes half the time (docs/performance.md, "Rebuild")."""


LAYOUT = hashlib.sha256(repr(TABLES).encode()).hexdigest()[:12]
"""The layout of the tables this version writes and reads (a digest of their columns), recorded on the schema
that holds them (its comment) when they are created. A lineage is disposable, so a new layout needs no
migration, only a replay: a lineage in another layout is refused with that said (:class:`LayoutError`), where
it would otherwise fail on a missing column, or worse, be written in two layouts. (Indexes and statistics
targets are left out: an index missing from an older lineage is created when a projector starts on it.)"""

_COMMENT = "lotline lineage layout "


class LayoutError(RuntimeError):
    """A lineage schema written by another version of Lotline, in tables of another layout."""


def layout_of(cur: Any, schema: str) -> str | None:
    """The layout recorded on ``schema`` (None: none, or no such schema)."""
    cur.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s", (schema,))
    row = cur.fetchone()
    comment = None if row is None else row[0]
    return comment[len(_COMMENT):] if comment and comment.startswith(_COMMENT) else None


def layout_error(schema: str, found: str | None) -> LayoutError:
    """The error that names the layout found on ``schema`` and the command that rebuilds it."""
    return LayoutError(f"the lineage in schema {schema!r} was written by another version of Lotline (tables of "
                       f"layout {found or 'unrecorded'}; this version's are {LAYOUT}): rebuild it from the store "
                       "with `lotline replay`")


def create_tables(cur: Any, schema: str) -> None:
    """Create the lineage tables in ``schema`` (bare: no indexes) and record their :data:`LAYOUT`; raises
    :class:`LayoutError` if it holds lineage tables of another layout."""
    s = quote_ident(schema)
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
    present = {r[0] for r in cur.fetchall()} & set(TABLES)
    if present and (found := layout_of(cur, schema)) != LAYOUT:
        raise layout_error(schema, found)
    for name, columns in TABLES.items():
        if name not in present:
            cur.execute(f"CREATE TABLE {s}.{name} ({columns})")
            cur.execute(f"ALTER TABLE {s}.{name} "
                        + ", ".join(f"ALTER COLUMN {c} SET STATISTICS {STATISTICS}" for c in ANALYZED[name]))
    if not present:
        cur.execute(f"COMMENT ON SCHEMA {s} IS %s", (_COMMENT + LAYOUT,))


def create_indexes(cur: Any, schema: str, tables: Iterable[str] | None = None) -> None:
    """Create every index the projection and the traces rely on (idempotent); only those of ``tables`` when
    given (a rebuild indexes each table in the connection that filled it)."""
    s = quote_ident(schema)
    only = None if tables is None else set(tables)
    for ddl in INDEXES:
        if only is None or ddl.split(" ON {s}.", 1)[1].split(" ", 1)[0] in only:
            cur.execute(ddl.format(s=s))
