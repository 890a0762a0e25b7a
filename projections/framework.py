"""Running projections over the event store in global order, exactly once, resumable after a crash.

Global order: the store assigns positions under an advisory lock as ``head + 1`` (store/postgres.py),
so positions are gapless and commit in order. A reader that asks for ``position > checkpoint`` therefore
never skips a row that commits late: a row it cannot see yet has a higher position than every row it can.
``tests/test_projections_framework.py`` proves this with writers appending concurrently while a projector
runs.

Exactly once: every batch is one transaction that (1) takes the projection's advisory lock, (2) reads the
checkpoint, (3) reads the next rows after it, (4) lets the projection write its rows and (5) moves the
checkpoint. A crash anywhere rolls the whole batch back; the next run starts from the last committed
checkpoint. Two projectors of the same projection serialise on the lock instead of doubling the work, and
projections with different names run side by side.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import structlog
from sqlalchemy.engine import Engine

from projections.sqlnames import quote_ident as quote_ident
from projections.statistics import StatisticsKeeper
from store import reads
from store.gcpolicy import collecting_rarely
from store.reads import UNBOUNDED as UNBOUNDED

log = structlog.get_logger("lotline.projections")

LOCK_NAMESPACE = 0x4C4E  # first key of the two-key advisory locks that guard projections ("LN")


@dataclass(frozen=True, slots=True)
class StoreRow:
    """One event-store row as a projection sees it: its position, record time, identity, JSON-LD body and the
    columns the store indexes it by (type, eventID, eventTime and its offset)."""

    position: int
    recorded_at: datetime
    event_key: str
    is_declaration: bool
    body: str
    event_type: str
    event_id: str | None
    event_time: datetime
    event_tz_offset: str


class Projection(Protocol):
    """A read model derived from the event store. Implementations must be deterministic in the rows."""

    name: str
    """Stable name; the checkpoint is kept under it."""

    def create(self, cur: Any, schema: str) -> None:
        """Create the projection's tables in ``schema`` if they do not exist (idempotent)."""
        ...

    def apply(self, cur: Any, schema: str, rows: Sequence[StoreRow]) -> None:
        """Derive rows from ``rows`` (in position order) inside the caller's transaction. Raising aborts it."""
        ...

    def forget(self) -> None:
        """Drop any in-memory cache: called after a rollback and when the schema was rebuilt underneath."""
        ...


@runtime_checkable
class PreparedProjection(Projection, Protocol):
    """A projection whose work on a batch splits into a pure part and a database part, so that the projector
    can do the pure part of the next batch while the database writes this one (:class:`Target`).
    ``apply(cur, schema, rows)`` must equal ``apply_prepared(cur, schema, rows, prepare(rows))``."""

    def prepare(self, rows: Sequence[StoreRow]) -> object:
        """The pure part: it reads only ``rows`` (no database, no state of the projection) and may run on
        another thread before the batch's transaction begins."""
        ...

    def apply_prepared(self, cur: Any, schema: str, rows: Sequence[StoreRow], prepared: object) -> None:
        """The database part, inside the batch's transaction, given what :meth:`prepare` returned for ``rows``."""
        ...


@contextlib.contextmanager
def transaction(engine: Engine) -> Iterator[Any]:
    """A cursor on a pooled DBAPI connection: committed when the block ends, rolled back if it raises."""
    raw = engine.raw_connection()
    try:
        yield raw.cursor()
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()


def lock_key(schema: str, name: str) -> int:
    """The second key of the advisory lock that serialises writers of one projection in one schema."""
    return zlib.crc32(f"{schema}.{name}".encode()) & 0x7FFFFFFF


def ensure_checkpoint_table(cur: Any, schema: str) -> None:
    """Create ``schema`` and its checkpoint table when absent."""
    s = quote_ident(schema)
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {s}.checkpoint ("
        " projection text PRIMARY KEY, position bigint NOT NULL, generation text NOT NULL,"
        " updated_at timestamptz NOT NULL DEFAULT now())"
    )


def read_checkpoint(cur: Any, schema: str, name: str) -> tuple[int, str]:
    """``(position, generation)`` of a projection; creates a zero checkpoint with a new generation if absent.

    The generation changes whenever a schema is rebuilt, so a running projector knows its caches are stale.
    """
    s = quote_ident(schema)
    cur.execute(f"SELECT position, generation FROM {s}.checkpoint WHERE projection = %s", (name,))
    row = cur.fetchone()
    if row is not None:
        return int(row[0]), str(row[1])
    generation = uuid.uuid4().hex
    cur.execute(f"INSERT INTO {s}.checkpoint (projection, position, generation) VALUES (%s, 0, %s)",
                (name, generation))
    return 0, generation


def write_checkpoint(cur: Any, schema: str, name: str, position: int) -> None:
    cur.execute(f"UPDATE {quote_ident(schema)}.checkpoint SET position = %s, updated_at = now() "
                "WHERE projection = %s", (position, name))


def schema_exists(cur: Any, schema: str) -> bool:
    cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
    return cur.fetchone() is not None


def read_rows(cur: Any, after: int, limit: int, until: int = UNBOUNDED) -> list[StoreRow]:
    """The next ``limit`` store rows after ``after``, none past ``until``, in position order (never skips a late
    commit), read in the caller's transaction: a range of positions (:data:`store.reads.READ_BODIES`)."""
    return [StoreRow(int(p), r, k, bool(d), b, t, i, e, z)
            for p, r, k, d, b, t, i, e, z in reads.read_bodies(cur, after, limit, until)]


@dataclass(slots=True)
class BatchResult:
    """What one batch did."""

    rows: int
    position: int


