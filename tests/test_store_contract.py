"""The event-store contract: every adapter (PostgreSQL, in-memory) must pass these tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from store import postgres
from store.memory import InMemoryEventStore
from store.pgcopy import COPY_CHUNK
from store.port import GENESIS_HASH, EventStore, Rejected, StoredEvent, row_hash
from store.postgres import (
    APPEND_BEGIN,
    APPEND_LOCK_ID,
    EVENT_COLUMNS,
    STORED_IDENTITIES,
    PostgresEventStore,
)
from store.records import to_new_event
from tests.factories import declared, row, shipment
from tests.plans import most_rows_touched, unanalysed_store


@pytest.fixture(params=["postgres", "postgres-python-rows", "memory"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[EventStore]:
    """Each adapter; PostgreSQL also with its rows staged and chained by the Python functions, as an
    installation without the C module (store/_rows_native.c) runs it."""
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    if request.param == "postgres-python-rows":
        monkeypatch.setattr(postgres, "STAGE", postgres.stage)
        monkeypatch.setattr(postgres, "CHAIN", postgres.chain)
    yield request.getfixturevalue("pg_store")


def test_append_assigns_gapless_positions_in_order(store: EventStore) -> None:
    store.append([row(1), row(2)])
    store.append([row(3)])
    rows = store.read(0, 10)
    assert [r.position for r in rows] == [1, 2, 3]
    assert [r.event.event_key for r in rows] == [row(i).event_key for i in (1, 2, 3)]
    assert store.head() == 3
    assert store.read(2, 10)[0].position == 3


def test_redelivery_is_harmless(store: EventStore) -> None:
    first = store.append([row(1), row(2)])
    again = store.append([row(2), row(1), row(3), row(3)])
    assert (first.stored, again.stored, again.duplicates) == (2, 1, 3)
    assert store.count() == 3


def test_body_and_columns_round_trip(store: EventStore) -> None:
    new = row(7)
    store.append([new])
    stored = store.read(0, 1)[0]
    assert stored.event == new
    assert stored.event.lot_keys == ("10614141073464/L1",)


def test_a_prepared_batch_is_appended_as_the_same_events_unprepared(store: EventStore) -> None:
    """Ingest prepares a batch's rows on its consuming thread; duplicates within and across batches, and the
    chain, come out as they do for the events themselves."""
    store.append([row(1)])
    prepared = store.prepare([row(2), row(1), row(3), row(2)])
    result = store.append(prepared)
    assert (result.stored, result.duplicates, result.last_position) == (2, 2, 3)
    assert [r.event for r in store.read(0, 10)] == [row(1), row(2), row(3)]
    assert store.verify().ok


def test_a_redelivered_batch_is_dead_lettered_once_and_appended_whole(store: EventStore) -> None:
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


def test_error_declaration_is_a_new_row_not_a_duplicate(store: EventStore) -> None:
    original = shipment(1)
    store.append([to_new_event(original)])
    result = store.append([to_new_event(declared(original)), to_new_event(declared(original))])
    assert (result.stored, result.duplicates) == (1, 1)
    rows = store.read(0, 10)
    assert [r.event.is_declaration for r in rows] == [False, True]
    assert rows[0].event.event_key == rows[1].event.event_key


def test_same_identity_with_other_content_is_rejected_before_commit(store: EventStore) -> None:
    store.append([row(1)])
    changed = to_new_event(shipment(1, qty=41))
    seen: list[list[Rejected]] = []
    result = store.append([changed, row(2)], before_commit=seen.append)
    assert result.stored == 1
    assert len(seen) == 1 and [r.event for r in seen[0]] == [changed]
    assert "already stored with different content" in seen[0][0].reason
    assert store.count() == 2


def test_failing_before_commit_rolls_back_events_and_offsets(store: EventStore) -> None:
    def fail(_: list[Rejected]) -> None:
        raise RuntimeError("dlq down")

    with pytest.raises(RuntimeError, match="dlq down"):
        store.append([row(1)], group="g", offsets={("t", 0): 5}, before_commit=fail)
    assert store.count() == 0
    assert store.stored_offsets("g", "t") == {}


def test_offsets_are_saved_with_events_and_never_move_back(store: EventStore) -> None:
    store.append([row(1)], group="g", offsets={("t", 0): 10, ("t", 1): 3})
    store.append([], group="g", offsets={("t", 0): 7, ("t", 2): 1})
    assert store.stored_offsets("g", "t") == {0: 10, 1: 3, 2: 1}
    assert store.stored_offsets("other", "t") == {}


def test_hash_chain_verifies(store: EventStore) -> None:
    for i in range(5):
        store.append([row(2 * i), row(2 * i + 1)])
    result = store.verify()
    assert result.ok and result.rows == 10
    rows = store.read(0, 10)
    assert len({r.row_hash for r in rows}) == 10


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


def test_record_time_never_goes_back_along_positions(store: EventStore) -> None:
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


def test_a_read_touches_only_the_rows_it_returns_on_a_store_without_statistics(
        pg_store: PostgresEventStore) -> None:
    """``read`` (which ``store verify`` pages through) is a range of positions, so a walk over the store is
    linear in its size, not quadratic, whatever the planner knows."""
    from store.postgres import READ

    with unanalysed_store(pg_store, 8000) as cur:
        assert [r.position for r in pg_store.read(1000, 500)] == list(range(1001, 1501))
        assert most_rows_touched(cur, READ, {"after": 1000, "limit": 500}) <= 500
