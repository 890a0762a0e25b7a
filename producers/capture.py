"""Reading EPCIS capture documents for ``lotline capture``: JSON-LD or XML, told apart by content."""

from __future__ import annotations

from schemas.errors import EPCISError
from schemas.jsonld import document_events, loads
from schemas.model import EPCISEvent


def parse_document(data: bytes, name: str) -> list[EPCISEvent]:
    """Parse and validate every event of one document; raise :class:`EPCISError` naming the first problem."""
    head = data.lstrip()[:1]
    if head == b"<":
        from schemas.xml_reader import xml_document_events

        events = xml_document_events(data, document=name)
    elif head in (b"{", b"["):
        try:
            doc = loads(data)
        except ValueError as exc:
            raise EPCISError(f"is not valid JSON: {exc}", document=name) from None
        events = document_events(doc, document=name)
    else:
        raise EPCISError("is neither a JSON-LD nor an XML document", document=name)
    for index, event in enumerate(events):
        try:
            event.validate()
        except EPCISError as exc:
            raise exc.located(event_index=index, document=name) from None
    return events
