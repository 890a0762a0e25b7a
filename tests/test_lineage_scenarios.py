"""domain.md §9 scenarios over the real path: publish → Kafka → ingest → store → project → trace."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lotline.render import to_csv
from lotline.wiring import Runtime
from projections.lineage.trace import UnknownLot, trace
from schemas.epcis.identifiers import gs1_check_digit, parse_identifier
from schemas.epcis.model import Action, EPCISEvent, EventType, PartyRef
from tests.lineage_builders import (
    LivePipeline,
    aggregate,
    append_and_project,
    at,
    declare,
    eid,
    harvest,
    lgtin,
    lots_of,
    moves_of,
    pgln,
    project,
    publish_ingest_project,
    receive,
    sgln,
    ship,
    sscc,
    tr,
    transform,
)

F1, DC1, DC2, DC3, STORE9, R3, R4, R5, R6, R7 = 50, 10, 11, 12, 19, 13, 14, 15, 16, 17


def test_1_linear(runtime: Runtime) -> None:
    publish_ingest_project(runtime, [
        harvest("h1", "L1", 1000, "LBR", farm=F1, field=57, minute=0),
        receive("r1", [("L1", 1000, "LBR")], supplier=F1, minute=30),
        transform("pack", [("L1", 1000, "LBR")], [("C1", 100, "CS")], minute=60),
        ship("s-dc1", [("C1", 60, "CS")], customer=DC1, minute=90),
        ship("s-dc2", [("C1", 40, "CS")], customer=DC2, minute=95),
    ])
    fwd = tr(runtime.engine, "L1", "forward")
    assert lots_of(fwd) == {"L1": 0, "C1": 1}
    assert sorted(moves_of(fwd)) == [("C1", pgln(DC1), 60, None), ("C1", pgln(DC2), 40, None)]
    assert [p.party for p in fwd.parties] == [pgln(DC1), pgln(DC2)]
    back = tr(runtime.engine, "C1", "backward")
    assert lots_of(back) == {"C1": 0, "L1": 1}
    assert [(p.party, p.locations) for p in back.parties] == [(pgln(F1), (sgln(F1),))]
    assert moves_of(back) == [("L1", pgln(F1), 1000, None)]
    assert back.movements[0].documents == (("po", "urn:epcglobal:cbv:bt:0614141000012:PO1"),)


MERGE = [
    transform("t1", [("L1", 100, "LBR"), ("L2", 50, "LBR"), ("T8", 40, "LBR")], [("S101", 200, "EA")], minute=10),
    transform("t-other", [("L3", 10, "LBR")], [("S999", 20, "EA")], minute=11),
]


def test_3_merge(runtime: Runtime) -> None:
    publish_ingest_project(runtime, MERGE)
    assert lots_of(tr(runtime.engine, "S101", "backward")) == {"S101": 0, "L1": 1, "L2": 1, "T8": 1}
    assert "S101" in lots_of(tr(runtime.engine, "L2", "forward"))
    assert "S101" not in lots_of(tr(runtime.engine, "L3", "forward"))
    assert "L3" not in lots_of(tr(runtime.engine, "S101", "backward"))


def test_4_multi_level(runtime: Runtime) -> None:
    publish_ingest_project(runtime, [*MERGE, transform("t2", [("S101", 200, "EA"), ("D9", 5, "KGM")],
                                                       [("K55", 50, "CS")], minute=20)])
    assert lots_of(tr(runtime.engine, "L1", "forward")) == {"L1": 0, "S101": 1, "K55": 2}
    assert lots_of(tr(runtime.engine, "K55", "backward")) == {"K55": 0, "S101": 1, "D9": 1, "L1": 2, "L2": 2,
                                                              "T8": 2}


def test_5_diamond_reports_each_lot_once_and_never_doubles_shipments(runtime: Runtime) -> None:
    publish_ingest_project(runtime, [
        transform("ta", [("L1", 50, "LBR")], [("S101", 100, "EA")], minute=1),
        transform("tb", [("L1", 50, "LBR")], [("S102", 100, "EA")], minute=2),
        transform("tk", [("S101", 100, "EA"), ("S102", 100, "EA")], [("K60", 40, "CS")], minute=3),
        ship("sk", [("K60", 40, "CS")], customer=DC1, minute=4),
    ])
    fwd = tr(runtime.engine, "L1", "forward")
    assert lots_of(fwd) == {"L1": 0, "S101": 1, "S102": 1, "K60": 2}
    assert [lot.lot_number for lot in fwd.lots].count("K60") == 1
    assert moves_of(fwd) == [("K60", pgln(DC1), 40, None)]


def test_6_rework_cycle_terminates(runtime: Runtime) -> None:
    publish_ingest_project(runtime, [
        transform("run1", [("X", 10, "KGM"), ("Y", 10, "KGM")], [("P1", 20, "CS")], minute=1),
        transform("run2", [("P1", 20, "CS"), ("Z", 5, "KGM")], [("P2", 25, "CS")], minute=2),
        transform("rework", [("P2", 2, "CS"), ("Y", 10, "KGM")], [("P1", 12, "CS")], minute=3),
    ])
    assert lots_of(tr(runtime.engine, "P1", "forward")) == {"P1": 0, "P2": 1}
    back = lots_of(tr(runtime.engine, "P2", "backward"))
    assert back == {"P2": 0, "P1": 1, "Z": 1, "X": 2, "Y": 2}  # {P1, P2} ∪ inputs(P1) (∪ P2's own inputs)


def test_7_pallet_contents_are_adds_minus_deletes_at_ship_time(runtime: Runtime) -> None:
    s1 = sscc(1)
    live = LivePipeline(runtime).__enter__()
    live.send([
        aggregate("pack-s1", Action.ADD, s1, [("C1", 25, "CS"), ("C2", 25, "CS")], minute=1),
        aggregate("unpack-c2", Action.DELETE, s1, [("C2", 25, "CS")], minute=2),
        ship("ship-s1", customer=DC3, minute=3, epcs=(s1,)),
        aggregate("late-add", Action.ADD, s1, [("C2", 5, "CS")], minute=9),  # after the truck left
    ])
    assert moves_of(tr(runtime.engine, "C1", "forward")) == [("C1", pgln(DC3), 25, "006141410000000012")]
    assert moves_of(tr(runtime.engine, "C2", "forward")) == []
    # DC3 unpacks S1 and ships 10 cases of C1 on to Store 9
    live.send([
        aggregate("dc3-unpack", Action.DELETE, s1, [], minute=20),
        ship("dc3-store9", [("C1", 10, "CS")], customer=STORE9, minute=30, site=sgln(DC3)),
    ])
    fwd = tr(runtime.engine, "C1", "forward")
    assert moves_of(fwd) == [("C1", pgln(DC3), 25, "006141410000000012"), ("C1", pgln(STORE9), 10, None)]
    assert [p.party for p in fwd.parties] == [pgln(DC3), pgln(STORE9)]
    live.__exit__()


def test_7_nested_pallets_cases_with_sscc_inside_a_shipped_pallet(runtime: Runtime) -> None:
    """Cases that carry their own SSCC, aggregated onto a pallet SSCC (a logistics hierarchy): shipping the pallet
    ships what is inside its cases as of the shipping time, at any depth, once, and under the pallet's SSCC."""
    pallet, case1, case2, case3, box = sscc(10), sscc(11), sscc(12), sscc(13), sscc(14)
    cases_onto_pallet = replace(aggregate("cases-on", Action.ADD, pallet, [], minute=3),
                                child_epcs=(case1, case2, case3))
    case3_off = replace(aggregate("case3-off", Action.DELETE, pallet, [], minute=4), child_epcs=(case3,))
    live = LivePipeline(runtime).__enter__()
    live.send([
        aggregate("pack-c1", Action.ADD, case1, [("A", 10, "CS")], minute=1),
        aggregate("pack-c2", Action.ADD, case2, [("B", 5, "CS")], minute=1),
        aggregate("pack-c3", Action.ADD, case3, [("C", 7, "CS")], minute=1),
        aggregate("pack-box", Action.ADD, box, [("D", 2, "CS")], minute=1),
        replace(aggregate("box-in-c2", Action.ADD, case2, [], minute=2), child_epcs=(box,)),  # three levels
        cases_onto_pallet, case3_off,
        # the shipment names the pallet and, as some systems do, a case on it as well: counted once
        ship("ship-pallet", customer=DC1, minute=5, epcs=(pallet, case1)),
        aggregate("late-add", Action.ADD, case1, [("E", 1, "CS")], minute=9),  # after the truck left
    ])
    on_pallet = "006141410000000104"
    assert moves_of(tr(runtime.engine, "A", "forward")) == [("A", pgln(DC1), 10, on_pallet)]
    assert moves_of(tr(runtime.engine, "B", "forward")) == [("B", pgln(DC1), 5, on_pallet)]
    assert moves_of(tr(runtime.engine, "D", "forward")) == [("D", pgln(DC1), 2, on_pallet)]
    assert moves_of(tr(runtime.engine, "C", "forward")) == []  # its case came off before shipping
    assert moves_of(tr(runtime.engine, "E", "forward")) == []
    # an AggregationEvent that ships its child SSCCs on a pallet; received by DC2 as a pallet of cases
    live.send([
        aggregate("pack-c3-again", Action.ADD, case3, [("C", 3, "CS")], minute=20),
        replace(aggregate("agg-ship", Action.ADD, sscc(20), [], minute=21), child_epcs=(case3,),
                biz_step="shipping", destination_list=(PartyRef("owning_party", pgln(DC2)),)),
        receive("dc2-receives", [], supplier=1, minute=22, epcs=(sscc(20),)),
    ])
    assert moves_of(tr(runtime.engine, "C", "forward")) == [("C", pgln(DC2), 10, "006141410000000203")]
    back = tr(runtime.engine, "C", "backward")
    assert moves_of(back) == [("C", pgln(1), 10, "006141410000000203")]
    # an error declaration takes a case off the pallet again, retroactively
    live.send([declare(cases_onto_pallet, "did_not_occur")])
    assert moves_of(tr(runtime.engine, "A", "forward")) == [("A", pgln(DC1), 10, "006141410000000111")]
    assert moves_of(tr(runtime.engine, "B", "forward")) == []
    live.__exit__()


