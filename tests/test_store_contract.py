"""The event-store contract: every adapter (PostgreSQL, in-memory) must pass these tests.

:class:`EventStoreContract` holds them; each adapter's test class subclasses it and provides the ``store``
fixture. The module-level tests after it are the PostgreSQL adapter's own (its COPY, plans and statements)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from store.memory import InMemoryEventStore
from store.pgcopy import COPY_CHUNK
from store.port import GENESIS_HASH, EventFilter, EventStore, Rejected, StoredEvent, StoreStats
from store.postgres import (
    APPEND_BEGIN,
    APPEND_LOCK_ID,
    EVENT_COLUMNS,
    STORED_IDENTITIES,
    PostgresEventStore,
)
from store.records import to_new_event
from store.rows import row_hash
from tests.factories import T0, declared, row, shipment
from tests.plans import most_rows_touched, unanalysed_store


class EventStoreContract:
    """The contract every adapter passes: a test class per adapter subclasses this one and provides the ``store``
    fixture (as pyeventsourcing's ``AggregateRecorderTestCase`` does), so an adapter's suite is one line to add
    and the report names the adapter with each test."""

    @pytest.fixture
    def store(self) -> EventStore:
        raise NotImplementedError("an adapter's test class provides the store")

    def test_append_assigns_gapless_positions_in_order(self, store: EventStore) -> None:
        store.append([row(1), row(2)])
        store.append([row(3)])
        rows = store.read(0, 10)
        assert [r.position for r in rows] == [1, 2, 3]
        assert [r.event.event_key for r in rows] == [row(i).event_key for i in (1, 2, 3)]
        assert store.head() == 3
        assert store.read(2, 10)[0].position == 3

    def test_redelivery_is_harmless(self, store: EventStore) -> None:
        first = store.append([row(1), row(2)])
        again = store.append([row(2), row(1), row(3), row(3)])
        assert (first.stored, again.stored, again.duplicates) == (2, 1, 3)
        assert store.count() == 3

    def test_body_and_columns_round_trip(self, store: EventStore) -> None:
        new = row(7)
        store.append([new])
        stored = store.read(0, 1)[0]
        assert stored.event == new
        assert stored.event.lot_keys == ("10614141073464/L1",)

    def test_a_prepared_batch_is_appended_as_the_same_events_unprepared(self, store: EventStore) -> None:
        """Ingest prepares a batch's rows on its consuming thread; duplicates within and across batches, and the
        chain, come out as they do for the events themselves."""
        store.append([row(1)])
        prepared = store.prepare([row(2), row(1), row(3), row(2)])
        result = store.append(prepared)
        assert (result.stored, result.duplicates, result.last_position) == (2, 2, 3)
        assert [r.event for r in store.read(0, 10)] == [row(1), row(2), row(3)]
        assert store.verify().ok

    def test_a_redelivered_batch_is_dead_lettered_once_and_appended_whole(self, store: EventStore) -> None:
        """A batch that meets stored events (a consumer restarted) still calls ``before_commit`` exactly once,
        with the rejected events, and stores the rest with the chain intact."""
        store.append([row(1), row(2)])
        calls: list[list[Rejected]] = []
        changed = row(2)._replace(body='{"type":"ObjectEvent","changed":true}')
        result = store.append([row(3), row(1), changed, row(4)], before_commit=calls.append)
        assert [[r.event for r in rejected] for rejected in calls] == [[changed]]
        assert (result.stored, result.duplicates, result.last_position) == (2, 1, 4)
        assert [r.event for r in store.read(0, 10)] == [row(1), row(2), row(3), row(4)]
        assert store.verify().ok

    def test_error_declaration_is_a_new_row_not_a_duplicate(self, store: EventStore) -> None:
        original = shipment(1)
        store.append([to_new_event(original)])
        result = store.append([to_new_event(declared(original)), to_new_event(declared(original))])
        assert (result.stored, result.duplicates) == (1, 1)
        rows = store.read(0, 10)
        assert [r.event.is_declaration for r in rows] == [False, True]
        assert rows[0].event.event_key == rows[1].event.event_key

    def test_same_identity_with_other_content_is_rejected_before_commit(self, store: EventStore) -> None:
        store.append([row(1)])
        changed = to_new_event(shipment(1, qty=41))
        seen: list[list[Rejected]] = []
        result = store.append([changed, row(2)], before_commit=seen.append)
        assert result.stored == 1
        assert len(seen) == 1 and [r.event for r in seen[0]] == [changed]
        assert "already stored with different content" in seen[0][0].reason
        assert store.count() == 2

    def test_failing_before_commit_rolls_back_events_and_offsets(self, store: EventStore) -> None:
        def fail(_: list[Rejected]) -> None:
            raise RuntimeError("dlq down")

        with pytest.raises(RuntimeError, match="dlq down"):
            store.append([row(1)], group="g", offsets={("t", 0): 5}, before_commit=fail)
        assert store.count() == 0
        assert store.stored_offsets("g", "t") == {}

    def test_offsets_are_saved_with_events_and_never_move_back(self, store: EventStore) -> None:
        store.append([row(1)], group="g", offsets={("t", 0): 10, ("t", 1): 3})
        store.append([], group="g", offsets={("t", 0): 7, ("t", 2): 1})
        assert store.stored_offsets("g", "t") == {0: 10, 1: 3, 2: 1}
        assert store.stored_offsets("other", "t") == {}

    def test_a_topic_is_bound_once_and_a_reset_forgets_it_with_its_offsets(self, store: EventStore) -> None:
        assert store.bound_topic("g", "t", "id-1") == "id-1"
        assert store.bound_topic("g", "t", "id-2") == "id-1"  # created again: the stored offsets are id-1's
        assert store.bound_topic("other", "t", "id-2") == "id-2"
        store.append([row(1)], group="g", offsets={("t", 0): 10, ("t", 1): 3})
        store.append([], group="other", offsets={("t", 0): 4})
        assert store.reset_offsets("g", "t") == 2
        assert store.stored_offsets("g", "t") == {} and store.stored_offsets("other", "t") == {0: 4}
        assert store.bound_topic("g", "t", "id-2") == "id-2"
        assert store.count() == 1  # events are never touched

    def test_hash_chain_verifies(self, store: EventStore) -> None:
        for i in range(5):
            store.append([row(2 * i), row(2 * i + 1)])
        result = store.verify()
        assert result.ok and result.rows == 10
        rows = store.read(0, 10)
        assert len({r.row_hash for r in rows}) == 10

    def test_record_time_never_goes_back_along_positions(self, store: EventStore) -> None:
        """What replay's bisection over record times relies on: a batch appended after a row whose record time is
        ahead of the clock takes that row's time, not an earlier one."""
        store.append([row(1), row(2)])
        future = _record_time_from_the_future(store, timedelta(hours=1))
        store.append([row(3)])
        rows = store.read(0, 10)
        times = [r.recorded_at for r in rows]
        assert times == sorted(times)
        assert rows[-1].recorded_at == future
        assert store.verify().ok

    def test_head_is_the_last_position(self, store: EventStore) -> None:
        assert store.head() == 0
        store.append([row(1), row(2)])
        store.append([row(2)])  # a duplicate moves nothing
        assert store.head() == 2
        store.append([row(3)])
        assert store.head() == store.count() == 3

    def test_a_stream_is_bounded_by_its_positions_and_chunked(self, store: EventStore) -> None:
        for start in range(1, 24, 5):
            store.append([row(i) for i in range(start, start + 5)])  # 25 rows
        assert store.head() == 25

        def positions(chunks: Iterator[list[StoredEvent]]) -> list[list[int]]:
            return [[r.position for r in chunk] for chunk in chunks]

        assert positions(store.stream(3, 11, chunk=4)) == [[4, 5, 6, 7], [8, 9, 10, 11]]
        assert positions(store.stream(3, 12, chunk=4)) == [[4, 5, 6, 7], [8, 9, 10, 11], [12]]
        assert positions(store.stream(20, 100, chunk=4)) == [[21, 22, 23, 24], [25]]  # not past the head
        assert positions(store.stream(5, 5)) == positions(store.stream(7, 3)) == positions(store.stream(25)) == []
        assert [r.event for chunk in store.stream(chunk=7) for r in chunk] == [r.event for r in store.read(0, 100)]
        with pytest.raises(ValueError, match="chunk"):
            list(store.stream(0, 10, chunk=0))

    def test_a_stream_stops_at_the_head_it_started_with(self, store: EventStore) -> None:
        store.append([row(i) for i in range(1, 7)])
        stream = store.stream(chunk=4)
        first = next(stream)
        store.append([row(7), row(8)])
        assert [r.position for r in first] + [r.position for c in stream for r in c] == [1, 2, 3, 4, 5, 6]

    def test_position_at_is_the_last_row_recorded_by_then(self, store: EventStore) -> None:
        """Each append records its rows at one time; the answer for a moment is the last row recorded at or
        before it, and the record times are read back from the store itself."""
        n = 0
        for size in (1, 3, 2, 1, 4, 2):
            store.append([row(n + k) for k in range(1, size + 1)])
            n += size
            time.sleep(0.002)  # distinct record times, so that every batch boundary is probed
        recorded = [(r.recorded_at, r.position) for r in store.read(0, n)]
        last_at = sorted(dict(recorded).items())  # record time -> last position recorded then
        assert len(last_at) == 6
        tick = timedelta(microseconds=1)
        assert store.position_at(recorded[0][0] - tick) == 0
        assert store.position_at(recorded[0][0] - timedelta(days=1)) == 0
        assert store.position_at(recorded[-1][0] + timedelta(days=1)) == n
        for i, (when, last) in enumerate(last_at):
            assert store.position_at(when) == last
            assert store.position_at(when + tick) == last
            assert store.position_at(when - tick) == (last_at[i - 1][1] if i else 0)

    def test_position_at_on_an_empty_store_is_zero(self, store: EventStore) -> None:
        assert store.position_at(datetime.now(UTC) + timedelta(days=1)) == 0

    def test_select_filters_by_event_time_type_biz_step_lots_and_declarations(self, store: EventStore) -> None:
        events = [to_new_event(shipment(i)) for i in range(1, 5)]  # at T0 + i minutes, of lot L1
        other_lot = events[1]._replace(lot_keys=("10614141073464/L9",))
        received = events[2]._replace(biz_step="receiving")
        transformed = events[3]._replace(event_type="TransformationEvent")
        retraction = to_new_event(declared(shipment(1)))
        store.append([events[0], other_lot, received, transformed, retraction])
        rows = store.read(0, 10)

        def keys(flt: EventFilter) -> list[int]:
            return [r.position for r in store.select(flt)]

        assert keys(EventFilter()) == [1, 2, 3, 4, 5]
        assert keys(EventFilter(time_from=T0 + timedelta(minutes=2), time_to=T0 + timedelta(minutes=4))) == [2, 3]
        assert keys(EventFilter(types=("TransformationEvent", "AggregationEvent"))) == [4]
        assert keys(EventFilter(biz_steps=("receiving",))) == [3]
        assert keys(EventFilter(lot_keys=("10614141073464/L9", "10614141073464/NONE"))) == [2]
        assert keys(EventFilter(lot_keys=("10614141073464/L1",), include_declarations=False)) == [1, 3, 4]
        assert keys(EventFilter(types=("AggregationEvent",))) == []
        assert [r.event for r in store.select(EventFilter())] == [r.event for r in rows]

    def test_stats_count_per_type_and_biz_step(self, store: EventStore) -> None:
        assert store.stats() == StoreStats(0, 0, ())
        a, b, c = (to_new_event(shipment(i)) for i in (1, 2, 3))  # at T0 + i minutes
        store.append([a, b._replace(lot_keys=("10614141073464/L9",)), c._replace(biz_step=None),
                      to_new_event(declared(shipment(1)))])
        stats = store.stats()
        assert (stats.head, stats.lots) == (4, 2)
        by_kind = {(k.event_type, k.biz_step): k for k in stats.kinds}
        assert [(k.event_type, k.biz_step) for k in stats.kinds] == sorted(by_kind, key=lambda k: (k[0], k[1] or "-"))
        shipping = by_kind[("ObjectEvent", a.biz_step)]
        assert (shipping.events, shipping.declarations) == (3, 1)
        assert (shipping.first_event_time, shipping.last_event_time) == (a.event_time, b.event_time)
        assert by_kind[("ObjectEvent", None)].events == 1


class TestPostgresStore(EventStoreContract):
    @pytest.fixture
    def store(self, pg_store: PostgresEventStore) -> EventStore:
        return pg_store


class TestMemoryStore(EventStoreContract):
    @pytest.fixture
    def store(self) -> EventStore:
        return InMemoryEventStore()


def test_chain_names_the_first_tampered_row() -> None:
    store = InMemoryEventStore()
    store.append([row(i) for i in range(1, 6)])
    rows = store._rows
    tampered = rows[2].event._replace(body=rows[2].event.body.replace("40", "4"))
    rows[2] = dataclasses.replace(rows[2], event=tampered)
    result = store.verify()
    assert not result.ok and result.first_bad_position == 3


def test_postgres_store_is_the_one_under_test(pg_store: PostgresEventStore) -> None:
    assert pg_store.engine.url.get_backend_name() == "postgresql"


def test_a_batch_larger_than_one_copy_chunk_is_stored_whole(pg_store: PostgresEventStore) -> None:
    """The adapter sends COPY data in COPY_CHUNK pieces: rows that straddle a piece boundary arrive intact."""
    batch = [row(i) for i in range(1, 4001)]
    assert sum(len(e.body) for e in batch) > 2 * COPY_CHUNK, "the batch must span several pieces"
    assert pg_store.append(batch).stored == 4000
    assert [r.event for r in pg_store.read(0, 5000)] == batch
    assert pg_store.verify().ok


def test_the_duplicate_check_probes_the_identity_index_without_statistics(pg_store: PostgresEventStore) -> None:
    """A never-analysed store must not make every append scan it whole (see APPEND_BEGIN)."""
    with unanalysed_store(pg_store, 6000) as cur:
        cur.execute(APPEND_BEGIN, (APPEND_LOCK_ID,))
        cur.execute("EXPLAIN " + STORED_IDENTITIES, ([row(i).event_key for i in range(1, 2001)],))
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert "events_identity" in plan and "Seq Scan" not in plan and "JIT" not in plan, plan


def _record_time_from_the_future(store: EventStore, ahead: timedelta) -> datetime:
    """Make the last stored row's record time lie ``ahead`` of now, as a server clock that was later stepped
    back leaves it; returns that time. (PostgreSQL: an extra row inserted with its chain hash, the way the
    store would have written it; memory: the last row's time moved and its hash written again.)"""
    future = datetime.now(UTC) + ahead
    if isinstance(store, InMemoryEventStore):
        rows = store._rows
        prev = rows[-2].row_hash if len(rows) > 1 else GENESIS_HASH
        last = rows[-1]
        rows[-1] = StoredEvent(last.position, future, last.event, row_hash(prev, last.position, future, last.event))
        return future
    assert isinstance(store, PostgresEventStore)
    last = store.read(store.head() - 1, 1)[0]
    e, pos = row(99), last.position + 1
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join(['%s'] * len(EVENT_COLUMNS))})",
            (pos, future, e.event_key, e.is_declaration, e.event_id, e.event_type, e.event_time, e.event_tz_offset,
             e.biz_step, list(e.lot_keys), *e.source, e.body, row_hash(last.row_hash, pos, future, e)))
    return future


