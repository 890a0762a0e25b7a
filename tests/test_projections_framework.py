"""The projector framework: global order under concurrent writers, checkpoint atomicity, crash resume."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from psycopg2.extras import execute_values
from sqlalchemy.engine import Engine

from projections.framework import Projector, StoreRow, Target, quote_ident, wait_for
from projections.lineage.projection import LineageProjection
from projections.lineage.trace import trace
from store.postgres import PostgresEventStore
from store.records import to_new_event
from tests.factories import shipment
from tests.lineage_builders import lgtin, lots_of, transform


class PositionLog:
    """A test projection that records every position it is given; the primary key catches a double apply."""

    name = "positions"

    def create(self, cur: Any, schema: str) -> None:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {quote_ident(schema)}.seen "
                    "(position bigint PRIMARY KEY, event_key text NOT NULL)")

    def apply(self, cur: Any, schema: str, rows: Sequence[StoreRow]) -> None:
        execute_values(cur, f"INSERT INTO {quote_ident(schema)}.seen VALUES %s",
                       [(r.position, r.event_key) for r in rows])

    def forget(self) -> None:
        pass


class PreparedPositionLog(PositionLog):
    """:class:`PositionLog` as a :class:`PreparedProjection`: the positions are prepared (possibly ahead, on the
    projector's helper thread) and must be exactly those of the batch they are applied with."""

    def __init__(self) -> None:
        self.threads: set[str] = set()

    def prepare(self, rows: Sequence[StoreRow]) -> object:
        self.threads.add(threading.current_thread().name)
        return [(r.position, r.event_key) for r in rows]

    def apply(self, cur: Any, schema: str, rows: Sequence[StoreRow]) -> None:
        self.apply_prepared(cur, schema, rows, self.prepare(rows))

    def apply_prepared(self, cur: Any, schema: str, rows: Sequence[StoreRow], prepared: object) -> None:
        assert prepared == [(r.position, r.event_key) for r in rows], "prepared for another batch"
        execute_values(cur, f"INSERT INTO {quote_ident(schema)}.seen VALUES %s", prepared)


def _seen(engine: Engine, schema: str = "test_proj") -> list[int]:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"SELECT position FROM {schema}.seen ORDER BY position")
        return [r[0] for r in cur.fetchall()]
    finally:
        raw.close()


@pytest.mark.parametrize("log_type", [PositionLog, PreparedPositionLog])
def test_concurrent_writers_never_make_a_running_projector_skip_a_row(
        pg_store: PostgresEventStore, log_type: type[PositionLog]) -> None:
    """Also with read-ahead (:class:`PreparedPositionLog`): a batch read and prepared ahead, while writers were
    still appending, is applied only where the checkpoint is, and a short read-ahead is not a gap."""
    engine = pg_store.engine
    projection = log_type()
    projector = Projector(engine, [Target(projection, "test_proj")], batch_size=7, poll_interval_s=0.001)
    runner = threading.Thread(target=projector.run)
    runner.start()
    counter = iter(range(1, 10**9))
    lock = threading.Lock()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(60):
            with lock:
                ns = [next(counter) for _ in range(rng.randint(1, 5))]
            pg_store.append([to_new_event(shipment(n)) for n in ns])

    writers = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    head = pg_store.head()
    assert wait_for(lambda: (_seen(engine) or [0])[-1] == head, timeout_s=30)
    projector.stop()
    runner.join(10)
    assert _seen(engine) == list(range(1, head + 1))  # every row exactly once, none skipped
    assert projector.stats.batches > 10  # the projector really ran while the writers were appending
    if isinstance(projection, PreparedPositionLog):
        assert any(t.startswith("read-ahead-") for t in projection.threads), "no batch was read ahead"