def test_7_nesting_that_goes_deep_or_in_a_circle_still_ends_and_counts_once(runtime: Runtime) -> None:
    """Six boxes, each inside the next, the lot in the innermost; and, as bad data can say, a pallet inside the
    case it holds: traces end, and each shipment counts its lots once."""
    boxes = [sscc(30 + i) for i in range(6)]
    pallet, case = sscc(40), sscc(41)
    events = [aggregate("box-0", Action.ADD, boxes[0], [("D", 4, "CS")], minute=1)]
    events += [replace(aggregate(f"box-{i}", Action.ADD, boxes[i], [], minute=1), child_epcs=(boxes[i - 1],))
               for i in range(1, 6)]
    events += [
        ship("ship-boxes", customer=DC1, minute=2, epcs=(boxes[5],)),
        aggregate("case", Action.ADD, case, [("A", 5, "CS")], minute=1),
        replace(aggregate("case-on-pallet", Action.ADD, pallet, [], minute=2), child_epcs=(case,)),
        replace(aggregate("pallet-in-case", Action.ADD, case, [], minute=3), child_epcs=(pallet,)),
        ship("ship-pallet", customer=DC2, minute=4, epcs=(pallet,)),
        ship("ship-both", customer=DC3, minute=5, epcs=(case, pallet)),
    ]
    append_and_project(runtime.store, events)
    assert moves_of(tr(runtime.engine, "D", "forward")) == [("D", pgln(DC1), 4, "006141410000000357")]
    assert moves_of(tr(runtime.engine, "A", "forward")) == [("A", pgln(DC2), 5, "006141410000000401"),
                                                            ("A", pgln(DC3), 5, "006141410000000401")]


