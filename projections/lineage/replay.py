"""Rebuilding the lineage from position 0, and lineage as it was known at a past moment.

Rebuild (:func:`rebuild`): bulk-load a fresh schema from the store (its rows extracted by the client and COPYed
into bare tables, edges and indexes after: :mod:`projections.lineage.bulk`), catch it up incrementally with the
ordinary projection, then, holding the live projection's lock so no live batch is half-way, apply the last rows
and swap the schemas by renaming them in one transaction.
Readers resolve ``lineage.*`` either before the swap (the complete old tables) or after it (the complete
new ones); they never see a half-built state. The old schema is dropped afterwards.

As of (:func:`build_as_of`): the same bulk load, bounded by a store position (or the last position recorded
at or before a time), into ``lineage_asof_p{position}``; built under a temporary name and renamed when
complete, so a reader finds it whole or not at all. Only the :data:`AS_OF_KEEP` newest are kept
(:func:`prune_as_of`). No side effects happen during either (the lineage projection has none; a projection that
gains some must suppress them when ``replaying``).

Two rebuilds of one schema (two ``lotline replay`` at once), or two builds of one as-of schema, do not run side
by side: each holds a session advisory lock on the schema's name for its whole run (:func:`exclusive`), so the
second waits for the first to finish, then does its own work (an as-of build then finds the schema built and
reuses it).

Every read of the store goes through ``store.reads``: the bulk load's COPY stream (``bulk.read_chunks``), the
catch-up's batches (``read_rows``), the head and the position of a moment.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
from store import reads

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


CATCH_UP = 5000
"""Store rows per batch of a rebuild's catch-up after the bulk load, unless ``batch_size`` says otherwise."""

AS_OF_KEEP = 8
"""How many ``lineage_asof_p*`` schemas :func:`build_as_of` keeps (the newest built; see :func:`prune_as_of`)."""

_AS_OF = re.compile(r"lineage_asof_p[0-9]+")


def store_head(engine: Engine) -> int:
    """The last store position (0 when the store is empty): one index probe (:func:`store.reads.head`)."""
    with transaction(engine) as cur:
        return reads.head(cur)


def position_at(engine: Engine, when: datetime) -> int:
    """The last store position recorded at or before ``when`` (0 when nothing was): a bisection over the
    record times (:data:`store.reads.POSITION_AT`)."""
    with transaction(engine) as cur:
        return reads.position_at(cur, when)


def _bulk_load(engine: Engine, schema: str, until: int, progress: Progress | None, chunk: int | None = None) -> int:
    """Build ``schema`` from positions 1..until, reading ``chunk`` store rows at a time (default ``bulk.CHUNK``)
    (:class:`BulkLoader`); returns the rows read.

    The checkpoint is written last, in its own transaction: a schema without one is an unfinished build.
    """
    import time

    started = time.perf_counter()
    total, after = BulkLoader(schema).load(engine, until, progress, chunk)
    with transaction(engine) as cur:
        ensure_checkpoint_table(cur, schema)
        read_checkpoint(cur, schema, NAME)  # creates the row with a fresh generation
        write_checkpoint(cur, schema, NAME, after)
    log.info("bulk load done", schema=schema, rows=total, position=after,
             seconds=round(time.perf_counter() - started, 3))
    return total


BUILDING = "build"
"""Second part of the advisory-lock key a build holds on each schema name it creates, for its whole run."""

REBUILDING = "rebuild"
"""Second part of the advisory-lock key a rebuild (or an as-of build) holds on the schema it builds
(:func:`exclusive`)."""


