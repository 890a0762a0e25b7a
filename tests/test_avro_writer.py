"""The schema-specialised Avro encoder (schemas/avro/writer.py) against fastavro, byte for byte.

Every supported type, the values the encoder leaves to fastavro (and that fastavro then writes or refuses),
and the unions it refuses to compile. The event schema is compared on generated events in test_properties.py,
the recall alert schema here.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fastavro
import pytest

from schemas.avro.codec import ALERT_SCHEMA, AvroSchema
from schemas.avro.writer import NotEncodable, UnsupportedSchema, compile_writer
from tests.test_avro_decoder import PARSED, RECORDS, SCHEMA


def _fastavro(record: Any, schema: Any = PARSED) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record)
    return buf.getvalue()


@pytest.mark.parametrize("record", RECORDS, ids=["full", "empty"])
def test_writes_every_supported_type_as_fastavro_does(record: dict[str, Any]) -> None:
    assert compile_writer(PARSED)(record) == _fastavro(record)
    assert compile_writer(SCHEMA)(record) == _fastavro(record)  # unparsed JSON schema, short names


def test_timestamps_as_integers_tuples_as_arrays_and_defaults_for_missing_fields() -> None:
    schema = fastavro.parse_schema({"type": "record", "name": "D", "fields": [
        {"name": "us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "when", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "gone", "type": ["null", "string"]}]})
    later = datetime(2031, 5, 6, 7, 8, 9, 999999, tzinfo=timezone(timedelta(hours=2)))
    for record in ({"us": 1_700_000_000_000_000, "when": later, "tags": ("a", "b")},
                   {"us": later, "when": 1_700_000_000_000, "tags": [], "note": "x", "gone": "y"},
                   {"us": -1, "when": None}):
        assert compile_writer(schema)(record) == _fastavro(record, schema)


@pytest.mark.parametrize("field, value", [
    ("us", datetime(2025, 3, 1, 8, 0)),  # naive: fastavro reads it as local time
    ("big", True),  # a bool where a long is due
    ("i", 2**40),  # beyond an Avro int: fastavro writes it outside unions and refuses it inside
    ("d", 3),  # fastavro packs an int as a double: the encoder does too, this one is left alone
    ("s", type("Text", (str,), {})("sub")),  # a str subclass
    ("v", ("string", "named")),  # fastavro's tuple notation for a union branch
    ("flag", 1),  # truthiness where a boolean is due
])
def test_values_it_does_not_know_are_left_to_fastavro(field: str, value: Any) -> None:
    record = {**RECORDS[0]}
    if field == "v":
        record["items"] = [{"k": "t", "v": value}]
    else:
        record[field] = value
    schema = AvroSchema("all", SCHEMA)  # AvroSchema.write_body: the generated encoder, else fastavro
    expected = _fastavro(record)
    if field != "d":
        with pytest.raises(NotEncodable):
            compile_writer(PARSED)(record)
    assert schema.write_body(record) == expected


@pytest.mark.parametrize("change", [{"color": "PURPLE"}, {"s": None}, {"items": [{"k": "x", "v": 1.5}]}])
def test_what_fastavro_refuses_still_raises(change: dict[str, Any]) -> None:
    record = {**RECORDS[0], **change}
    with pytest.raises(Exception) as fastavro_error:
        _fastavro(record)
    schema = AvroSchema("all", SCHEMA)
    with pytest.raises(type(fastavro_error.value)):
        schema.write_body(record)


@pytest.mark.parametrize("union", [
    ["null", "int", "long"],  # both take an int: fastavro picks by range
    ["double", "long"],  # fastavro writes an int into the double branch
    ["string", {"type": "enum", "name": "E", "symbols": ["A"]}],
    [{"type": "record", "name": "R1", "fields": []}, {"type": "map", "values": "string"}],
])
def test_unions_with_overlapping_branches_are_refused(union: list[Any]) -> None:
    with pytest.raises(UnsupportedSchema):
        compile_writer({"type": "record", "name": "X", "fields": [{"name": "u", "type": union}]})


def _alert(n: int) -> dict[str, Any]:
    ship = {"eventId": "urn:uuid:1", "date": "2026-01-05", "eventTime": 1_767_600_000_000_000, "gtin": "10614141000019",
            "lotNumber": "L1", "customer": "urn:epc:id:pgln:0614141.00002", "customerLocation": None,
            "shipFrom": "urn:epc:id:sgln:0614141.00001.0", "quantity": "12.5", "uom": None, "pallet": None,
            "documents": [{"type": None, "id": "urn:epcglobal:cbv:bt:0614141000019:PO1"}, {"type": "po", "id": "x"}]}
    return {"alertId": "urn:uuid:a", "recallId": "urn:uuid:r", "kind": "SCOPE_CHANGED", "sequence": 2,
            "lot": {"gtin": "10614141000019", "lotNumber": "ROOT"}, "reason": "Listeria" if n else None,
            "storePosition": 10_201, "createdAt": datetime(2026, 12, 2, tzinfo=UTC),
            "lotsAdded": [{"gtin": "10614141000019", "lotNumber": f"L{i}", "depth": i % 3} for i in range(n)],
            "lotsRemoved": [], "shipmentsAdded": [ship] * n, "shipmentsRemoved": [{**ship, "documents": []},
                                                                    {**ship, "lotNumber": None, "ambiguous": True}]}


@pytest.mark.parametrize("n", [0, 1, 200])
def test_the_alert_schema_is_written_as_fastavro_writes_it(n: int) -> None:
    record = _alert(n)
    assert compile_writer(ALERT_SCHEMA.parsed)(record) == _fastavro(record, ALERT_SCHEMA.parsed)
    assert ALERT_SCHEMA.read_body(ALERT_SCHEMA.write_body(record))["lotsAdded"] == record["lotsAdded"]


def test_alerts_written_with_the_first_alert_schema_are_still_read() -> None:
    """An alert on the topic from before lot-less shipments (schema version 1) decodes as the current schema."""
    from schemas.avro.codec import ALERT_SCHEMA_V1, SingleObjectFraming
    from schemas.epcis.errors import CodecError
    from schemas.recall import AlertCodec

    old = {**_alert(2), "shipmentsRemoved": []}  # version 1 had neither null lot numbers nor ``ambiguous``
    data = SingleObjectFraming().frame(ALERT_SCHEMA_V1, ALERT_SCHEMA_V1.write_body(old))
    assert ALERT_SCHEMA_V1.fingerprint != ALERT_SCHEMA.fingerprint
    codec = AlertCodec()
    read = codec.decode_record(data)
    assert read == codec.decode_record(codec.encode_record(old))  # as if written now
    assert [s["ambiguous"] for s in read["shipmentsAdded"]] == [False, False] and read["sequence"] == 2
    with pytest.raises(CodecError, match="unknown Avro schema"):
        AlertCodec().decode_record(data[:2] + bytes(8) + data[10:])
