"""Reading what PostgreSQL actually did for a statement, for tests that pin a plan's cost, not its shape."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any


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
