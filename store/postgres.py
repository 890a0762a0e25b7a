"""The PostgreSQL event store adapter.

Global order: every append takes one transaction-scoped advisory lock before it reads the chain head, so
writers are serialised. Positions are assigned here as ``head + 1 ...``; because the next writer cannot
start until the previous one has committed, positions are gapless and commit in order, and a reader that
asks for ``position > N`` can never skip a row that commits late (docs/store.md). The lock is held
only for the COPY of one batch, milliseconds, so several ingest processes still overlap their decoding.

Rows go in with COPY (the fastest path into PostgreSQL), unchecked: a batch that meets a stored identity fails
on the identity constraint, and is appended again after looking up which of its identities are stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import psycopg2.errors
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from schemas.epcis.timefmt import utc_text
from store import reads
from store.pgcopy import copy_from
from store.port import (
    GENESIS_HASH,
    STREAM_CHUNK,
    AppendResult,
    BeforeCommit,
    EventFilter,
    NewEvent,
    OffsetKey,
    Prepared,
    StoredEvent,
    StoreStats,
    VerifyResult,
    classify,
    pages,
)
from store.reads import EVENT_COLUMNS as EVENT_COLUMNS
from store.reads import READ as READ
from store.rows import chain, stage, verify_chain

APPEND_LOCK_ID = 0x4C4F544C494E45  # "LOTLINE": the advisory lock that serialises appends

APPEND_BEGIN = ("SELECT pg_advisory_xact_lock(%s), set_config('enable_seqscan', 'off', true), "
                "set_config('jit', 'off', true)")
"""What an append does first, in one round trip: take the append lock, and for this transaction only rule out
sequential scans and JIT. The duplicate check (:data:`STORED_IDENTITIES`, on a batch's second try) must probe
the identity index whatever the statistics say: without them (a store that was never analysed, e.g. with
autovacuum off or before its first run) PostgreSQL chose a sequential scan of the whole store for every batch,
JIT-compiled, and ingest slowed as the store grew (measured: 20K events/s at the start, 6K/s at 540K rows,
with PostgreSQL's share of the CPU per event four times that of the first 100K). The other statements of an
append use an index or touch one small table either way."""

STORED_IDENTITIES = ("SELECT event_key, is_declaration, sha256(convert_to(body::text, 'UTF8')) FROM events "
                     "WHERE event_key = ANY(%s)")
"""The stored identities among a batch's keys, with their content hashes."""

CHAIN_TAIL = ("SELECT t.position, t.row_hash, greatest(clock_timestamp(), t.recorded_at) FROM (SELECT) AS one "
              "LEFT JOIN LATERAL (SELECT position, row_hash, recorded_at FROM events ORDER BY position DESC LIMIT 1) "
              "AS t ON true")
"""The chain's tail and the batch's record time, in one round trip. The record time never goes back along the
positions (a server clock stepped back gives the batch its predecessor's time): that is what lets
:meth:`PostgresEventStore.position_at` (``store.reads.POSITION_AT``) find the position of a moment by bisection
instead of a scan."""


class PostgresEventStore:
    """Event store on PostgreSQL (tables created by ``lotline db upgrade``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def prepare(self, events: Sequence[NewEvent]) -> Prepared:
        return Prepared.of(events, stage)

    def append(
        self,
        events: Sequence[NewEvent] | Prepared,
        *,
        group: str | None = None,
        offsets: Mapping[OffsetKey, int] | None = None,
        before_commit: BeforeCommit | None = None,
    ) -> AppendResult:
        prepared = events if isinstance(events, Prepared) else self.prepare(events)
        raw = self.engine.raw_connection()
        try:
            try:
                return self._append(raw, prepared, group, offsets, before_commit, checked=False)
            except psycopg2.errors.UniqueViolation:  # some are stored already: find which, append the rest
                return self._append(raw, prepared, group, offsets, before_commit, checked=True)
        finally:
            raw.close()

    def _append(self, raw: Any, batch: Prepared, group: str | None, offsets: Mapping[OffsetKey, int] | None,
                before_commit: BeforeCommit | None, *, checked: bool) -> AppendResult:
        """One append transaction. Unless ``checked``, it does not look for the batch's identities among the
        stored ones first: the COPY fails on the first it meets (the identity constraint checks every row
        anyway), and the caller tries again ``checked``. Redelivery is rare (a consumer restarting), and the
        look-up cost ingest ~6 us an event, an eighth of the append (docs/performance.md)."""
        result = AppendResult(duplicates=batch.duplicates)
        try:
            cur = raw.cursor()
            fresh, rows = batch.events, batch.rows
            if checked:
                cur.execute(APPEND_BEGIN, (APPEND_LOCK_ID,))
                fresh = self._filter_stored(cur, list(fresh), result)
                staged = {id(e): row for e, row in zip(batch.events, batch.rows, strict=True)}
                rows = [staged[id(e)] for e in fresh]
                cur.execute(CHAIN_TAIL)
            else:
                cur.execute(f"{APPEND_BEGIN}; {CHAIN_TAIL}", (APPEND_LOCK_ID,))  # one round trip
            last, last_hash, clock = _one(cur)
            pos, prev = (last, bytes(last_hash)) if last is not None else (0, GENESIS_HASH)
            if fresh:
                data, prev = chain(prev, pos, utc_text(clock), list(rows))
                pos += len(fresh)
                copy_from(cur, f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN", data)
            if before_commit is not None:  # after the COPY: a batch tried twice dead-letters once
                before_commit(result.rejected)
            if group is not None and offsets:
                keys = list(offsets)
                cur.execute(
                    "INSERT INTO ingest_offsets (group_id, topic, partition, next_offset) "
                    "SELECT %s, t, p, o FROM unnest(%s::text[], %s::integer[], %s::bigint[]) AS x(t, p, o) "
                    "ON CONFLICT (group_id, topic, partition) DO UPDATE "
                    "SET next_offset = GREATEST(ingest_offsets.next_offset, EXCLUDED.next_offset), "
                    "updated_at = now()",
                    (group, [t for t, _ in keys], [p for _, p in keys], [offsets[k] for k in keys]),
                )
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        result.stored = len(fresh)
        result.last_position = pos
        return result

    @staticmethod
    def _filter_stored(cur: Any, kept: list[NewEvent], result: AppendResult) -> list[NewEvent]:
        if not kept:
            return []
        cur.execute(STORED_IDENTITIES, (list({e.event_key for e in kept}),))
        return classify(kept, {(k, d): bytes(h) for k, d, h in cur.fetchall()}, result)

    def stored_offsets(self, group: str, topic: str) -> dict[int, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT partition, next_offset FROM ingest_offsets WHERE group_id = :g AND topic = :t"),
                {"g": group, "t": topic},
            )
            return {int(p): int(o) for p, o in rows}

    def bound_topic(self, group: str, topic: str, topic_id: str) -> str:
        with self.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO ingest_topics (group_id, topic, topic_id) VALUES (:g, :t, :i) "
                                 "ON CONFLICT (group_id, topic) DO NOTHING"), {"g": group, "t": topic, "i": topic_id})
            return str(conn.execute(sa.text("SELECT topic_id FROM ingest_topics WHERE group_id = :g AND topic = :t"),
                                    {"g": group, "t": topic}).scalar_one())

    def reset_offsets(self, group: str, topic: str) -> int:
        with self.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM ingest_topics WHERE group_id = :g AND topic = :t"),
                         {"g": group, "t": topic})
            return int(conn.execute(sa.text("DELETE FROM ingest_offsets WHERE group_id = :g AND topic = :t"),
                                    {"g": group, "t": topic}).rowcount)

    def read(self, after: int = 0, limit: int = 1000) -> list[StoredEvent]:
        rows: list[StoredEvent] = self._read(partial(reads.read_events, after=after, limit=limit))
        return rows

    def head(self) -> int:
        return int(self._read(reads.head))

    def count(self) -> int:
        return int(self._read(reads.count))

    def stream(self, after: int = 0, until: int | None = None, chunk: int = STREAM_CHUNK
               ) -> Iterator[list[StoredEvent]]:
        """Pages of :meth:`read`, each on a connection of its own (nothing is held open between chunks)."""
        return pages(self.read, after, self.head() if until is None else until, chunk)

    def copy_stream(self, columns: str | Sequence[str], after: int = 0, until: int | None = None,
                    chunk: int = STREAM_CHUNK) -> Iterator[bytes]:
        """:meth:`stream` as COPY text of ``columns`` (:func:`store.reads.copy_chunks`), in one transaction.

        PostgreSQL only, so not on the port: the text is PostgreSQL's rendering of each column's type, which
        the lineage rebuild parses as it comes (a rebuild writes PostgreSQL tables anyway); an in-memory store
        would have to imitate that rendering for no other reader."""
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            end = reads.head(cur) if until is None else until
            yield from reads.copy_chunks(cur, columns, after, end, chunk)
        finally:
            raw.rollback()
            raw.close()

    def position_at(self, when: datetime) -> int:
        return int(self._read(partial(reads.position_at, when=when)))

    def select(self, flt: EventFilter) -> Iterator[StoredEvent]:
        """The matching rows through a server-side cursor, 2,000 at a time, in one snapshot."""
        raw = self.engine.raw_connection()
        try:
            reads.snapshot(raw.cursor())
            cur: Any = raw.cursor(name="lotline_select")
            cur.itersize = 2000
            yield from reads.selected_events(cur, flt)
        finally:
            raw.rollback()
            raw.close()

    def stats(self) -> StoreStats:
        result: StoreStats = self._read(reads.stats)
        return result

    def _read(self, statement: Callable[[Any], Any]) -> Any:
        """``statement(cursor)`` in a transaction of its own, on a pooled connection."""
        raw = self.engine.raw_connection()
        try:
            return statement(raw.cursor())
        finally:
            raw.rollback()
            raw.close()

    def verify(self) -> VerifyResult:
        """Walk the chain 5,000 rows a page, to the last row there is (rows appended meanwhile included)."""
        return verify_chain(row for page in pages(self.read, 0, reads.UNBOUNDED, 5000) for row in page)


def _one(cur: Any) -> Any:
    row = cur.fetchone()
    if row is None:
        raise RuntimeError("query returned no row")
    return row