def test_8_error_declaration_incorrect_data_with_corrective_event(runtime: Runtime) -> None:
    e5 = ship("E5", [("C1", 40, "CS")], customer=R3, minute=5)
    e6 = ship("E6", [("C1", 40, "CS")], customer=R4, minute=5)
    with LivePipeline(runtime) as live:
        live.send([e5])
        assert moves_of(tr(runtime.engine, "C1", "forward")) == [("C1", pgln(R3), 40, None)]
        live.send([declare(e5, "incorrect_data", (eid("E6"),)), e6])
    fwd = tr(runtime.engine, "C1", "forward")
    assert moves_of(fwd) == [("C1", pgln(R4), 40, None)]
    assert [p.party for p in fwd.parties] == [pgln(R4)]
    assert [(m.event_id, m.party) for m in fwd.retracted] == [(eid("E5"), pgln(R3))]  # the audit view
    assert fwd.as_dict()["retracted"][0]["event_id"] == eid("E5")


def test_8_error_declaration_did_not_occur(runtime: Runtime) -> None:
    e5 = ship("E5", [("C1", 40, "CS")], customer=R3, minute=5)
    publish_ingest_project(runtime, [transform("p", [("L1", 1, "KGM")], [("C1", 100, "CS")], minute=1), e5,
                                     declare(e5, "did_not_occur")])
    fwd = tr(runtime.engine, "C1", "forward")
    assert moves_of(fwd) == [] and fwd.parties == []
    assert [m.event_id for m in fwd.retracted] == [eid("E5")]


