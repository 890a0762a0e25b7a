"""EPCIS XML (2.0 and 1.x) read into the same model, and the same hash, as JSON-LD."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from schemas.epcis.errors import EPCISError
from schemas.epcis.event_hash import event_hash_id, prehash_string
from schemas.epcis.model import Action, EventType
from schemas.formats.jsonld import document_events, event_to_json, loads
from schemas.formats.wire import validate_event
from schemas.formats.xml import xml_document_events

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "xml"
GS1_XML = Path(__file__).resolve().parents[2] / "shared" / "gs1-epcis" / "XML"

NOT_CAPTURE_DOCUMENTS = {
    "CBV/CBV-11.4-2020-06-16a.xml": "an EPCISMasterDataDocument (master data only, no events)",
    "Mimasu/Example-masterData.xml": "an EPCISMasterDataDocument (master data only, no events)",
    "CaptureJob/Example-CaptureJobRunning.xml": "an EPCISCaptureJob status report of the REST binding",
    "CaptureJob/Example-CaptureJobSuccess.xml": "an EPCISCaptureJob status report of the REST binding",
    "CaptureJob/Example-CaptureJobWithErrorFile.xml": "an EPCISCaptureJob status report of the REST binding",
    "CaptureJob/Example-CaptureJobWithErrors.xml": "an EPCISCaptureJob status report of the REST binding",
}
"""GS1 XML files that are deliberately not read as capture documents, and why."""

EMPTY_CAPTURE_DOCUMENTS = {"WithFullCombinationOfFields/masterdata_all_possible_fields.xml"}
"""EPCISDocuments whose EventList is empty (they carry master data in the header)."""


def gs1_xml_files() -> list[str]:
    if not GS1_XML.is_dir():
        return []
    return sorted(str(p.relative_to(GS1_XML)) for p in GS1_XML.rglob("*.xml"))


def require_gs1() -> None:
    if not GS1_XML.is_dir():
        pytest.skip(f"GS1 reference documents not found at {GS1_XML} (the repo's sibling ../shared)")


def doc(body: str, ns: str = "urn:epcglobal:epcis:xsd:2", extra: str = "") -> bytes:
    return (f'<epcis:EPCISDocument xmlns:epcis="{ns}" {extra} schemaVersion="2.0" '
            f'creationDate="2025-01-01T00:00:00Z"><EPCISBody><EventList>{body}</EventList></EPCISBody>'
            f"</epcis:EPCISDocument>").encode()


OBSERVE = ("<ObjectEvent><eventTime>2025-01-01T08:00:00+01:00</eventTime>"
           "<eventTimeZoneOffset>+01:00</eventTimeZoneOffset>"
           "<epcList><epc>urn:epc:id:sgtin:0614141.107346.2017</epc></epcList>{action}{more}</ObjectEvent>")


def observe(action: str = "<action>OBSERVE</action>", more: str = "") -> str:
    return OBSERVE.format(action=action, more=more)


@pytest.mark.parametrize("name", gs1_xml_files() or ["<GS1 XML directory absent>"])
def test_every_gs1_capture_document_parses(name: str) -> None:
    require_gs1()
    data = (GS1_XML / name).read_bytes()
    if name in NOT_CAPTURE_DOCUMENTS:
        with pytest.raises(EPCISError, match=r"is not an EPCIS 1\.x/2\.0 EPCISDocument"):
            xml_document_events(data, document=name)
        pytest.skip(f"{name} is {NOT_CAPTURE_DOCUMENTS[name]}")
    events = xml_document_events(data, document=name)
    if name in EMPTY_CAPTURE_DOCUMENTS:
        assert events == []
        return
    assert events
    for event in events:
        validate_event(event)
        assert event_hash_id(event).startswith("ni:///sha-256;")


def test_skip_list_names_existing_files() -> None:
    require_gs1()
    files = set(gs1_xml_files())
    assert set(NOT_CAPTURE_DOCUMENTS) <= files
    assert files >= EMPTY_CAPTURE_DOCUMENTS


def test_gs1_example_maps_fields_into_the_model() -> None:
    require_gs1()
    name = "Example_9.6.1-ObjectEvent-2020_06_18a.xml"
    events = xml_document_events((GS1_XML / name).read_bytes(), document=name)
    first = events[0]
    assert first.type is EventType.OBJECT
    assert first.action is Action.OBSERVE
    assert first.biz_step == "shipping"  # URN vocabulary stored bare
    assert first.disposition == "in_transit"
    assert first.epc_list


def test_epcis_12_extensions_read_like_20_json() -> None:
    """1.x ``<extension>``/``<baseExtension>`` wrappers and a wrapped TransformationEvent give the model (and
    the hash) of the equivalent EPCIS 2.0 JSON-LD document."""
    from_xml = xml_document_events((FIXTURES / "epcis12_events.xml").read_bytes(), document="epcis12.xml")
    json_doc = loads((FIXTURES / "epcis12_events.jsonld").read_bytes())
    from_json = document_events(json_doc, document="epcis12.jsonld")
    assert [e.type for e in from_xml] == [EventType.OBJECT, EventType.TRANSFORMATION]
    shipment = from_xml[0]
    assert shipment.event_id == "urn:uuid:5f1c3a2e-8b7d-4c1a-9e2f-0a1b2c3d4e5f"
    assert shipment.quantity_list[0].quantity == Decimal("40.0")
    assert shipment.source_list[0].type == "owning_party"
    assert shipment.destination_list[0].type == "location"
    assert shipment.biz_transaction_list[0].type == "bol"
    assert shipment.extensions == {"acme:carrier": "Truck 7"}
    assert shipment.namespaces == {"acme": "https://ns.acme.example/epcis/"}
    assert from_xml[1].ilmd == {"acme:packDate": "2025-06-01"}
    assert [prehash_string(e) for e in from_xml] == [prehash_string(e) for e in from_json]


def test_curie_vocabulary_sensor_values_and_extension_prefixes() -> None:
    body = observe(more=(
        "<bizStep>cbv:BizStep-receiving</bizStep>"
        '<readPoint><id>urn:epc:id:sgln:0614141.07346.0</id><ns9:dock>4</ns9:dock></readPoint>'
        "<sensorElementList><sensorElement>"
        '<sensorMetadata time="2025-01-01T07:00:00Z" ns9:probe="p1"/>'
        '<sensorReport type="gs1:Temperature" value="4.50" uom="CEL" booleanValue="true"/>'
        "<ns9:calibrated>yes</ns9:calibrated></sensorElement></sensorElementList>"
        "<ilmd><ns9:lot><ns9:code>A</ns9:code><ns9:code>B</ns9:code></ns9:lot></ilmd>"
    ))
    extra = 'xmlns:cbv="https://ref.gs1.org/cbv/" xmlns:ns9="https://ns.example.com/x/"'
    (event,) = xml_document_events(doc(body, extra=extra), document="t.xml")
    assert event.biz_step == "receiving"
    assert event.read_point_extensions == {"ns9:dock": "4"}
    sensor = event.sensor_element_list[0] if event.sensor_element_list else {}
    assert sensor["sensorMetadata"] == {"time": "2025-01-01T07:00:00Z", "ns9:probe": "p1"}
    assert sensor["sensorReport"] == [{"type": "gs1:Temperature", "value": Decimal("4.50"), "uom": "CEL",
                                       "booleanValue": True}]
    assert sensor["ns9:calibrated"] == "yes"
    assert event.ilmd == {"ns9:lot": {"ns9:code": ["A", "B"]}}
    assert event.namespaces == {"ns9": "https://ns.example.com/x/"}
    assert event_to_json(event)["readPoint"] == {"id": "urn:epc:id:sgln:0614141.07346.0", "ns9:dock": "4"}


def test_prefix_clash_gets_a_fresh_prefix() -> None:
    body = observe(more='<a:x xmlns:a="https://one.example/">1</a:x><a:y xmlns:a="https://two.example/">2</a:y>')
    (event,) = xml_document_events(doc(body), document="t.xml")
    assert event.extensions == {"a:x": "1", "ns1:y": "2"}
    assert event.namespaces == {"a": "https://one.example/", "ns1": "https://two.example/"}


def test_query_document_events_are_read() -> None:
    data = (b'<epcisq:EPCISQueryDocument xmlns:epcisq="urn:epcglobal:epcis-query:xsd:2" schemaVersion="2.0" '
            b'creationDate="2025-01-01T00:00:00Z"><EPCISBody><epcisq:QueryResults><queryName>SimpleEventQuery'
            b"</queryName><resultsBody><EventList>" + observe().encode() +
            b"</EventList></resultsBody></epcisq:QueryResults></EPCISBody></epcisq:EPCISQueryDocument>")
    assert len(xml_document_events(data, document="q.xml")) == 1


def test_errors_name_document_event_and_field() -> None:
    data = doc(observe() + observe(action="<action>SHIP</action>"))
    with pytest.raises(EPCISError) as info:
        xml_document_events(data, document="bad.xml")
    assert (info.value.document, info.value.event_index, info.value.field) == ("bad.xml", 1, "action")

    with pytest.raises(EPCISError) as info:
        xml_document_events(doc(observe(more="<quantityList><quantityElement><epcClass>urn:epc:class:lgtin:"
                                             "4012345.012345.1</epcClass><quantity>many</quantity>"
                                             "</quantityElement></quantityList>")), document="q.xml")
    assert (info.value.event_index, info.value.field) == (0, "quantityList/0/quantity")

    with pytest.raises(EPCISError, match="<colour> is not an EPCIS event field") as info:
        xml_document_events(doc(observe(more="<colour>red</colour>")), document="u.xml")
    assert info.value.field == "colour"


@pytest.mark.parametrize(("data", "message"), [
    (b"<epcis:EPCISDocument", "is not well-formed XML"),
    (b'<EPCISDocument xmlns="urn:example"/>', "is not an EPCIS 1.x/2.0 EPCISDocument"),
    (doc("<QuantityEvent/>", ns="urn:epcglobal:epcis:xsd:1"), "QuantityEvent> is not a supported"),
])
def test_document_level_errors(data: bytes, message: str) -> None:
    with pytest.raises(EPCISError, match=message) as info:
        xml_document_events(data, document="d.xml")
    assert info.value.document == "d.xml"


def test_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    data = (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'.encode()
            + doc(observe(more="<ex:note>&x;</ex:note>"), extra='xmlns:ex="https://ns.example.com/"'))
    try:
        events = xml_document_events(data, document="xxe.xml")
    except EPCISError:
        return  # refusing the document is fine too
    assert "TOP-SECRET" not in repr(events)


def test_a_document_with_a_dtd_is_refused_rather_than_losing_its_entities() -> None:
    """An internal entity (``&e;``) would vanish from the value it stands in: the document is refused, saying
    why, instead of storing a value it did not mean."""
    data = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "Line 2">]>'
            + doc(observe(more="<ex:note>made on &e;</ex:note>"), extra='xmlns:ex="https://ns.example.com/"'))
    with pytest.raises(EPCISError, match=r"uses the entity &e; that its document type declaration") as info:
        xml_document_events(data, document="dtd.xml")
    assert info.value.document == "dtd.xml"