class Target:
    """One projection writing into one schema: the unit a :class:`Projector` advances.

    For a :class:`PreparedProjection`, a step that applies a full batch first starts reading and preparing the
    next one on a helper thread (its own connection), so the Python work of batch n + 1 overlaps the database
    work of batch n. That is safe because the store is immutable and its positions gapless: the rows after a
    position never change, so the read-ahead is used only if the batch's checkpoint turns out to be where it
    started (anything else, e.g. a rollback or another projector's progress, discards it).
    """

    def __init__(self, projection: Projection, schema: str) -> None:
        self.projection = projection
        self.schema = schema
        self.statistics = StatisticsKeeper(schema, getattr(projection, "analyzed_columns", None))
        self._generation: str | None = None
        self._created = False
        self._helper: ThreadPoolExecutor | None = None
        self._helper_guard = threading.Lock()  # a Target may be shared by projectors that close it independently
        self._ahead: tuple[tuple[int, int, int], Future[tuple[list[StoreRow], object]]] | None = None

    def step(self, engine: Engine, batch_size: int, until: int = UNBOUNDED) -> BatchResult:
        """Apply the next batch in one transaction; returns rows applied (0 when caught up) and the checkpoint."""
        p, schema = self.projection, self.schema
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            if not self._created:
                cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, lock_key(schema, p.name)))
                ensure_checkpoint_table(cur, schema)
                p.create(cur, schema)
                raw.commit()
                self._created = True
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, lock_key(schema, p.name)))
            position, generation = read_checkpoint(cur, schema, p.name)
            if generation != self._generation:
                p.forget()
                self._generation = generation
            if isinstance(p, PreparedProjection):
                rows, prepared = self._take_ahead(cur, p, (position, batch_size, until))
                if len(rows) == batch_size:
                    self._read_ahead(engine, p, (rows[-1].position, batch_size, until))
                if rows:
                    p.apply_prepared(cur, schema, rows, prepared)
            else:
                rows = read_rows(cur, position, batch_size, until)
                if rows:
                    p.apply(cur, schema, rows)
            if rows:
                position = rows[-1].position
                write_checkpoint(cur, schema, p.name, position)
            raw.commit()
        except BaseException:
            raw.rollback()
            p.forget()
            self._created = False
            self._ahead = None
            raise
        finally:
            raw.close()
        if rows:
            log.debug("projection batch", projection=p.name, schema=schema, rows=len(rows),
                      first_position=rows[0].position, position=position)
            self.statistics.advanced(engine, position)
        return BatchResult(len(rows), position)

    def _take_ahead(self, cur: Any, p: PreparedProjection, key: tuple[int, int, int]
                    ) -> tuple[list[StoreRow], object]:
        """The batch at ``key`` (after, size, until): read ahead if that was this one, else read now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == key:
            return ahead[1].result()
        rows = read_rows(cur, *key)
        return rows, p.prepare(rows) if rows else None

    def _read_ahead(self, engine: Engine, p: PreparedProjection, key: tuple[int, int, int]) -> None:
        def fetch() -> tuple[list[StoreRow], object]:
            with transaction(engine) as cur:
                rows = read_rows(cur, *key)
            return rows, p.prepare(rows) if rows else None

        with self._helper_guard:
            if self._helper is None:
                self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"read-ahead-{p.name}")
            self._ahead = (key, self._helper.submit(fetch))

    def close(self) -> None:
        """Stop the read-ahead helper (the projector calls this when it stops)."""
        with self._helper_guard:
            helper, self._helper, self._ahead = self._helper, None, None
        if helper is not None:
            helper.shutdown(wait=True, cancel_futures=True)


@dataclass(slots=True)
class ProjectorStats:
    """Counts over a projector's life."""

    rows: int = 0
    batches: int = 0
    position: int = 0


class Projector:
    """Advances one or more :class:`Target` s until stopped, or until every one is caught up.

    ``run(until_idle=True)`` returns once a pass over all targets applies nothing; otherwise it polls every
    ``poll_interval_s`` until :meth:`stop` is called. An exception in a projection propagates after its
    batch is rolled back: the checkpoint never moves past rows that were not written.
    """

    def __init__(self, engine: Engine, targets: Sequence[Target], *, batch_size: int = 1000,
                 poll_interval_s: float = 0.2, until: int = UNBOUNDED,
                 on_batch: Callable[[Target, BatchResult], None] | None = None) -> None:
        self.engine = engine
        self.targets = list(targets)
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.until = until
        self.on_batch = on_batch
        self.stats = ProjectorStats()
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask :meth:`run` to return after the batch in progress."""
        self._stop.set()

    def run(self, *, until_idle: bool = False) -> ProjectorStats:
        log.info("projector started", projections=[t.projection.name for t in self.targets],
                 schemas=sorted({t.schema for t in self.targets}), until_idle=until_idle)
        with collecting_rarely():  # parsing a batch allocates ~100K short-lived containers (store/gcpolicy.py)
            self._run(until_idle)
        log.info("projector stopped", rows=self.stats.rows, batches=self.stats.batches,
                 position=self.stats.position)
        return self.stats

    def _run(self, until_idle: bool) -> None:
        try:
            while not self._stop.is_set():
                applied = 0
                for target in self.targets:
                    result = target.step(self.engine, self.batch_size, self.until)
                    applied += result.rows
                    if result.rows:
                        self.stats.rows += result.rows
                        self.stats.batches += 1
                        self.stats.position = result.position
                        if self.on_batch is not None:
                            self.on_batch(target, result)
                if applied == 0:
                    if until_idle:
                        break
                    self._stop.wait(self.poll_interval_s)
        finally:
            for target in self.targets:
                target.close()


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0, interval_s: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passes (a helper for tests and scripts)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()
