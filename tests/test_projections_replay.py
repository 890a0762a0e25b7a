"""Lineage over a simulated bakery: answers match the simulator's log, do not depend on arrival order, and a
rebuild (or an as-of build) gives the same answers as the live projection."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from producers.simulate import SimulationLog, config_for_events, simulate
from projections.framework import StoreRow, read_rows
from projections.lineage.projection import LineageProjection
from projections.lineage.replay import build_as_of, position_at, rebuild
from projections.lineage.trace import Trace, trace
from store.postgres import PostgresEventStore
from store.records import to_new_event
from tests.lineage_builders import eid, lgtin, pgln, project, ship, transform


def _load_bakery(store: PostgresEventStore, n: int = 1500, seed: int = 3) -> SimulationLog:
    log = SimulationLog()
    events = list(simulate(config_for_events(n, seed=seed, load_probability=0.3), limit=n, log=log))
    for i in range(0, len(events), 500):
        store.append([to_new_event(e) for e in events[i:i + 500]])
    return log


def _answers(engine: Engine, lots: list[str], schema: str = "lineage") -> dict[str, Any]:
    out = {}
    for lot in lots:
        for direction in ("backward", "forward"):
            d = trace(engine, lot, direction, schema=schema).as_dict()
            d.pop("position")
            out[f"{direction} {lot}"] = d
    return out


def test_bakery_traces_match_the_simulation_log(pg_store: PostgresEventStore) -> None:
    log = _load_bakery(pg_store)
    project(pg_store.engine)
    checked = 0
    for facts in log.cookie_lots.values():
        back = trace(pg_store.engine, facts.epc_class, "backward")
        reached = {lgtin_of(x) for x in (*facts.dough_lots, *facts.ingredient_lots, *facts.rework_inputs)}
        assert reached <= {f"{lot.gtin}/{lot.lot_number}" for lot in back.lots}
        suppliers = {log.ingredient_lots[i].supplier_pgln for i in facts.ingredient_lots}
        assert suppliers <= {p.party for p in back.parties}
        fwd = trace(pg_store.engine, facts.epc_class, "forward")
        own = str(facts.lot_key)
        shipped: dict[str, int] = defaultdict(int)
        for m in fwd.movements:
            if f"{m.gtin}/{m.lot_number}" == own:
                assert m.party is not None and m.quantity is not None
                shipped[m.party] += int(m.quantity)
        assert dict(shipped) == facts.customers, facts.epc_class
        checked += 1
    assert checked > 20 and log.declarations > 0


def lgtin_of(epc_class: str) -> str:
    from schemas.epcis.identifiers import LotKey

    return str(LotKey.parse(epc_class))


def _sample_lots(log: SimulationLog, k: int = 12) -> list[str]:
    rng = random.Random(5)
    pool = [*log.cookie_lots, *log.ingredient_lots, *log.dough_lots]
    return rng.sample(pool, min(k, len(pool)))


def test_arrival_order_does_not_change_the_lineage(pg_store: PostgresEventStore) -> None:
    log = _load_bakery(pg_store, n=900, seed=11)
    engine = pg_store.engine
    project(engine)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        rows: list[StoreRow] = read_rows(cur, 0, 10**6)
        random.Random(1).shuffle(rows)  # declarations before originals, outputs before inputs, ...
        projection = LineageProjection()
        projection.create(cur, "shuffled")
        for i in range(0, len(rows), 37):
            projection.apply(cur, "shuffled", rows[i:i + 37])
        projection.apply(cur, "shuffled", rows[:50])  # and some delivered twice
        cur.execute("CREATE TABLE shuffled.checkpoint AS SELECT * FROM lineage.checkpoint")
        raw.commit()
    finally:
        raw.close()
    lots = _sample_lots(log)
    assert _answers(engine, lots, "shuffled") == _answers(engine, lots)


def test_replay_from_zero_equals_the_live_projection_and_readers_never_see_half_a_build(
        pg_store: PostgresEventStore) -> None:
    log = _load_bakery(pg_store)
    engine = pg_store.engine
    project(engine)
    lots = _sample_lots(log)
    live = _answers(engine, lots)
    probe = lots[0]
    expected = trace(engine, probe, "forward").as_dict()
    problems: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                got = trace(engine, probe, "forward").as_dict()
            except Exception as exc:
                problems.append(f"a reader failed during the rebuild: {exc}")
                return
            if got != expected:
                problems.append("a reader saw a different answer during the rebuild")

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for r in readers:
        r.start()
    result = rebuild(engine, batch_size=200)
    time.sleep(0.2)
    stop.set()
    for r in readers:
        r.join()
    assert problems == []
    assert result.position == pg_store.head()
    assert _answers(engine, lots) == live
    project(engine)  # the live projector carries on from the rebuilt checkpoint
    assert _answers(engine, lots) == live


def test_as_of_a_time_before_a_declaration_still_shows_the_retracted_shipment(
        pg_store: PostgresEventStore) -> None:
    from tests.lineage_builders import declare

    e5 = ship("E5", [("C1", 40, "CS")], customer=13, minute=5)
    e6 = ship("E6", [("C1", 40, "CS")], customer=14, minute=5)
    pg_store.append([to_new_event(transform("pack", [("L1", 1, "KGM")], [("C1", 100, "CS")], minute=1)),
                     to_new_event(e5)])
    time.sleep(0.05)
    before = datetime.now(UTC)
    time.sleep(0.05)
    pg_store.append([to_new_event(declare(e5, "incorrect_data", (eid("E6"),))), to_new_event(e6)])
    engine = pg_store.engine
    project(engine)
    assert position_at(engine, before) == 2
    then = build_as_of(engine, position_at(engine, before))
    old: Trace = trace(engine, lgtin("C1"), "forward", schema=then.schema)
    assert old.position == 2
    assert [(m.event_id, m.party) for m in old.movements] == [(eid("E5"), pgln(13))]
    now = trace(engine, lgtin("C1"), "forward")
    assert now.position == 4
    assert [(m.event_id, m.party) for m in now.movements] == [(eid("E6"), pgln(14))]
    assert [m.event_id for m in now.retracted] == [eid("E5")]
    assert build_as_of(engine, 2).schema == then.schema  # built once, reused


def test_position_at_bisects_record_times_to_the_last_row_at_or_before(pg_store: PostgresEventStore) -> None:
    """Each batch shares one record time; the answer for a moment is the last row of the last batch recorded by
    then, found by probes of the primary key, never a scan of the store."""
    from projections.framework import transaction
    from store.reads import POSITION_AT
    from tests.factories import row

    sizes = [1 + i % 3 for i in range(23)]
    n = 0
    for size in sizes:
        pg_store.append([row(n + k) for k in range(1, size + 1)])
        n += size
    times = sorted({r.recorded_at: r.position for r in pg_store.read(0, n)}.items())  # time -> last position
    engine = pg_store.engine
    tick = timedelta(microseconds=1)
    assert position_at(engine, times[0][0] - tick) == 0
    assert position_at(engine, times[-1][0] + timedelta(days=1)) == n
    for i, (when, last) in enumerate(times):
        assert position_at(engine, when) == last
        assert position_at(engine, when - tick) == (times[i - 1][1] if i else 0)
    with transaction(engine) as cur:
        cur.execute("EXPLAIN " + POSITION_AT, {"t": times[5][0]})
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert "Seq Scan on events" not in plan, plan


def test_stale_build_cleanup_spares_a_build_still_running(pg_store: PostgresEventStore) -> None:
    """A replay drops what dead builds left behind, but not the schema of a replay running beside it."""
    from projections.framework import transaction
    from projections.lineage.replay import building, drop_stale_builds

    engine = pg_store.engine
    running, dead = "lineage_build_running1", "lineage_asofbuild_dead1"
    with transaction(engine) as cur:
        cur.execute(f"CREATE SCHEMA {running}")
        cur.execute(f"CREATE SCHEMA {dead}")
    try:
        with building(engine, running):  # another replay, alive, holding its lock
            assert drop_stale_builds(engine) == [dead]
            with transaction(engine) as cur:
                cur.execute("SELECT nspname FROM pg_namespace WHERE nspname IN (%s, %s)", (running, dead))
                assert [r[0] for r in cur.fetchall()] == [running]
        assert drop_stale_builds(engine) == [running]  # its process gone: now it is stale
    finally:
        with transaction(engine) as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {running} CASCADE")
            cur.execute(f"DROP SCHEMA IF EXISTS {dead} CASCADE")


def test_two_replays_at_once_run_one_after_the_other_and_leave_one_rebuilds_lineage(
        pg_store: PostgresEventStore, monkeypatch: Any) -> None:
    """The second ``lotline replay`` waits for the first (an advisory lock on the schema), instead of both
    building and swapping at once; both finish, and the lineage is what a single rebuild makes."""
    from projections.lineage import replay
    from tests.test_lineage_bulk import _schemas, snapshot

    _load_bakery(pg_store, n=400, seed=8)
    engine = pg_store.engine
    rebuild(engine)
    single = snapshot(engine, "lineage")
    loading, most = [0], [0]
    guard = threading.Lock()
    bulk_load = replay._bulk_load

    def counted(*args: Any, **kwargs: Any) -> int:
        with guard:
            loading[0] += 1
            most[0] = max(most[0], loading[0])
        try:
            time.sleep(0.3)  # time for the other replay to reach its own bulk load, were it not waiting
            return bulk_load(*args, **kwargs)
        finally:
            with guard:
                loading[0] -= 1

    monkeypatch.setattr(replay, "_bulk_load", counted)
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(rebuild(engine))
        except Exception as exc:  # handed to the test thread
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [type(r).__name__ for r in results] == ["BuildResult", "BuildResult"], results
    assert [r.position for r in results] == [pg_store.head()] * 2
    assert most[0] == 1, "the two replays' bulk loads overlapped"
    assert snapshot(engine, "lineage") == single
    assert _schemas(engine, "lineage\\_%") == []  # no build or old schema left by either


def test_only_the_newest_as_of_lineages_are_kept(pg_store: PostgresEventStore, monkeypatch: Any) -> None:
    from projections.lineage import replay
    from tests.factories import row
    from tests.test_lineage_bulk import _schemas

    monkeypatch.setattr(replay, "AS_OF_KEEP", 3)
    pg_store.append([row(i) for i in range(1, 7)])
    engine = pg_store.engine

    def kept() -> list[str]:
        return sorted(_schemas(engine, "lineage\\_asof\\_p%"))

    for position in (5, 1, 2, 3):
        build_as_of(engine, position)
    assert kept() == ["lineage_asof_p1", "lineage_asof_p2", "lineage_asof_p3"]  # p5, the oldest build, went
    assert build_as_of(engine, 1).rows == 0  # reused: nothing built, nothing dropped
    assert kept() == ["lineage_asof_p1", "lineage_asof_p2", "lineage_asof_p3"]
    build_as_of(engine, 6)
    assert kept() == ["lineage_asof_p2", "lineage_asof_p3", "lineage_asof_p6"]
    assert replay.prune_as_of(engine, keep=1) == ["lineage_asof_p3", "lineage_asof_p2"]
    assert kept() == ["lineage_asof_p6"]


def test_the_batch_size_of_a_replay_is_the_size_of_its_bulk_reads(pg_store: PostgresEventStore,
                                                                    monkeypatch: Any) -> None:
    """``lotline replay --batch-size`` reaches the bulk load's reads of the store (bulk.CHUNK by default)."""
    from projections.lineage import bulk
    from store import reads
    from tests.factories import row

    pg_store.append([row(i) for i in range(1, 31)])
    engine = pg_store.engine
    reads_made: list[tuple[int, int]] = []
    copy_chunks = reads.copy_chunks

    def recorded(cur: Any, columns: Any, after: int, until: int, chunk: int) -> Any:
        chunks = list(copy_chunks(cur, columns, after, until, chunk))
        reads_made.append((chunk, len(chunks)))
        return iter(chunks)

    monkeypatch.setattr(reads, "copy_chunks", recorded)
    rebuild(engine, batch_size=7)
    build_as_of(engine, 20, batch_size=5)
    rebuild(engine)
    assert reads_made == [(7, 5), (5, 4), (bulk.CHUNK, 1)]
    assert snapshot_positions(engine) == 30


def snapshot_positions(engine: Engine) -> int:
    from projections.framework import transaction
    from projections.lineage.trace import checkpoint_position

    with transaction(engine) as cur:
        return checkpoint_position(cur, "lineage") or 0
