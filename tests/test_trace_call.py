"""``projections.lineage.trace.trace`` called on a connection the caller holds: the order of the lots, and the
connection's transaction state afterwards (a trace runs alone in autocommit, or commits the caller's
transaction as it always has)."""

from __future__ import annotations

import gc

import pytest
from psycopg2.extensions import TRANSACTION_STATUS_IDLE, TRANSACTION_STATUS_INTRANS

from projections.lineage.trace import TracedLot, UnknownLot, trace
from store.postgres import PostgresEventStore
from store.records import to_new_event
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


def test_a_trace_leaves_the_callers_connection_idle(pg_store: PostgresEventStore) -> None:
    append_and_project(pg_store, [transform("t1", [("L1", 1, "KGM")], [("C1", 1, "KGM")], minute=0)])
    raw = pg_store.engine.raw_connection()
    try:
        dbapi = raw.dbapi_connection
        assert dbapi is not None
        assert [lot.lot_number for lot in trace(raw, lgtin("L1"), "forward").lots] == ["L1", "C1"]
        assert dbapi.info.transaction_status == TRANSACTION_STATUS_IDLE and not dbapi.autocommit
        with pytest.raises(UnknownLot):
            trace(raw, lgtin("NOPE"), "forward")
        assert dbapi.info.transaction_status == TRANSACTION_STATUS_IDLE and not dbapi.autocommit
        # a transaction the caller has open is committed, as before
        cur = raw.cursor()
        cur.execute("CREATE TABLE public.trace_call_probe (x integer)")
        cur.execute("INSERT INTO public.trace_call_probe VALUES (1)")
        assert dbapi.info.transaction_status == TRANSACTION_STATUS_INTRANS
        assert len(trace(raw, lgtin("C1"), "backward").lots) == 2
        assert dbapi.info.transaction_status == TRANSACTION_STATUS_IDLE and not dbapi.autocommit
    finally:
        raw.close()
    other = pg_store.engine.raw_connection()
    try:
        cur = other.cursor()
        cur.execute("SELECT x FROM public.trace_call_probe")
        assert cur.fetchall() == [(1,)]
    finally:
        other.close()


def test_the_cyclic_collector_is_restored_as_the_caller_had_it(pg_store: PostgresEventStore) -> None:
    """A trace pauses the collector while it builds its answer (store/gcpolicy.py), and gives it back."""
    append_and_project(pg_store, [transform("t1", [("L1", 1, "KGM")], [("C1", 1, "KGM")], minute=0)])
    assert gc.isenabled()
    trace(pg_store.engine, lgtin("L1"), "forward")
    assert gc.isenabled()
    with pytest.raises(UnknownLot):
        trace(pg_store.engine, lgtin("NOPE"), "forward")
    assert gc.isenabled()
    gc.disable()
    try:
        trace(pg_store.engine, lgtin("L1"), "forward")
        assert not gc.isenabled()  # a caller that paused it keeps it paused
    finally:
        gc.enable()


def test_a_lineage_in_a_schema_whose_name_must_be_quoted_is_traced(pg_store: PostgresEventStore) -> None:
    """Schema names reach SQL quoted (``quote_ident``), the checkpoint look-up and the prepared statement's
    name included: ``order`` is a reserved word, which PostgreSQL takes as a name only in quotes."""
    from projections.framework import transaction
    from projections.lineage.trace import checkpoint_position
    from tests.lineage_builders import project

    pg_store.append([to_new_event(transform("t1", [("L1", 1, "KGM")], [("C1", 1, "KGM")], minute=0))])
    project(pg_store.engine, schema="order")
    back = trace(pg_store.engine, lgtin("C1"), "backward", schema="order")
    assert [lot.lot_number for lot in back.lots] == ["C1", "L1"] and back.position == 1
    with transaction(pg_store.engine) as cur:
        assert checkpoint_position(cur, "order") == 1
        assert checkpoint_position(cur, "no_such_schema") is None
        cur.execute("""CREATE SCHEMA "it's" """)  # once spliced as to_regclass('it's.checkpoint'): broken SQL
        with pytest.raises(ValueError, match="unsafe schema name"):
            checkpoint_position(cur, "it's")
