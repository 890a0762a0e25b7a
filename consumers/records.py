"""Turning an event into a row for the event store.

Ingest builds the row straight from the decoded Avro record (:func:`row_from_record`) without the model;
everything else that holds a model goes through the same function (:func:`to_new_event`), so a row is
built one way only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consumers.store.port import NewEvent, SourceRef
from schemas.avro_codec import event_to_record
from schemas.identity import record_identity
from schemas.jsontext import dumps
from schemas.model import EPCISEvent
from schemas.wire import lot_keys, to_jsonld


def row_from_record(record: Mapping[str, Any], source: SourceRef | None = None) -> NewEvent:
    """The store row of a checked record (:func:`schemas.wire.check`): identity, indexed columns and the
    JSON-LD body, whose namespace prefixes ride along in an event-level ``@context``."""
    body = to_jsonld(record)
    keys = lot_keys(record, body.get("ilmd"))
    if record["namespaces"]:
        body = {"@context": [dict(sorted(record["namespaces"].items()))], **body}
    return NewEvent(
        event_key=record_identity(record),
        is_declaration=record["errorDeclaration"] is not None,
        event_id=record["eventID"],
        event_type=record["type"],
        event_time=record["eventTime"],
        event_tz_offset=record["eventTimeZoneOffset"],
        biz_step=record["bizStep"],
        lot_keys=tuple(sorted(str(k) for k in keys)),
        body=dumps(body),
        source=source,
    )


def to_new_event(event: EPCISEvent, source: SourceRef | None = None) -> NewEvent:
    """The store row of ``event`` (see :func:`row_from_record`)."""
    return row_from_record(event_to_record(event), source)
