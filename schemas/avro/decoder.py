"""Lotline's one Avro decoder: a schema turned into a program (here) that C walks (``schemas/avro/_avro_native.c``).

Why C: ingest decodes every message, and fastavro's reader walks the schema at run time for each record
(docs/performance.md, "Decisions"). The C module is built by every installation (pyproject.toml makes it
mandatory) and is the only decoder of Lotline's schemas; ``tests/test_avro_decoder.py`` holds it to what
``fastavro.schemaless_reader`` returns, as the reference, type by type and on corrupted bytes.
:func:`compile_decoder` raises :class:`UnsupportedSchema` for a schema outside the supported set (a recursive
one, a logical type other than the timestamps, more than 64 union branches or enum symbols).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from schemas.avro import _avro_native  # type: ignore[attr-defined]
from schemas.avro.codegen import UnsupportedSchema, named_types, resolve

__all__ = ["Decoder", "UnsupportedSchema", "compile_decoder"]

Decoder = Callable[[bytes], dict[str, Any]]
"""One Avro binary body → the record, as ``fastavro.schemaless_reader`` returns it."""

# Node kinds: keep in step with the enum in _avro_native.c.
_NULL, _BOOLEAN, _LONG, _FLOAT, _DOUBLE, _STRING, _BYTES = range(7)
_ENUM, _ARRAY, _MAP, _UNION, _RECORD, _TS_MICROS, _TS_MILLIS = range(7, 14)
_SIMPLE = {"null": (_NULL, 0), "boolean": (_BOOLEAN, 1), "int": (_LONG, 1), "long": (_LONG, 1),
           "float": (_FLOAT, 4), "double": (_DOUBLE, 8), "string": (_STRING, 1), "bytes": (_BYTES, 1)}
_TIMESTAMPS = {"timestamp-micros": _TS_MICROS, "timestamp-millis": _TS_MILLIS}

Node = tuple[Any, ...]


def compile_decoder(schema: dict[str, Any]) -> Decoder:
    """The decoder of the (fastavro-parsed or plain JSON) record ``schema``, returning what
    ``fastavro.schemaless_reader`` returns; it raises ``ValueError`` (or ``UnicodeDecodeError``) naming what is
    wrong with bad bytes (truncated, a union index out of range, bytes after the record, ...)."""
    names = named_types(schema)
    program = _node(schema, names)
    return functools.partial(_avro_native.decode, program)


def _node(schema: Any, names: dict[str, Any]) -> Node:
    """The program node (kind, fewest bytes a value takes, a, b) of ``schema`` (not recursive)."""
    schema = resolve(schema, names)
    if isinstance(schema, list):
        if len(schema) > 64:
            raise UnsupportedSchema("union of more than 64 branches")
        branches = tuple(_node(b, names) for b in schema)
        return (_UNION, 1 + min((b[1] for b in branches), default=0), branches, None)
    kind = schema if isinstance(schema, str) else schema.get("type")
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if logical is not None:
        if kind in ("int", "long") and logical in _TIMESTAMPS:
            return (_TIMESTAMPS[logical], 1, None, None)
        raise UnsupportedSchema(f"logical type {logical}")
    if isinstance(kind, str) and kind in _SIMPLE:
        code, width = _SIMPLE[kind]
        return (code, width, None, None)
    if kind == "enum":
        if len(schema["symbols"]) > 64:
            raise UnsupportedSchema("enum of more than 64 symbols")
        return (_ENUM, 1, tuple(schema["symbols"]), None)
    if kind in ("array", "map"):
        item = _node(schema["items" if kind == "array" else "values"], names)
        # b: the fewest bytes one item of a block takes (a map's item carries its key too), which bounds the
        # count a block may claim
        return (_ARRAY, 1, item, item[1]) if kind == "array" else (_MAP, 1, item, item[1] + 1)
    if kind == "record":
        fields = tuple(_node(f["type"], names) for f in schema["fields"])
        keys = tuple(sys.intern(str(f["name"])) for f in schema["fields"])  # readers look fields up by them
        return (_RECORD, sum(f[1] for f in fields), keys, fields)
    raise UnsupportedSchema(f"type {kind!r}")
