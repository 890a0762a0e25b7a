"""The bulk load of a rebuild (projections/lineage/bulk.py, with the rows extracted by
projections/lineage/extract.py) produces exactly the tables the incremental projection produces: on a simulated
bakery (corrections, splits, merges, rework, pallets, unpacks) plus crafted edge cases, delivered in order,
shuffled and redelivered; and a rebuild that fails, while loading or after, leaves the live lineage as it was."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from producers.simulate import config_for_events, simulate
from projections.framework import quote_ident, read_rows
from projections.lineage import bulk
from projections.lineage.ddl import TABLES
from projections.lineage.projection import LineageProjection
from projections.lineage.replay import build_as_of, rebuild
from schemas.epcis.model import Action, BizTransaction, EPCISEvent, EventType, PartyRef, QuantityElement
from store.postgres import PostgresEventStore
from store.records import to_new_event
from tests.lineage_builders import aggregate, at, declare, lgtin, pgln, project, receive, sgln, ship, sscc, transform

_LOT_COLUMNS = {"lot_id", "src", "dst"}


def snapshot(engine: Engine, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every lineage table as a sorted list of rows, lot ids replaced by GTIN/LOT (ids are internal)."""
    s = quote_ident(schema)
    out: dict[str, list[tuple[Any, ...]]] = {}
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, spec in TABLES.items():
            cols = [c.split()[0] for c in spec.split(",") if c.strip()]
            if table == "lots":
                cols = [c for c in cols if c != "id"]
            select = ", ".join(f"(SELECT l.gtin || '/' || l.lot FROM {s}.lots l WHERE l.id = t.{c})"
                               if c in _LOT_COLUMNS else f"t.{c}" for c in cols)
            cur.execute(f"SELECT {select} FROM {s}.{table} t")
            rows = [tuple(v.normalize() if isinstance(v, Decimal) else v for v in r) for r in cur.fetchall()]
            out[table] = sorted(rows, key=repr)
    finally:
        raw.close()
    return out


def _obj(name: str, minute: int, **fields: Any) -> EPCISEvent:
    return EPCISEvent(type=EventType.OBJECT, event_id=f"urn:lotline:test:{name}", event_time=at(minute),
                      event_time_zone_offset="-06:00", **fields)


def _q(epc: str, n: int | str | None = 5, uom: str | None = "KGM") -> QuantityElement:
    return QuantityElement(epc, None if n is None else Decimal(str(n)), uom if n is not None else None)


