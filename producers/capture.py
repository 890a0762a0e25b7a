"""Reading EPCIS capture documents for ``lotline capture``: JSON-LD or XML, told apart by content.

A document is checked in three layers, each problem located by document, event index and field:

1. syntax (well-formed JSON / XML) and shape (an EPCISDocument or EPCISQueryDocument with an event list);
2. GS1's schema for its syntax when one is configured (:mod:`schemas.formats.validation`);
3. the event model: :func:`schemas.formats.jsonld.event_from_json` and :meth:`EPCISEvent.validate` (required fields,
   timestamps and offsets, identifiers with their check digits, event-type rules).

:func:`read_document` collects every problem and keeps the events that passed, for the capture modes of the
standard: reject the whole document (the default) or accept the valid events and report the rest
(``--partial``). :func:`parse_document` is the strict form: it raises the first problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from schemas.epcis.errors import EPCISError
from schemas.epcis.model import EPCISEvent
from schemas.formats.jsonld import context_namespaces, event_from_json, loads
from schemas.formats.validation import SchemaValidator, event_list_path
from schemas.formats.wire import validate_event

T = TypeVar("T")

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class CaptureResult:
    """One document read for capture: the events that passed every check, and the problems."""

    name: str
    events: list[EPCISEvent] = field(default_factory=list)
    problems: list[EPCISError] = field(default_factory=list)
    total: int = 0
    """Events in the document (0 when the document itself could not be read)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def document_error(self) -> bool:
        """True when a problem concerns the document as a whole (nothing in it can be captured)."""
        return any(p.event_index is None for p in self.problems)

    @property
    def rejected(self) -> int:
        """How many events were rejected (all of them on a document-level problem)."""
        if self.document_error:
            return self.total
        return len({p.event_index for p in self.problems})


def read_document(data: bytes, name: str, validator: SchemaValidator | None = None) -> CaptureResult:
    """Read and check every event of one document; never raises :class:`EPCISError`."""
    result = CaptureResult(name)
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    head = data.lstrip()[:1]
    try:
        if head == b"<":
            _read_xml(data, name, validator, result)
        elif head in (b"{", b"["):
            _read_json(data, name, validator, result)
        else:
            raise EPCISError("is neither a JSON-LD nor an XML document", document=name)
    except EPCISError as exc:
        result.problems.insert(0, exc.located(document=name))
        result.events = []
    return result


def parse_document(data: bytes, name: str, validator: SchemaValidator | None = None) -> list[EPCISEvent]:
    """Parse and validate every event of one document; raise :class:`EPCISError` naming the first problem."""
    result = read_document(data, name, validator)
    if result.problems:
        raise result.problems[0]
    return result.events


def _read_json(data: bytes, name: str, validator: SchemaValidator | None, result: CaptureResult) -> None:
    try:
        doc = loads(data)
    except ValueError as exc:
        raise EPCISError(f"is not valid JSON: {exc}", document=name) from None
    raw_events, namespaces = _json_events(doc, name)
    problems = validator.json_problems(doc, name) if validator is not None else []
    _collect(result, name, raw_events, problems, lambda raw: event_from_json(raw, namespaces))


def _collect(result: CaptureResult, name: str, items: Sequence[T], problems: list[EPCISError],
             to_event: Callable[[T], EPCISEvent]) -> None:
    """Read and validate each event apart, so one bad event does not hide the others; events the schema
    already rejected are not read again, and a document-level problem stops the reading."""
    result.total = len(items)
    result.problems.extend(problems)
    if any(p.event_index is None for p in problems):
        return
    bad = {p.event_index for p in problems}
    for index, item in enumerate(items):
        if index in bad:
            continue
        try:
            event = to_event(item)
            validate_event(event)
        except EPCISError as exc:
            result.problems.append(exc.located(event_index=index, document=name))
            continue
        result.events.append(event)
    result.problems.sort(key=lambda p: -1 if p.event_index is None else p.event_index)


def _json_events(doc: Any, name: str) -> tuple[list[Any], dict[str, str]]:
    """The raw event objects and the document's context prefixes (the shape rules of document_events)."""
    if not isinstance(doc, Mapping):
        raise EPCISError("is not a JSON object", document=name)
    if doc.get("type") not in ("EPCISDocument", "EPCISQueryDocument") or not isinstance(doc.get("epcisBody"),
                                                                                       Mapping):
        raise EPCISError("is not an EPCISDocument (missing type or epcisBody)", document=name)
    path = event_list_path(doc)
    node: Any = doc
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, list):
        raise EPCISError("has no event list", document=name, field="/".join(path))
    return node, context_namespaces(doc.get("@context"))


def _read_xml(data: bytes, name: str, validator: SchemaValidator | None, result: CaptureResult) -> None:
    # The reader's per-event steps are used directly so that one bad event does not hide the others.
    from schemas.formats.xml import _event, _event_elements, _parse

    root = _parse(data, name)
    problems = validator.xml_problems(root, name) if validator is not None else []
    _collect(result, name, _event_elements(root, name), problems, _event)
