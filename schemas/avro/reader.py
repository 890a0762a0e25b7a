"""A schema-specialised Avro binary decoder, generated as straight-line Python for one schema.

Why: ingest decodes every message, and fastavro's reader walks the schema *at run time* for each record
(~39 µs for an EPCIS event here, a quarter of ingest's per-event budget). Generating the code once per
schema removes that interpretation: the decoder for the event schema runs in ~a third of the time and
returns exactly what ``fastavro.schemaless_reader`` returns (tests compare the two on every message they
have). Only what Lotline's schemas use is supported (null, boolean, int, long, float, double, string, bytes,
enum, array, map, union, record, and the ``timestamp-millis``/``timestamp-micros`` logical types);
:func:`compile_reader` raises :class:`UnsupportedSchema` for anything else, and callers keep fastavro.

A decoder raises ``ValueError`` (or ``IndexError`` / ``UnicodeDecodeError`` on truncated or broken bytes)
on input it cannot read; callers turn that into their own error, ideally by asking fastavro to explain.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.avro.codegen import Emitter, UnsupportedSchema, named_types, resolve

Decoder = Callable[[bytes], dict[str, Any]]
__all__ = ["Decoder", "UnsupportedSchema", "compile_reader"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


_SHIFTS = (7, 14, 21, 28, 35, 42, 49, 56, 63)


def _long_slow(d: bytes, p: int, b: int) -> tuple[int, int]:
    """Finish a multi-byte zig-zag varint whose first byte ``b`` was read at ``p - 1`` (every timestamp is
    one: eight bytes of microseconds)."""
    n = b & 0x7F
    for shift in _SHIFTS:
        b = d[p]
        p += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            return (n >> 1) ^ -(n & 1), p
    raise ValueError("varint longer than 10 bytes")


def _index(b: int) -> str:
    """The union or enum index a first byte encodes, for error messages."""
    return str((b >> 1) ^ -(b & 1)) if not b & 0x80 else "beyond 63"


class _Emitter(Emitter):
    """Emits decoding code; reads varints inline."""

    def long(self, indent: int, target: str) -> None:
        """Read one zig-zag varint into ``target`` (the one-byte case inline)."""
        self.emit(indent, "b = d[p]")
        self.emit(indent, "p += 1")
        self.emit(indent, "if b & 0x80:")
        self.emit(indent + 1, f"{target}, p = _long_slow(d, p, b)")
        self.emit(indent, "else:")
        self.emit(indent + 1, f"{target} = (b >> 1) ^ -(b & 1)")


def _value(em: _Emitter, schema: Any, names: dict[str, Any], indent: int, target: str) -> None:
    """Emit code that reads one value of ``schema`` at ``d[p:]`` into ``target``."""
    schema = resolve(schema, names)
    if isinstance(schema, list):
        _union(em, schema, names, indent, target)
        return
    kind = schema if isinstance(schema, str) else schema.get("type")
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if kind == "null":
        em.emit(indent, f"{target} = None")
    elif kind == "boolean":
        em.emit(indent, f"{target} = d[p] != 0")  # any non-zero byte, as fastavro reads it
        em.emit(indent, "p += 1")
    elif kind in ("int", "long"):
        if logical is None:
            em.long(indent, target)
        elif logical in ("timestamp-micros", "timestamp-millis"):
            count = em.var("t")  # a variable of its own: each variable keeps one type
            em.long(indent, count)
            unit = "microseconds" if logical == "timestamp-micros" else "milliseconds"
            em.emit(indent, f"{target} = _EPOCH + _timedelta({unit}={count})")
        else:
            raise UnsupportedSchema(f"logical type {logical}")
    elif kind in ("float", "double"):
        size, unpack = (4, "_FLOAT") if kind == "float" else (8, "_DOUBLE")
        em.emit(indent, f"{target} = {unpack}.unpack_from(d, p)[0]")
        em.emit(indent, f"p += {size}")
    elif kind in ("string", "bytes"):
        n = em.var("n")
        em.long(indent, n)
        em.emit(indent, f"if {n} < 0: raise ValueError('negative length')")
        tail = ".decode()" if kind == "string" else ""
        em.emit(indent, f"{target} = d[p:p + {n}]{tail}")
        em.emit(indent, f"p += {n}")
        if logical is not None:
            raise UnsupportedSchema(f"logical type {logical}")
    elif kind == "enum":
        symbols = em.const(tuple(schema["symbols"]))
        if len(schema["symbols"]) > 64:
            raise UnsupportedSchema("enum of more than 64 symbols")
        em.emit(indent, "b = d[p]")
        em.emit(indent, "p += 1")
        em.emit(indent, "if b & 0x81: raise ValueError(f'enum index {_index(b)} out of range')")
        em.emit(indent, f"{target} = {symbols}[b >> 1]")
    elif kind == "array":
        _block(em, schema["items"], names, indent, target, is_map=False)
    elif kind == "map":
        _block(em, schema["values"], names, indent, target, is_map=True)
    elif kind == "record":
        fields = []
        for f in schema["fields"]:
            v = em.var("f")
            _value(em, f["type"], names, indent, v)
            fields.append(f"{f['name']!r}: {v}")
        em.emit(indent, f"{target} = {{{', '.join(fields)}}}")
    else:
        raise UnsupportedSchema(f"type {kind!r}")


def _union(em: _Emitter, branches: list[Any], names: dict[str, Any], indent: int, target: str) -> None:
    if len(branches) > 64:
        raise UnsupportedSchema("union of more than 64 branches")
    em.emit(indent, "b = d[p]")
    em.emit(indent, "p += 1")
    for n, branch in enumerate(branches):  # index n is the one-byte zig-zag varint 2n
        em.emit(indent, f"{'if' if n == 0 else 'elif'} b == {2 * n}:")
        _value(em, branch, names, indent + 1, target)
    em.emit(indent, "else:")
    em.emit(indent + 1, "raise ValueError(f'union index {_index(b)} out of range')")


def _block(em: _Emitter, item: Any, names: dict[str, Any], indent: int, target: str, *, is_map: bool) -> None:
    """Arrays and maps: blocks of ``count`` items (negative count: byte size follows) ending with 0."""
    count, x = em.var("c"), em.var("x")
    em.emit(indent, f"{target} = {{}}" if is_map else f"{target} = []")
    em.emit(indent, "if d[p] == 0:")  # the common empty list: one zero byte
    em.emit(indent + 1, "p += 1")
    em.emit(indent, "else:")
    indent += 1
    em.emit(indent, "while True:")
    em.long(indent + 1, count)
    em.emit(indent + 1, f"if {count} == 0: break")
    em.emit(indent + 1, f"if {count} < 0:")
    em.emit(indent + 2, f"{count} = -{count}")
    em.long(indent + 2, "_")
    em.emit(indent + 1, f"for _ in range({count}):")
    if is_map:
        key = em.var("k")
        _value(em, "string", names, indent + 2, key)
        _value(em, item, names, indent + 2, x)
        em.emit(indent + 2, f"{target}[{key}] = {x}")
    else:
        _value(em, item, names, indent + 2, x)
        em.emit(indent + 2, f"{target}.append({x})")


def compile_reader(schema: dict[str, Any]) -> Decoder:
    """Generate and compile a decoder for the (fastavro-parsed or plain JSON) record ``schema``.

    The decoder reads one Avro binary body and returns the record as fastavro would; it raises
    ``ValueError`` if bytes remain after the record.
    """
    names = named_types(schema)
    em = _Emitter()
    em.emit(0, "def decode(d):")
    em.emit(1, "p = 0")
    _value(em, schema, names, 1, "out")
    em.emit(1, "if p != len(d): raise ValueError(f'{len(d) - p} bytes after the record' if p < len(d) else "
               "'record is truncated')")
    em.emit(1, "return out")
    scope: dict[str, Any] = {"_long_slow": _long_slow, "_index": _index, "_EPOCH": _EPOCH, "_timedelta": timedelta,
                             "_FLOAT": _FLOAT, "_DOUBLE": _DOUBLE, **em.consts}
    exec(compile("\n".join(em.lines), f"<avro decoder for {schema.get('name', 'record')}>", "exec"), scope)
    decoder: Decoder = scope["decode"]
    return decoder
