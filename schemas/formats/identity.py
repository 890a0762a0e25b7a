"""The identity of an event: its ``eventID`` when it has one, else its CBV 2.0 event hash ID.

An error declaration repeats the identity of the event it retracts; the store keys on
``(identity, is_declaration)`` so the declaration is a new row, never a duplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.epcis.model import EPCISEvent


def event_identity(event: EPCISEvent) -> str:
    """``eventID`` if present, else the CBV 2.0 hash (``ni:///sha-256;…?ver=CBV2.0``)."""
    if event.event_id:
        return event.event_id
    from schemas.epcis.event_hash import event_hash_id  # deferred: hashing is only needed for id-less events

    return event_hash_id(event)


def record_identity(record: Mapping[str, Any]) -> str:
    """:func:`event_identity` of an ``EPCISEvent`` Avro record (the model is built only to hash it)."""
    event_id: str | None = record["eventID"]
    if event_id:
        return event_id
    from schemas.avro.codec import record_to_event  # deferred: avro_codec builds on the model

    return event_identity(record_to_event(record))
