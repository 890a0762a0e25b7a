"""The recall projection: recalls declared and lifted, each active recall's scope, alerts into an outbox.

For every batch of store rows it (1) records recalls declared or lifted by the batch's events (a declaration
that retracts a recall event lifts it), then (2) recomputes the forward trace of every active recall and
compares it with the scope subscribers were last told. A new recall yields a ``RECALL_DECLARED`` alert with
its whole scope; a later change yields one ``SCOPE_CHANGED`` follow-up carrying only what changed; a lift
yields ``RECALL_LIFTED``. Alerts go into ``recalls.outbox`` in the same transaction as the scope they
describe, and a ``NOTIFY`` wakes the relay.

It reads the lineage tables, so it never runs ahead of them: :class:`RecallTarget` bounds each batch by the
lineage projection's checkpoint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from sqlalchemy.engine import Engine

from projections.framework import (
    UNBOUNDED,
    BatchResult,
    StoreRow,
    Target,
    quote_ident,
    schema_exists,
    transaction,
)
from projections.lineage.projection import LIVE_SCHEMA
from projections.lineage.projection import NAME as LINEAGE
from projections.lineage.trace import Direction, TraceRows, UnknownLot, fetch_trace
from projections.recall.ddl import SCHEMA, create_tables
from projections.recall.scope import diff, scope_items
from schemas.epcis.identifiers import LotKey
from schemas.epcis.model import EPCISEvent
from schemas.formats.jsonld import event_from_json, loads
from schemas.recall import AlertCodec, alert_id, declares_recall, lifts_recall, recall_reason
from store.gcpolicy import collector_paused

log = structlog.get_logger("lotline.recalls")

NAME = "recalls"
NOTIFY_CHANNEL = "lotline_recall_outbox"


_PERSISTENT = '"persistentDisposition"'
"""Only an event with a persistent disposition can declare or lift a recall (:func:`declares_recall`,
:func:`lifts_recall`), and every stored body is Lotline's own JSON-LD text (``store/records.py``), which
writes member names unescaped: events whose body lacks this text are skipped unparsed (most of them; parsing
every event into the model cost the recall projection as much as the lineage projection's own parse)."""


class RecallProjection:
    """Keeps recalls and their published scopes; writes alerts to the outbox."""

    name = NAME

    def __init__(self, lineage_schema: str = LIVE_SCHEMA) -> None:
        self.lineage_schema = lineage_schema
        self.codec = AlertCodec()

    def create(self, cur: Any, schema: str) -> None:
        create_tables(cur, schema)

    def forget(self) -> None:
        """Nothing is cached between batches."""

    def apply(self, cur: Any, schema: str, rows: Sequence[StoreRow]) -> None:
        s = quote_ident(schema)
        lifted: list[tuple[str, str, str, str | None]] = []
        for row in rows:
            if row.is_declaration:
                lifted += self._lift(cur, s, row.position, recall_id=row.event_key)
                continue
            if _PERSISTENT not in row.body:
                continue  # declares and lifts nothing: not worth parsing
            event = event_from_json(loads(row.body))
            if declares_recall(event):
                self._declare(cur, s, row, event)
            elif lifts_recall(event):
                for lot in sorted(event.lot_keys()):
                    lifted += self._lift(cur, s, row.position, lot=lot)
        position = rows[-1].position
        written = [self._alert_lifted(cur, s, position, *item) for item in lifted]
        written += self._follow_scopes(cur, s)
        if any(written):
            cur.execute(f"NOTIFY {NOTIFY_CHANNEL}")

    def _declare(self, cur: Any, s: str, row: StoreRow, event: EPCISEvent) -> None:
        lots = sorted(event.lot_keys())
        for lot in lots:
            cur.execute(
                f"INSERT INTO {s}.recalls (recall_id, gtin, lot, reason, status, declared_position) "
                "VALUES (%s, %s, %s, %s, 'active', %s) ON CONFLICT DO NOTHING RETURNING recall_id",
                (row.event_key if len(lots) == 1 else f"{row.event_key}#{lot}", lot.gtin, lot.lot,
                 recall_reason(event), row.position))
            if cur.fetchone() is None:
                log.info("lot already under an active recall; declaration ignored", lot=str(lot),
                         event_key=row.event_key)
            else:
                log.info("recall declared", lot=str(lot), event_key=row.event_key, position=row.position)

    def _lift(self, cur: Any, s: str, position: int, *, recall_id: str | None = None,
              lot: LotKey | None = None) -> list[tuple[str, str, str, str | None]]:
        if recall_id is not None:
            where, params = "recall_id = %s OR recall_id LIKE %s", (recall_id, recall_id + "#%")
        else:
            assert lot is not None
            where, params = "gtin = %s AND lot = %s", (lot.gtin, lot.lot)
        cur.execute(f"SELECT recall_id, gtin, lot, reason, sequence FROM {s}.recalls "
                    f"WHERE status = 'active' AND sequence = 0 AND ({where})", params)
        for unannounced in cur.fetchall():  # declared and lifted in one batch: subscribers hear both
            self._follow_one(cur, s, *unannounced)
        cur.execute(
            f"UPDATE {s}.recalls SET status = 'lifted', ended_position = %s WHERE status = 'active' AND ({where}) "
            "RETURNING recall_id, gtin, lot, reason", (position, *params))
        found: list[tuple[str, str, str, str | None]] = cur.fetchall()
        for rid, gtin, lot_no, _ in found:
            log.info("recall lifted", recall_id=rid, lot=f"{gtin}/{lot_no}", position=position)
        return found

    def _alert_lifted(self, cur: Any, s: str, position: int, recall_id: str, gtin: str, lot: str,
                      reason: str | None) -> bool:
        return self._write_alert(cur, s, recall_id, gtin, lot, reason, "RECALL_LIFTED", position, {}, {})

    def _follow_scopes(self, cur: Any, s: str) -> list[bool]:
        cur.execute(f"SELECT recall_id, gtin, lot, reason, sequence FROM {s}.recalls WHERE status = 'active' "
                    "ORDER BY recall_id")
        # A 10K-lot scope allocates ~100K short-lived objects without cycles: collector passes over them only
        # add latency to the alert, so the cyclic collector waits until the scopes are done.
        with collector_paused():
            return [self._follow_one(cur, s, *row) for row in cur.fetchall()]

    def _follow_one(self, cur: Any, s: str, recall_id: str, gtin: str, lot: str, reason: str | None,
                    sequence: int) -> bool:
        """Compare one recall's current scope with what subscribers know; write an alert if it moved."""
        started = time.perf_counter()
        rows = self._scope(cur, LotKey(gtin, lot))
        current = scope_items(rows) if rows is not None else {
            f"lot:{gtin}/{lot}": {"gtin": gtin, "lotNumber": lot, "depth": 0}}
        cur.execute(f"SELECT scope::text FROM {s}.recalls WHERE recall_id = %s", (recall_id,))
        change = diff(orjson.loads(cur.fetchone()[0]), current)
        if sequence > 0 and not change:
            return False
        position = rows.position if rows is not None else 0
        kind = "RECALL_DECLARED" if sequence == 0 else "SCOPE_CHANGED"
        traced = time.perf_counter()
        self._write_alert(cur, s, recall_id, gtin, lot, reason, kind, position, change.added, change.removed)
        cur.execute(f"UPDATE {s}.recalls SET scope = %s WHERE recall_id = %s",
                    (orjson.dumps(current).decode(), recall_id))
        log.info("recall scope followed", recall_id=recall_id, lot=f"{gtin}/{lot}", items=len(current),
                 trace_ms=round((traced - started) * 1000), total_ms=round((time.perf_counter() - started) * 1000))
        return True

    def _scope(self, cur: Any, lot: LotKey) -> TraceRows | None:
        try:
            return fetch_trace(cur.connection, cur, self.lineage_schema, lot, Direction.FORWARD)
        except UnknownLot:
            return None

    def _write_alert(self, cur: Any, s: str, recall_id: str, gtin: str, lot: str, reason: str | None, kind: str,
                     position: int, added: dict[str, dict[str, Any]], removed: dict[str, dict[str, Any]]) -> bool:
        cur.execute(f"UPDATE {s}.recalls SET sequence = sequence + 1 WHERE recall_id = %s RETURNING sequence",
                    (recall_id,))
        sequence = int(cur.fetchone()[0])
        record = alert_record(recall_id, sequence, kind, gtin, lot, reason, position, added, removed)
        summary = {k: len(v) for k, v in record.items() if isinstance(v, list)}
        cur.execute(f"INSERT INTO {s}.outbox (alert_id, recall_id, lot_key, sequence, kind, body, summary) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (alert_id) DO NOTHING",
                    (record["alertId"], recall_id, f"{gtin}/{lot}", sequence, kind,
                     self.codec.schema.write_body(record), json.dumps(summary)))
        log.info("recall alert written", recall_id=recall_id, lot=f"{gtin}/{lot}", kind=kind, sequence=sequence,
                 position=position, **summary)
        return True


def alert_record(recall_id: str, sequence: int, kind: str, gtin: str, lot: str, reason: str | None,
                 position: int, added: dict[str, dict[str, Any]], removed: dict[str, dict[str, Any]]
                 ) -> dict[str, Any]:
    """The ``RecallAlert`` Avro record of one alert; scope items are the JSON payloads of :mod:`.scope`."""

    def split(items: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Lots and shipments, each in key order (one sort: every ``lot:`` key sorts before every ``ship:``)."""
        ordered = [items[k] for k in sorted(items)]
        lots = sum(1 for k in items if k.startswith("lot:"))
        return ordered[:lots], ordered[lots:]

    lots_added, shipments_added = split(added)
    lots_removed, shipments_removed = split(removed)
    return {
        "alertId": alert_id(recall_id, sequence),
        "recallId": recall_id,
        "kind": kind,
        "sequence": sequence,
        "lot": {"gtin": gtin, "lotNumber": lot},
        "reason": reason,
        "storePosition": position,
        "createdAt": datetime.now(UTC),
        "lotsAdded": lots_added,
        "lotsRemoved": lots_removed,
        "shipmentsAdded": shipments_added,
        "shipmentsRemoved": shipments_removed,
    }


def lineage_position(cur: Any, schema: str = LIVE_SCHEMA) -> int:
    """The lineage projection's checkpoint (0 when it has not run)."""
    if not schema_exists(cur, schema):
        return 0
    cur.execute(f"SELECT position FROM {quote_ident(schema)}.checkpoint WHERE projection = %s", (LINEAGE,))
    row = cur.fetchone()
    return int(row[0]) if row else 0


class RecallTarget(Target):
    """The recall projection, never ahead of the lineage it reads."""

    def __init__(self, lineage_schema: str = LIVE_SCHEMA, schema: str = SCHEMA) -> None:
        super().__init__(RecallProjection(lineage_schema), schema)
        self.lineage_schema = lineage_schema

    def step(self, engine: Engine, batch_size: int, until: int = UNBOUNDED) -> BatchResult:
        with transaction(engine) as cur:
            bound = lineage_position(cur, self.lineage_schema)
        return super().step(engine, batch_size, min(until, bound))
