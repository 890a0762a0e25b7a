"""``projections.trace.trace`` as a caller sees it: the order of the lots and the lot objects."""

from __future__ import annotations

from consumers.store.postgres import PostgresEventStore
from projections.trace import TracedLot, trace
from tests.lineage_builders import append_and_project, lgtin, transform


def test_lots_come_by_depth_then_gtin_then_lot_in_code_point_order(pg_store: PostgresEventStore) -> None:
    append_and_project(pg_store, [
        transform("t0", [("Z", 1, "KGM")], [("b", 1, "KGM")], minute=0),
        # GTIN 00614141073467 sorts before 10614141073464; "B" before "b" in code point order
        transform("t1", [("b", 1, "KGM"), ("B", 1, "KGM"), ("A2", 1, "KGM"), (lgtin("Y", "007346"), 1, "KGM")],
                  [("X", 1, "KGM")], minute=1),
    ])
    back = trace(pg_store.engine, lgtin("X"), "backward")
    assert [(lot.gtin, lot.lot_number, lot.depth) for lot in back.lots] == [
        ("10614141073464", "X", 0),
        ("00614141073467", "Y", 1), ("10614141073464", "A2", 1), ("10614141073464", "B", 1),
        ("10614141073464", "b", 1),
        ("10614141073464", "Z", 2)]
    first = back.lots[0]
    assert isinstance(first, TracedLot) and first.identifiers == ("urn:epc:class:lgtin:0614141.107346.X",)
    assert hash(first) == hash(TracedLot(first.gtin, first.lot_number, 0, first.identifiers))
    assert back.as_dict()["lots"][0] == {"gtin": "10614141073464", "lot_number": "X", "depth": 0,
                                         "identifiers": ["urn:epc:class:lgtin:0614141.107346.X"]}
