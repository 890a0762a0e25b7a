"""The projector gathers planner statistics for its tables as they grow, whatever the server's autovacuum does."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from producers.simulate import config_for_events, simulate
from projections.framework import Projector, Target
from projections.lineage.projection import ANALYZED, LIVE_SCHEMA, LineageProjection
from projections.lineage.replay import rebuild
from projections.statistics import FIRST_ROWS, StatisticsKeeper
from store.postgres import PostgresEventStore
from store.records import to_new_event


def _store(pg_store: PostgresEventStore, n: int) -> None:
    pg_store.append([to_new_event(e) for e in simulate(config_for_events(n, seed=5), limit=n)])


def _analysed(engine: Engine, schema: str) -> dict[str, set[str]]:
    """Per table of ``schema``, the columns PostgreSQL holds statistics for."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT tablename, attname FROM pg_stats WHERE schemaname = %s", (schema,))
        out: dict[str, set[str]] = {}
        for table, column in cur.fetchall():
            out.setdefault(table, set()).add(column)
        return out
    finally:
        raw.close()


def test_an_incrementally_projected_lineage_has_statistics_for_what_plans_use(pg_store: PostgresEventStore) -> None:
    _store(pg_store, 3 * FIRST_ROWS)
    assert _analysed(pg_store.engine, LIVE_SCHEMA) == {}
    Projector(pg_store.engine, [Target(LineageProjection(), LIVE_SCHEMA)], batch_size=500).run(until_idle=True)
    analysed = _analysed(pg_store.engine, LIVE_SCHEMA)
    for table in ("lots", "lot_edges", "lineage_events", "transformation_io", "movements", "movement_lines"):
        assert analysed.get(table, set()) >= set(ANALYZED[table]), table


def test_nothing_is_analysed_before_the_first_rows_or_between_rounds(pg_store: PostgresEventStore) -> None:
    keeper = StatisticsKeeper(LIVE_SCHEMA, ANALYZED)
    engine = pg_store.engine
    _store(pg_store, FIRST_ROWS // 2)
    Projector(engine, [Target(LineageProjection(), LIVE_SCHEMA)], batch_size=100).run(until_idle=True)
    assert keeper.advanced(engine, 100) == []  # first call: only never-analysed tables of FIRST_ROWS rows
    assert keeper.advanced(engine, FIRST_ROWS) == []  # not yet FIRST_ROWS beyond the first
    assert "lots" in keeper.advanced(engine, FIRST_ROWS + 100)
    assert keeper.advanced(engine, FIRST_ROWS + 200) == []  # the next round is GROWTH further on
    assert "lots" in keeper.advanced(engine, 10 * FIRST_ROWS)


def test_a_rebuilt_lineage_is_not_analysed_again_on_its_first_batch(pg_store: PostgresEventStore) -> None:
    _store(pg_store, 3 * FIRST_ROWS)
    rebuild(pg_store.engine, batch_size=1000)
    assert StatisticsKeeper(LIVE_SCHEMA, ANALYZED).advanced(pg_store.engine, 3 * FIRST_ROWS) == []
