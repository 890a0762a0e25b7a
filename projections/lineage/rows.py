"""Facts turned into table rows: one list of tuples per lineage table, in the column order of ``ddl.TABLES``.

Shared by the incremental writer (INSERT ... ON CONFLICT) and the bulk loader of a rebuild (COPY), so both
paths produce the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from projections.lineage.facts import Declaration, EventFacts, LotRef
from schemas.epcis.identifiers import LotKey

LotId = Callable[[LotKey], int]


@dataclass(slots=True)
class TableRows:
    """Rows to write, per table (lots themselves are handled by the lot-id resolver)."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        self.rows.setdefault(table, []).append(row)

    def get(self, table: str) -> list[tuple[Any, ...]]:
        return self.rows.get(table, [])


def _ref(ref: LotRef, lot_id: LotId) -> tuple[int | None, str | None, Any, str | None]:
    lid = lot_id(ref.lot) if ref.lot is not None else None
    return lid, ref.item, ref.quantity, ref.uom


def event_row(f: EventFacts) -> tuple[Any, ...]:
    """The ``lineage_events`` row of ``f`` (which needs no lot ids: the projection registers events first)."""
    return f.event_key, f.tkey


def rows_of(facts: Iterable[EventFacts], declarations: Iterable[Declaration], lot_id: LotId) -> TableRows:
    """Every row the given facts and declarations contribute."""
    out = TableRows()
    for f in facts:
        key = f.event_key
        out.add("lineage_events", event_row(f))
        for lot, identifiers in f.lots.items():
            lid = lot_id(lot)
            for text in identifiers:
                out.add("lot_identifiers", (lid, text))
        for item, lot in f.items.items():
            out.add("items", (item, lot_id(lot)))
        for io in f.io:
            out.add("transformation_io", (io.tkey, key, io.role, *_ref(io.ref, lot_id)))
        for a in f.agg:
            ref = (None, None, None, None) if a.ref is None else _ref(a.ref, lot_id)
            out.add("aggregations", (key, a.sscc, a.action, f.event_time, *ref, a.child,
                                     None if a.ref is None else a.ref.gtin))
        m = f.movement
        if m is not None:
            docs = json.dumps([{"type": t, "id": v} for t, v in m.documents])
            out.add("movements", (key, f.event_id, f.event_time, f.tz_offset, m.kind, m.party, m.party_location,
                                  m.location, docs, m.parent))
            for line in m.lines:
                out.add("movement_lines", (key, *_ref(line, lot_id), line.gtin))
            for sscc in m.ssccs:
                out.add("movement_ssccs", (key, sscc))
    for d in declarations:
        out.add("retractions", (d.event_key, d.reason, list(d.corrective_ids), d.declared_at,
                                d.position))
    return out
