"""Turning an event into a row for the event store.

Ingest builds the row straight from the decoded Avro record without the model (:func:`checked_row`:
:func:`schemas.formats.wire.check`, then :func:`row_from_record`); everything else that holds a model goes through
:func:`row_from_record` too (:func:`to_new_event`), so a row has one definition. Every ingested event passes
through here, so this module is compiled by mypyc where Lotline is installed (``lotline/buildinfo.py``).
"""

from __future__ import annotations

from typing import Any

from schemas.avro.codec import event_to_record
from schemas.epcis.model import EPCISEvent
from schemas.formats.identity import record_identity
from schemas.formats.wire import body_text, check, lot_keys, to_jsonld
from store.port import NewEvent, SourceRef


def row_from_record(record: dict[str, Any], source: SourceRef | None = None) -> NewEvent:
    """The store row of a checked record (:func:`schemas.formats.wire.check`): identity, indexed columns and the
    JSON-LD body, whose namespace prefixes ride along in an event-level ``@context``."""
    body = to_jsonld(record)
    keys = lot_keys(record, body.get("ilmd"))
    if record["namespaces"]:
        body = {"@context": [dict(sorted(record["namespaces"].items()))], **body}
    return _new_event(record, body_text(body), tuple(sorted(str(k) for k in keys)), source)


def checked_row(record: dict[str, Any], source: SourceRef | None = None) -> NewEvent:
    """:func:`schemas.formats.wire.check` the record, then its :func:`row_from_record`. Raises
    :class:`~schemas.epcis.errors.EPCISError` naming what is wrong."""
    check(record)
    return row_from_record(record, source)


def _new_event(record: dict[str, Any], body: str, keys: tuple[str, ...], source: SourceRef | None) -> NewEvent:
    return NewEvent(
        event_key=record_identity(record),
        is_declaration=record["errorDeclaration"] is not None,
        event_id=record["eventID"],
        event_type=record["type"],
        event_time=record["eventTime"],
        event_tz_offset=record["eventTimeZoneOffset"],
        biz_step=record["bizStep"],
        lot_keys=keys,
        body=body,
        source=source,
    )


def to_new_event(event: EPCISEvent, source: SourceRef | None = None) -> NewEvent:
    """The store row of ``event`` (see :func:`row_from_record`)."""
    return row_from_record(event_to_record(event), source)
