"""Validating capture documents against GS1's own schemas: the EPCIS 2.0 JSON Schema and the XSD.

GS1 publishes both artefacts; Lotline does not ship copies of them. Point Lotline at them with
``LOTLINE_EPCIS_JSON_SCHEMA`` (the inlined ``EPCIS-JSON-Schema.json``) and ``LOTLINE_EPCIS_XSD``
(``XSD/EPCglobal-epcis-query-2_0.xsd``, which imports the capture XSD and so accepts both EPCISDocument and
EPCISQueryDocument; its imports are relative files and resolve offline), or pass the paths explicitly
(``lotline capture --json-schema/--xsd``). Without them, documents are checked by the event model alone
(:meth:`schemas.epcis.model.EPCISEvent.validate`) and one log line says so.

Every problem becomes an :class:`~schemas.epcis.errors.EPCISError` naming the document, the event index (``None``
for a problem outside the event list) and the field as a JSON-pointer-like path inside the event
(``quantityList/0/uom``), so a rejected capture can be fixed without a debugger.

Decisions that deviate from a literal reading of the schemas:

* **CBV URNs in JSON.** GS1's JSON schema forbids ``urn:epcglobal:cbv:…`` vocabulary values in JSON, yet
  producers send them (GS1's own ``event_with_identical_hash_id_7.json`` does, domain.md §4). Before the JSON
  schema sees a document, such values in the vocabulary positions (bizStep, disposition,
  persistentDisposition set/unset, the types of bizTransaction/source/destination, errorDeclaration reason)
  are rewritten to their bare CBV term, so they are checked exactly as the bare spelling would be: a URN
  naming a real CBV term passes, ``urn:epcglobal:cbv:bizstep:bogus`` still fails. The document itself is
  not changed.
* **persistentDisposition.** GS1's JSON schema allows it on ObjectEvent and TransformationEvent only, the
  XSD on all five types. Lotline accepts it on every type (domain.md §1), so that is not reported.
* **Formats.** jsonschema checks ``format: uri`` and ``format: date-time`` only with extra packages, so
  Lotline registers its own: a URI is ``scheme:rest`` without whitespace (so a bare ``bogus`` bizStep is
  neither a CBV term nor another vocabulary's URI), a date-time is what the model's strict parser accepts.
* **XSD scope.** The XSD checks documents in the EPCIS 2.0 namespaces only. EPCIS 1.x documents (which the
  reader also accepts) are checked by the model alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import structlog
from jsonschema import Draft7Validator, FormatChecker  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]
from lxml import etree  # type: ignore[import-untyped]

from schemas.epcis.errors import EPCISError
from schemas.epcis.timefmt import parse_timestamp
from schemas.epcis.vocab import Vocab, canonical

log = structlog.get_logger("lotline.validation")

ENV_JSON_SCHEMA = "LOTLINE_EPCIS_JSON_SCHEMA"
ENV_XSD = "LOTLINE_EPCIS_XSD"

XSD_NAMESPACES = ("urn:epcglobal:epcis:xsd:2", "urn:epcglobal:epcis-query:xsd:2")
EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")
MAX_MESSAGE = 300

_URN = "urn:epcglobal:cbv:"
_VOCAB_FIELDS = {"bizStep": Vocab.BIZ_STEP, "disposition": Vocab.DISPOSITION}
_TYPED_LISTS = {"bizTransactionList": Vocab.BIZ_TRANSACTION_TYPE, "sourceList": Vocab.SOURCE_DEST_TYPE,
                "destinationList": Vocab.SOURCE_DEST_TYPE}
_logged_unconfigured: set[str] = set()


class SchemaValidator:
    """Checks JSON documents against the EPCIS JSON Schema and XML documents against the XSD, when given."""

    def __init__(self, json_schema: str | Path | None = None, xsd: str | Path | None = None) -> None:
        self.json_schema_path = Path(json_schema) if json_schema else None
        self.xsd_path = Path(xsd) if xsd else None
        self._json = _json_validator(str(self.json_schema_path.resolve())) if self.json_schema_path else None
        self._xsd = _xml_schema(str(self.xsd_path.resolve())) if self.xsd_path else None

    def json_problems(self, doc: Any, document: str) -> list[EPCISError]:
        """Every JSON-schema problem of a parsed JSON document, located (empty without a schema)."""
        if self._json is None:
            _note_unconfigured("json", ENV_JSON_SCHEMA)
            return []
        checked, originals = normalise_cbv_urns(doc)
        path = event_list_path(checked)
        events: Any = checked
        for key in path:
            events = events.get(key) if isinstance(events, Mapping) else None
        parts: list[tuple[tuple[Any, ...], Any, bool]] = []  # (path prefix, instance, is an event)
        if isinstance(events, list):
            parts.append(((), _with_events(checked, path, []), False))
            parts.extend(((*path, i), event, True) for i, event in enumerate(events))
        else:
            parts.append(((), checked, False))
        problems = []
        for prefix, instance, is_event in parts:
            for err in self._json.errors(instance, is_event):
                if not _tolerated(err):
                    problems.append(_json_problem(err, (*prefix, *err.absolute_path), document, originals))
        return sorted(problems, key=_order)

    def xml_problems(self, root: Any, document: str) -> list[EPCISError]:
        """Every XSD problem of a parsed XML document (an lxml root element), located."""
        if self._xsd is None:
            _note_unconfigured("xml", ENV_XSD)
            return []
        if etree.QName(root).namespace not in XSD_NAMESPACES:
            log.info("not an EPCIS 2.0 namespace: XSD validation skipped, model checks only", document=document,
                     root=root.tag)
            return []
        xsd = self._xsd
        if xsd.validate(root.getroottree()):
            return []
        events = [(root.getroottree().getpath(e), i) for i, e in enumerate(_xml_event_elements(root))]
        out = []
        for entry in xsd.error_log:
            index, field = _xml_location(str(entry.path or ""), events)
            out.append(EPCISError(f"{_shorten(entry.message)} (line {entry.line}; GS1 EPCIS XSD)", field=field,
                                  event_index=index, document=document))
        return sorted(out, key=_order)


def _order(e: EPCISError) -> tuple[int, str]:
    return (-1 if e.event_index is None else e.event_index, e.field or "")


def _note_unconfigured(kind: str, env: str) -> None:
    if kind not in _logged_unconfigured:
        _logged_unconfigured.add(kind)
        log.info(f"no EPCIS {kind.upper()} schema configured ({env}); {kind.upper()} documents are checked by "
                 "the event model only")


class _JsonSchema:
    """GS1's JSON schema, for whole documents (events left out) and for single events.

    jsonschema is the reference and gives the detailed, located errors, but runs at ~650 events/s per core
    on GS1's schema. When fastjsonschema is installed, its compiled validators (~30× faster) answer the
    common question, "is this valid?", and jsonschema runs only on what they reject.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        Draft7Validator.check_schema(schema)
        event_schema = {"$id": schema.get("$id", ""), "$schema": schema.get("$schema"),
                        "definitions": schema.get("definitions", {}),
                        "allOf": [{"$ref": "#/definitions/EPCIS-Document-Event"}]}  # no $ref beside $id (draft 7)
        self.document = Draft7Validator(schema, format_checker=_FORMATS)
        self.event = Draft7Validator(event_schema, format_checker=_FORMATS)
        self.fast_document = _fast_compile(schema)
        self.fast_event = _fast_compile(event_schema)

    def errors(self, instance: Any, is_event: bool) -> list[ValidationError]:
        fast = self.fast_event if is_event else self.fast_document
        if fast is not None:
            try:
                fast(instance)
                return []
            except Exception:  # fastjsonschema.JsonSchemaException; jsonschema below says what is wrong
                pass
        return list((self.event if is_event else self.document).iter_errors(instance))


