"""CBV 2.0 event hash IDs: domain.md §5's verified example, reference vectors and GS1's identical-hash set.

Fixtures under ``tests/fixtures/hash/`` are short documents rebuilt from the public test vectors of
``RalphTro/epcis-event-hash-generator`` (``tests/examples/expected/CBV2.0``); each ``.prehashes`` file holds
the expected pre-hash string of every event, one a line, and ``.hashes`` (when present) the expected IDs.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.epcis.event_hash import canonical_value, event_hash_id, hash_timestamp, prehash_string
from schemas.epcis.model import (
    Action,
    BizTransaction,
    EPCISEvent,
    ErrorDeclaration,
    EventType,
    PartyRef,
    QuantityElement,
)
from schemas.formats.jsonld import document_events, loads
from schemas.formats.xml import xml_document_events

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "hash"
SHARED = Path(__file__).resolve().parents[2] / "shared"
HASH_ID_DIR = SHARED / "gs1-epcis" / "XML" / "WithEventHashID"

DOMAIN_PREHASH = (
    "eventType=ObjectEventeventTime=2022-02-17T02:33:31.116ZeventTimeZoneOffset=-06:00"
    "epcListepc=https://id.gs1.org/01/10614141073464/21/2017epc=https://id.gs1.org/01/10614141073464/21/2018"
    "action=OBSERVEbizStep=https://ref.gs1.org/cbv/BizStep-shippingdisposition=https://ref.gs1.org/cbv/"
    "Disp-in_transitreadPointid=https://id.gs1.org/414/0614141073467/254/1234bizTransactionListtype="
    "https://ref.gs1.org/cbv/BTT-pobizTransaction=http://transaction.acme.com/po/12345678"
)
DOMAIN_HASH = "ffa491b16867e34a7791a8d5389d826afc24e63a121026b6a4004ace38631b4b"


def read_events(path: Path) -> list[EPCISEvent]:
    data = path.read_bytes()
    if path.suffix == ".xml":
        return xml_document_events(data, document=path.name)
    return document_events(loads(data), document=path.name)


def domain_event() -> EPCISEvent:
    """The shipment of domain.md §5, built directly as a model (XML-style URN values, local time)."""
    return EPCISEvent(
        type=EventType.OBJECT,
        event_time=datetime.fromisoformat("2022-02-16T20:33:31.116-06:00").astimezone(UTC),
        event_time_zone_offset="-06:00",
        epc_list=("urn:epc:id:sgtin:0614141.107346.2018", "urn:epc:id:sgtin:0614141.107346.2017"),
        action=Action.OBSERVE,
        biz_step="shipping",
        disposition="in_transit",
        read_point="urn:epc:id:sgln:0614141.07346.1234",
        biz_transaction_list=(BizTransaction("http://transaction.acme.com/po/12345678", "po"),),
    )


def test_domain_example_reproduces_the_verified_prehash_and_hash() -> None:
    event = domain_event()
    assert prehash_string(event) == DOMAIN_PREHASH
    assert hashlib.sha256(DOMAIN_PREHASH.encode()).hexdigest() == DOMAIN_HASH
    assert event_hash_id(event) == f"ni:///sha-256;{DOMAIN_HASH}?ver=CBV2.0"


def test_excluded_fields_do_not_change_the_hash() -> None:
    """A declaration is a re-capture with errorDeclaration added: it must hash like the original."""
    event = domain_event()
    declared = replace(
        event,
        event_id="urn:uuid:0b0b8d5e-6a43-4d8e-9b1a-3d0e8c7f5a21",
        record_time=datetime(2022, 3, 1, tzinfo=UTC),
        certification_info="https://accreditation.example.org/cert/1",
        error_declaration=ErrorDeclaration(datetime(2022, 3, 2, tzinfo=UTC), "incorrect_data", ("urn:x:1",)),
    )
    assert event_hash_id(declared) == event_hash_id(event)


def test_vocabulary_spellings_and_list_order_do_not_change_the_hash() -> None:
    event = domain_event()
    respelled = replace(
        event,
        epc_list=tuple(reversed(event.epc_list)),
        biz_step="urn:epcglobal:cbv:bizstep:shipping",
        disposition="https://ref.gs1.org/cbv/Disp-in_transit",
        read_point="https://example.com/414/0614141073467/254/1234?x=1",
    )
    assert prehash_string(respelled) == DOMAIN_PREHASH


def test_source_list_precedes_destination_list() -> None:
    event = replace(
        domain_event(),
        source_list=(PartyRef("owning_party", "urn:epc:id:pgln:0614141.00000"),),
        destination_list=(PartyRef("location", "urn:epc:id:sgln:4012345.00012.0"),),
    )
    text = prehash_string(event)
    source = text.index("sourceListtype=https://ref.gs1.org/cbv/SDT-owning_party")
    assert source < text.index("destinationList")
    assert text.endswith("destination=https://id.gs1.org/414/4012345000122")


def test_quantities_lose_trailing_zeros_and_extensions_expand_their_namespace() -> None:
    event = replace(
        domain_event(),
        epc_list=(),
        quantity_list=(QuantityElement("urn:epc:class:lgtin:4012345.012345.998877", Decimal("200.0"), "KGM"),
                       ),
        ilmd={"ex:weight": Decimal("3.50"), "cbvmda:lotNumber": "998877"},
        extensions={"ex:note": "  kept  "},
        namespaces={"ex": "https://ns.example.com/epcis/"},
    )
    text = prehash_string(event)
    assert ("quantityListquantityElementepcClass=https://id.gs1.org/01/04012345123456/10/998877"
            "quantity=200uom=KGM") in text
    assert text.endswith("ilmd{https://ns.example.com/epcis/}weight=3.5{urn:epcglobal:cbv:mda:}lotNumber=998877"
                         "{https://ns.example.com/epcis/}note=kept")


@pytest.mark.parametrize(("micros", "expected"), [
    (141500, "2023-02-02T11:04:03.142Z"),  # half-up, where round() would give .142 only by luck of binary
    (141499, "2023-02-02T11:04:03.141Z"),
    (122500, "2023-02-02T11:04:03.123Z"),  # banker's rounding would give .122
    (999500, "2023-02-02T11:04:04.000Z"),  # the carry reaches the seconds
])
def test_timestamps_round_half_up_to_milliseconds(micros: int, expected: str) -> None:
    assert hash_timestamp(datetime(2023, 2, 2, 11, 4, 3, micros, tzinfo=UTC)) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (Decimal("200.0"), "200"), (Decimal("26.20"), "26.2"), (10, "10"), ("20.0", "20"), (True, "true"),
    ("urn:epcglobal:cbv:btt:po", "https://ref.gs1.org/cbv/BTT-po"),
    ("urn:epc:id:gdti:0614141.00001.1618034", "https://id.gs1.org/253/06141410000121618034"),
    ("urn:epc:id:gsrn:0614141.0000010253", "https://id.gs1.org/8018/061414100000102534"),
    ("https://brand.example/01/10614141073464/10/ABC/21/7?17=261231", "https://id.gs1.org/01/10614141073464/21/7"),
    ("https://example.com/253/4012345000054987", "https://id.gs1.org/253/4012345000054987"),
    ("geo:50.94,6.92", "geo:50.94,6.92"),
])
def test_canonical_values(value: object, expected: str) -> None:
    assert canonical_value(value) == expected


FIXTURE_DOCS = sorted(p for p in FIXTURES.iterdir() if p.suffix in (".xml", ".jsonld", ".json"))


@pytest.mark.parametrize("document", FIXTURE_DOCS, ids=lambda p: p.name)
def test_reference_vectors(document: Path) -> None:
    events = read_events(document)
    expected = document.with_suffix(".prehashes").read_text(encoding="utf-8").splitlines()
    assert [prehash_string(e) for e in events] == expected
    hashes = document.with_suffix(".hashes")
    if hashes.exists():
        assert [event_hash_id(e) for e in events] == hashes.read_text(encoding="utf-8").splitlines()


def test_scenario_10_xml_and_jsonld_capture_of_one_event_hash_alike() -> None:
    """domain.md §9 scenario 10: URN vocabulary with a -06:00 eventTime versus bare vocabulary with Z."""
    xml = b"""<epcis:EPCISDocument xmlns:epcis="urn:epcglobal:epcis:xsd:2" schemaVersion="2.0"
        creationDate="2025-06-07T23:40:00-06:00"><EPCISBody><EventList><ObjectEvent>
        <eventTime>2025-06-07T23:30:00-06:00</eventTime><eventTimeZoneOffset>-06:00</eventTimeZoneOffset>
        <action>OBSERVE</action><bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep>
        <disposition>urn:epcglobal:cbv:disp:in_transit</disposition>
        <readPoint><id>urn:epc:id:sgln:0614141.07346.0</id></readPoint>
        <quantityList><quantityElement><epcClass>urn:epc:class:lgtin:0614141.107346.C1</epcClass>
        <quantity>40</quantity><uom>CS</uom></quantityElement></quantityList>
        <destinationList><destination type="urn:epcglobal:cbv:sdt:location">urn:epc:id:sgln:4012345.00012.0
        </destination></destinationList></ObjectEvent></EventList></EPCISBody></epcis:EPCISDocument>"""
    jsonld = b"""{"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2025-06-08T05:40:00Z",
        "epcisBody": {"eventList": [{"type": "ObjectEvent", "eventTime": "2025-06-08T05:30:00.000Z",
        "eventTimeZoneOffset": "-06:00", "action": "OBSERVE", "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": "https://id.gs1.org/414/0614141073467"},
        "quantityList": [{"epcClass": "https://id.gs1.org/01/10614141073464/10/C1", "quantity": 40.0,
                          "uom": "CS"}],
        "destinationList": [{"type": "location", "destination": "urn:epc:id:sgln:4012345.00012.0"}]}]}}"""
    (from_xml,) = xml_document_events(xml, document="scenario10.xml")
    (from_json,) = document_events(loads(jsonld), document="scenario10.jsonld")
    assert event_hash_id(from_xml) == event_hash_id(from_json)


def _shared_hash_id_docs() -> list[Path]:
    if not HASH_ID_DIR.is_dir():
        pytest.skip(f"GS1 reference documents not found at {HASH_ID_DIR} (the repo's sibling ../shared)")
    return sorted(HASH_ID_DIR.iterdir())


def test_gs1_identical_hash_id_documents() -> None:
    """GS1's seven ``event_with_identical_hash_id_*`` documents: epc/quantity order, namespace prefix,
    ``xsi:type`` and XML-vs-JSON differences must not change the hash.

    Document 2 is the exception the CBV rules force: it says the same instant with a different
    ``eventTimeZoneOffset`` (-05:00 instead of -06:00), and ``eventTimeZoneOffset`` is part of the pre-hash
    (it is in the verified example of domain.md §5). Its pre-hash differs from the others in that field only.
    """
    docs = _shared_hash_id_docs()
    assert len(docs) == 7
    prehashes = {}
    for doc in docs:
        (event,) = read_events(doc)
        prehashes[doc.name] = prehash_string(event)
    offset_variant = prehashes.pop("event_with_identical_hash_id_2.xml")
    assert len(set(prehashes.values())) == 1, prehashes
    common = next(iter(prehashes.values()))
    assert offset_variant != common
    assert offset_variant.replace("eventTimeZoneOffset=-05:00", "eventTimeZoneOffset=-06:00") == common
    hashes = {event_hash_id(read_events(HASH_ID_DIR / name)[0]) for name in prehashes}
    assert len(hashes) == 1