def edge_cases() -> list[EPCISEvent]:
    """Events exercising every rule of the extraction, in the forms the simulation does not produce."""
    urn = "urn:epc:class:lgtin:0614141.107346.ABC"
    sg = "urn:epc:id:sgtin:0614141.107346.2017"
    sg2 = "urn:epc:id:sgtin:0614141.107346.2018"
    dl_item = "https://brand.example/01/10614141073464/10/DL1/21/77?x=1"
    pallet, pallet2 = sscc(900), sscc(901)
    made = transform("mk-edge", [("https://brand.example/01/10614141073464/10/ABC?17=261231", 5, "KGM"),
                                 ("https://id.gs1.org/01/4012345123456/10/X1", 2, "KGM"),
                                 ("urn:epc:class:lgtin:0614141.107346.P%2FQ", 1, "KGM"),
                                 ("URN:EPC:CLASS:LGTIN:0614141.107346.UP", 1, "KGM"),
                                 ("urn:epc:class:lgtin:0614141.107346.", 1, "KGM"),
                                 ("https://id.gs1.org/01/10614141073465/10/BADCHECK", 1, "KGM"),
                                 ("urn:epc:class:lgtin:0614141.107346.A.B", 1, "KGM"),
                                 (urn, 3, "KGM")],
                     [("OUT-E1", 10, "CS")], minute=1)
    made = replace(made, input_epc_list=(sg, "urn:epc:id:sgtin:0614141.107346.ZZ"),
                   output_epc_list=(dl_item,), output_quantity_list=(*made.output_quantity_list, _q(sg2, None)),
                   ilmd={"lotNumber": "IL1"})
    half_a = transform("tx-a", [("FLOUR-E", 5, "KGM")], [], minute=2, transformation_id="urn:tx:split")
    half_b = transform("tx-b", [], [("OUT-E2", 7, "CS")], minute=3, transformation_id="urn:tx:split")
    rework = transform("rework", [("OUT-E2", 1, "CS")], [("FLOUR-E", 1, "KGM")], minute=4)
    commission = _obj("commission", 5, action=Action.ADD, biz_step="commissioning", epc_list=(sg, sg2),
                      quantity_list=(_q(lgtin("ORIG-E"), 9, "CS"),),
                      ilmd={"cbvmda:lotNumber": "", "urn:epcglobal:cbv:mda#lotNumber": "ILMD-LOT"})
    commission_url = _obj("commission-dl", 5, action=Action.ADD, biz_step="commissioning",
                          epc_list=("https://id.gs1.org/01/10614141073464/21/99",), ilmd={"lotNumber": 7})
    pack = aggregate("pack-edge", Action.ADD, pallet, [("OUT-E1", 4, "CS"), ("OUT-E2", 2, "CS")], minute=6)
    pack = replace(pack, child_epcs=(sg, pallet2))
    nested = aggregate("nest", Action.ADD, pallet2, [], minute=6)
    nested = replace(nested, child_epcs=(sscc(902),))
    not_sscc = aggregate("not-sscc", Action.ADD, "urn:epc:id:sgln:0614141.00001.0", [("OUT-E1", 1, "CS")],
                         minute=6)
    unpack_one = aggregate("unpack-one", Action.DELETE, pallet, [("OUT-E2", 1, "CS")], minute=7)
    empty = aggregate("empty", Action.DELETE, pallet2, [], minute=8)
    unnest = replace(aggregate("unnest", Action.DELETE, pallet, [], minute=8), child_epcs=(pallet2,))
    ship_cases = replace(aggregate("ship-cases", Action.ADD, sscc(904), [("OUT-E1", 1, "CS")], minute=10),
                         child_epcs=(pallet2, sscc(903), pallet2), biz_step="shipping",
                         destination_list=(PartyRef("owning_party", pgln(25)),))
    observe_agg = aggregate("observe-agg", Action.OBSERVE, pallet, [("OUT-E1", 1, "CS")], minute=8)
    ship_pallet = ship("ship-pallet", customer=21, minute=9, epcs=(pallet, sscc(903), pallet, sg2),
                       items=[("OUT-E1", 1, "CS")])
    ship_pallet = replace(ship_pallet, biz_transaction_list=(BizTransaction("urn:doc:1", None),
                                                              BizTransaction("urn:doc:2", "po")),
                          destination_list=(PartyRef("location", sgln(22)), PartyRef("owning_party", pgln(21)),
                                            PartyRef("owning_party", pgln(23))))
    agg_ship = replace(aggregate("agg-ship", Action.OBSERVE, pallet, [("OUT-E1", 2, "CS")], minute=10),
                       biz_step="shipping", destination_list=(PartyRef("owning_party", pgln(24)),))
    agg_ship_bare = replace(aggregate("agg-ship-bare", Action.OBSERVE, pallet, [], minute=11),
                            biz_step="shipping")
    recv = receive("recv-edge", [("FLOUR-E", 5, "KGM"), (urn, 1, "KGM"),  # FLOUR-E by another name, 12 events on
                                 ("https://id.gs1.org/01/10614141073464/10/FLOUR-E", 2, "KGM")],
                   supplier=30, minute=0, epcs=(dl_item,))
    recv_nothing = receive("recv-nothing", [], supplier=31, minute=0, epcs=("urn:epc:id:sgln:0614141.00001.0",))
    add_lot = _obj("add-lot", 0, action=Action.ADD, biz_step="creating_class_instance",
                   quantity_list=(_q(lgtin("ORIG-E"), 10, "KGM"), _q(lgtin("ORIG-E"), 10, "KGM")),
                   read_point=sgln(5))
    txn = EPCISEvent(type=EventType.TRANSACTION, event_id="urn:lotline:test:txn", event_time=at(12),
                     event_time_zone_offset="+01:00", action=Action.ADD, biz_step="shipping",
                     epc_list=(sg,), quantity_list=(_q(lgtin("TXN-LOT"), 1, "CS"),),
                     biz_transaction_list=(BizTransaction("urn:doc:t", "po"),))
    assoc = EPCISEvent(type=EventType.ASSOCIATION, event_id="urn:lotline:test:assoc", event_time=at(12),
                       event_time_zone_offset="+00:00", action=Action.ADD, parent_id=pallet,
                       child_quantity_list=(_q(lgtin("ASSOC-LOT"), 1, "EA"),), ilmd={"lotNumber": "X"})
    wrong = ship("wrong", [("OUT-E1", 3, "CS")], customer=40, minute=13)
    early_decl = declare(ship("declared-first", [("OUT-E2", 1, "CS")], customer=41, minute=14))
    declared_later = ship("declared-first", [("OUT-E2", 1, "CS")], customer=41, minute=14)
    # the client-side extraction reads COPY text and orjson floats: digits a double cannot hold, backslashes
    # (escaped by COPY), non-ASCII text, an event without eventID and a receipt with a zero quantity
    exact = receive("exact", [("EXACT-E", "1234567.891234567891", "KGM"), ("EXACT-E2", "0.000001", "KGM"),
                              ("EXACT-E3", "0", "KGM")], supplier=32, minute=15, doc="PO\\1 \u00e9\u4e2d")
    exact = replace(exact, biz_location="urn:epc:id:sgln:0614141.00001.caf\u00e9\\x", event_id=None,
                    source_list=(PartyRef("owning_party", "urn:lotline:party:b\\\u00e4cker"),))
    # a transformation whose input is a serial item that only a later commissioning names the lot of
    item_later = "urn:epc:id:sgtin:0614141.107346.3001"
    uses_item = replace(transform("uses-item", [], [("OUT-E3", 2, "CS")], minute=16), input_epc_list=(item_later,))
    names_item = _obj("names-item", 17, action=Action.ADD, biz_step="commissioning", epc_list=(item_later,),
                      ilmd={"lotNumber": "LATE-LOT"})
    # GTINs without a lot (scenario 12): kept as lot-less movement lines, left out of transformations and pallets
    gtin_only, gtin_dl = "urn:epc:idpat:sgtin:0614141.107346.*", "https://id.gs1.org/01/10614141073464"
    ship_lotless = replace(ship("ship-lotless", [(gtin_only, 6, "CS"), ("OUT-E1", 1, "CS"), (gtin_only, 2, "CS")],
                                customer=42, minute=18), epc_list=(gtin_dl, pallet),
                           quantity_list=(_q(gtin_only, 6, "CS"), _q(lgtin("OUT-E1"), 1, "CS"),
                                          _q("https://id.gs1.org/01/4012345123456", "2.5", None)))
    mixed_tx = transform("tx-lotless", [("FLOUR-E", 1, "KGM"), (gtin_only, 3, "KGM")], [("OUT-E4", 1, "CS")],
                         minute=18)
    pack_lotless = aggregate("pack-lotless", Action.ADD, pallet, [(gtin_only, 3, "CS")], minute=18)
    unpack_lotless = aggregate("unpack-lotless", Action.DELETE, pallet, [(gtin_only, 1, "CS")], minute=19)
    agg_ship_lotless = replace(aggregate("agg-ship-lotless", Action.ADD, sscc(905), [(gtin_only, 4, "CS")],
                                         minute=19), biz_step="shipping")
    recv_lotless = receive("recv-lotless", [(gtin_dl, 7, "KGM")], supplier=33, minute=19)
    ship_serial = ship("ship-serial", customer=43, minute=20, epcs=("urn:epc:id:sgtin:0614141.107346.4242",))
    lotless = [ship_lotless, mixed_tx, pack_lotless, unpack_lotless, agg_ship_lotless, recv_lotless, ship_serial]
    return [early_decl, exact, made, half_b, rework, commission, commission_url, pack, nested, not_sscc, unpack_one,
            empty, unnest, ship_cases, observe_agg, ship_pallet, agg_ship, agg_ship_bare, recv, recv_nothing, add_lot,
            txn, assoc,
            wrong, half_a, declare(wrong, "did_not_occur", ("urn:lotline:test:none",)), declared_later,
            declare(rework, "did_not_occur"), declare(half_b), uses_item, names_item, *lotless]


