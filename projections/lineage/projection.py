"""The lineage projection: event-store rows → lineage tables, incrementally or in bulk.

Incremental (:class:`LineageProjection`, run by the projector): each batch inserts its facts, records its
retractions, and rebuilds the edges of every transformation the batch touched: transformations with new
inputs/outputs, transformations of events retracted now, and transformations whose serialised items just had
their lot revealed. An edge set rebuilt from all current facts of a transformation does not depend on the
order those facts arrived in, and a retraction that arrives before its event still applies, because edges
and all reads exclude retracted events by joining ``retractions``.

Bulk (:class:`~projections.lineage.bulk.BulkLoader`, used by rebuilds): the same rules run over the stored JSON
bodies as parsed, without the model (:mod:`projections.lineage.extract`), and the rows are COPYed into bare tables;
then all edges are derived in one statement and indexes built, on two connections; the incremental projection
then carries on from the bulk checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import structlog
from psycopg2.extras import execute_values

from projections.framework import StoreRow, quote_ident
from projections.lineage.ddl import ANALYZED, TABLES, create_indexes, create_tables
from projections.lineage.edges import DIRTY, edges_sql, stale_edges_sql
from projections.lineage.facts import Declaration, EventFacts, declaration_of, facts_of
from projections.lineage.rows import TableRows, event_row, rows_of
from schemas.epcis.identifiers import LotKey
from schemas.formats.jsonld import event_from_json, loads

log = structlog.get_logger("lotline.projections.lineage")

NAME = "lineage"
LIVE_SCHEMA = "lineage"

_UNIQUE = {"lot_identifiers", "items", "lineage_events", "retractions", "movements"}
"""Tables with a unique index: redelivered facts are dropped there (ON CONFLICT DO NOTHING)."""


def parse_rows(rows: Sequence[StoreRow]) -> tuple[list[EventFacts], list[Declaration]]:
    """Facts of the ordinary events and the retractions of the error declarations among ``rows``."""
    facts: list[EventFacts] = []
    decls: list[Declaration] = []
    for row in rows:
        event = event_from_json(loads(row.body))
        if row.is_declaration:
            decls.append(declaration_of(row.event_key, row.position, event))
            log.info("event retracted", event_key=row.event_key, position=row.position,
                     reason=event.error_declaration.reason if event.error_declaration else None)
        else:
            facts.append(facts_of(row.event_key, row.position, event))
    return facts, decls


def _lot_keys(facts: Iterable[EventFacts]) -> set[LotKey]:
    keys: set[LotKey] = set()
    for f in facts:
        keys.update(f.lots)
        keys.update(f.items.values())
    return keys


class LotIds:
    """(GTIN, lot) → integer id, cached; new ids are handed out under the projection's lock."""

    def __init__(self) -> None:
        self.ids: dict[LotKey, int] = {}
        self.next_id: int | None = None

    def clear(self) -> None:
        self.ids.clear()
        self.next_id = None

    def resolve(self, cur: Any, schema: str, keys: set[LotKey]) -> None:
        missing = [k for k in keys if k not in self.ids]
        if not missing:
            return
        s = quote_ident(schema)
        found = execute_values(
            cur, f"SELECT l.id, l.gtin, l.lot FROM {s}.lots l JOIN (VALUES %s) v(gtin, lot) USING (gtin, lot)",
            [(k.gtin, k.lot) for k in missing], fetch=True)
        for lid, gtin, lot in found:
            self.ids[LotKey(gtin, lot)] = int(lid)
        new = [k for k in missing if k not in self.ids]
        if not new:
            return
        if self.next_id is None:
            cur.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {s}.lots")
            self.next_id = int(cur.fetchone()[0])
        rows = []
        for k in sorted(new):
            self.ids[k] = self.next_id
            rows.append((self.next_id, k.gtin, k.lot))
            self.next_id += 1
        execute_values(cur, f"INSERT INTO {s}.lots (id, gtin, lot) VALUES %s", rows, page_size=len(rows))
        for k in new:
            log.debug("lot seen", lot=str(k), lot_id=self.ids[k])

    def __call__(self, key: LotKey) -> int:
        return self.ids[key]


