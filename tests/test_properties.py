"""Property-based round trips: model → JSON-LD document → model and model → Avro → model are identities, and
the CBV 2.0 hash is stable under both, for generated events of all five types with optional fields,
extensions (also inside readPoint/bizLocation/errorDeclaration), ILMD, sensor data and decimals.

Decimals are generated with at most 15 significant digits and integers below 2**53: ``schemas.formats.jsonld.dumps``
and the Avro codec's JSON-text fields write non-integral decimals through ``float``, exact only up to that.
Quantities in typed Avro fields travel as strings and would be exact at any precision.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import fastavro
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.avro.codec import EVENT_SCHEMA, EventCodec, event_to_record, record_to_event
from schemas.avro.decoder import compile_decoder
from schemas.avro.writer import compile_writer
from schemas.epcis.event_hash import event_hash_id
from schemas.epcis.model import (
    Action,
    BizTransaction,
    EPCISEvent,
    ErrorDeclaration,
    EventType,
    PartyRef,
    PersistentDisposition,
    QuantityElement,
)
from schemas.formats.identity import event_identity
from schemas.formats.jsonld import context_namespaces, document, document_events, dumps, event_from_json, loads
from schemas.formats.wire import check, validate_event
from store.records import row_from_record, to_new_event

EPCS = ["urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2018",
        "https://id.gs1.org/01/10614141073464/21/X-9", "urn:epc:id:sscc:0614141.1234567890",
        "https://id.gs1.org/00/106141412345678908", "urn:epc:id:grai:0614141.12345.400",
        "https://example.com/asset/7"]
CLASSES = ["urn:epc:class:lgtin:0614141.107346.L1", "https://id.gs1.org/01/10614141073464/10/ABC",
           "urn:epc:idpat:sgtin:0614141.107346.*", "https://id.gs1.org/01/04012345123456"]
LOCATIONS = ["urn:epc:id:sgln:0614141.07346.0", "urn:epc:id:sgln:0614141.07346.1234",
             "https://id.gs1.org/414/0614141073467"]
PARTIES = ["urn:epc:id:pgln:0614141.00001", "https://id.gs1.org/417/0614141000005"]
BIZ_STEPS = ["shipping", "receiving", "commissioning", "creating_class_instance", "https://ns.example.com/step/x"]
DISPOSITIONS = ["in_transit", "active", "recalled", "in_progress"]
NAMESPACES = {"ex": "https://ns.example.com/epcis/", "acme": "urn:acme:epcis:"}

T0 = datetime(2020, 1, 1, tzinfo=UTC)

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1,
               max_size=12)
decimals = st.decimals(min_value=Decimal("0"), max_value=Decimal("1e9"), places=6, allow_nan=False,
                       allow_infinity=False).filter(lambda d: len(d.normalize().as_tuple().digits) <= 15)
json_leaf = st.one_of(text, st.integers(-(2**53) + 1, 2**53 - 1), decimals, st.booleans())
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["ex:a", "ex:b", "acme:c"]), inner, max_size=3)),
    max_leaves=6)
ext_key = st.sampled_from(["ex:batchNote", "ex:temp", "acme:lineID", "acme:shift"])
extensions = st.dictionaries(ext_key, json_value, max_size=3)
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC))
offsets = st.sampled_from(["+00:00", "-06:00", "+05:30", "+14:00", "-14:00", "+01:00"])


@st.composite
def quantities(draw: st.DrawFn) -> QuantityElement:
    qty = draw(st.none() | decimals)
    uom = None if qty is None else draw(st.none() | st.sampled_from(["KGM", "LBR", "CS", "EA"]))
    return QuantityElement(draw(st.sampled_from(CLASSES)), qty, uom)


epc_lists = st.lists(st.sampled_from(EPCS), max_size=3, unique=True).map(tuple)
qty_lists = st.lists(quantities(), max_size=3).map(tuple)


@st.composite
def events(draw: st.DrawFn) -> EPCISEvent:
    kind = draw(st.sampled_from(list(EventType)))
    fields: dict[str, Any] = {}
    if kind is EventType.OBJECT:
        fields["epc_list"] = draw(epc_lists)
        fields["quantity_list"] = draw(qty_lists)
        if not (fields["epc_list"] or fields["quantity_list"]):
            fields["epc_list"] = (EPCS[0],)
    elif kind in (EventType.AGGREGATION, EventType.ASSOCIATION):
        fields["parent_id"] = draw(st.sampled_from(EPCS))
        fields["child_epcs"] = draw(epc_lists)
        fields["child_quantity_list"] = draw(qty_lists)
    elif kind is EventType.TRANSACTION:
        fields["parent_id"] = draw(st.none() | st.sampled_from(EPCS))
        fields["epc_list"] = draw(epc_lists)
        fields["quantity_list"] = draw(qty_lists)
    else:
        fields["input_epc_list"] = draw(epc_lists)
        fields["input_quantity_list"] = draw(qty_lists) or (QuantityElement(CLASSES[0], Decimal(5), "KGM"),)
        fields["output_epc_list"] = draw(epc_lists)
        fields["output_quantity_list"] = draw(qty_lists) or (QuantityElement(CLASSES[1], Decimal(100)),)
        fields["transformation_id"] = draw(st.none() | st.just("urn:uuid:6d1a2a3b-1111-4222-8333-944455556666"))
    if kind is not EventType.TRANSFORMATION:
        fields["action"] = draw(st.sampled_from(list(Action)))
        if kind is EventType.AGGREGATION and fields["action"] is Action.OBSERVE:
            fields["parent_id"] = draw(st.none() | st.sampled_from(EPCS))
    biz_tx = st.builds(BizTransaction, st.sampled_from(["urn:epcglobal:cbv:bt:0614141073467:PO-1",
                                                        "http://transaction.acme.com/po/12345678"]),
                       st.none() | st.sampled_from(["po", "bol", "desadv"]))
    fields["biz_transaction_list"] = tuple(draw(st.lists(biz_tx, min_size=kind is EventType.TRANSACTION,
                                                         max_size=2)))
    party = st.builds(PartyRef, st.sampled_from(["owning_party", "possessing_party", "location"]),
                      st.sampled_from(PARTIES + LOCATIONS))
    ilmd_ok = kind is EventType.TRANSFORMATION or fields.get("action") is Action.ADD
    return EPCISEvent(
        type=kind,
        event_time=draw(instants),
        event_time_zone_offset=draw(offsets),
        event_id=draw(st.none() | st.sampled_from(["urn:uuid:00000000-0000-4000-8000-000000000001",
                                                   "ni:///sha-256;abc?ver=CBV2.0"])),
        record_time=draw(st.none() | instants),
        biz_step=draw(st.none() | st.sampled_from(BIZ_STEPS)),
        disposition=draw(st.none() | st.sampled_from(DISPOSITIONS)),
        persistent_disposition=draw(st.none() | st.builds(
            PersistentDisposition, st.lists(st.sampled_from(DISPOSITIONS), max_size=2).map(tuple),
            st.lists(st.sampled_from(DISPOSITIONS), max_size=2).map(tuple))),
        read_point=draw(st.none() | st.sampled_from(LOCATIONS)),
        biz_location=draw(st.none() | st.sampled_from(LOCATIONS)),
        source_list=tuple(draw(st.lists(party, max_size=2))),
        destination_list=tuple(draw(st.lists(party, max_size=2))),
        error_declaration=draw(st.none() | st.builds(
            ErrorDeclaration, instants, st.none() | st.sampled_from(["incorrect_data", "did_not_occur"]),
            st.lists(st.just("urn:uuid:00000000-0000-4000-8000-000000000002"), max_size=1).map(tuple),
            extensions)),
        certification_info=draw(st.none() | st.just("https://cert.example/1") | st.just(["https://a.example/x"])),
        ilmd=draw(st.none() | extensions) if ilmd_ok else None,
        sensor_element_list=draw(st.none() | st.lists(st.fixed_dictionaries({
            "sensorMetadata": st.fixed_dictionaries({"time": st.just("2020-01-01T00:00:00Z")}),
            "sensorReport": st.lists(st.fixed_dictionaries({
                "type": st.sampled_from(["gs1:Temperature", "gs1:Humidity"]), "value": decimals,
                "uom": st.just("CEL")}), min_size=1, max_size=2)}), max_size=2)),
        extensions=draw(extensions),
        read_point_extensions=draw(extensions),
        biz_location_extensions=draw(extensions),
        namespaces=dict(NAMESPACES),
        **fields,
    )


def _clean(event: EPCISEvent) -> EPCISEvent:
    """Location extensions exist only with a location (the JSON form nests them in readPoint/bizLocation)."""
    from dataclasses import replace

    return replace(event, read_point_extensions=event.read_point_extensions if event.read_point else {},
                   biz_location_extensions=event.biz_location_extensions if event.biz_location else {})


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(events())
def test_jsonld_round_trip_is_identity(event: EPCISEvent) -> None:
    event = _clean(event)
    text = dumps(document([event], creation_date=T0))
    (back,) = document_events(loads(text), document="generated")
    assert back == event
    assert event_hash_id(back) == event_hash_id(event)


@PROPERTY_SETTINGS
@given(events())
def test_avro_round_trip_is_identity(event: EPCISEvent) -> None:
    event = _clean(event)
    codec = EventCodec()
    back = codec.decode(codec.encode(event))
    assert back == event
    assert record_to_event(event_to_record(event)) == event
    assert event_hash_id(back) == event_hash_id(event)


@PROPERTY_SETTINGS
@given(events())
def test_generated_events_are_valid_and_hash_after_both_trips(event: EPCISEvent) -> None:
    event = _clean(event)
    validate_event(event)
    codec = EventCodec()
    (via_json,) = document_events(loads(dumps(document([codec.decode(codec.encode(event))]))), document="g")
    assert event_hash_id(via_json) == event_hash_id(event)


def test_decimals_keep_full_precision() -> None:
    """Quantities keep full precision through Avro (strings) and through the JSON writers (exact digits,
    never via float)."""
    exact = Decimal("12345678901234.56789")
    q = QuantityElement(CLASSES[0], exact, "KGM")
    event = EPCISEvent(type=EventType.OBJECT, event_time=T0 + timedelta(hours=1), event_time_zone_offset="+00:00",
                       action=Action.OBSERVE, quantity_list=(q,))
    codec = EventCodec()
    assert codec.decode(codec.encode(event)).quantity_list[0].quantity == exact
    (via_json,) = document_events(loads(dumps(document([event]))), document="g")
    assert via_json.quantity_list[0].quantity == exact


@PROPERTY_SETTINGS
@given(events())
def test_lotlines_decoder_reads_what_fastavro_reads(event: EPCISEvent) -> None:
    """Lotline's decoder returns exactly the record of fastavro, the reference."""
    body = EventCodec().encode(_clean(event))[10:]
    expected = fastavro.schemaless_reader(io.BytesIO(body), EVENT_SCHEMA.parsed, None)
    assert _DECODER(body) == expected
    assert EVENT_SCHEMA.read_body(body) == expected