def _load(store: PostgresEventStore, n: int = 1500, seed: int = 4) -> None:
    events = list(simulate(config_for_events(n, seed=seed, load_probability=0.3), limit=n))  # loads: SSCCs in SSCCs
    for i in range(0, len(events), 500):
        store.append([to_new_event(e) for e in events[i:i + 500]])
    for e in edge_cases():
        store.append([to_new_event(e)])


def _shuffled_incremental(engine: Engine, schema: str) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        rows = read_rows(cur, 0, 10**6)
        random.Random(7).shuffle(rows)
        projection = LineageProjection()
        projection.create(cur, schema)
        for i in range(0, len(rows), 41):
            projection.apply(cur, schema, rows[i:i + 41])
        projection.apply(cur, schema, rows[:60])  # redelivered
        raw.commit()
    finally:
        raw.close()


@pytest.mark.parametrize("chunk", [bulk.CHUNK, 7], ids=["one chunk", "chunks of 7"])
def test_bulk_load_equals_the_incremental_projection(pg_store: PostgresEventStore,
                                                        monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """In chunks of 7, a lot's row is written before some of its identifiers are seen (the edge cases name lot
    ABC by a Digital Link, then by its URN 15 events later), and items and lots meet across chunks."""
    monkeypatch.setattr(bulk, "CHUNK", chunk)
    _load(pg_store)
    engine = pg_store.engine
    project(engine)
    live = snapshot(engine, "lineage")
    assert all(live[t] for t in TABLES), [t for t in TABLES if not live[t]]
    late = [(src, dst) for src, dst, _ in live["lot_edges"] if dst.endswith("/OUT-E3")]
    assert late == [("10614141073464/LATE-LOT", "10614141073464/OUT-E3")]  # the item's lot, named later
    assert not [e for e in live["lot_edges"] if e[0].endswith("/OUT-E2")]  # the rework was retracted
    rebuilt = build_as_of(engine, pg_store.head())
    assert rebuilt.rows == pg_store.head()
    built = snapshot(engine, rebuilt.schema)
    for table in TABLES:
        assert built[table] == live[table], table
    _shuffled_incremental(engine, "shuffled")
    shuffled = snapshot(engine, "shuffled")
    for table in TABLES:
        assert shuffled[table] == live[table], table


def test_an_item_named_twice_with_two_lots_in_one_event_takes_the_last(pg_store: PostgresEventStore) -> None:
    """Items: one serial with two lots in its links in one event: both lots are seen, the item is the
    last one's (in the incremental projection and in a rebuild alike); no other event says otherwise."""
    first, second = ("https://id.gs1.org/01/10614141073464/10/TWICE1/21/88",
                     "https://id.gs1.org/01/10614141073464/10/TWICE2/21/88")
    pg_store.append([to_new_event(_obj("twice", 1, action=Action.ADD, biz_step="commissioning",
                                       epc_list=(first, second)))])
    engine = pg_store.engine
    project(engine)
    rebuilt = build_as_of(engine, pg_store.head())
    for schema in ("lineage", rebuilt.schema):
        tables = snapshot(engine, schema)
        assert tables["items"] == [("https://id.gs1.org/01/10614141073464/21/88", "10614141073464/TWICE2")], schema
        assert [lot for lot in tables["lots"] if lot[1].startswith("TWICE")] == [
            ("10614141073464", "TWICE1", []), ("10614141073464", "TWICE2", [])], schema


def test_projectors_taking_turns_on_one_schema_agree_on_lot_ids(pg_store: PostgresEventStore) -> None:
    """Two projections (as two ``lotline project`` processes serialised on the projection's lock) taking turns on
    one schema, each knowing only the lots it met itself: each takes the ids the schema holds for lots the other
    stored, and numbers new ones after the schema's highest, whoever stored it."""
    _load(pg_store, n=600, seed=5)
    engine = pg_store.engine
    project(engine)
    live = snapshot(engine, "lineage")
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        rows = read_rows(cur, 0, 10**6)
        turns = (LineageProjection(), LineageProjection())
        turns[0].create(cur, "turns")
        for n, i in enumerate(range(0, len(rows), 50)):
            turns[n % 2].apply(cur, "turns", rows[i:i + 50])
        raw.commit()
    finally:
        raw.close()
    assert snapshot(engine, "turns") == live


def test_replay_from_zero_equals_live(pg_store: PostgresEventStore) -> None:
    _load(pg_store, n=800, seed=12)
    engine = pg_store.engine
    project(engine, batch_size=97)
    live = snapshot(engine, "lineage")
    live_indexes = _indexes(engine, "lineage")
    rebuild(engine)
    assert snapshot(engine, "lineage") == live
    assert _indexes(engine, "lineage") == live_indexes  # every index, though each lane builds its own tables'
    assert not _schemas(engine, "lineage\\_%")  # staging tables, build and old schemas are gone


@pytest.mark.parametrize("where", ["load", "load, after the last read", "finish"])
def test_a_failed_rebuild_leaves_the_live_lineage_and_no_build_behind(pg_store: PostgresEventStore,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     where: str) -> None:
    _load(pg_store, n=300, seed=13)
    engine = pg_store.engine
    project(engine)
    live = snapshot(engine, "lineage")
    write_rows, finish_table = bulk.write_rows, bulk.finish_table
    written: list[int] = []

    def failing_write(cur: Any, schema: str, rows: dict[str, list[str]]) -> None:
        if where == "load, after the last read":  # the reader has read all four chunks by the time it fails
            time.sleep(1.0)
            raise RuntimeError("disk full")
        if written:  # the second chunk, with the first one COPYed in the same transaction
            raise RuntimeError("disk full")
        written.append(1)
        write_rows(cur, schema, rows)

    def failing_finish(cur: Any, schema: str, table: str, analyzed: tuple[str, ...]) -> None:
        if table == "movements":  # in a lane, after the load and other lanes' tables committed
            raise RuntimeError("disk full")
        finish_table(cur, schema, table, analyzed)

    if where.startswith("load"):
        monkeypatch.setattr(bulk, "CHUNK", 100)
        monkeypatch.setattr(bulk, "write_rows", failing_write)
    else:
        monkeypatch.setattr(bulk, "finish_table", failing_finish)
    with pytest.raises(RuntimeError, match="disk full"):
        rebuild(engine)
    assert snapshot(engine, "lineage") == live
    assert _schemas(engine, "lineage\\_%") == []


def _indexes(engine: Engine, schema: str) -> set[tuple[str, str]]:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT indexname, regexp_replace(indexdef, ' ON \\S+ ', ' ON ') FROM pg_indexes"
                    " WHERE schemaname = %s", (schema,))
        indexes = {(str(n), str(d)) for n, d in cur.fetchall()}
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename LIKE '\\_%%'", (schema,))
        assert cur.fetchone()[0] == 0, "staging tables left"
        return indexes
    finally:
        raw.close()


def _schemas(engine: Engine, pattern: str) -> list[str]:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (pattern,))
        return [str(r[0]) for r in cur.fetchall()]
    finally:
        raw.close()
