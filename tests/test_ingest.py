"""Ingest over the real path: publisher → Tansu → ingest → PostgreSQL, and the dead-letter topic."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

from confluent_kafka import Producer

from consumers.dlq import MAX_VALUE_BYTES, REASON, SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_TOPIC, TRUNCATED, VALUE_SIZE
from lotline.wiring import Runtime
from schemas.avro.codec import AvroSchema, EventCodec, SingleObjectFraming, event_to_record
from schemas.epcis.model import QuantityElement
from tests.factories import declared, shipment
from tests.kafka_util import read_topic


def _ingest(rt: Runtime) -> None:
    rt.ingest_worker(until_idle=True, idle_timeout_s=5).run()


def test_published_events_are_stored_once_with_their_offsets(runtime: Runtime) -> None:
    events = [shipment(i) for i in range(200)]
    with runtime.publisher() as pub:
        pub.publish_many(events)
        pub.publish_many(events[:50])  # a producer retrying at the application level
    _ingest(runtime)
    store = runtime.store
    assert store.count() == 200
    assert {r.event.event_key for r in store.read(0, 1000)} == {e.event_id for e in events}
    offsets = store.stored_offsets(runtime.settings.consumer_group, runtime.settings.events_topic)
    assert sum(offsets.values()) == 250  # every consumed message is accounted for, duplicates included
    assert store.verify().ok
    # a second run (a restart) reads nothing again: it resumes from the offsets in the database
    stats = runtime.ingest_worker(until_idle=True, idle_timeout_s=5).run()
    assert stats.consumed == 0 and store.count() == 200


def test_ingest_gives_the_process_its_gil_switch_interval_back(runtime: Runtime) -> None:
    """Ingest shortens the GIL switch interval while it runs (its writer thread waits less); a process that
    runs a worker in passing, a test or a benchmark, gets its own setting back."""
    before = sys.getswitchinterval()
    with runtime.publisher() as pub:
        pub.publish_many([shipment(i) for i in range(5)])
    _ingest(runtime)
    assert sys.getswitchinterval() == before


def test_error_declaration_is_stored_beside_its_event(runtime: Runtime) -> None:
    original = shipment(1)
    with runtime.publisher() as pub:
        pub.publish(original)
        pub.publish(declared(original, corrective=("urn:uuid:fix",)))
    _ingest(runtime)
    rows = runtime.store.read(0, 10)
    assert sorted(r.event.is_declaration for r in rows) == [False, True]
    decl = next(r for r in rows if r.event.is_declaration)
    assert json.loads(decl.event.body)["errorDeclaration"]["correctiveEventIDs"] == ["urn:uuid:fix"]


def test_bad_input_goes_to_the_dlq_with_a_reason_and_good_events_are_kept(runtime: Runtime) -> None:
    other_schema = AvroSchema("other", {"type": "record", "name": "Other", "fields": [  # not Lotline's schema
        {"name": "x", "type": "string"}]})
    wrong_schema = SingleObjectFraming().frame(other_schema, other_schema.write_body({"x": "hello"}))
    bad_check_digit = replace(shipment(5), quantity_list=(
        QuantityElement("urn:epc:class:lgtin:0614141.107346.L1", None, None),
        QuantityElement("https://id.gs1.org/01/10614141073465/10/L1", None, None)))
    codec = EventCodec()
    with runtime.publisher() as pub:
        pub.publish(shipment(1))
        pub.publish_raw("garbage", b"\x00\x01not avro at all", headers=[("origin", b"scanner-7")])
        pub.publish(shipment(2))
        pub.publish_raw("wrong-schema", wrong_schema)
        pub.publish_raw("truncated", codec.encode(shipment(3))[:-7])
        pub.publish(bad_check_digit)
        pub.publish(shipment(4))
    _ingest(runtime)
    stored = {r.event.event_key for r in runtime.store.read(0, 100)}
    assert stored == {shipment(i).event_id for i in (1, 2, 4)}
    dlq = read_topic(runtime.settings.kafka_bootstrap or "", runtime.settings.dlq_topic, expect=4)
    by_key = {(m.key() or b"").decode(): m for m in dlq}
    assert set(by_key) == {"garbage", "wrong-schema", "truncated", shipment(5).event_id}
    for m in dlq:
        headers = dict(m.headers() or [])
        assert headers[SOURCE_TOPIC].decode() == runtime.settings.events_topic
        assert int(headers[SOURCE_OFFSET]) >= 0 and int(headers[SOURCE_PARTITION]) >= 0
    reasons = {k: dict(m.headers() or [])[REASON].decode() for k, m in by_key.items()}
    assert "not Avro single-object encoded" in reasons["garbage"]
    assert "unknown Avro schema" in reasons["wrong-schema"]
    assert "CodecError" in reasons["truncated"]
    assert "quantityList/1/epcClass" in reasons[shipment(5).event_id]
    assert "check digit" in reasons[shipment(5).event_id]
    garbage = by_key["garbage"]
    assert garbage.value() == b"\x00\x01not avro at all"
    assert dict(garbage.headers() or [])["origin"] == b"scanner-7"


def test_conflicting_content_under_a_stored_identity_is_dead_lettered(runtime: Runtime) -> None:
    with runtime.publisher() as pub:
        pub.publish(shipment(1))
    _ingest(runtime)
    with runtime.publisher() as pub:
        pub.publish(shipment(1, qty=99))
    _ingest(runtime)
    assert runtime.store.count() == 1
    dlq = read_topic(runtime.settings.kafka_bootstrap or "", runtime.settings.dlq_topic, expect=1)
    assert len(dlq) == 1
    assert "already stored with different content" in dict(dlq[0].headers() or [])[REASON].decode()


def test_hostile_records_and_an_oversized_message_are_dead_lettered_and_ingest_goes_on(runtime: Runtime) -> None:
    """Records that once stopped ingest at every restart (a NUL in an eventID, a quantity of 5,000 digits, one of
    ``1E+10000000``) and a 2 MB message that is no Avro at all, more than a dead letter may carry: each is
    dead-lettered with its reason, the oversized one cut to its first bytes with its size in a header, and the good
    events around them are stored, with one whose ILMD holds an integer beyond 64 bits (which also stopped ingest:
    now kept exactly)."""
    codec = EventCodec()
    good = [shipment(i) for i in range(3)]
    hostile = {
        "nul-id": {**event_to_record(shipment(10)), "eventID": "urn:uuid:a\x00b"},
        "digits": {**event_to_record(shipment(11)), "quantityList": [
            {"epcClass": "urn:epc:class:lgtin:0614141.107346.L1", "quantity": "9" * 5000, "uom": "KGM"}]},
        "exponent": {**event_to_record(shipment(12)), "quantityList": [
            {"epcClass": "urn:epc:class:lgtin:0614141.107346.L1", "quantity": "1E+10000000", "uom": "KGM"}]},
    }
    big_int = {**event_to_record(shipment(13)), "ilmdJson": '{"weight": 100000000000000000000000000000}'}
    oversized = b"\x07" * (2 * 1024 * 1024)
    big = Producer({"bootstrap.servers": runtime.settings.kafka_bootstrap, "message.max.bytes": 8 * 1024 * 1024})
    with runtime.publisher() as pub:
        pub.publish(good[0])
        for key, record in hostile.items():
            pub.publish_raw(key, codec.encode_record(record))
        pub.publish_raw("big-int", codec.encode_record(big_int))
        pub.publish(good[1])
    big.produce(runtime.settings.events_topic, key=b"oversized", value=oversized)
    assert big.flush(30) == 0
    with runtime.publisher() as pub:
        pub.publish(good[2])
    _ingest(runtime)
    stored = {r.event.event_key: r.event.body for r in runtime.store.read(0, 100)}
    assert set(stored) == {e.event_id for e in good} | {big_int["eventID"]}
    assert '"ilmd":{"weight":100000000000000000000000000000}' in stored[big_int["eventID"]]
    letters = read_topic(runtime.settings.kafka_bootstrap or "", runtime.settings.dlq_topic, expect=4)
    by_key = {(m.key() or b"").decode(): m for m in letters}
    assert set(by_key) == {*hostile, "oversized"}
    reasons = {k: dict(m.headers() or [])[REASON].decode() for k, m in by_key.items()}
    assert "eventID: holds a NUL character" in reasons["nul-id"]
    assert "quantityList/0/quantity" in reasons["digits"] and "is beyond 10^±100" in reasons["digits"]
    assert "is beyond 10^±100" in reasons["exponent"]
    cut = by_key["oversized"]
    headers = dict(cut.headers() or [])
    assert cut.value() == oversized[:MAX_VALUE_BYTES]
    assert headers[VALUE_SIZE] == str(len(oversized)).encode() and headers[TRUNCATED] == b"value"
    assert "not Avro single-object encoded" in reasons["oversized"]
