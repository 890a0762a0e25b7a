"""The checked store row of an event record in C (``schemas/formats/_wire_native.c``): ingest's fast path.

:func:`fast_row` checks a record by the rules of :func:`schemas.formats.wire.check` and returns its JSON-LD body as
:func:`schemas.epcis.jsontext.dumps` of :func:`schemas.formats.wire.to_jsonld` writes it, and its lot keys as the sorted
texts of :func:`schemas.formats.wire.lot_keys`, all in one pass. It only accepts: for a record it does not serve
(JSON text fields other than ILMD, namespaces, anything that breaks a rule) it returns None, and the caller
runs the Python functions, which remain the definition and name what is wrong.

The C module is optional, like the Avro decoder (:mod:`schemas.avro.native`): without a C compiler at install
time :data:`AVAILABLE` is False and :func:`fast_row` always returns None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from schemas.epcis.errors import IdentifierError
from schemas.epcis.identifiers import lot_ref
from schemas.epcis.jsontext import dumps, number_text
from schemas.epcis.model import ilmd_lot
from schemas.formats.wire import json_of, quantity_value

try:
    from schemas.formats import _wire_native  # type: ignore[attr-defined]
except ImportError:  # built only where a C compiler was present at install time
    _wire_native = None

AVAILABLE = _wire_native is not None
"""Whether the C fast path was built for this installation."""

FastRow = tuple[str, tuple[str, ...]]


def _quantity_text(text: str) -> str | None:
    """The exact JSON number of a quantity's text, or None where :func:`schemas.formats.wire.check` refuses it (the C
    side keeps the answers, so this is called once per distinct text)."""
    value = quantity_value(text)
    return None if isinstance(value, str) else number_text(value)


def _ilmd_parts(event_type: str, action: str | None, text: str) -> tuple[str | None, str | None]:
    """The ILMD's JSON text as the body carries it (None for JSON ``null``) and the lot number it states;
    raises :class:`~schemas.epcis.errors.EPCISError` on text that does not parse (the fast path then declines)."""
    value = json_of(text, "ilmd", dict)
    return (None if value is None else dumps(value)), ilmd_lot(event_type, action, value)


def _declined(record: Mapping[str, Any]) -> FastRow | None:
    return None


fast_row: Callable[[Mapping[str, Any]], FastRow | None] = _declined
"""``(body, lot_keys)`` of a record the C fast path accepts, else None."""

if _wire_native is not None:
    _wire_native.configure(lot_ref, IdentifierError, _quantity_text, _ilmd_parts)
    fast_row = _wire_native.fast_row
