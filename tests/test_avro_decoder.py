"""Lotline's Avro decoder (schemas/avro/decoder.py, walked in C) against fastavro as the reference, type by type.

The event schema itself is compared on generated events in test_properties.py; this covers every type the
decoders support, multi-block arrays and maps as other writers produce them, and bad input.
"""

from __future__ import annotations

import functools
import io
import random
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest

from schemas.avro.codec import EVENT_SCHEMA
from schemas.avro.decoder import UnsupportedSchema, compile_decoder
from schemas.avro.writer import _long as _zigzag  # the encoder's varint: the bytes other writers send

SCHEMA: dict[str, Any] = {
    "type": "record", "name": "All", "namespace": "t",
    "fields": [
        {"name": "flag", "type": "boolean"},
        {"name": "i", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "raw", "type": "bytes"},
        {"name": "s", "type": "string"},
        {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}},
        {"name": "again", "type": "Color"},
        {"name": "ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "items", "type": {"type": "array", "items": {
            "type": "record", "name": "Item", "fields": [
                {"name": "k", "type": "string"}, {"name": "v", "type": ["null", "long", "string"]}]}}},
        {"name": "tags", "type": {"type": "map", "values": {"type": "array", "items": "string"}}},
        {"name": "maybe", "type": ["null", "Item"]},
        {"name": "n", "type": "null"},
    ],
}
PARSED = fastavro.parse_schema(SCHEMA)
RECORDS = [
    {"flag": True, "i": -1, "big": 2**62 + 12345, "f": 1.5, "d": -2.25e300, "raw": b"\x00\xff", "s": "Brötchen ✓",
     "color": "BLUE", "again": "RED", "ms": datetime(2025, 3, 1, 8, 0, 0, 123000, tzinfo=UTC),
     "us": datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
     "items": [{"k": "a", "v": None}, {"k": "b", "v": -(2**40)}, {"k": "c", "v": "x" * 300}],
     "tags": {"one": ["x"], "": [], "many": [str(n) for n in range(70)]}, "maybe": {"k": "z", "v": 7}, "n": None},
    {"flag": False, "i": 0, "big": -(2**63), "f": 0.0, "d": 0.0, "raw": b"", "s": "", "color": "RED",
     "again": "GREEN", "ms": datetime(1970, 1, 1, tzinfo=UTC), "us": datetime(2040, 1, 1, tzinfo=UTC),
     "items": [], "tags": {}, "maybe": None, "n": None},
]


def _write(record: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, PARSED, record)
    return buf.getvalue()


def _fastavro(body: bytes, schema: Any = PARSED) -> Any:
    return fastavro.schemaless_reader(io.BytesIO(body), schema, None)


@pytest.mark.parametrize("record", RECORDS, ids=["full", "empty"])
def test_reads_every_supported_type_as_fastavro_does(record: dict[str, Any]) -> None:
    body = _write(record)
    assert compile_decoder(PARSED)(body) == _fastavro(body)
    assert compile_decoder(SCHEMA)(body) == _fastavro(body)  # unparsed JSON schema, short names


def test_reads_arrays_and_maps_in_several_blocks_with_byte_sizes() -> None:
    """Writers may split arrays and maps into blocks; a negative count is followed by the block's size."""
    schema = fastavro.parse_schema({"type": "record", "name": "B", "fields": [
        {"name": "a", "type": {"type": "array", "items": "long"}},
        {"name": "m", "type": {"type": "map", "values": "string"}}]})
    first, second = _zigzag(1) + _zigzag(2), _zigzag(300)
    body = (_zigzag(2) + first + _zigzag(-1) + _zigzag(len(second)) + second + _zigzag(0)
            + _zigzag(-1) + _zigzag(4) + _zigzag(1) + b"k" + _zigzag(1) + b"v" + _zigzag(0))
    assert compile_decoder(schema)(body) == _fastavro(body, schema) == {"a": [1, 2, 300], "m": {"k": "v"}}


def test_rejects_what_it_cannot_read() -> None:
    decode = compile_decoder(PARSED)
    body = _write(RECORDS[0])
    for bad in (body[:-1], body[:10], b""):
        with pytest.raises((ValueError, IndexError)):
            decode(bad)
    with pytest.raises(ValueError, match="1 bytes after the record"):
        decode(body + b"\x00")
    union = compile_decoder(fastavro.parse_schema({"type": "record", "name": "U", "fields": [
        {"name": "u", "type": ["null", "string"]}]}))
    with pytest.raises(ValueError, match="union index 2 out of range"):
        union(_zigzag(2))


@pytest.mark.parametrize("field", [
    {"name": "x", "type": {"type": "fixed", "name": "F", "size": 4}},
    {"name": "x", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
    {"name": "x", "type": {"type": "int", "logicalType": "date"}},
])
def test_unsupported_types_are_refused_at_compile_time(field: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedSchema):
        compile_decoder({"type": "record", "name": "X", "fields": [field]})


def test_recursive_schemas_are_refused_at_compile_time() -> None:
    """Both decoders unroll the schema; a record that contains itself is left to fastavro."""
    linked = {"type": "record", "name": "Node", "fields": [
        {"name": "value", "type": "long"}, {"name": "next", "type": ["null", "Node"]}]}
    for schema in (linked, fastavro.parse_schema(linked)):
        with pytest.raises(UnsupportedSchema, match="recursive type"):
            compile_decoder(schema)


def test_the_c_decoder_is_what_ingest_decodes_with() -> None:
    """Every installation builds the C decoder (pyproject.toml: optional = false); its absence is a build fault."""
    assert isinstance(EVENT_SCHEMA._decode, functools.partial)  # what ingest decodes with


def test_c_decoder_never_reads_past_broken_bytes() -> None:
    """Every truncation and many corruptions of a real record: the C decoder raises or returns fastavro's
    answer, and a block count larger than the bytes left is refused before anything is allocated."""
    decode = compile_decoder(PARSED)
    body = _write(RECORDS[0])
    rng = random.Random(7)
    candidates = [body[:n] for n in range(len(body))]
    for _ in range(3000):
        mutated = bytearray(body)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        candidates.append(bytes(mutated))
    for bad in candidates:
        try:
            got = decode(bad)
        except (ValueError, OverflowError):  # UnicodeDecodeError is a ValueError
            continue
        assert got == _fastavro(bad)
    huge = compile_decoder({"type": "record", "name": "H", "fields": [{"name": "a", "type": {"type": "array",
                                                                                      "items": "long"}}]})
    with pytest.raises(ValueError, match="truncated"):
        huge(_zigzag(2**40) + b"\x02")
    nulls = compile_decoder({"type": "record", "name": "Z", "fields": [{"name": "a", "type": {"type": "array",
                                                                                       "items": "null"}}]})
    with pytest.raises(ValueError, match="too many items"):
        nulls(_zigzag(2**40) + b"\x00")
    assert nulls(_zigzag(3) + b"\x00") == {"a": [None, None, None]}
