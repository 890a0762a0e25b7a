"""The bulk load of a rebuild: the store read in chunks, its rows turned into lineage rows by the client
(:mod:`projections.lineage.extract`), and COPYed into bare tables; then edges, indexes and statistics.

Threads form a pipeline, so the server's work (reading the store out, COPYing rows in) runs beside the
extraction, which is Python:

1. a reader streams the store's rows as COPY text, a chunk of positions at a time (:func:`read_chunks`), one ahead;
2. the caller's thread extracts each chunk's rows (:class:`~projections.lineage.extract.Extractor`);
3. two writers COPY them into the build's tables (:data:`WRITERS`), each in one transaction, and at the end
   ``lots`` and ``lot_identifiers`` (a lot's identifiers are every text seen for it). With one writer, its
   server process was the slowest stage of the pipeline; two share the COPYs between both cores.

Before, the same rules ran as set-based SQL over the stored JSON (``INSERT ... SELECT`` from
``jsonb_to_record``): parsing the bodies alone cost the server about what COPYing them costs, and it ran on
the core the COPYs needed (docs/performance.md, "Rebuild").

Then :func:`finish` completes ``lot_edges`` (:func:`finish_table`) and builds indexes and statistics, on two
connections. :class:`BulkLoader` runs both for a rebuild (:mod:`projections.lineage.replay`).
Nothing reads the build schema before the caller renames it into place, so its intermediate commits are never
seen; a build that fails is dropped, one whose process died is dropped by the next rebuild.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import Engine

from projections.framework import quote_ident, transaction
from projections.lineage.ddl import ANALYZED, TABLES, create_indexes, create_tables
from projections.lineage.edges import edges_sql
from projections.lineage.extract import READ_COLUMNS, Extractor
from store import reads
from store.gcpolicy import collector_paused
from store.pgcopy import copy_from

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


def read_chunks(cur: Any, until: int, chunk: int | None = None) -> Iterator[bytes]:
    """Store rows 1..until, ``chunk`` (by default :data:`CHUNK`) positions at a time, as ``COPY ... TO STDOUT``
    text of :data:`~projections.lineage.extract.READ_COLUMNS` (the store's :func:`store.reads.copy_chunks`).
    Positions ≤ the store head are gapless and committed, so each chunk is complete whatever snapshot reads it."""
    return reads.copy_chunks(cur, READ_COLUMNS, 0, until, CHUNK if chunk is None else chunk)


def write_rows(cur: Any, schema: str, rows: Mapping[str, bytes]) -> None:
    """COPY each table's text of one chunk."""
    s = quote_ident(schema)
    for table, text in rows.items():
        if text:
            copy_from(cur, f"COPY {s}.{table} FROM STDIN", text)


WRITERS: tuple[tuple[str, ...], ...] = (
    ("lineage_events", "movements", "movement_ssccs", "items", "lot_edges"),
    ("transformation_io", "aggregations", "movement_lines", "retractions"),
)
"""The tables each of the load's two writers COPYs (bakery: 22 and 21 MB of text per 100K events)."""

_DONE = object()


def _produce(chunks: Iterator[bytes], out: queue.Queue[Any], stop: threading.Event) -> None:
    """Put every chunk on ``out`` (an exception in its place if reading fails), then :data:`_DONE`; give up as
    soon as ``stop`` is set (the consumer failed and takes no more)."""
    try:
        for data in chunks:
            if not _offer(out, data, stop):
                return
        _offer(out, _DONE, stop)
    except BaseException as e:  # handed to the consumer, which raises it
        _offer(out, e, stop)


def _offer(out: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item`` on ``out`` once there is room; False if ``stop`` is set first."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def load(engine: Engine, schema: str, until: int, progress: Progress | None = None,
         chunk: int | None = None) -> tuple[int, int]:
    """Fill bare lineage tables in ``schema`` (created here) from store positions 1..until, read ``chunk`` rows
    at a time (:func:`read_chunks`); returns (rows read, last position read). :func:`finish` derives the edges
    and builds indexes and statistics."""
    s = quote_ident(schema)
    with transaction(engine) as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
        create_tables(cur, schema)
    extractor = Extractor()
    read: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()
    with transaction(engine) as reader, transaction(engine) as cur0, transaction(engine) as cur1, \
            ThreadPoolExecutor(1) as pool, ThreadPoolExecutor(1) as thread0, ThreadPoolExecutor(1) as thread1:
        writers = ((thread0, cur0), (thread1, cur1))  # each writer's COPYs in order, on its own connection
        producer = pool.submit(_produce, read_chunks(reader, until, chunk), read, stop)
        pending: list[Future[None]] = []
        try:
            while (data := read.get()) is not _DONE:
                if isinstance(data, BaseException):
                    raise data
                rows = extractor.chunk(data)
                for done in pending:
                    done.result()
                pending = [thread.submit(write_rows, cur, schema, {t: rows[t] for t in tables})
                           for (thread, cur), tables in zip(writers, WRITERS, strict=True)]
                if progress is not None:
                    progress(extractor.events, until)
            for done in pending:
                done.result()
            lots, identifiers = extractor.lots()
            pending = [thread0.submit(write_rows, cur0, schema, {"lots": lots.encode()}),
                       thread1.submit(write_rows, cur1, schema, {"lot_identifiers": identifiers.encode()})]
            for done in pending:
                done.result()
        finally:
            stop.set()
            producer.result()
    return extractor.events, extractor.position


LANES: tuple[tuple[str, ...], ...] = (
    ("lot_edges", "lots", "lot_identifiers", "items", "retractions", "movements", "movement_lines"),
    ("transformation_io", "lineage_events", "aggregations", "movement_ssccs"),
)
"""How :func:`finish` shares the tables between two connections: each lane indexes and analyses its tables
in order (``lot_edges`` first, completed from the loaded ``transformation_io``, ``items`` and
``retractions``); the two lanes are about equal in work."""


def finish_table(cur: Any, schema: str, table: str, analyzed: tuple[str, ...]) -> None:
    """Index and analyse one loaded table, in a transaction with :func:`settings`. ``lot_edges`` is completed
    first: the extraction wrote the edges of the transformations that stand alone and name the lots of all they
    use (:func:`~projections.lineage.extract._edges`), which loses those of retracted ones here; the edges of
    the others (a shared transformationID, a serial item whose lot another event names) are derived as the
    incremental projection derives them (:func:`~projections.lineage.edges.edges_sql`)."""
    if table == "lot_edges":
        s = quote_ident(schema)
        cur.execute(f"DELETE FROM {s}.lot_edges WHERE tkey IN (SELECT 'ev:' || event_key FROM {s}.retractions)")
        cur.execute(edges_sql(schema, keys=f"t.tkey IN (SELECT tkey FROM {s}.transformation_io WHERE "
                                           "tkey LIKE 'tx:%' OR lot_id IS NULL)"))
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


class BulkLoader:
    """Builds a fresh schema from the store: the store read in chunks, its rows extracted by the client and
    COPYed into bare tables (:func:`load`), then edges, indexes and statistics on two connections
    (:func:`finish`).

    Nothing reads the schema before the caller renames it into place, so its intermediate commits are never
    seen; a build that fails is dropped, and one whose process died is left for ``drop_stale_builds``.
    """

    def __init__(self, schema: str) -> None:
        self.schema = schema

    def load(self, engine: Engine, until: int, progress: Progress | None = None,
             chunk: int | None = None) -> tuple[int, int]:
        """Build the schema from store positions 1..until; returns (rows read, last position read)."""
        try:
            # The extraction builds a dict, a list or a tuple for every event, lot and identifier, none in a
            # cycle; with the cyclic collector running, its passes over the growing state took a quarter of
            # the extraction's time (docs/performance.md, "Rebuild"). Paused here, the state is freed before
            # it runs again.
            with collector_paused():
                read = load(engine, self.schema, until, progress, chunk)
            finish(engine, self.schema, ANALYZED)
        except BaseException:
            with transaction(engine) as cur:
                cur.execute(f"DROP SCHEMA IF EXISTS {quote_ident(self.schema)} CASCADE")
            raise
        return read


assert sorted(t for lane in LANES for t in lane) == sorted(TABLES), "each table in one lane"
