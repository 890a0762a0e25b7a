"""``lot_edges`` derived from the transformation facts: the statements the incremental projection runs per batch
for the transformations it touched, and a rebuild once for those its extraction left (a shared
``transformationID``, a serial item whose lot another event names)."""

from __future__ import annotations

from projections.framework import quote_ident

DIRTY = "t.tkey = ANY(%(k)s)"
"""The transformations :func:`edges_sql` derives in a batch of the incremental projection: the keys ``%(k)s``."""


def edges_sql(schema: str, *, keys: str) -> str:
    """The statement deriving ``lot_edges`` from non-retracted transformation facts, of the transformations that
    ``keys``, a condition on ``t.tkey``, selects (:data:`DIRTY`, or those a rebuild's extraction left)."""
    s = quote_ident(schema)
    # io is inlined into both sides of the join: materialised, it has no statistics, and a rebuild's plan
    # took 0.5% of its rows per role and merge-joined 1M text keys sorted on disk (1M events: 5.9 s, now 3.7 s)
    return (
        f"WITH io AS NOT MATERIALIZED (SELECT t.tkey, t.role, coalesce(t.lot_id, i.lot_id) AS lot_id "
        f" FROM {s}.transformation_io t LEFT JOIN {s}.items i ON t.lot_id IS NULL AND i.item = t.item "
        f" WHERE {keys} AND NOT EXISTS (SELECT 1 FROM {s}.retractions r WHERE r.event_key = t.event_key)) "
        f"INSERT INTO {s}.lot_edges (src, dst, tkey) "
        f"SELECT DISTINCT a.lot_id, b.lot_id, a.tkey FROM io a JOIN io b ON b.tkey = a.tkey AND b.role = 'out' "
        f"WHERE a.role = 'in' AND a.lot_id IS NOT NULL AND b.lot_id IS NOT NULL ON CONFLICT DO NOTHING"
    )  # (a rebuild runs it before lot_edges has an index: nothing to conflict with, nothing checked)


def stale_edges_sql(schema: str) -> str:
    """The statement deleting every edge of the transformations ``%(k)s``, before :func:`edges_sql` derives them
    again. By lot_edges_fwd rather than an index on tkey of its own (a sixth of a rebuild's index work): an
    edge runs from the lot of one of its transformation's inputs, and every input it was derived from is still
    in transformation_io (facts and items are only ever added), so the inputs of the keys find them all."""
    s = quote_ident(schema)
    return (f"DELETE FROM {s}.lot_edges e USING (SELECT DISTINCT coalesce(t.lot_id, i.lot_id) AS src, t.tkey "
            f" FROM {s}.transformation_io t LEFT JOIN {s}.items i ON t.lot_id IS NULL AND i.item = t.item "
            f" WHERE t.tkey = ANY(%(k)s) AND t.role = 'in') x WHERE e.src = x.src AND e.tkey = x.tkey")