@contextlib.contextmanager
def _session_locks(engine: Engine, keys: list[int], waiting: str | None = None, **about: str) -> Iterator[None]:
    """Hold the session advisory locks ``(LOCK_NAMESPACE, key)`` of ``keys`` while the block runs, waiting for any
    that another session holds (logged as ``waiting`` with ``about``, when given). Session locks, on a connection
    of their own, because a build spans many transactions; PostgreSQL releases them if the process dies."""
    raw = engine.raw_connection()
    try:
        cur: Any = raw.cursor()
        for key in keys:
            cur.execute("SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, key))
            if not cur.fetchone()[0]:
                if waiting is not None:
                    log.info(waiting, **about)
                cur.execute("SELECT pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, key))
        raw.commit()
        yield
    finally:
        try:
            raw.rollback()
            raw.cursor().execute("SELECT pg_advisory_unlock_all()")  # the connection goes back to the pool
            raw.commit()
        finally:
            raw.close()


def exclusive(engine: Engine, schema: str) -> contextlib.AbstractContextManager[None]:
    """Hold the session advisory lock ``(LOCK_NAMESPACE, lock_key(schema, REBUILDING))`` while the block runs,
    waiting for it if another build of ``schema`` holds it: two ``lotline replay`` at once run one after the
    other instead of both at once (each would have swapped its build in, and the first's work been thrown
    away)."""
    return _session_locks(engine, [lock_key(schema, REBUILDING)],
                          "another build of this schema is running; waiting for it", schema=schema)


_BUILD_SCHEMAS = ("lineage\\_build\\_%", "lineage\\_old\\_%", "lineage\\_asofbuild\\_%")


def building(engine: Engine, *schemas: str) -> contextlib.AbstractContextManager[None]:
    """Hold a session advisory lock on each schema name a build is going to create, while it runs.

    :func:`drop_stale_builds` drops only the schemas whose lock nobody holds: a build whose process died
    (PostgreSQL ends the session and its locks with it), never one that another replay is running.
    """
    return _session_locks(engine, [lock_key(schema, BUILDING) for schema in schemas])


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


def rebuild(engine: Engine, *, batch_size: int | None = None, progress: Progress | None = None,
            schema: str = LIVE_SCHEMA) -> BuildResult:
    """Rebuild the lineage from position 0 into fresh tables and switch readers to them atomically.

    ``batch_size`` is the store rows per read, in the bulk load (default ``bulk.CHUNK``, 10,000) and in the
    catch-up after it (default :data:`CATCH_UP`). A second rebuild of ``schema`` started meanwhile waits for
    this one (:func:`exclusive`), then rebuilds again."""
    import time

    with exclusive(engine, schema):
        started = time.perf_counter()
        build = f"{schema}_build_{uuid.uuid4().hex[:8]}"
        old = f"{schema}_old_{uuid.uuid4().hex[:8]}"
        with building(engine, build, old):
            drop_stale_builds(engine)
            return _rebuild(engine, schema, build, old, batch_size, progress, started)


def _rebuild(engine: Engine, schema: str, build: str, old: str, chunk: int | None, progress: Progress | None,
             started: float) -> BuildResult:
    import time

    batch_size = CATCH_UP if chunk is None else chunk
    head = store_head(engine)
    rows = _bulk_load(engine, build, head, progress, chunk)
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


def _is_current(engine: Engine, schema: str) -> bool:
    with transaction(engine) as cur:
        return schema_exists(cur, schema) and layout_of(cur, schema) == LAYOUT


def build_as_of(engine: Engine, position: int, *, batch_size: int | None = None,
                progress: Progress | None = None) -> BuildResult:
    """Build (or reuse) the lineage as known at store ``position`` in its own schema (one written by another
    version of Lotline, in another :data:`~projections.lineage.ddl.LAYOUT`, is built again), reading
    ``batch_size`` store rows at a time (default ``bulk.CHUNK``). A new schema makes the oldest go beyond
    :data:`AS_OF_KEEP` (:func:`prune_as_of`)."""
    import time

    started = time.perf_counter()
    position = min(position, store_head(engine))
    schema = as_of_schema(position)
    if _is_current(engine, schema):
        return BuildResult(schema, position, 0, 0.0)
    with exclusive(engine, schema):
        if _is_current(engine, schema):  # built by the one we waited for
            return BuildResult(schema, position, 0, time.perf_counter() - started)
        tmp = f"lineage_asofbuild_{uuid.uuid4().hex[:8]}"
        with building(engine, tmp):
            drop_stale_builds(engine)
            rows = _bulk_load(engine, tmp, position if position > 0 else 0, progress, batch_size)
            with transaction(engine) as cur:
                cur.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")
                cur.execute(f"ALTER SCHEMA {quote_ident(tmp)} RENAME TO {quote_ident(schema)}")
    prune_as_of(engine, spare=schema)
    seconds = time.perf_counter() - started
    log.info("as-of lineage built", schema=schema, position=position, rows=rows, seconds=round(seconds, 3))
    return BuildResult(schema, position, rows, seconds)


def prune_as_of(engine: Engine, keep: int | None = None, spare: str | None = None) -> list[str]:
    """Drop the ``lineage_asof_p*`` schemas beyond the ``keep`` (default :data:`AS_OF_KEEP`) newest, and return
    their names. Newest means last built: by the time its checkpoint was written (the end of its build), then
    by name; ``spare`` (the schema just built) is kept whatever its age.

    The choice goes by age alone, not by use: a schema a trace is reading may be dropped (the drop waits for
    the statement reading it to end; a trace started after it finds no lineage and fails, and ``trace --as-of``
    builds the schema again). Each schema is dropped in its own transaction, so that no drop holds the others'
    locks."""
    keep = AS_OF_KEEP if keep is None else keep
    aged: list[tuple[datetime | None, str]] = []
    with transaction(engine) as cur:
        cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", ("lineage\\_asof\\_p%",))
        for (name,) in cur.fetchall():
            if not _AS_OF.fullmatch(name) or name == spare:
                continue
            cur.execute("SELECT to_regclass(%s)", (f"{quote_ident(name)}.checkpoint",))
            built = None
            if cur.fetchone()[0] is not None:
                cur.execute(f"SELECT max(updated_at) FROM {quote_ident(name)}.checkpoint")
                built = cur.fetchone()[0]
            aged.append((built, name))
    aged.sort(key=lambda a: (a[0] is not None, a[0] or datetime.min, a[1]), reverse=True)  # newest first
    dropped = [name for _, name in aged[max(keep - (spare is not None), 0):]]
    for name in dropped:
        with transaction(engine) as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE")
    if dropped:
        log.info("old as-of lineages dropped", schemas=dropped, kept=keep)
    return dropped


__all__ = ["AS_OF_KEEP", "UNBOUNDED", "BuildResult", "as_of_schema", "build_as_of", "position_at", "prune_as_of",
           "rebuild", "store_head"]
