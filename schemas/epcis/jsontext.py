"""JSON text in and out with exact decimals: quantities must never pick up float noise.

Every stored event body is written by :func:`dumps` (orjson: the stdlib encoder cost ingest ~20 µs per
event), and every JSON value carried as text in an Avro record is read back by :func:`loads`.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from typing import Any

import orjson

_DECODER = json.JSONDecoder(parse_float=Decimal)


def loads(text: str | bytes) -> Any:
    """Parse JSON keeping decimals exact (``json.loads`` semantics; text that is ``str`` and has no byte order
    mark goes to one shared decoder, since ``json.loads`` with ``parse_float`` builds a new one per call)."""
    if type(text) is str and not text.startswith("\ufeff"):
        return _DECODER.decode(text)
    return json.loads(text, parse_float=Decimal)


def number_text(value: Decimal) -> str:
    """A Decimal as the exact JSON number it is (``200.0`` → ``200``, no float rounding)."""
    return str(int(value)) if value == value.to_integral_value() else format(value.normalize(), "f")


@functools.lru_cache(maxsize=4096)
def exact_number(value: Decimal) -> orjson.Fragment:
    """:func:`number_text` as a fragment orjson writes as is; cached by value (equal Decimals print alike),
    since a plant's quantities repeat."""
    return orjson.Fragment(number_text(value))


def _default(o: Any) -> orjson.Fragment:
    if not isinstance(o, Decimal):
        raise TypeError(f"{type(o).__name__} is not JSON serialisable")
    return exact_number(o)


def dumps(value: Any, *, indent: int | None = None) -> str:
    """Serialise JSON compactly (or indented by 2 with ``indent``), decimals as exact numbers."""
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(value, default=_default, option=option).decode()
