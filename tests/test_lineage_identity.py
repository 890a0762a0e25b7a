"""domain.md §9 scenarios 10 (duplicates across XML and JSON-LD) and 13 (identifier equivalence), real path."""

from __future__ import annotations

from lotline.wiring import Runtime
from producers.capture import parse_document
from schemas.epcis.model import Action, EPCISEvent, EventType
from tests.lineage_builders import (
    LivePipeline,
    at,
    lots_of,
    moves_of,
    pgln,
    publish_ingest_project,
    ship,
    tr,
    transform,
)

XML_SHIPMENT = b"""<?xml version="1.0" encoding="UTF-8"?>
<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0"
    creationDate="2026-06-01T00:00:00Z">
  <EPCISBody><EventList><ObjectEvent>
    <eventTime>2026-06-01T03:30:00.000-06:00</eventTime>
    <eventTimeZoneOffset>-06:00</eventTimeZoneOffset>
    <quantityList><quantityElement>
      <epcClass>urn:epc:class:lgtin:0614141.107346.C1</epcClass><quantity>40</quantity><uom>CS</uom>
    </quantityElement></quantityList>
    <action>OBSERVE</action>
    <bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep>
    <disposition>urn:epcglobal:cbv:disp:in_transit</disposition>
    <readPoint><id>urn:epc:id:sgln:0614141.00001.0</id></readPoint>
    <extension>
      <destinationList>
        <destination type="urn:epcglobal:cbv:sdt:owning_party">urn:epc:id:pgln:0614141.00010</destination>
      </destinationList>
    </extension>
  </ObjectEvent></EventList></EPCISBody>
</epcis:EPCISDocument>
"""

JSON_SHIPMENT = b"""{
  "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
  "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-06-01T00:00:00Z",
  "epcisBody": {"eventList": [{
    "type": "ObjectEvent", "eventTime": "2026-06-01T09:30:00Z", "eventTimeZoneOffset": "-06:00",
    "quantityList": [{"epcClass": "urn:epc:class:lgtin:0614141.107346.C1", "quantity": 40, "uom": "CS"}],
    "action": "OBSERVE", "bizStep": "shipping", "disposition": "in_transit",
    "readPoint": {"id": "urn:epc:id:sgln:0614141.00001.0"},
    "destinationList": [{"type": "owning_party", "destination": "urn:epc:id:pgln:0614141.00010"}]
  }]}
}"""


def test_10_duplicate_across_xml_and_jsonld_counts_once(runtime: Runtime) -> None:
    (from_xml,) = parse_document(XML_SHIPMENT, "ship.xml")
    (from_json,) = parse_document(JSON_SHIPMENT, "ship.jsonld")
    assert from_xml.event_id is None and from_json.event_id is None
    pack = transform("pack", [("L1", 10, "KGM")], [("C1", 100, "CS")], minute=-60)
    publish_ingest_project(runtime, [pack, from_xml, from_json, from_json])
    assert runtime.store.count() == 2  # the pack and one shipment
    fwd = tr(runtime.engine, "L1", "forward")
    assert moves_of(fwd) == [("C1", pgln(10), 40, None)]
    assert fwd.movements[0].event_id.startswith("ni:///sha-256;")  # identity = the CBV 2.0 event hash


def test_10_same_event_id_with_other_content_is_rejected_and_counts_once(runtime: Runtime) -> None:
    first = ship("dup", [("C1", 40, "CS")], customer=10, minute=1)
    changed = ship("dup", [("C1", 99, "CS")], customer=11, minute=1)
    with LivePipeline(runtime) as live:
        live.send([transform("pack", [("L1", 1, "KGM")], [("C1", 100, "CS")], minute=0), first])
        live.send([changed], expect=0)
    publish_ingest_project(runtime, [])  # drain whatever the worker had not consumed yet, then project
    assert runtime.store.count() == 2
    assert moves_of(tr(runtime.engine, "C1", "forward")) == [("C1", pgln(10), 40, None)]


def _obj(name: str, minute: int, **fields: object) -> EPCISEvent:
    return EPCISEvent(type=EventType.OBJECT, event_id=f"urn:lotline:test:{name}", event_time=at(minute),
                      event_time_zone_offset="+00:00", **fields)  # type: ignore[arg-type]


def test_13_identifier_forms_are_one_lot(runtime: Runtime) -> None:
    urn = "urn:epc:class:lgtin:0614141.107346.ABC"
    dl = "https://id.gs1.org/01/10614141073464/10/ABC"
    brand = "https://brand.example/01/10614141073464/10/ABC?17=261231"
    lower = "https://id.gs1.org/01/10614141073464/10/abc"
    gtin13 = "https://id.gs1.org/01/4012345123456/10/X1"
    sgtin = "urn:epc:id:sgtin:0614141.107346.2017"
    publish_ingest_project(runtime, [
        transform("make", [(urn, 5, "KGM")], [("OUT1", 10, "CS")], minute=1),
        transform("make2", [(dl, 5, "KGM")], [("OUT2", 10, "CS")], minute=2),
        transform("make3", [(brand, 5, "KGM")], [("OUT3", 10, "CS")], minute=3),
        transform("make4", [(lower, 5, "KGM")], [("OUT4", 10, "CS")], minute=4),
        transform("make5", [(gtin13, 5, "KGM")], [("OUT5", 10, "CS")], minute=5),
        _obj("commission", 6, action=Action.ADD, biz_step="commissioning", epc_list=(sgtin,),
             ilmd={"cbvmda:lotNumber": "ABC"}),
        ship("ship-item", customer=10, minute=7, epcs=(sgtin,)),
    ])
    for form in (urn, dl, brand, "10614141073464/ABC"):
        fwd = tr(runtime.engine, form, "forward")
        assert lots_of(fwd) == {"ABC": 0, "OUT1": 1, "OUT2": 1, "OUT3": 1}
        assert set(fwd.lots[0].identifiers) == {urn, dl, brand}
        assert moves_of(fwd) == [("ABC", pgln(10), 1, None)]  # the SGTIN resolved to lot ABC by its ILMD
    assert lots_of(tr(runtime.engine, lower, "forward")) == {"abc": 0, "OUT4": 1}
    back = tr(runtime.engine, "OUT5", "backward")
    assert [(lot.gtin, lot.lot_number) for lot in back.lots] == [("10614141073464", "OUT5"),
                                                                ("04012345123456", "X1")]


def test_13_sgtin_shipped_before_its_commissioning_resolves_later(runtime: Runtime) -> None:
    sgtin = "urn:epc:id:sgtin:0614141.107346.777"
    with LivePipeline(runtime) as live:
        live.send([ship("ship-first", customer=10, minute=7, epcs=(sgtin,)),
                   transform("mk", [("FLOUR", 5, "KGM")], [("ABC", 10, "CS")], minute=1)])
        # its lot unknown yet, the item may be of any lot of its GTIN: in ABC's trace, but ambiguous
        before = tr(runtime.engine, "ABC", "forward")
        assert moves_of(before) == [(None, pgln(10), 1, None)] and before.movements[0].ambiguous
        live.send([_obj("commission", 6, action=Action.ADD, biz_step="commissioning", epc_list=(sgtin,),
                        ilmd={"cbvmda:lotNumber": "ABC"})])
    fwd = tr(runtime.engine, "FLOUR", "forward")
    assert moves_of(fwd) == [("ABC", pgln(10), 1, None)]
