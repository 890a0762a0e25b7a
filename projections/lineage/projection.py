"""The incremental lineage projection: event-store rows → lineage tables, batch by batch, as the projector runs it.

Each batch's rows become lineage rows by the one definition rebuilds use too (:mod:`projections.lineage.extract`,
over the bodies the projector read), with the lot ids of the schema (:meth:`LineageProjection._extract`), and are
COPYed in. Then the batch rebuilds the edges of every transformation it touched: transformations with new
inputs/outputs, transformations of events retracted now, and transformations whose serialised items just had
their lot revealed. An edge set rebuilt from all current facts of a transformation does not depend on the order
those facts arrived in, and a retraction that arrives before its event still applies, because edges and all
reads exclude retracted events by joining ``retractions``.

A redelivered event adds nothing: the events ``lineage_events`` already holds are left out before the
extraction, and what another event may have written already (:data:`MERGED`) is inserted but for the rows the
table holds.

Rebuilds (:mod:`projections.lineage.replay`) bulk-load a fresh schema (:class:`~projections.lineage.bulk.BulkLoader`)
and then carry on with this projection from the bulk checkpoint.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping, Sequence
from typing import Any, cast

import structlog
from psycopg2.extras import execute_values

from projections.framework import StoreRow, quote_ident
from projections.lineage.ddl import ANALYZED, TABLES, create_indexes, create_tables
from projections.lineage.edges import DIRTY, edges_sql, stale_edges_sql
from projections.lineage.extract import Extractor, LotIds, store_text
from store.pgcopy import copy_from

log = structlog.get_logger("lotline.projections.lineage")

NAME = "lineage"
LIVE_SCHEMA = "lineage"

MERGED = ("items", "lot_identifiers", "retractions")
"""Tables whose rows another event may have written already (an item's lot, a lot's identifier, a declaration
delivered again): COPYed into a temporary table of the session, then inserted but for the rows the table holds.
The other tables get rows of events not projected before only, COPYed straight in; ``lot_edges`` are derived
(:mod:`projections.lineage.edges`)."""

_TEMPORARY = "; ".join(f"CREATE TEMPORARY TABLE IF NOT EXISTS lineage_{t} ({TABLES[t]}) ON COMMIT DELETE ROWS"
                       for t in MERGED)


def _first_fields(text: bytes) -> list[str]:
    """The first field of every line of COPY text, as the value it stands for."""
    out = []
    for line in text.decode().splitlines():
        field = line.split("\t", 1)[0]
        out.append(field if "\\" not in field else codecs.escape_decode(field.encode())[0].decode())
    return out


class LineageProjection:
    """Incremental lineage projection (see the module docstring)."""

    name = NAME

    def __init__(self) -> None:
        self.lot_ids = LotIds()  # the lots met so far, with their ids in the schema

    @property
    def analyzed_columns(self) -> Mapping[str, tuple[str, ...]]:
        """The columns whose statistics plans use (:data:`ANALYZED`), for the projector's statistics keeper."""
        return ANALYZED

    def create(self, cur: Any, schema: str) -> None:
        create_tables(cur, schema)
        create_indexes(cur, schema)

    def forget(self) -> None:
        self.lot_ids = LotIds()

    def prepare(self, rows: Sequence[StoreRow]) -> bytes:
        """``rows`` as the COPY text the extraction reads (:func:`~projections.lineage.extract.store_text`: pure,
        so the projector may run it ahead of the batch)."""
        return store_text(rows)

    def apply(self, cur: Any, schema: str, rows: Sequence[StoreRow]) -> None:
        self.apply_prepared(cur, schema, rows, self.prepare(rows))

    def apply_prepared(self, cur: Any, schema: str, rows: Sequence[StoreRow], prepared: object) -> None:
        s = quote_ident(schema)
        data = cast(bytes, prepared)
        keys = [r.event_key for r in rows if not r.is_declaration]
        cur.execute(f"SELECT event_key FROM {s}.lineage_events WHERE event_key = ANY(%s)", (keys,))
        if done := {r[0] for r in cur.fetchall()}:  # projected before: a redelivery adds nothing
            data = store_text(r for r in rows if r.is_declaration or r.event_key not in done)
        first_new = self._next_id(cur, schema)
        extractor, tables = self._extract(cur, schema, data, first_new)
        lots, identifiers = extractor.lots()
        for table, text in (("lots", lots.encode()), *tables.items()):
            if text and table not in MERGED and table != "lot_edges":
                copy_from(cur, f"COPY {s}.{table} FROM STDIN", text)
        if any(tables[t] for t in ("items", "retractions")) or identifiers:
            cur.execute(_TEMPORARY)
        self._merge(cur, schema, "items", tables["items"])
        self._merge(cur, schema, "retractions", tables["retractions"])
        changed = sorted({r[0] for r in self._merge(cur, schema, "lot_identifiers", identifiers.encode(), "lot_id")
                          if r[0] < first_new})  # (a new lot's row has them all)
        if changed:  # lots with new identifiers: their denormalised ``lots.identifiers``
            cur.execute(f"UPDATE {s}.lots l SET identifiers = ARRAY(SELECT i.identifier FROM {s}.lot_identifiers i "
                        "WHERE i.lot_id = l.id ORDER BY i.identifier) WHERE l.id = ANY(%s)", (changed,))
        dirty = set(_first_fields(tables["transformation_io"]))
        retracted = [r.event_key for r in rows if r.is_declaration]
        for key in retracted:
            log.info("event retracted", event_key=key)
        if retracted:
            cur.execute(f"SELECT DISTINCT tkey FROM {s}.lineage_events WHERE event_key = ANY(%s) AND tkey IS NOT NULL",
                        (retracted,))
            dirty.update(r[0] for r in cur.fetchall())
        if items := _first_fields(tables["items"]):
            cur.execute(f"SELECT DISTINCT tkey FROM {s}.transformation_io WHERE item = ANY(%s)", (items,))
            dirty.update(r[0] for r in cur.fetchall())
        if dirty:
            keys = sorted(dirty)
            cur.execute(stale_edges_sql(schema), {"k": keys})
            cur.execute(edges_sql(schema, keys=DIRTY), {"k": keys})

    @staticmethod
    def _next_id(cur: Any, schema: str) -> int:
        """The id of the next new lot (the schema's highest and one; read every batch, as another projector
        process may have added lots since)."""
        cur.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {quote_ident(schema)}.lots")
        return int(cur.fetchone()[0])

    def _extract(self, cur: Any, schema: str, data: bytes, first_new: int) -> tuple[Extractor, dict[str, bytes]]:
        """The extraction of ``data`` with the schema's lot ids: those met before (:attr:`lot_ids`), and for any
        other lot the id the schema holds, else a new one from ``first_new`` on. Which of the lots the extraction
        met for the first time the schema holds is asked once it has run; if any, it runs again knowing them."""
        ids = self.lot_ids
        ids.next_id, ids.new = first_new, []
        extractor = Extractor(ids)
        tables = extractor.chunk(data)
        if not ids.new:
            return extractor, tables
        found = execute_values(cur, f"SELECT l.gtin, l.lot, l.id FROM {quote_ident(schema)}.lots l "
                                    "JOIN (VALUES %s) v(gtin, lot) USING (gtin, lot)", ids.new, fetch=True,
                               page_size=len(ids.new))
        if not found:
            return extractor, tables
        for key in ids.new:
            del ids.known[key]
        ids.known.update(((gtin, lot), str(lid)) for gtin, lot, lid in found)
        ids.next_id, ids.new = first_new, []
        extractor = Extractor(ids)
        return extractor, extractor.chunk(data)

    @staticmethod
    def _merge(cur: Any, schema: str, table: str, text: bytes, returning: str | None = None) -> list[tuple[Any, ...]]:
        """Insert the rows of COPY ``text`` into ``table`` (one of :data:`MERGED`) but those it holds; returns the
        ``returning`` column of the rows inserted."""
        if not text:
            return []
        copy_from(cur, f"COPY pg_temp.lineage_{table} FROM STDIN", text)
        cur.execute(f"WITH batch AS (DELETE FROM pg_temp.lineage_{table} RETURNING *) "
                    f"INSERT INTO {quote_ident(schema)}.{table} SELECT * FROM batch ON CONFLICT DO NOTHING"
                    + (f" RETURNING {returning}" if returning else ""))
        return cur.fetchall() if returning else []