def test_8_a_retracted_transformation_leaves_the_lineage(runtime: Runtime) -> None:
    """A transformation declared did_not_occur takes its edges with it, whether it stands alone or is one half of a
    transformationID (the declaration arriving after the event, in a later projector batch)."""
    mix = transform("mix", [("L1", 10, "KGM")], [("C1", 5, "CS")], minute=1)
    half_in = transform("half-in", [("L2", 10, "KGM")], [], minute=2, transformation_id="urn:tx:bake")
    half_in_too = transform("half-in-too", [("L3", 10, "KGM")], [], minute=2, transformation_id="urn:tx:bake")
    half_out = transform("half-out", [], [("C2", 5, "CS")], minute=3, transformation_id="urn:tx:bake")
    with LivePipeline(runtime) as live:
        live.send([mix, half_in, half_in_too, half_out])
        assert lots_of(tr(runtime.engine, "C1", "backward")) == {"C1": 0, "L1": 1}
        assert lots_of(tr(runtime.engine, "C2", "backward")) == {"C2": 0, "L2": 1, "L3": 1}
        live.send([declare(mix, "did_not_occur"), declare(half_in, "did_not_occur")])
    assert lots_of(tr(runtime.engine, "C1", "backward")) == {"C1": 0}
    assert lots_of(tr(runtime.engine, "L1", "forward")) == {"L1": 0}
    assert lots_of(tr(runtime.engine, "C2", "backward")) == {"C2": 0, "L3": 1}


def test_9_out_of_order_arrival_gives_the_in_order_answer(runtime: Runtime) -> None:
    pack = transform("pack", [("L1", 1000, "LBR")], [("C1", 100, "CS")], minute=10)
    shipment = ship("ship", [("C1", 100, "CS")], customer=DC1, minute=20)
    receipt = receive("recv", [("L1", 1000, "LBR")], supplier=F1, minute=5)
    wrong = ship("wrong", [("C1", 100, "CS")], customer=DC2, minute=21)
    # declaration first, then receive (t3), ship (t2), pack (t1): each arrives in its own ingest+project round
    with LivePipeline(runtime) as live:
        for batch in ([declare(wrong, "did_not_occur")], [receipt], [shipment], [wrong], [pack]):
            live.send(batch)
    fwd = tr(runtime.engine, "L1", "forward")
    assert lots_of(fwd) == {"L1": 0, "C1": 1}
    assert moves_of(fwd) == [("C1", pgln(DC1), 100, None)]
    assert [m.event_id for m in fwd.retracted] == [eid("wrong")]
    back = tr(runtime.engine, "C1", "backward")
    assert lots_of(back) == {"C1": 0, "L1": 1} and [p.party for p in back.parties] == [pgln(F1)]


def _gtin(item: str) -> str:
    """The GTIN-14 of ``lgtin(..., item)``: indicator digit, company prefix, item reference, check digit."""
    body = item[0] + "0614141" + item[1:]
    return body + str(gs1_check_digit(body))