def _fast_compile(schema: dict[str, Any]) -> Callable[[Any], Any] | None:
    try:
        import fastjsonschema  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    compiled: Callable[[Any], Any] = fastjsonschema.compile(
        schema, formats={"uri": _is_uri, "date-time": _is_date_time_bool}, use_default=False,
        detailed_exceptions=False)
    return compiled


def _with_events(doc: Any, path: tuple[str, ...], events: list[Any]) -> Any:
    """A copy of ``doc`` whose event list is ``events`` (the envelope is checked apart from the events)."""
    copy: Any = dict(doc)
    node = copy
    for key in path[:-1]:
        node[key] = dict(node[key])
        node = node[key]
    node[path[-1]] = events
    return copy


@lru_cache(maxsize=4)
def _json_validator(path: str) -> _JsonSchema:
    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EPCISError(f"cannot load the EPCIS JSON schema: {exc}", document=path) from None
    if not isinstance(schema, dict):
        raise EPCISError("the EPCIS JSON schema is not a JSON object", document=path)
    return _JsonSchema(schema)


_FORMATS = FormatChecker()
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")


def _is_uri(value: object) -> bool:
    """An absolute URI (scheme ``:`` rest, no whitespace): enough to tell ``bogus`` from a vocabulary URI."""
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


def _is_date_time(value: object) -> bool:
    """An xsd:dateTime with an offset, as the model parses it."""
    if isinstance(value, str):
        parse_timestamp(value, "")
    return True


