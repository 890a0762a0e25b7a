"""JSON text in and out with exact decimals: quantities must never pick up float noise.

Every stored event body is written by :func:`dumps` (orjson: the stdlib encoder cost ingest ~20 µs per
event), and every JSON value carried as text in an Avro record is read back by :func:`loads`.

Numbers Lotline keeps are bounded (:func:`number_problem`): at most :data:`MAX_DIGITS` significant digits, a
magnitude within 10^±:data:`MAX_EXPONENT`, finite. Beyond that a number is no measurement of anything, and
costs without bound: ``1E+10000000`` (12 bytes) took minutes of CPU to print exactly, and an integer of 5,000
digits or one beyond 64 bits failed to print at all, on every restart of ingest. :func:`loads` refuses them
(``ValueError`` naming the number), so capture refuses them and ingest dead-letters them.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from typing import Any

import orjson

from schemas.epcis.errors import shown

MAX_DIGITS = 50
"""The most significant digits a number may have (a quantity measured to 50 digits is already fiction)."""
MAX_EXPONENT = 100
"""The largest power of ten, up or down, a number may reach (``1E+100``, ``1E-100``)."""


def number_problem(value: Decimal) -> str | None:
    """What makes ``value`` a number Lotline does not keep (see the module's docstring), or None."""
    if not value.is_finite():
        return f"{value} is not a finite number"
    if value and not -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
        return f"{shown(str(value))} is beyond 10^±{MAX_EXPONENT}"
    if len(value.as_tuple().digits) > MAX_DIGITS:
        return f"{shown(str(value))} has more than {MAX_DIGITS} significant digits"
    return None


def _decimal(text: str) -> Decimal:
    value = Decimal(text)
    if (problem := number_problem(value)) is not None:
        raise ValueError(f"the number {problem}")
    return value


def _integer(text: str) -> int | Decimal:
    """An integer; beyond 64 bits a Decimal (orjson writes no larger int), within :data:`MAX_DIGITS`."""
    if len(text) <= 18:
        return int(text)
    return _decimal(text) if len(text) > MAX_DIGITS or not -(2**63) <= (n := int(text)) < 2**64 else n


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_HOOKS: dict[str, Any] = {"parse_float": _decimal, "parse_int": _integer, "parse_constant": _constant}
_DECODER = json.JSONDecoder(**_HOOKS)


MAX_DEPTH = 100
"""The deepest nesting of arrays and objects :func:`loads` accepts (orjson writes at most 254 levels, and an
EPCIS event's deepest standard member is 4 levels down)."""


def loads(text: str | bytes) -> Any:
    """Parse JSON keeping decimals exact (``json.loads`` semantics, but ``NaN``/``Infinity``, numbers beyond
    :func:`number_problem`'s bounds and nesting deeper than :data:`MAX_DEPTH` raise ``ValueError``; text that is
    ``str`` and has no byte order mark goes to one shared decoder, since ``json.loads`` with hooks builds a new
    one per call)."""
    try:
        value = _DECODER.decode(text) if type(text) is str and not text.startswith("\ufeff") else \
            json.loads(text, **_HOOKS)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    opened = text.count("{") + text.count("[") if isinstance(text, str) else text.count(b"{") + text.count(b"[")
    if opened > MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects in ``value`` nest deeper than ``limit`` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


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