def test_12_lotless_lines_are_ambiguous_and_in_the_scope_of_every_lot_of_their_gtin(runtime: Runtime) -> None:
    """A site holds C1 and C7 (same GTIN) and ships a quantity of the GTIN without a lot: the shipment may hold
    either, so both scopes include it, flagged ambiguous, never dropped; once per trace, with its own quantity."""
    flour, cookie, cracker = "107346", "200000", "300000"  # three GTINs
    idpat = f"urn:epc:idpat:sgtin:0614141.{cookie}.*"
    publish_ingest_project(runtime, [
        receive("flour-lotless", [(f"urn:epc:idpat:sgtin:0614141.{flour}.*", 500, "LBR")], supplier=F1, minute=0),
        transform("bake1", [("L1", 100, "LBR")], [(lgtin("C1", cookie), 100, "CS")], minute=1),
        transform("bake7", [("L7", 50, "LBR")], [(lgtin("C7", cookie), 50, "CS")], minute=2),
        transform("bake9", [("L9", 10, "LBR")], [(lgtin("X9", cracker), 10, "CS")], minute=3),
        ship("lotless", [(idpat, 12, "CS")], customer=R5, minute=5),
        ship("lotless-dl", [(f"https://id.gs1.org/01/{_gtin(cookie)}", 3, "CS")], customer=R6, minute=6),
        ship("mixed", [(lgtin("C1", cookie), 30, "CS"), (idpat, 2, "CS")], customer=R6, minute=7),
        ship("crackers", [(f"urn:epc:idpat:sgtin:0614141.{cracker}.*", 4, "CS")], customer=R7, minute=8),
    ])
    lotless = [(None, pgln(R5), 12, None), (None, pgln(R6), 3, None), (None, pgln(R6), 2, None)]
    c1 = tr(runtime.engine, lgtin("C1", cookie), "forward")
    assert moves_of(c1) == [lotless[0], lotless[1], ("C1", pgln(R6), 30, None), lotless[2]]
    assert [m.ambiguous for m in c1.movements] == [True, True, False, True]
    assert {m.gtin for m in c1.movements} == {_gtin(cookie)}
    assert [(p.party, p.lots) for p in c1.parties] == [
        (pgln(R5), (f"{_gtin(cookie)}/*",)), (pgln(R6), (f"{_gtin(cookie)}/*", f"{_gtin(cookie)}/C1"))]
    assert moves_of(tr(runtime.engine, lgtin("C7", cookie), "forward")) == lotless
    # a trace reaching the GTIN through an ingredient lists each lot-less line once, not once per lot reached
    assert moves_of(tr(runtime.engine, "L1", "forward")) == moves_of(c1)
    assert moves_of(tr(runtime.engine, lgtin("X9", cracker), "forward")) == [(None, pgln(R7), 4, None)]
    # backward: the flour supplier of a lot-less receipt is a possible supplier of every flour lot
    back = tr(runtime.engine, lgtin("C7", cookie), "backward")
    assert lots_of(back) == {"C7": 0, "L7": 1}
    assert moves_of(back) == [(None, pgln(F1), 500, None)] and [p.party for p in back.parties] == [pgln(F1)]
    as_json = c1.as_dict()["shipments"][0]
    assert (as_json["lot_number"], as_json["ambiguous"], as_json["gtin"]) == (None, True, _gtin(cookie))
    rows = to_csv(c1, "shipments").splitlines()
    assert rows[0].endswith(",ambiguous") and rows[1].split(",")[4] == "" and rows[1].endswith(",yes")
    assert rows[3].split(",")[4] == "C1" and rows[3].endswith(",")
    # an error declaration retracts a lot-less line like any other
    with LivePipeline(runtime) as live:
        live.send([declare(ship("lotless", [(idpat, 12, "CS")], customer=R5, minute=5), "did_not_occur")])
    c7 = tr(runtime.engine, lgtin("C7", cookie), "forward")
    assert moves_of(c7) == lotless[1:] and [m.event_id for m in c7.retracted] == [eid("lotless")]


