"""The consumer's side of the capture errors: bad messages crafted on the wire reach the dead-letter topic
with a reason an operator can act on (``lotline.dlq.reason``).

* wrong check digit: a well-formed Avro record whose identifier fails ``validate_event``;
* unknown event type: Avro bytes whose ``type`` enum index is out of range (a writer with a newer enum);
* missing eventTime: a record written with a schema lacking ``eventTime``. ``eventTime`` is a required field
  of Lotline's schema, so such a message can only come from another writer schema: its fingerprint is
  unknown, and the reason says that the fields differ (naming eventTime as the example) and which schema to
  publish with. Decoding it with a guessed resolution would risk storing a wrong event;
* malformed offset: a record with ``eventTimeZoneOffset`` ``+25:00`` (a string in Avro) rejected by
  ``validate()``;
* values only text in Avro: a quantity that is no decimal, ILMD that is no JSON, extensions that are no
  JSON object.
"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources
from typing import Any

from consumers.dlq import REASON
from lotline.wiring import Runtime
from schemas.avro.codec import AvroSchema, EventCodec, SingleObjectFraming, event_to_record
from tests.factories import shipment
from tests.kafka_util import read_topic


def schema_without(field: str) -> AvroSchema:
    raw = json.loads(resources.files("schemas").joinpath("avro", "epcis_event.avsc").read_text())
    raw["fields"] = [f for f in raw["fields"] if f["name"] != field]
    schema = AvroSchema("epcis_event_without_" + field, raw)
    return schema


def unknown_type_message() -> bytes:
    data = bytearray(EventCodec().encode(shipment(2)))
    assert data[10] == 0  # single-object header (10 bytes), then the type enum index 0 (ObjectEvent)
    data[10] = 2 * 7  # zig-zag varint for index 7
    return bytes(data)


def missing_event_time_message() -> bytes:
    schema = schema_without("eventTime")
    record = {k: v for k, v in event_to_record(shipment(3)).items() if k != "eventTime"}
    return SingleObjectFraming().frame(schema, schema.write_body(record))


def _header(headers: Any, name: str) -> str:
    value = dict(headers)[name]
    return value.decode() if isinstance(value, bytes) else str(value)


def test_capture_errors_reach_the_dlq_with_clear_reasons(runtime: Runtime) -> None:
    bad_digit = replace(shipment(1), epc_list=("https://id.gs1.org/01/10614141073465/21/2017",))
    bad_offset = replace(shipment(4), event_time_zone_offset="+25:00")
    codec = EventCodec()
    with runtime.publisher() as pub:
        pub.publish_raw("bad-digit", codec.encode(bad_digit))
        pub.publish_raw("unknown-type", unknown_type_message())
        pub.publish_raw("no-event-time", missing_event_time_message())
        pub.publish_raw("bad-offset", codec.encode(bad_offset))
        pub.publish(shipment(5))
    stats = runtime.ingest_worker(until_idle=True, idle_timeout_s=5).run()
    assert (stats.stored, stats.dead_lettered) == (1, 4)
    dlq = read_topic(runtime.settings.kafka_bootstrap or "", runtime.settings.dlq_topic, expect=4)
    reasons = {(m.key() or b"").decode(): _header(m.headers() or [], REASON) for m in dlq}
    assert reasons["bad-digit"].startswith("EPCISError: epcList/0: ")
    assert "check digit" in reasons["bad-digit"]
    assert reasons["unknown-type"] == (
        "CodecError: unknown event type: enum index 7 of field 'type' is not one of 0=ObjectEvent, "
        "1=AggregationEvent, 2=TransactionEvent, 3=TransformationEvent, 4=AssociationEvent")
    assert reasons["no-event-time"].startswith("CodecError: written with an unknown Avro schema")
    assert "a required field such as eventTime is missing" in reasons["no-event-time"]
    assert "publish with schemas/avro/epcis_event.avsc" in reasons["no-event-time"]
    assert reasons["bad-offset"] == "EPCISError: eventTimeZoneOffset: '+25:00' is outside -14:00..+14:00"


def test_records_with_unreadable_values_reach_the_dlq(runtime: Runtime) -> None:
    """What the Avro schema cannot rule out (a quantity that is no number, JSON text that does not parse, an
    extension or ILMD that is not an object, sensor data that is not an array) is named in the dead letter,
    and the good event is stored."""
    codec = EventCodec()
    good = shipment(7)

    def tampered(n: int, **fields: Any) -> bytes:
        return codec.encode_record({**event_to_record(shipment(n)), **fields})

    lot = shipment(8).quantity_list[0].epc_class
    with runtime.publisher() as pub:
        pub.publish_raw("bad-quantity", tampered(8, quantityList=[{"epcClass": lot, "quantity": "12,5", "uom": "KGM"}]))
        pub.publish_raw("bad-ilmd", tampered(9, ilmdJson="{not json"))
        pub.publish_raw("list-extensions", tampered(10, extensionsJson="[1, 2]"))
        # without an eventID the identity is the event hash, which once crashed ingest on these two
        pub.publish_raw("list-ilmd", tampered(11, eventID=None, ilmdJson='[{"lot": "A"}]'))
        pub.publish_raw("number-sensors", tampered(12, eventID=None, sensorElementListJson="1"))
        pub.publish(good)
    stats = runtime.ingest_worker(until_idle=True, idle_timeout_s=5).run()
    assert (stats.stored, stats.dead_lettered) == (1, 5)
    dlq = read_topic(runtime.settings.kafka_bootstrap or "", runtime.settings.dlq_topic, expect=5)
    reasons = {(m.key() or b"").decode(): _header(m.headers() or [], REASON) for m in dlq}
    assert reasons["bad-quantity"] == "EPCISError: quantityList/0/quantity: '12,5' is not a decimal number"
    assert reasons["bad-ilmd"].startswith("EPCISError: ilmd: is not valid JSON text: ")
    assert reasons["list-extensions"] == "EPCISError: extensions: must be a JSON object, not list"
    assert reasons["list-ilmd"] == "EPCISError: ilmd: must be a JSON object, not list"
    assert reasons["number-sensors"] == "EPCISError: sensorElementList: must be a JSON array, not int"