def _is_date_time_bool(value: object) -> bool:
    try:
        return _is_date_time(value)
    except EPCISError:
        return False


_FORMATS.checks("uri")(_is_uri)
_FORMATS.checks("date-time", raises=EPCISError)(_is_date_time)


@lru_cache(maxsize=4)
def _xml_schema(path: str) -> Any:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    try:
        return etree.XMLSchema(etree.parse(path, parser))
    except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise EPCISError(f"cannot load the EPCIS XSD (imports must resolve offline): {exc}", document=path) \
            from None


# --- JSON ---------------------------------------------------------------------------------------------

def event_list_path(doc: Any) -> tuple[str, ...]:
    """Where the events of a JSON EPCIS document or query document sit."""
    if isinstance(doc, Mapping) and doc.get("type") == "EPCISQueryDocument":
        return ("epcisBody", "queryResults", "resultsBody", "eventList")
    return ("epcisBody", "eventList")


def normalise_cbv_urns(doc: Any) -> tuple[Any, dict[tuple[Any, ...], str]]:
    """A copy of ``doc`` with CBV URN vocabulary values rewritten bare, and the original values by path."""
    originals: dict[tuple[Any, ...], str] = {}
    path = event_list_path(doc)
    container: Any = doc
    for key in path:
        container = container.get(key) if isinstance(container, Mapping) else None
    if not isinstance(container, list):
        return doc, originals
    events = [_normalise_event(e, (*path, i), originals) for i, e in enumerate(container)]
    if not originals:
        return doc, originals
    return _with_events(doc, path, events), originals


def _bare(vocab: Vocab, value: Any, where: tuple[Any, ...], originals: dict[tuple[Any, ...], str]) -> Any:
    if isinstance(value, str) and value.strip().lower().startswith(_URN):
        originals[where] = value
        return canonical(vocab, value)
    return value


def _normalise_event(event: Any, where: tuple[Any, ...], originals: dict[tuple[Any, ...], str]) -> Any:
    if not isinstance(event, Mapping):
        return event
    out = dict(event)
    for key, vocab in _VOCAB_FIELDS.items():
        if key in out:
            out[key] = _bare(vocab, out[key], (*where, key), originals)
    pd = out.get("persistentDisposition")
    if isinstance(pd, Mapping):
        pd = dict(pd)
        for key in ("set", "unset"):
            if isinstance(pd.get(key), list):
                pd[key] = [_bare(Vocab.DISPOSITION, v, (*where, "persistentDisposition", key, i), originals)
                           for i, v in enumerate(pd[key])]
        out["persistentDisposition"] = pd
    for key, vocab in _TYPED_LISTS.items():
        items = out.get(key)
        if isinstance(items, list):
            out[key] = [{**item, "type": _bare(vocab, item["type"], (*where, key, i, "type"), originals)}
                        if isinstance(item, Mapping) and "type" in item else item for i, item in enumerate(items)]
    ed = out.get("errorDeclaration")
    if isinstance(ed, Mapping) and "reason" in ed:
        out["errorDeclaration"] = {**ed, "reason": _bare(Vocab.ERROR_REASON, ed["reason"],
                                                          (*where, "errorDeclaration", "reason"), originals)}
    return out