def test_12_lotless_content_of_a_shipped_pallet_is_ambiguous_and_follows_the_pallet_rules(runtime: Runtime) -> None:
    """Content of a GTIN with no lot packed on a pallet travels with it like any content: ADDs minus DELETEs as of
    the shipment, a DELETE of all of it (no quantity) or an emptying of the pallet clearing it; reported once
    per shipment, on the pallet, ambiguous, in the trace of every lot of the GTIN."""
    cookie = "200000"
    idpat, bare = f"urn:epc:idpat:sgtin:0614141.{cookie}.*", f"https://id.gs1.org/01/{_gtin(cookie)}"
    c1, c7 = lgtin("C1", cookie), lgtin("C7", cookie)
    p, q, r = sscc(70), sscc(71), sscc(72)
    publish_ingest_project(runtime, [
        transform("bake1", [("L1", 100, "LBR")], [(c1, 100, "CS")], minute=1),
        transform("bake7", [("L7", 50, "LBR")], [(c7, 50, "CS")], minute=2),
        aggregate("pack-p", Action.ADD, p, [(c1, 10, "CS"), (idpat, 5, "CS")], minute=3),
        aggregate("take-2", Action.DELETE, p, [(idpat, 2, "CS")], minute=4),  # not an emptying: it lists content
        ship("ship-p", customer=R5, minute=5, epcs=(p,)),
        aggregate("pack-q", Action.ADD, q, [(idpat, 4, "CS")], minute=6),
        replace(aggregate("clear-gtin", Action.DELETE, q, [], minute=7), child_epcs=(bare,)),  # all of it, no qty
        aggregate("repack-q", Action.ADD, q, [(c7, 3, "CS"), (idpat, 1, "CS")], minute=8),
        ship("ship-q", customer=R6, minute=9, epcs=(q,)),
        aggregate("pack-r", Action.ADD, r, [(idpat, 6, "CS")], minute=10),
        aggregate("empty-r", Action.DELETE, r, [], minute=11),
        ship("ship-r", customer=R7, minute=12, epcs=(r,)),
    ])
    on_p, on_q = parse_identifier(p).key, parse_identifier(q).key
    assert moves_of(tr(runtime.engine, c1, "forward")) == [
        ("C1", pgln(R5), 10, on_p), (None, pgln(R5), 3, on_p), (None, pgln(R6), 1, on_q)]
    c7_fwd = tr(runtime.engine, c7, "forward")
    assert moves_of(c7_fwd) == [(None, pgln(R5), 3, on_p), ("C7", pgln(R6), 3, on_q), (None, pgln(R6), 1, on_q)]
    assert [m.ambiguous for m in c7_fwd.movements] == [True, False, True]


def test_12_a_serial_item_whose_lot_no_event_names_is_ambiguous_until_one_does(runtime: Runtime) -> None:
    item = "urn:epc:id:sgtin:0614141.107346.4242"  # GTIN 10614141073464, like C1 and C2; its lot not in the URN
    with LivePipeline(runtime) as live:
        live.send([
            transform("bake1", [("L1", 1, "KGM")], [("C1", 10, "EA")], minute=1),
            transform("bake2", [("L2", 1, "KGM")], [("C2", 10, "EA")], minute=2),
            ship("serial", customer=R5, minute=5, epcs=(item,)),
        ])
        for lot in ("C1", "C2"):
            fwd = tr(runtime.engine, lot, "forward")
            assert moves_of(fwd) == [(None, pgln(R5), 1, None)] and fwd.movements[0].ambiguous
        # the item's commissioning (arriving late) says its lot is C2: the line is C2's alone, and certain
        live.send([EPCISEvent(type=EventType.OBJECT, event_id=eid("commission"), event_time=at(3),
                              event_time_zone_offset="-06:00", action=Action.ADD, biz_step="commissioning",
                              epc_list=(item,), ilmd={"cbvmda:lotNumber": "C2"})])
    c2 = tr(runtime.engine, "C2", "forward")
    assert moves_of(c2) == [("C2", pgln(R5), 1, None)] and not c2.movements[0].ambiguous
    assert moves_of(tr(runtime.engine, "C1", "forward")) == []


@pytest.mark.parametrize("order", ["inputs-first", "outputs-first"])
def test_14_split_transformation_shares_transformation_id(runtime: Runtime, order: str) -> None:
    x1 = transform("X1", [("L1", 10, "KGM")], [], minute=1, transformation_id="urn:lotline:tx:TX1")
    x2 = transform("X2", [], [("S200", 10, "CS")], minute=2, transformation_id="urn:lotline:tx:TX1")
    first, second = (x1, x2) if order == "inputs-first" else (x2, x1)
    with LivePipeline(runtime) as live:
        live.send([first])
        only = "L1" if first is x1 else "S200"
        assert lots_of(tr(runtime.engine, only, "forward")) == {only: 0}
        live.send([second])
    assert lots_of(tr(runtime.engine, "L1", "forward")) == {"L1": 0, "S200": 1}
    assert lots_of(tr(runtime.engine, "S200", "backward")) == {"S200": 0, "L1": 1}


def test_unknown_lot_is_a_clear_error(runtime: Runtime) -> None:
    publish_ingest_project(runtime, MERGE)
    with pytest.raises(UnknownLot, match="NOPE"):
        trace(runtime.engine, lgtin("NOPE"), "forward")


def test_projection_is_idempotent_over_repeated_runs(runtime: Runtime) -> None:
    publish_ingest_project(runtime, MERGE)
    project(runtime.engine)
    assert lots_of(tr(runtime.engine, "S101", "backward")) == {"S101": 0, "L1": 1, "L2": 1, "T8": 1}
