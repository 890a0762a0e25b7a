"""Avro encoding of EPCIS events: the model ↔ Avro record mapping, and the two wire framings.

Schemas are parsed once at import (re-parsing per message costs ~1000×). Two framings exist:

* **Avro single-object encoding** (``C3 01`` + 8-byte little-endian CRC-64-AVRO fingerprint + body), the
  default: self-describing without a registry, and a message written with another schema is recognised by
  its fingerprint instead of being decoded into garbage.
* **Confluent Schema Registry framing** (``00`` + 4-byte big-endian schema id + body), used when a registry
  URL is configured (:mod:`lotline.registry`).
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable, Mapping
from decimal import Decimal
from importlib import resources
from typing import Any, Protocol

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.avro.decoder import Decoder, UnsupportedSchema, compile_decoder
from schemas.avro.writer import Encoder, compile_writer
from schemas.epcis.errors import CodecError
from schemas.epcis.jsontext import dumps, loads
from schemas.epcis.model import (
    Action,
    BizTransaction,
    EPCISEvent,
    ErrorDeclaration,
    EventType,
    JsonValue,
    PartyRef,
    PersistentDisposition,
    QuantityElement,
)

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"


def load_schema(name: str) -> dict[str, Any]:
    """Load and parse ``schemas/avro/{name}.avsc``."""
    text = resources.files("schemas").joinpath("avro", f"{name}.avsc").read_text()
    parsed = fastavro.parse_schema(json.loads(text))
    assert isinstance(parsed, dict)
    return parsed


class AvroSchema:
    """A parsed Avro schema with its canonical form and CRC-64-AVRO fingerprint."""

    def __init__(self, name: str, schema: Mapping[str, Any] | None = None) -> None:
        """The schema ``schemas/avro/{name}.avsc``, or ``schema`` (a JSON schema, parsed here) under ``name``."""
        self.name = name
        if schema is None:
            self.parsed = load_schema(name)
        else:
            parsed = fastavro.parse_schema(dict(schema))
            assert isinstance(parsed, dict)
            self.parsed = parsed
        self.canonical_form: str = to_parsing_canonical_form(self.parsed)
        self.fingerprint: bytes = struct.pack("<Q", int(fingerprint(self.canonical_form, "CRC-64-AVRO"), 16))
        try:
            self._decode: Decoder | None = compile_decoder(self.parsed)
        except UnsupportedSchema:
            self._decode = None
        try:
            self._encode: Encoder | None = compile_writer(self.parsed)
        except UnsupportedSchema:
            self._encode = None

    def write_body(self, record: Mapping[str, Any]) -> bytes:
        if self._encode is not None:
            try:
                return self._encode(record)
            except Exception:  # a value it does not know: fastavro below writes it, or says what is wrong
                pass
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self.parsed, record)
        return buf.getvalue()

    def read_body(self, body: bytes) -> dict[str, Any]:
        """The record of a body written with this schema (:mod:`schemas.avro.decoder`); raises
        :class:`CodecError` saying what is wrong with bytes that are not one."""
        if self._decode is None:
            raise CodecError(f"schema {self.name} uses a type Lotline's Avro decoder does not read")
        try:
            return self._decode(body)
        except (ValueError, OverflowError) as exc:  # UnicodeDecodeError is a ValueError
            raise CodecError(f"Avro body does not match schema {self.name}: {exc}") from None

    def read_body_written_with(self, body: bytes, writer: AvroSchema) -> dict[str, Any]:
        """A body written with an earlier version of this schema, resolved into this one (Avro schema
        resolution: fields added since take their defaults, promoted types widen). Resolution is fastavro's job
        (it reads the body by the writer's schema into this one): only messages older than a schema change
        take this path."""
        buf = io.BytesIO(body)
        try:
            record = fastavro.schemaless_reader(buf, writer.parsed, self.parsed)
        except Exception as exc:  # fastavro raises many types on bad bytes
            raise CodecError(f"Avro body does not match schema {self.name}: {type(exc).__name__}: {exc}") from None
        if not isinstance(record, dict):
            raise CodecError(f"Avro body is not a {self.name} record")
        if buf.tell() != len(body):
            raise CodecError(f"Avro body has {len(body) - buf.tell()} trailing bytes for schema {self.name}")
        return record


EVENT_SCHEMA = AvroSchema("epcis_event")
ALERT_SCHEMA = AvroSchema("recall_alert")
ALERT_SCHEMA_V1 = AvroSchema("recall_alert.v1")
"""The alert schema before lot-less shipments (``lotNumber`` always a string, no ``ambiguous``): alerts written
with it stay on the topic for its retention, and an upgraded subscriber still reads them."""


class Framing(Protocol):
    """How an Avro body is wrapped on the wire."""

    def frame(self, schema: AvroSchema, body: bytes) -> bytes: ...

    def unframe(self, schema: AvroSchema, data: bytes) -> bytes: ...


class SingleObjectFraming:
    """Avro single-object encoding: ``C3 01`` + fingerprint + body."""

    def frame(self, schema: AvroSchema, body: bytes) -> bytes:
        return SINGLE_OBJECT_MAGIC + schema.fingerprint + body

    def unframe(self, schema: AvroSchema, data: bytes) -> bytes:
        if data[:2] != SINGLE_OBJECT_MAGIC or len(data) < 10:
            raise CodecError(f"not Avro single-object encoded (first bytes {data[:4].hex() or 'empty'})")
        if data[2:10] != schema.fingerprint:
            raise CodecError(f"written with an unknown Avro schema (fingerprint {data[2:10][::-1].hex()}, "
                             f"expected {schema.fingerprint[::-1].hex()} for {schema.name}): the writer's fields "
                             "differ from Lotline's (e.g. a required field such as eventTime is missing or "
                             "renamed), so the record cannot be read safely; publish with "
                             f"schemas/avro/{schema.name}.avsc")
        return data[10:]


class ConfluentFraming:
    """Confluent wire format: ``00`` + 4-byte schema id + body; ids come from a registry.

    ``schema_id`` registers (or looks up) the writer schema; ``accepts`` says whether a schema id on an
    incoming message is one whose schema is compatible with ours (same canonical form).
    """

    def __init__(self, schema_id: Callable[[AvroSchema], int], accepts: Callable[[int, AvroSchema], bool]) -> None:
        self._schema_id = schema_id
        self._accepts = accepts

    def frame(self, schema: AvroSchema, body: bytes) -> bytes:
        return CONFLUENT_MAGIC + struct.pack(">I", self._schema_id(schema)) + body

    def unframe(self, schema: AvroSchema, data: bytes) -> bytes:
        if data[:1] != CONFLUENT_MAGIC or len(data) < 5:
            raise CodecError(f"not in Confluent wire format (first bytes {data[:4].hex() or 'empty'})")
        (sid,) = struct.unpack(">I", data[1:5])
        if not self._accepts(sid, schema):
            raise CodecError(f"schema id {sid} is not the {schema.name} schema")
        return data[5:]


def _json_text(value: JsonValue) -> str | None:
    return None if value is None else dumps(value)


def _json_value(text: str | None) -> JsonValue:
    return None if text is None else loads(text)


def _q_out(qs: tuple[QuantityElement, ...]) -> list[dict[str, Any]]:
    return [{"epcClass": q.epc_class, "quantity": None if q.quantity is None else str(q.quantity), "uom": q.uom}
            for q in qs]


def _q_in(items: list[dict[str, Any]]) -> tuple[QuantityElement, ...]:
    return tuple(QuantityElement(q["epcClass"], None if q["quantity"] is None else Decimal(q["quantity"]),
                                 q["uom"]) for q in items)


def event_to_record(e: EPCISEvent) -> dict[str, Any]:
    """Map the model onto the ``EPCISEvent`` Avro record."""
    ed = e.error_declaration
    pd = e.persistent_disposition
    return {
        "type": e.type.value,
        "eventID": e.event_id,
        "eventTime": e.event_time,
        "eventTimeZoneOffset": e.event_time_zone_offset,
        "recordTime": e.record_time,
        "action": e.action.value if e.action is not None else None,
        "bizStep": e.biz_step,
        "disposition": e.disposition,
        "persistentDisposition": None if pd is None else {"set": list(pd.set), "unset": list(pd.unset)},
        "readPoint": e.read_point,
        "bizLocation": e.biz_location,
        "epcList": list(e.epc_list),
        "quantityList": _q_out(e.quantity_list),
        "parentID": e.parent_id,
        "childEPCs": list(e.child_epcs),
        "childQuantityList": _q_out(e.child_quantity_list),
        "inputEPCList": list(e.input_epc_list),
        "inputQuantityList": _q_out(e.input_quantity_list),
        "outputEPCList": list(e.output_epc_list),
        "outputQuantityList": _q_out(e.output_quantity_list),
        "transformationID": e.transformation_id,
        "bizTransactionList": [{"type": b.type, "bizTransaction": b.value} for b in e.biz_transaction_list],
        "sourceList": [{"type": s.type, "source": s.value} for s in e.source_list],
        "destinationList": [{"type": d.type, "destination": d.value} for d in e.destination_list],
        "errorDeclaration": None if ed is None else {
            "declarationTime": ed.declaration_time,
            "reason": ed.reason,
            "correctiveEventIDs": list(ed.corrective_event_ids),
            "extensionsJson": _json_text(ed.extensions) if ed.extensions else None,
        },
        "certificationInfoJson": _json_text(e.certification_info),
        "ilmdJson": _json_text(e.ilmd),
        "sensorElementListJson": _json_text(e.sensor_element_list),
        "extensionsJson": _json_text(e.extensions) if e.extensions else None,
        "readPointExtensionsJson": _json_text(e.read_point_extensions) if e.read_point_extensions else None,
        "bizLocationExtensionsJson": _json_text(e.biz_location_extensions) if e.biz_location_extensions else None,
        "namespaces": dict(e.namespaces),
    }


def record_to_event(r: Mapping[str, Any]) -> EPCISEvent:
    """Map an ``EPCISEvent`` Avro record back onto the model."""
    ed = r["errorDeclaration"]
    pd = r["persistentDisposition"]
    return EPCISEvent(
        type=EventType(r["type"]),
        event_time=r["eventTime"],
        event_time_zone_offset=r["eventTimeZoneOffset"],
        event_id=r["eventID"],
        record_time=r["recordTime"],
        action=Action(r["action"]) if r["action"] is not None else None,
        biz_step=r["bizStep"],
        disposition=r["disposition"],
        persistent_disposition=None if pd is None else PersistentDisposition(tuple(pd["set"]), tuple(pd["unset"])),
        read_point=r["readPoint"],
        biz_location=r["bizLocation"],
        epc_list=tuple(r["epcList"]),
        quantity_list=_q_in(r["quantityList"]),
        parent_id=r["parentID"],
        child_epcs=tuple(r["childEPCs"]),
        child_quantity_list=_q_in(r["childQuantityList"]),
        input_epc_list=tuple(r["inputEPCList"]),
        input_quantity_list=_q_in(r["inputQuantityList"]),
        output_epc_list=tuple(r["outputEPCList"]),
        output_quantity_list=_q_in(r["outputQuantityList"]),
        transformation_id=r["transformationID"],
        biz_transaction_list=tuple(BizTransaction(b["bizTransaction"], b["type"]) for b in r["bizTransactionList"]),
        source_list=tuple(PartyRef(s["type"], s["source"]) for s in r["sourceList"]),
        destination_list=tuple(PartyRef(d["type"], d["destination"]) for d in r["destinationList"]),
        error_declaration=None if ed is None else ErrorDeclaration(
            ed["declarationTime"], ed["reason"], tuple(ed["correctiveEventIDs"]),
            _json_value(ed["extensionsJson"]) or {}),
        certification_info=_json_value(r["certificationInfoJson"]),
        ilmd=_json_value(r["ilmdJson"]),
        sensor_element_list=_json_value(r["sensorElementListJson"]),
        extensions=_json_value(r["extensionsJson"]) or {},
        read_point_extensions=_json_value(r["readPointExtensionsJson"]) or {},
        biz_location_extensions=_json_value(r["bizLocationExtensionsJson"]) or {},
        namespaces=dict(r["namespaces"]),
    )


def _unknown_event_type(body: bytes, symbols: list[str]) -> str | None:
    """Explain a body whose first field (the ``type`` enum index, a zig-zag varint) names no event type."""
    value = shift = 0
    for i, byte in enumerate(body[:10]):
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            index = (value >> 1) ^ -(value & 1)
            if 0 <= index < len(symbols):
                return None
            return (f"unknown event type: enum index {index} of field 'type' is not one of "
                    f"{', '.join(f'{n}={name}' for n, name in enumerate(symbols))}")
        if i == 9:
            break
    return None


def _type_symbols(schema: AvroSchema) -> list[str]:
    fields = schema.parsed.get("fields") or []
    first = fields[0] if fields else {}
    kind = first.get("type") if first.get("name") == "type" else None
    return list(kind.get("symbols", [])) if isinstance(kind, dict) else []


class RecordCodec:
    """Encode and decode Avro records of one schema with one framing."""

    def __init__(self, schema: AvroSchema, framing: Framing | None = None,
                 earlier: tuple[AvroSchema, ...] = ()) -> None:
        """``earlier``: versions of ``schema`` that records may still have been written with, read when
        single-object encoded (their fingerprint says which), resolved into ``schema``."""
        self.framing: Framing = framing or SingleObjectFraming()
        self.schema = schema
        self.earlier = {s.fingerprint: s for s in earlier}

    def encode_record(self, record: Mapping[str, Any]) -> bytes:
        return self.framing.frame(self.schema, self.schema.write_body(record))

    def decode_record(self, data: bytes) -> dict[str, Any]:
        """Decode to the Avro record (raises :class:`CodecError` on bytes that are not ours)."""
        writer = self.earlier.get(data[2:10]) if data[:2] == SINGLE_OBJECT_MAGIC else None
        if writer is not None:
            return self.schema.read_body_written_with(data[10:], writer)
        return self.schema.read_body(self.framing.unframe(self.schema, data))


class EventCodec(RecordCodec):
    """Encode and decode :class:`EPCISEvent` messages for the events topic."""

    def __init__(self, framing: Framing | None = None, schema: AvroSchema = EVENT_SCHEMA) -> None:
        super().__init__(schema, framing)

    def encode(self, event: EPCISEvent) -> bytes:
        return self.encode_record(event_to_record(event))

    def decode_record(self, data: bytes) -> dict[str, Any]:
        """Decode to the Avro record; an out-of-range event type is named as such."""
        body = self.framing.unframe(self.schema, data)
        try:
            return self.schema.read_body(body)
        except CodecError:
            unknown = _unknown_event_type(body, _type_symbols(self.schema))
            if unknown is not None:
                raise CodecError(unknown) from None
            raise

    def decode(self, data: bytes) -> EPCISEvent:
        record = self.decode_record(data)
        try:
            return record_to_event(record)
        except (ValueError, KeyError) as exc:
            raise CodecError(f"Avro record is not a valid EPCISEvent: {exc}") from None
