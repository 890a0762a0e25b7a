"""The bulk load of a rebuild: the store read in chunks, its rows turned into lineage rows by the client
(:mod:`projections.lineage.extract`), and COPYed into bare tables; then edges, indexes and statistics.

Three threads form a pipeline, so the server's work (reading the store out, COPYing rows in) runs on one core
while the extraction, which is Python, runs on the other:

1. a reader streams ``COPY (SELECT ... FROM events WHERE position in a chunk) TO STDOUT``, one chunk ahead;
2. the caller's thread extracts each chunk's rows (:class:`~projections.lineage.extract.Extractor`);
3. a writer COPYs them into the build's tables, in one transaction, and at the end ``lots`` and
   ``lot_identifiers`` (a lot's identifiers are every text seen for it).

Before, the same rules ran as set-based SQL over the stored JSON (``INSERT ... SELECT`` from
``jsonb_to_record``): parsing the bodies alone cost the server about what COPYing them costs, and it ran on
the core the COPYs needed (docs/performance.md, "Rebuild").

Then :func:`finish` derives ``lot_edges`` (:func:`~projections.lineage.projection.edges_sql`, the statement
the incremental projection runs per transformation) and builds indexes and statistics, on two connections.
Nothing reads the build schema before the caller renames it into place, so its intermediate commits are never
seen; a build that fails is dropped, one whose process died is dropped by the next rebuild.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import Engine

from projections.framework import quote_ident, transaction
from projections.lineage.ddl import create_indexes, create_tables
from projections.lineage.extract import READ_COLUMNS, Extractor
from schemas.pgcopy import copy_from, copy_to

CHUNK = 10_000
"""Store rows per read: large enough that a COPY's round trips do not count, small enough that a chunk's
text (≈ 9 MB) and its rows stay a few tens of MB in memory at any store size."""

SETTINGS = (  # for the statements after the load (SET LOCAL: they end with the transaction)
    "SET LOCAL jit = off",  # compiling one-off statements costs more than it saves
    "SET LOCAL work_mem = '64MB'",
    "SET LOCAL enable_nestloop = off",  # every join of the edge derivation is bulk: hash joins, no lookups
)

Progress = Callable[[int, int], None]
"""Called with (rows read, rows to read) after each chunk."""


def settings(cur: Any) -> None:
    """The settings of a bulk statement's transaction."""
    for setting in SETTINGS:
        cur.execute(setting)


def read_chunks(cur: Any, until: int) -> Iterator[bytes]:
    """Store rows 1..until, :data:`CHUNK` positions at a time, as ``COPY ... TO STDOUT`` text of
    :data:`~projections.lineage.extract.READ_COLUMNS`. Positions ≤ the store head are gapless and committed,
    so each chunk is complete whatever snapshot reads it."""
    for lo in range(0, until, CHUNK):
        yield copy_to(cur, f"COPY (SELECT {READ_COLUMNS} FROM events WHERE position > {lo}"
                           f" AND position <= {min(lo + CHUNK, until)} ORDER BY position) TO STDOUT")


def write_rows(cur: Any, schema: str, rows: Mapping[str, bytes]) -> None:
    """COPY each table's text of one chunk."""
    s = quote_ident(schema)
    for table, text in rows.items():
        if text:
            copy_from(cur, f"COPY {s}.{table} FROM STDIN", text)


_DONE = object()


def _produce(chunks: Iterator[bytes], out: queue.Queue[Any], stop: threading.Event) -> None:
    """Put every chunk on ``out`` (an exception in its place if reading fails), then :data:`_DONE`."""
    try:
        for data in chunks:
            while not stop.is_set():
                try:
                    out.put(data, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        out.put(_DONE)
    except BaseException as e:  # handed to the consumer, which raises it
        out.put(e)


def load(engine: Engine, schema: str, until: int, progress: Progress | None = None) -> tuple[int, int]:
    """Fill bare lineage tables in ``schema`` (created here) from store positions 1..until; returns (rows read,
    last position read). :func:`finish` derives the edges and builds indexes and statistics."""
    s = quote_ident(schema)
    with transaction(engine) as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
        create_tables(cur, schema)
    extractor = Extractor()
    read: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()
    with transaction(engine) as reader, transaction(engine) as writer, ThreadPoolExecutor(2) as pool:
        producer = pool.submit(_produce, read_chunks(reader, until), read, stop)
        pending = None
        try:
            while (data := read.get()) is not _DONE:
                if isinstance(data, BaseException):
                    raise data
                rows = extractor.chunk(data)
                if pending is not None:
                    pending.result()
                pending = pool.submit(write_rows, writer, schema, rows)
                if progress is not None:
                    progress(extractor.events, until)
            if pending is not None:
                pending.result()
            lots, identifiers = extractor.lots()
            write_rows(writer, schema, {"lots": lots.encode(), "lot_identifiers": identifiers.encode()})
        finally:
            stop.set()
            producer.result()
    return extractor.events, extractor.position


LANES: tuple[tuple[str, ...], ...] = (
    ("lot_edges", "lineage_events", "items", "retractions", "movements", "movement_lines"),
    ("transformation_io", "lots", "lot_identifiers", "aggregations", "movement_ssccs"),
)
"""How :func:`finish` shares the tables between two connections: each lane indexes and analyses its tables
in order (``lot_edges``, derived from the loaded ``transformation_io``, ``items`` and ``retractions``, first);
the two lanes are about equal in work."""


def finish_table(cur: Any, schema: str, table: str, analyzed: tuple[str, ...]) -> None:
    """Index and analyse one loaded table (``lot_edges``: derive it first), in a transaction with
    :func:`settings`."""
    from projections.lineage.projection import edges_sql  # the projection module builds on this one

    if table == "lot_edges":
        cur.execute(edges_sql(schema, only_dirty=False))
    create_indexes(cur, schema, (table,))
    cur.execute(f"ANALYZE {quote_ident(schema)}.{table} ({', '.join(analyzed)})")


def finish(engine: Engine, schema: str, analyzed: dict[str, tuple[str, ...]]) -> None:
    """Edges, indexes and statistics (of the ``analyzed`` columns per table) of a loaded schema, in
    :data:`LANES`."""

    def lane(tables: tuple[str, ...]) -> None:
        with transaction(engine) as cur:
            settings(cur)
            for table in tables:
                finish_table(cur, schema, table, analyzed[table])

    with ThreadPoolExecutor(len(LANES)) as pool:
        for done in [pool.submit(lane, tables) for tables in LANES]:
            done.result()
