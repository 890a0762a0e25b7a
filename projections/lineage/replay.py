"""Rebuilding the lineage from position 0, and lineage as it was known at a past moment.

Rebuild (:func:`rebuild`): bulk-load a fresh schema from the store (its rows extracted by the client and COPYed
into bare tables, edges and indexes after: :mod:`projections.lineage.bulk`), catch it up incrementally with the
ordinary projection, then, holding the live projection's lock so no live batch is half-way, apply the last rows
and swap the schemas by renaming them in one transaction.
Readers resolve ``lineage.*`` either before the swap (the complete old tables) or after it (the complete
new ones); they never see a half-built state. The old schema is dropped afterwards.

As of (:func:`build_as_of`): the same bulk load, bounded by a store position (or the last position recorded
at or before a time), into ``lineage_asof_p{position}``; built under a temporary name and renamed when
complete, so a reader finds it whole or not at all. No side effects happen during either (the lineage
projection has none; a projection that gains some must suppress them when ``replaying``).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.engine import Engine

from projections.framework import (
    LOCK_NAMESPACE,
    UNBOUNDED,
    Projector,
    Target,
    ensure_checkpoint_table,
    lock_key,
    quote_ident,
    read_checkpoint,
    read_rows,
    schema_exists,
    transaction,
    write_checkpoint,
)
from projections.lineage.bulk import BulkLoader
from projections.lineage.ddl import LAYOUT, layout_of
from projections.lineage.projection import LIVE_SCHEMA, NAME, LineageProjection

log = structlog.get_logger("lotline.replay")

Progress = Callable[[int, int], None]
"""Called with (rows loaded, rows to load)."""


@dataclass(frozen=True, slots=True)
class BuildResult:
    """A built lineage schema and the store position it reflects."""

    schema: str
    position: int
    rows: int
    seconds: float


POSITION_AT = (
    "WITH RECURSIVE bisect(lo, hi) AS ("
    " SELECT 0::bigint, (SELECT coalesce(max(position), 0) FROM events)"
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


def store_head(engine: Engine) -> int:
    """The last store position (0 when the store is empty): one index probe."""
    with transaction(engine) as cur:
        cur.execute("SELECT coalesce(max(position), 0) FROM events")
        return int(cur.fetchone()[0])


def position_at(engine: Engine, when: datetime) -> int:
    """The last store position recorded at or before ``when`` (0 when nothing was)."""
    with transaction(engine) as cur:
        cur.execute(POSITION_AT, {"t": when})
        return int(cur.fetchone()[0])


def _bulk_load(engine: Engine, schema: str, until: int, progress: Progress | None) -> int:
    """Build ``schema`` from positions 1..until (:class:`BulkLoader`); returns the rows read.

    The checkpoint is written last, in its own transaction: a schema without one is an unfinished build.
    """
    import time

    started = time.perf_counter()
    total, after = BulkLoader(schema).load(engine, until, progress)
    with transaction(engine) as cur:
        ensure_checkpoint_table(cur, schema)
        read_checkpoint(cur, schema, NAME)  # creates the row with a fresh generation
        write_checkpoint(cur, schema, NAME, after)
    log.info("bulk load done", schema=schema, rows=total, position=after,
             seconds=round(time.perf_counter() - started, 3))
    return total


BUILDING = "build"
"""Second part of the advisory-lock key a build holds on each schema name it creates, for its whole run."""

_BUILD_SCHEMAS = ("lineage\\_build\\_%", "lineage\\_old\\_%", "lineage\\_asofbuild\\_%")


@contextlib.contextmanager
def building(engine: Engine, *schemas: str) -> Iterator[None]:
    """Hold a session advisory lock on each schema name a build is going to create, while it runs.

    :func:`drop_stale_builds` drops only the schemas whose lock nobody holds: a build whose process died
    (PostgreSQL ends the session and its locks with it), never one that another replay is running.
    """
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for schema in schemas:
            cur.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, lock_key(schema, BUILDING)))
        raw.commit()
        yield
    finally:
        try:
            raw.cursor().execute("SELECT pg_advisory_unlock_all()")  # the connection goes back to the pool
            raw.commit()
        finally:
            raw.close()


def drop_stale_builds(engine: Engine) -> list[str]:
    """Drop schemas left by builds that died before they finished (rebuilds, as-of builds, old schemas
    awaiting their drop); leave those of builds still running. Returns the schemas dropped."""
    dropped = []
    with transaction(engine) as cur:
        cur.execute("SELECT nspname FROM pg_namespace WHERE " + " OR ".join(["nspname LIKE %s"] * len(_BUILD_SCHEMAS))
                    + " ORDER BY 1", _BUILD_SCHEMAS)
        for (name,) in cur.fetchall():
            key = lock_key(name, BUILDING)
            cur.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, key))
            if cur.fetchone()[0]:
                cur.execute(f"DROP SCHEMA {quote_ident(name)} CASCADE")
                dropped.append(name)
            else:
                log.info("build in progress elsewhere; its schema is left alone", schema=name)
    if dropped:
        log.info("stale lineage builds dropped", schemas=dropped)
    return dropped


def rebuild(engine: Engine, *, batch_size: int = 5000, progress: Progress | None = None,
            schema: str = LIVE_SCHEMA) -> BuildResult:
    """Rebuild the lineage from position 0 into fresh tables and switch readers to them atomically."""
    import time

    started = time.perf_counter()
    build = f"{schema}_build_{uuid.uuid4().hex[:8]}"
    old = f"{schema}_old_{uuid.uuid4().hex[:8]}"
    with building(engine, build, old):
        drop_stale_builds(engine)
        return _rebuild(engine, schema, build, old, batch_size, progress, started)


def _rebuild(engine: Engine, schema: str, build: str, old: str, batch_size: int, progress: Progress | None,
             started: float) -> BuildResult:
    import time

    head = store_head(engine)
    rows = _bulk_load(engine, build, head, progress)
    # catch up on what arrived during the bulk load, without holding anyone up
    projection = LineageProjection()
    target = Target(projection, build)
    Projector(engine, [target], batch_size=batch_size).run(until_idle=True)
    with transaction(engine) as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, lock_key(schema, NAME)))
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, lock_key(build, NAME)))
        position, _ = read_checkpoint(cur, build, NAME)
        projection.forget()
        while tail := read_rows(cur, position, batch_size):
            projection.apply(cur, build, tail)
            position = tail[-1].position
            rows += len(tail)
        write_checkpoint(cur, build, NAME, position)
        cur.execute(f"UPDATE {quote_ident(build)}.checkpoint SET generation = %s", (uuid.uuid4().hex,))
        if schema_exists(cur, schema):
            cur.execute(f"ALTER SCHEMA {quote_ident(schema)} RENAME TO {quote_ident(old)}")
        cur.execute(f"ALTER SCHEMA {quote_ident(build)} RENAME TO {quote_ident(schema)}")
    _drop(engine, old)
    seconds = time.perf_counter() - started
    log.info("lineage rebuilt and switched", schema=schema, position=position, rows=rows,
             seconds=round(seconds, 3))
    return BuildResult(schema, position, rows, seconds)


def _drop(engine: Engine, schema: str) -> None:
    with transaction(engine) as cur:
        cur.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")


def as_of_schema(position: int) -> str:
    """The schema holding the lineage as known at store ``position``."""
    return f"lineage_asof_p{position}"


def build_as_of(engine: Engine, position: int, *, batch_size: int = 5000,
                progress: Progress | None = None) -> BuildResult:
    """Build (or reuse) the lineage as known at store ``position`` in its own schema (one written by another
    version of Lotline, in another :data:`~projections.lineage.ddl.LAYOUT`, is built again)."""
    import time

    started = time.perf_counter()
    position = min(position, store_head(engine))
    schema = as_of_schema(position)
    with transaction(engine) as cur:
        current = schema_exists(cur, schema) and layout_of(cur, schema) == LAYOUT
    if current:
        return BuildResult(schema, position, 0, 0.0)
    tmp = f"lineage_asofbuild_{uuid.uuid4().hex[:8]}"
    with building(engine, tmp):
        drop_stale_builds(engine)
        rows = _bulk_load(engine, tmp, position if position > 0 else 0, progress)
        with transaction(engine) as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")
            cur.execute(f"ALTER SCHEMA {quote_ident(tmp)} RENAME TO {quote_ident(schema)}")
    seconds = time.perf_counter() - started
    log.info("as-of lineage built", schema=schema, position=position, rows=rows, seconds=round(seconds, 3))
    return BuildResult(schema, position, rows, seconds)


__all__ = ["UNBOUNDED", "BuildResult", "as_of_schema", "build_as_of", "position_at", "rebuild", "store_head"]
