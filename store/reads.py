"""The event store's read API in SQL: every statement outside an append that reads the ``events`` table.

Nothing else in Lotline names the table (``tests/test_store_boundary.py`` checks the source). The functions take
a psycopg2 cursor, so that a projection reads inside its own transaction (its batch and its checkpoint commit
together) and an export reads in one snapshot; :class:`store.postgres.PostgresEventStore` calls them on a
connection of its own.

Every read of a run of rows is a range of positions, never "the next N": positions are gapless and commit in
order (store/postgres.py), so ``after + 1 .. after + n`` are exactly the next ``n`` rows, the range bounds the
work whatever the plan, and a reader never skips a row that commits late.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from store.pgcopy import copy_to
from store.port import EventFilter, KindCount, NewEvent, SourceRef, StoredEvent, StoreStats

UNBOUNDED = 2**62
"""A position past any store's head: the upper bound of a read that has none."""

EVENT_COLUMNS = (
    "position", "recorded_at", "event_key", "is_declaration", "event_id", "event_type", "event_time",
    "event_tz_offset", "biz_step", "lot_keys", "source_topic", "source_partition", "source_offset",
    "body", "row_hash",
)
"""The columns of the ``events`` table, in the order an append COPYs them."""

HEAD = "SELECT coalesce(max(position), 0) FROM events"
"""The last position (0 when the store is empty): one index probe."""

COUNT = "SELECT count(*) FROM events"

_SELECT = (
    "SELECT position, recorded_at, event_key, is_declaration, event_id, event_type, event_time, "
    "event_tz_offset, biz_step, lot_keys, source_topic, source_partition, source_offset, body::text, row_hash "
    "FROM events"
)

READ = _SELECT + " WHERE position > %(after)s AND position <= %(after)s + %(limit)s ORDER BY position"
"""The next ``limit`` rows after ``after``, as a range of (gapless) positions: bounded work whatever the plan.
As ``ORDER BY position LIMIT n`` a store without statistics sorted every later row for each page, which made
``store verify`` quadratic (the projector's read, :data:`READ_BODIES`, had the same fault)."""

READ_BODIES = ("SELECT position, recorded_at, event_key, is_declaration, body::text, event_type, event_id, event_time,"
               " event_tz_offset FROM events "
               "WHERE position > %(after)s AND position <= least(%(until)s, %(after)s + %(limit)s) ORDER BY position")
"""What a projection reads of a batch (``projections.framework.read_rows``). A batch is a range of positions, not
"the next N after": asked as ``position > after ORDER BY position LIMIT n`` on a store without statistics
(autovacuum off, or never analysed yet), PostgreSQL fetched and sorted every row after the checkpoint for each
batch (measured: 44K rows, a 36 MB on-disk sort, to return 2,000), so a catch-up cost grew with the square of
the backlog."""

POSITION_AT = (
    "WITH RECURSIVE bisect(lo, hi) AS ("
    " SELECT 0::bigint, (" + HEAD + ")"
    " UNION ALL SELECT CASE WHEN m.by_then THEN m.mid ELSE b.lo END, CASE WHEN m.by_then THEN b.hi ELSE m.mid - 1 END"
    " FROM bisect b CROSS JOIN LATERAL (SELECT (b.lo + b.hi + 1) / 2 AS mid,"
    "  (SELECT e.recorded_at <= %(t)s FROM events e WHERE e.position = (b.lo + b.hi + 1) / 2) AS by_then) m"
    " WHERE b.lo < b.hi)"
    " SELECT max(lo) FROM bisect"
)
"""The last position recorded at or before ``%(t)s``, by bisection over the primary key: about log2(head)
probes (24 for 10M rows) where ``max(position) WHERE recorded_at <= t`` read the whole store, on every
``trace --as-of``. Each probe is a subquery on one position, so it is an index probe whatever the statistics
say (written as a join, it was planned as a hash join over the whole store on a never-analysed table). Sound
because positions are gapless and record times never decrease along them (the store's append guarantees
both)."""

