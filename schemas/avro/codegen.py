"""Walking an Avro schema: named-type resolution (shared by the decoder's program, :mod:`schemas.avro.decoder`, and
the generated encoder, :mod:`schemas.avro.writer`) and the source emitter of the encoder.

Both resolve references to named types (records, enums) against the schema itself.
"""

from __future__ import annotations

from typing import Any


class UnsupportedSchema(Exception):
    """The schema uses a type the decoder or the generated encoder does not handle."""


class Emitter:
    """Builds the source of one generated function, one indented line at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self._n = 0

    def var(self, stem: str = "v") -> str:
        """A fresh local variable name."""
        self._n += 1
        return f"{stem}{self._n}"

    def const(self, value: Any) -> str:
        """The name under which ``value`` is visible to the generated code."""
        name = f"K{len(self.consts)}"
        self.consts[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def source(self) -> str:
        return "\n".join(self.lines)


def named_types(schema: Any) -> dict[str, Any]:
    """The named types (records, enums, fixed) of ``schema`` by name, so references by name resolve.

    Raises :class:`UnsupportedSchema` if a record of ``schema`` contains itself (a linked list, a tree): every
    generator these names serve unrolls the schema, which only a finite one allows.
    """
    names: dict[str, Any] = {}
    _register(schema, names)
    _refuse_recursion(schema, names)
    return names


def _register(schema: Any, names: dict[str, Any]) -> None:
    if isinstance(schema, list):
        for s in schema:
            _register(s, names)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed") and "name" in schema:
            names[schema["name"]] = schema
        if kind == "record":
            for f in schema["fields"]:
                _register(f["type"], names)
        elif kind == "array":
            _register(schema["items"], names)
        elif kind == "map":
            _register(schema["values"], names)


def resolve(schema: Any, names: dict[str, Any]) -> Any:
    """``schema`` itself, or the named type it refers to."""
    if isinstance(schema, str) and schema in names:
        return names[schema]
    return schema


def _refuse_recursion(schema: Any, names: dict[str, Any], enclosing: tuple[str, ...] = ()) -> None:
    if isinstance(schema, str) and schema in names:
        if schema in enclosing:
            raise UnsupportedSchema(f"recursive type {schema}")
        schema = names[schema]
    if isinstance(schema, list):
        for branch in schema:
            _refuse_recursion(branch, names, enclosing)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "record":
            inner = (*enclosing, schema.get("name", ""))
            for f in schema["fields"]:
                _refuse_recursion(f["type"], names, inner)
        elif kind in ("array", "map"):
            _refuse_recursion(schema["items" if kind == "array" else "values"], names, enclosing)
