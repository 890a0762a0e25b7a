"""Reading what PostgreSQL actually did for a statement, for tests that pin a plan's cost, not its shape."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from store.postgres import PostgresEventStore
from tests.factories import row


def _nodes(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def most_rows_touched(cur: Any, sql: str, params: Sequence[Any] | Mapping[str, Any]) -> int:
    """Run ``sql`` under ``EXPLAIN ANALYZE`` and return the most rows any node of its plan produced (over all
    its loops): what bounds its work, whichever plan the statistics led to."""
    cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
    (doc,) = cur.fetchone()
    return max(int(n["Actual Rows"]) * int(n["Actual Loops"]) for n in _nodes(doc[0]["Plan"]))


@contextlib.contextmanager
def unanalysed_store(store: PostgresEventStore, rows: int) -> Iterator[Any]:
    """``store`` filled with ``rows`` test events in batches of 2,000 and never analysed (as a store is with
    autovacuum off, or before its first round): a cursor on it, rolled back afterwards."""
    for start in range(1, rows + 1, 2000):
        store.append([row(i) for i in range(start, min(start + 2000, rows + 1))])
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables WHERE relname = 'events'")
        assert cur.fetchone() == (None, None), "the store must be unanalysed for this test to mean anything"
        yield cur
    finally:
        raw.rollback()
        raw.close()