_DECODER = compile_decoder(EVENT_SCHEMA.parsed)


@PROPERTY_SETTINGS
@given(events())
def test_generated_encoder_writes_what_fastavro_writes(event: EPCISEvent) -> None:
    """The schema-specialised encoder publishers use writes fastavro's bytes, without falling back to it."""
    record = event_to_record(_clean(event))
    reference = io.BytesIO()
    fastavro.schemaless_writer(reference, EVENT_SCHEMA.parsed, record)
    assert compile_writer(EVENT_SCHEMA.parsed)(record) == reference.getvalue()


@PROPERTY_SETTINGS
@given(events())
def test_store_row_from_the_record_is_the_event(event: EPCISEvent) -> None:
    """Ingest's row, built from the Avro record without the model, carries the event: its JSON-LD body reads
    back to it, and its identity and lot keys are the model's."""
    event = _clean(event)
    codec = EventCodec()
    record = codec.decode_record(codec.encode(event))
    check(record)
    row = row_from_record(record)
    assert row == to_new_event(event)
    body = loads(row.body)
    namespaces = context_namespaces(body.pop("@context", None))
    assert event_from_json(body, namespaces) == event
    assert row.event_key == event_identity(event)
    assert row.lot_keys == tuple(sorted(str(k) for k in event.lot_keys()))
