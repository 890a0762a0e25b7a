"""Turning a decoded, validated EPCIS event into a row for the event store."""

from __future__ import annotations

from consumers.store.port import NewEvent, SourceRef
from schemas.identity import event_identity
from schemas.jsonld import dumps, event_to_json
from schemas.model import EPCISEvent


def event_body(event: EPCISEvent) -> str:
    """The stored JSON-LD text of an event; its namespace prefixes ride along in an event-level ``@context``."""
    body = event_to_json(event)
    if event.namespaces:
        body = {"@context": [dict(sorted(event.namespaces.items()))], **body}
    return dumps(body)


def to_new_event(event: EPCISEvent, source: SourceRef | None = None) -> NewEvent:
    """Build the store row of ``event``: identity, indexed columns and the full body."""
    return NewEvent(
        event_key=event_identity(event),
        is_declaration=event.is_declaration,
        event_id=event.event_id,
        event_type=event.type.value,
        event_time=event.event_time,
        event_tz_offset=event.event_time_zone_offset,
        biz_step=event.biz_step,
        lot_keys=tuple(sorted(str(k) for k in event.lot_keys())),
        body=event_body(event),
        source=source,
    )