def _tolerated(err: ValidationError) -> bool:
    """GS1's JSON schema allows persistentDisposition on Object/TransformationEvents only, the XSD on all five
    types; Lotline accepts it anywhere (domain.md §1), so an event captured as XML exports as valid JSON."""
    return "propertyNames" in err.absolute_schema_path and err.instance == "persistentDisposition"


def _json_problem(err: ValidationError, path: tuple[Any, ...], document: str,
                  originals: Mapping[tuple[Any, ...], str]) -> EPCISError:
    events_at = _events_prefix(path)
    index: int | None = None
    inner: tuple[Any, ...] = path
    if events_at is not None and len(path) > events_at and isinstance(path[events_at], int):
        index, inner = path[events_at], path[events_at + 1:]
    elif events_at is not None:
        inner = path
    field_parts = [str(p) for p in inner]
    message = _json_message(err)
    if err.validator == "required" and isinstance(err.instance, Mapping):
        missing = [p for p in err.validator_value if p not in err.instance]
        if missing:
            field_parts.append(str(missing[0]))
            message = "is required"
    elif "propertyNames" in err.absolute_schema_path and isinstance(err.instance, str):
        field_parts.append(err.instance)
        message = f"{err.instance!r} is not a field of this object (extensions need a namespace prefix)"
    original = originals.get(path)
    if original is not None:
        message = f"{original!r} (read as {err.instance!r}): {message}"
    return EPCISError(f"{message} (GS1 EPCIS JSON schema)", field="/".join(field_parts) or None,
                      event_index=index, document=document)


def _events_prefix(path: tuple[Any, ...]) -> int | None:
    for prefix in (("epcisBody", "eventList"), ("epcisBody", "queryResults", "resultsBody", "eventList")):
        if path[:len(prefix)] == prefix:
            return len(prefix)
    return None


def _json_message(err: ValidationError) -> str:
    if err.validator in ("anyOf", "oneOf") and err.context:
        enums = [c for c in err.context if c.validator == "enum" and not c.path]
        if enums and any(c.validator in ("pattern", "format") for c in err.context):
            values = ", ".join(str(v) for v in enums[0].validator_value)
            return _shorten(f"{err.instance!r} is neither a standard CBV value nor the URI of another "
                            f"vocabulary (CBV values: {values})")
        parts = _unique(_json_message(c) for c in err.context if len(c.path) == 0)
        if parts:
            return _shorten(f"{err.instance!r} matches none of the allowed forms: " + "; or ".join(parts))
    if err.validator == "enum":
        return _shorten(f"{err.instance!r} is not one of {', '.join(str(v) for v in err.validator_value)}")
    return _shorten(err.message)


def _unique(items: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


# --- XML ----------------------------------------------------------------------------------------------

def _xml_event_elements(root: Any) -> list[Any]:
    """The event elements in document order, 1.x ``<extension>`` wrappers flattened (as the reader does)."""
    out: list[Any] = []

    def walk(container: Any) -> None:
        for child in container.iterchildren(tag=etree.Element):
            name = etree.QName(child).localname
            if name in EVENT_TYPES:
                out.append(child)
            elif name == "extension":
                walk(child)

    for event_list in root.iter("{*}EventList"):
        walk(event_list)
        break
    return out


def _xml_location(path: str, events: list[tuple[str, int]]) -> tuple[int | None, str | None]:
    """(event index, field path inside the event) of an XSD error's node path."""
    for event_path, index in events:
        if path == event_path:
            return index, None
        if path.startswith(event_path + "/"):
            rest = path[len(event_path) + 1:]
            return index, "/".join(_strip_index(p) for p in rest.split("/"))
    return None, path or None


def _strip_index(step: str) -> str:
    """``epc[2]`` → ``epc/1`` (JSON-pointer style, zero-based); ``bizStep`` stays."""
    if step.endswith("]") and "[" in step:
        name, _, n = step[:-1].partition("[")
        if n.isdigit():
            return f"{name}/{int(n) - 1}"
    return step