class LineageProjection:
    """Incremental lineage projection (see the module docstring)."""

    name = NAME

    def __init__(self) -> None:
        self.lot_ids = LotIds()

    @property
    def analyzed_columns(self) -> Mapping[str, tuple[str, ...]]:
        """The columns whose statistics plans use (:data:`ANALYZED`), for the projector's statistics keeper."""
        return ANALYZED

    def create(self, cur: Any, schema: str) -> None:
        create_tables(cur, schema)
        create_indexes(cur, schema)

    def forget(self) -> None:
        self.lot_ids.clear()

    def prepare(self, rows: Sequence[StoreRow]) -> tuple[list[EventFacts], list[Declaration]]:
        """The facts of ``rows`` (:func:`parse_rows`: pure, so the projector may run it ahead of the batch)."""
        return parse_rows(rows)

    def apply(self, cur: Any, schema: str, rows: Sequence[StoreRow]) -> None:
        self.apply_prepared(cur, schema, rows, self.prepare(rows))

    def apply_prepared(self, cur: Any, schema: str, rows: Sequence[StoreRow], prepared: object) -> None:
        facts, decls = cast(tuple[list[EventFacts], list[Declaration]], prepared)
        facts = self._fresh(cur, schema, facts)
        self.lot_ids.resolve(cur, schema, _lot_keys(facts))
        table_rows = rows_of(facts, decls, self.lot_ids)
        table_rows.rows.pop("lineage_events", None)  # registered by _fresh
        identifiers = table_rows.rows.pop("lot_identifiers", [])
        insert_rows(cur, schema, table_rows)
        self._identifiers(cur, schema, identifiers)
        dirty = {io.tkey for f in facts for io in f.io}
        s = quote_ident(schema)
        retracted = [d.event_key for d in decls]
        if retracted:
            cur.execute(f"SELECT DISTINCT tkey FROM {s}.lineage_events WHERE event_key = ANY(%s) AND tkey IS NOT NULL",
                        (retracted,))
            dirty.update(r[0] for r in cur.fetchall())
        items = [r[0] for r in table_rows.get("items")]
        if items:
            cur.execute(f"SELECT DISTINCT tkey FROM {s}.transformation_io WHERE item = ANY(%s)", (items,))
            dirty.update(r[0] for r in cur.fetchall())
        if dirty:
            keys = sorted(dirty)
            cur.execute(stale_edges_sql(schema), {"k": keys})
            cur.execute(edges_sql(schema, keys=DIRTY), {"k": keys})


    @staticmethod
    def _identifiers(cur: Any, schema: str, rows: list[tuple[Any, ...]]) -> None:
        """Record identifiers seen and refresh the denormalised ``lots.identifiers`` of lots with new ones."""
        if not rows:
            return
        s = quote_ident(schema)
        new = execute_values(cur, f"INSERT INTO {s}.lot_identifiers (lot_id, identifier) VALUES %s "
                                  "ON CONFLICT DO NOTHING RETURNING lot_id", rows, fetch=True, page_size=len(rows))
        changed = sorted({r[0] for r in new})
        if changed:
            cur.execute(f"UPDATE {s}.lots l SET identifiers = ARRAY(SELECT i.identifier FROM {s}.lot_identifiers i "
                        "WHERE i.lot_id = l.id ORDER BY i.identifier) WHERE l.id = ANY(%s)", (changed,))

    @staticmethod
    def _fresh(cur: Any, schema: str, facts: list[EventFacts]) -> list[EventFacts]:
        """Register the events and keep the facts of those not projected before (a redelivery adds nothing)."""
        if not facts:
            return facts
        s = quote_ident(schema)
        rows = [event_row(f) for f in facts]
        new = execute_values(cur, f"INSERT INTO {s}.lineage_events VALUES %s ON CONFLICT DO NOTHING "
                                  "RETURNING event_key", rows, fetch=True, page_size=len(rows))
        fresh = {r[0] for r in new}
        return [f for f in facts if f.event_key in fresh]


def insert_rows(cur: Any, schema: str, table_rows: TableRows) -> None:
    """INSERT every row; tables with a unique key ignore rows they already hold."""
    s = quote_ident(schema)
    for table, rows in table_rows.rows.items():
        if not rows:
            continue
        conflict = " ON CONFLICT DO NOTHING" if table in _UNIQUE else ""
        cols = ", ".join(c.split()[0] for c in _columns(table))
        execute_values(cur, f"INSERT INTO {s}.{table} ({cols}) VALUES %s{conflict}", rows, page_size=1000)


def _columns(table: str) -> list[str]:
    return [c.strip() for c in _split_columns(TABLES[table])]


def _split_columns(spec: str) -> list[str]:
    # column specs contain no commas inside types except none here; keep it explicit and simple
    return [part for part in spec.split(",") if part.strip()]