def test_a_read_ahead_that_fails_fails_its_batch_and_the_next_run_resumes(pg_store: PostgresEventStore) -> None:
    """A failure while preparing ahead surfaces in the batch that uses it, which rolls back as any failure."""

    class FailsOnce(PreparedPositionLog):
        failed = False

        def prepare(self, rows: Sequence[StoreRow]) -> object:
            if rows[0].position == 15 and not FailsOnce.failed:
                FailsOnce.failed = True
                raise RuntimeError("bad body at 15")
            return super().prepare(rows)

    pg_store.append([to_new_event(shipment(n)) for n in range(1, 41)])
    engine = pg_store.engine
    projection = FailsOnce()
    with pytest.raises(RuntimeError, match="bad body at 15"):
        Projector(engine, [Target(projection, "test_proj")], batch_size=7).run(until_idle=True)
    assert _seen(engine) == list(range(1, 15))
    assert "read-ahead-positions_0" in projection.threads  # it failed ahead, on the helper thread
    Projector(engine, [Target(projection, "test_proj")], batch_size=7).run(until_idle=True)
    assert _seen(engine) == list(range(1, 41))


def test_two_projectors_of_one_projection_serialise_and_projections_run_side_by_side(
        pg_store: PostgresEventStore) -> None:
    pg_store.append([to_new_event(shipment(n)) for n in range(1, 301)])
    engine = pg_store.engine
    lineage = Target(LineageProjection(), "lineage")
    runs = [Projector(engine, [Target(PositionLog(), "test_proj"), lineage], batch_size=13) for _ in range(2)]
    threads = [threading.Thread(target=p.run, kwargs={"until_idle": True}) for p in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert _seen(engine) == list(range(1, 301))
    assert sum(p.stats.rows for p in runs) == 2 * 300  # each row once per projection, split between them
    assert trace(engine, lgtin("L1"), "forward").movements.__len__() == 300


class Crashing(LineageProjection):
    """The lineage projection failing in the middle of its n-th batch, after writing part of it."""

    def __init__(self, fail_on_batch: int) -> None:
        super().__init__()
        self.batches = 0
        self.fail_on_batch = fail_on_batch

    def apply_prepared(self, cur: Any, schema: str, rows: Sequence[StoreRow], prepared: object) -> None:
        self.batches += 1
        super().apply_prepared(cur, schema, rows, prepared)
        if self.batches == self.fail_on_batch:
            raise RuntimeError("power cut")


def _checkpoint(engine: Engine, schema: str) -> int:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(f"SELECT position FROM {schema}.checkpoint")
        return int(cur.fetchone()[0])
    finally:
        raw.close()


def test_a_crash_mid_batch_rolls_back_and_the_next_run_resumes_exactly(pg_store: PostgresEventStore) -> None:
    events = [transform(f"t{i}", [(f"A{i}", 1, "KGM")], [(f"A{i + 1}", 1, "KGM")], minute=i) for i in range(40)]
    pg_store.append([to_new_event(e) for e in events])
    engine = pg_store.engine
    with pytest.raises(RuntimeError, match="power cut"):
        Projector(engine, [Target(Crashing(fail_on_batch=3), "lineage")], batch_size=10).run(until_idle=True)
    assert _checkpoint(engine, "lineage") == 20  # two batches committed, the third rolled back entirely
    assert lots_of(trace(engine, lgtin("A0"), "forward")) == {f"A{i}": i for i in range(21)}
    Projector(engine, [Target(LineageProjection(), "lineage")], batch_size=10).run(until_idle=True)
    assert _checkpoint(engine, "lineage") == 40
    assert lots_of(trace(engine, lgtin("A0"), "forward")) == {f"A{i}": i for i in range(41)}


def test_a_batch_read_touches_only_its_own_rows_on_a_store_without_statistics(
        pg_store: PostgresEventStore) -> None:
    """The projector's read is a range of positions: on a never-analysed store it must not fetch and sort
    every row after the checkpoint to return one batch (as ``ORDER BY position LIMIT n`` was planned)."""
    from projections.framework import read_rows
    from store.reads import READ_BODIES
    from tests.plans import most_rows_touched, unanalysed_store

    with unanalysed_store(pg_store, 8000) as cur:
        assert [r.position for r in read_rows(cur, 1000, 500)] == list(range(1001, 1501))
        assert [r.position for r in read_rows(cur, 7900, 500)] == list(range(7901, 8001))
        assert [r.position for r in read_rows(cur, 100, 500, until=300)] == list(range(101, 301))
        assert most_rows_touched(cur, READ_BODIES, {"after": 1000, "until": 2**62, "limit": 500}) <= 500