KINDS = ("SELECT event_type, biz_step, count(*), count(*) FILTER (WHERE is_declaration), min(event_time), "
         "max(event_time) FROM events GROUP BY 1, 2 ORDER BY 1, coalesce(biz_step, '-')")
"""Stored events per type and business step (:func:`stats`)."""

DISTINCT_LOTS = "SELECT count(DISTINCT k) FROM events, unnest(lot_keys) k"

CONTEXT_PAIRS = (
    "SELECT DISTINCT ns.key, ns.value FROM events, "
    "json_array_elements(CASE WHEN json_typeof(body->'@context') = 'array' THEN body->'@context' "
    "ELSE '[]'::json END) ctx, "
    "json_each_text(CASE WHEN json_typeof(ctx) = 'object' THEN ctx ELSE '{{}}'::json END) ns "
    "WHERE {where}"
)
"""The distinct ``prefix → URI`` pairs of the matching rows' event-level ``@context`` (``{where}``: :func:`where`)."""

SELECTED_BODIES = "SELECT body::text, is_declaration FROM events WHERE {where} ORDER BY position"


def head(cur: Any) -> int:
    """The last store position (0 when the store is empty)."""
    cur.execute(HEAD)
    return int(cur.fetchone()[0])


def count(cur: Any) -> int:
    cur.execute(COUNT)
    return int(cur.fetchone()[0])


def read_events(cur: Any, after: int, limit: int) -> list[StoredEvent]:
    """Rows with ``after < position <= after + limit`` in position order (:data:`READ`)."""
    cur.execute(READ, {"after": after, "limit": limit})
    return [stored(r) for r in cur.fetchall()]


def read_bodies(cur: Any, after: int, limit: int, until: int = UNBOUNDED
                ) -> list[tuple[int, datetime, str, bool, str, str, str | None, datetime, str]]:
    """``(position, recorded_at, event_key, is_declaration, body, event_type, event_id, event_time,
    event_tz_offset)`` of the rows with ``after < position <= min(until, after + limit)``, in position order
    (:data:`READ_BODIES`)."""
    cur.execute(READ_BODIES, {"after": after, "until": until, "limit": limit})
    rows: list[tuple[int, datetime, str, bool, str, str, str | None, datetime, str]] = cur.fetchall()
    return rows


def columns_of(columns: str | Sequence[str]) -> str:
    """``columns`` (names, or one comma-separated text of them) as a select list, refusing any name that is not
    a column of the table: the list is spliced into a statement."""
    names = [c.strip() for c in columns.split(",")] if isinstance(columns, str) else [c.strip() for c in columns]
    unknown = [c for c in names if c not in EVENT_COLUMNS]
    if unknown or not names:
        raise ValueError(f"not columns of the event store: {unknown or columns!r}")
    return ", ".join(names)


def copy_chunks(cur: Any, columns: str | Sequence[str], after: int, until: int, chunk: int) -> Iterator[bytes]:
    """Rows with ``after < position <= until``, ``chunk`` positions at a time, each chunk as the text of a
    ``COPY (SELECT columns ...) TO STDOUT`` (PostgreSQL's COPY text format). The bulk load of a rebuild reads
    the store this way: the text goes straight to its extraction, without a Python object per value.

    PostgreSQL only (the text is that server's rendering of each column's type). ``until`` must not pass the
    head as the caller knows it: positions up to it are gapless and committed, so each chunk is complete
    whatever snapshot reads it."""
    if chunk < 1:
        raise ValueError(f"chunk must be positive, not {chunk}")
    select = columns_of(columns)
    for lo in range(after, until, chunk):
        yield copy_to(cur, f"COPY (SELECT {select} FROM events WHERE position > {int(lo)}"
                           f" AND position <= {int(min(lo + chunk, until))} ORDER BY position) TO STDOUT")