def test_a_read_touches_only_the_rows_it_returns_on_a_store_without_statistics(
        pg_store: PostgresEventStore) -> None:
    """``read`` (which ``store verify`` pages through) is a range of positions, so a walk over the store is
    linear in its size, not quadratic, whatever the planner knows."""
    from store.postgres import READ

    with unanalysed_store(pg_store, 8000) as cur:
        assert [r.position for r in pg_store.read(1000, 500)] == list(range(1001, 1501))
        assert most_rows_touched(cur, READ, {"after": 1000, "limit": 500}) <= 500


def test_the_copy_stream_is_the_streams_rows_as_copy_text(pg_store: PostgresEventStore) -> None:
    """PostgreSQL only (not on the port): what a rebuild's bulk load reads, chunk by chunk, of given columns."""
    pg_store.append([row(i) for i in range(1, 10)])
    chunks = list(pg_store.copy_stream(("position", "event_key"), 2, 7, chunk=2))
    assert [c.decode().splitlines() for c in chunks] == [
        [f"{p}\t{row(p).event_key}" for p in ps] for ps in ([3, 4], [5, 6], [7])]
    assert b"".join(pg_store.copy_stream("position, is_declaration")) == b"".join(
        b"%d\tf\n" % p for p in range(1, 10))  # to the head, in one chunk
    with pytest.raises(ValueError, match="not columns of the event store"):
        list(pg_store.copy_stream("position FROM pg_authid --"))
