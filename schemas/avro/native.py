"""The Avro decoder in C (``schemas/avro/_avro_native.c``): turning a schema into the program it walks.

The C module is optional: it is built when the project is installed on a machine with a C compiler, and
:data:`AVAILABLE` says whether it was. :func:`compile_native` raises :class:`UnsupportedSchema` where the C
decoder cannot serve (module not built, a type outside the supported set, a recursive schema), and callers
keep the generated Python decoder of :mod:`schemas.avro.reader`, which supports the same types and returns
the same values.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from schemas.avro.codegen import UnsupportedSchema, named_types, resolve
from schemas.avro.reader import Decoder, compile_reader

try:
    from schemas.avro import _avro_native  # type: ignore[attr-defined]
except ImportError:  # built only where a C compiler was present at install time
    _avro_native = None

AVAILABLE = _avro_native is not None
"""Whether the C decoder was built for this installation."""

__all__ = ["AVAILABLE", "UnsupportedSchema", "compile_decoder", "compile_native"]

# Node kinds: keep in step with the enum in _avro_native.c.
_NULL, _BOOLEAN, _LONG, _FLOAT, _DOUBLE, _STRING, _BYTES = range(7)
_ENUM, _ARRAY, _MAP, _UNION, _RECORD, _TS_MICROS, _TS_MILLIS = range(7, 14)
_SIMPLE = {"null": (_NULL, 0), "boolean": (_BOOLEAN, 1), "int": (_LONG, 1), "long": (_LONG, 1),
           "float": (_FLOAT, 4), "double": (_DOUBLE, 8), "string": (_STRING, 1), "bytes": (_BYTES, 1)}
_TIMESTAMPS = {"timestamp-micros": _TS_MICROS, "timestamp-millis": _TS_MILLIS}

Node = tuple[Any, ...]


def compile_native(schema: dict[str, Any]) -> Decoder:
    """A C decoder for the (fastavro-parsed or plain JSON) record ``schema``, returning what
    ``fastavro.schemaless_reader`` returns; raises ``ValueError`` (or ``UnicodeDecodeError``) on bad bytes."""
    if _avro_native is None:
        raise UnsupportedSchema("the C decoder is not built in this installation")
    names = named_types(schema)
    program = _node(schema, names)
    return functools.partial(_avro_native.decode, program)


def compile_decoder(schema: dict[str, Any]) -> Decoder:
    """The fastest decoder for ``schema`` this installation has: the C one, else the generated Python one
    (which raises :class:`UnsupportedSchema` where neither serves, and callers keep fastavro)."""
    try:
        return compile_native(schema)
    except UnsupportedSchema:
        return compile_reader(schema)


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