def position_at(cur: Any, when: datetime) -> int:
    """The last store position recorded at or before ``when`` (0 when nothing was): :data:`POSITION_AT`."""
    cur.execute(POSITION_AT, {"t": when})
    return int(cur.fetchone()[0])


def stats(cur: Any) -> StoreStats:
    """The head, the distinct lots touched, and the counts per type and bizStep (:data:`KINDS`)."""
    cur.execute(KINDS)
    kinds = tuple(KindCount(t, step, int(n), int(d), first, last) for t, step, n, d, first, last in cur.fetchall())
    cur.execute(DISTINCT_LOTS)
    lots = int(cur.fetchone()[0])
    return StoreStats(head(cur), lots, kinds)


def where(flt: EventFilter) -> tuple[str, dict[str, Any]]:
    """The SQL condition of ``flt`` (or ``TRUE``) and its parameters. The filters map onto the store's indexed
    columns (``event_time`` b-tree, ``lot_keys`` GIN); ``event_type`` and ``biz_step`` narrow what those
    return."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if flt.time_from is not None:
        clauses.append("event_time >= %(time_from)s")
        params["time_from"] = flt.time_from
    if flt.time_to is not None:
        clauses.append("event_time < %(time_to)s")
        params["time_to"] = flt.time_to
    if flt.types:
        clauses.append("event_type = ANY(%(types)s)")
        params["types"] = list(flt.types)
    if flt.biz_steps:
        clauses.append("biz_step = ANY(%(biz_steps)s)")
        params["biz_steps"] = list(flt.biz_steps)
    if flt.lot_keys:
        clauses.append("lot_keys && CAST(%(lots)s AS text[])")
        params["lots"] = sorted(flt.lot_keys)
    if not flt.include_declarations:
        clauses.append("NOT is_declaration")
    return (" AND ".join(clauses) or "TRUE"), params


def context_pairs(cur: Any, flt: EventFilter) -> list[tuple[str, str]]:
    """The distinct ``(prefix, URI)`` pairs declared in the event-level ``@context`` of the rows ``flt``
    matches (:data:`CONTEXT_PAIRS`)."""
    condition, params = where(flt)
    cur.execute(CONTEXT_PAIRS.format(where=condition), params)
    return [(str(k), str(v)) for k, v in cur.fetchall()]


def selected_bodies(cur: Any, flt: EventFilter) -> Iterator[tuple[str, bool]]:
    """``(body, is_declaration)`` of the rows ``flt`` matches, in position order. On a named (server-side)
    cursor the rows come ``cur.itersize`` at a time, so a selection of millions runs in constant memory."""
    condition, params = where(flt)
    cur.execute(SELECTED_BODIES.format(where=condition), params)
    for body, is_declaration in cur:
        yield body, bool(is_declaration)


def selected_events(cur: Any, flt: EventFilter) -> Iterator[StoredEvent]:
    """The rows ``flt`` matches, in position order (streamed as :func:`selected_bodies`)."""
    condition, params = where(flt)
    cur.execute(f"{_SELECT} WHERE {condition} ORDER BY position", params)
    for r in cur:
        yield stored(r)


def snapshot(cur: Any) -> None:
    """Make the transaction ``cur`` is about to begin one read-only snapshot (REPEATABLE READ): reads that must
    agree with each other (an export's ``@context`` and its rows) see the same rows. Call it first."""
    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def stored(r: Sequence[Any]) -> StoredEvent:
    """A :class:`StoredEvent` of a row of ``_SELECT`` (the columns of :data:`EVENT_COLUMNS`, in that order)."""
    src = None if r[10] is None else SourceRef(r[10], r[11], r[12])
    event = NewEvent(r[2], r[3], r[4], r[5], r[6], r[7], r[8], tuple(r[9]), r[13], src)
    return StoredEvent(r[0], r[1], event, bytes(r[14]))
