"""EPCIS XML documents (2.0, and 1.x with ``<extension>`` wrappers) read into the event model.

Many trading partners still send XML, so an event captured as XML must land in exactly the model (and hash,
:mod:`schemas.epcis.event_hash`) the JSON-LD reader gives for the same event. The reader therefore converts each
XML event into the GS1 JSON-LD shape and hands it to :func:`schemas.formats.jsonld.event_from_json`: one place
validates events and canonicalises vocabulary, whichever syntax they arrived in.

Mapping rules:

* Standard fields are unqualified elements. EPCIS 1.x ``<extension>``/``<baseExtension>`` wrappers (still
  accepted by the 2.0 XSD) are flattened, so ``extension/quantityList`` reads like ``quantityList``.
* Namespaced elements are user extensions, keyed ``prefix:local`` with the prefix recorded in
  :attr:`EPCISEvent.namespaces`; repeated elements become a JSON array, elements with children an object.
  Leaf values stay strings: the hash canonicalises numbers, so ``<x>20</x>`` and ``"x": 20.0`` agree.
* Vocabulary values given as CURIEs (``cbv:BizStep-receiving``) are expanded with the in-scope XML
  namespaces before :func:`schemas.epcis.vocab.canonical` stores them in their bare form.
* The parser never resolves entities, loads DTDs or touches the network.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree  # type: ignore[import-untyped]

from schemas.epcis.errors import EPCISError
from schemas.epcis.model import EPCISEvent, EventType, JsonValue
from schemas.formats.jsonld import event_from_json

EPCIS_NS = ("urn:epcglobal:epcis:xsd:2", "urn:epcglobal:epcis:xsd:1")
QUERY_NS = ("urn:epcglobal:epcis-query:xsd:2", "urn:epcglobal:epcis-query:xsd:1")
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

_WRAPPERS = frozenset({"extension", "baseExtension"})
_EPC_LISTS = frozenset({"epcList", "childEPCs", "inputEPCList", "outputEPCList"})
_QTY_LISTS = frozenset({"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"})
_TEXT_FIELDS = frozenset({"eventTime", "recordTime", "eventTimeZoneOffset", "eventID", "action", "parentID",
                          "transformationID"})
_VOCAB_FIELDS = frozenset({"bizStep", "disposition"})
_NUMERIC_SENSOR_ATTRS = frozenset({"value", "minValue", "maxValue", "meanValue", "sDev", "percRank",
                                   "percValue"})
_EVENT_TYPES = frozenset(t.value for t in EventType)

Element = Any
"""An ``lxml.etree._Element`` (lxml ships no type information)."""


def xml_document_events(data: bytes, *, document: str) -> list[EPCISEvent]:
    """Read every event of an EPCIS XML document or query document.

    Raises :class:`EPCISError` naming the document, the event index (in document order) and the field.
    """
    root = _parse(data, document)
    events = _event_elements(root, document)
    out = []
    for index, element in enumerate(events):
        try:
            out.append(_event(element))
        except EPCISError as exc:
            raise exc.located(event_index=index, document=document) from None
    return out


def _parse(data: bytes, document: str) -> Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True,
                             remove_pis=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise EPCISError(f"is not well-formed XML: {exc}", document=document) from None
    # entities are never expanded (no network, no external files), and an unexpanded one would vanish from the
    # value it stands in: refuse the document rather than store values it did not mean
    entity = next(root.iter(etree.Entity), None)
    if entity is not None:
        raise EPCISError(f"uses the entity {entity.text} that its document type declaration (<!DOCTYPE ...>) "
                         f"defines: Lotline does not expand entities, and the value would lose it", document=document)
    return root


def _local(element: Element) -> str:
    return str(etree.QName(element).localname)


def _namespace(element: Element) -> str | None:
    ns = etree.QName(element).namespace
    return None if ns is None else str(ns)


def _children(element: Element) -> list[Element]:
    return list(element.iterchildren(tag=etree.Element))


def _child(element: Element | None, local: str) -> Element | None:
    """The first child named ``local`` in any namespace (document structure varies between versions)."""
    if element is None:
        return None
    return next((c for c in _children(element) if _local(c) == local), None)


def _event_elements(root: Element, document: str) -> list[Element]:
    ns, name = _namespace(root), _local(root)
    if name == "EPCISDocument" and ns in EPCIS_NS:
        event_list = _child(_child(root, "EPCISBody"), "EventList")
    elif name == "EPCISQueryDocument" and ns in QUERY_NS:
        results = _child(_child(root, "EPCISBody"), "QueryResults")
        event_list = _child(_child(results, "resultsBody"), "EventList")
    else:
        raise EPCISError(f"root element {{{ns}}}{name} is not an EPCIS 1.x/2.0 EPCISDocument or "
                         "EPCISQueryDocument", document=document)
    if event_list is None:
        raise EPCISError("has no EPCISBody/EventList", document=document, field="EPCISBody/EventList")
    return list(_iter_events(event_list, document))


def _iter_events(container: Element, document: str) -> Any:
    for child in _children(container):
        name = _local(child)
        if name in _EVENT_TYPES:
            yield child
        elif name == "extension":  # EPCIS 1.x wraps TransformationEvent (and later types) in <extension>
            yield from _iter_events(child, document)
        else:
            raise EPCISError(f"<{name}> is not a supported EPCIS 2.0 event type (expected one of "
                             f"{', '.join(sorted(_EVENT_TYPES))})", document=document, field="EventList")


class _Prefixes:
    """Assigns each extension namespace URI one prefix for the event's ``prefix:local`` keys."""

    def __init__(self) -> None:
        self.by_uri: dict[str, str] = {}
        self.namespaces: dict[str, str] = {}

    def key(self, uri: str, local: str, hint: str | None) -> str:
        prefix = self.by_uri.get(uri)
        if prefix is None:
            prefix = hint if hint and hint not in self.namespaces else None
            n = 1
            while prefix is None or prefix in self.namespaces:
                prefix, n = f"ns{n}", n + 1
            self.by_uri[uri] = prefix
            self.namespaces[prefix] = uri
        return f"{prefix}:{local}"

    def element_key(self, element: Element) -> str:
        qname = etree.QName(element)
        return self.key(str(qname.namespace), str(qname.localname), element.prefix)

    def attribute_key(self, element: Element, name: str) -> str:
        qname = etree.QName(name)
        if qname.namespace is None:
            return str(qname.localname)
        hint = next((p for p, u in element.nsmap.items() if u == qname.namespace and p), None)
        return self.key(str(qname.namespace), str(qname.localname), hint)


def _flatten(element: Element) -> tuple[list[Element], list[Element]]:
    """Split children into standard (unqualified) and extension (namespaced) elements, unwrapping 1.x
    ``<extension>``/``<baseExtension>`` containers."""
    standard: list[Element] = []
    extensions: list[Element] = []
    for child in _children(element):
        if _namespace(child) is not None:
            extensions.append(child)
        elif _local(child) in _WRAPPERS:
            s, e = _flatten(child)
            standard.extend(s)
            extensions.extend(e)
        else:
            standard.append(child)
    return standard, extensions


def _text(element: Element) -> str:
    return (element.text or "").strip()


def _required_text(element: Element, field: str) -> str:
    text = _text(element)
    if not text:
        raise EPCISError("must not be empty", field=field)
    return text


def _expand_curie(element: Element, value: str) -> str:
    """Expand ``prefix:rest`` with the element's in-scope namespaces (``cbv:BizStep-receiving``)."""
    prefix, sep, rest = value.partition(":")
    uri = element.nsmap.get(prefix) if sep and not rest.startswith("//") else None
    return str(uri) + rest if uri else value


def _put_extensions(target: dict[str, JsonValue], elements: list[Element], prefixes: _Prefixes) -> None:
    for element in elements:
        key = prefixes.element_key(element)
        value = _extension_value(element, prefixes)
        if key in target:
            existing = target[key]
            target[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            target[key] = value


def _extension_value(element: Element, prefixes: _Prefixes) -> JsonValue:
    if element.get(f"{{{XSI_NS}}}nil") in ("true", "1"):
        return None
    children = _children(element)
    if not children:
        return _text(element)
    out: dict[str, JsonValue] = {}
    for name, value in element.attrib.items():
        if etree.QName(name).namespace != XSI_NS:
            out[prefixes.attribute_key(element, name)] = value.strip()
    for child in children:
        key = prefixes.element_key(child) if _namespace(child) is not None else _local(child)
        value = _extension_value(child, prefixes)
        if key in out:
            existing = out[key]
            out[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[key] = value
    return out


def _event(element: Element) -> EPCISEvent:
    prefixes = _Prefixes()
    raw: dict[str, JsonValue] = {"type": _local(element)}
    standard, extensions = _flatten(element)
    for child in standard:
        name = _local(child)
        value = _field(name, child, prefixes)
        if name in raw:
            raise EPCISError("appears more than once", field=name)
        raw[name] = value
    _put_extensions(raw, extensions, prefixes)
    return event_from_json(raw, prefixes.namespaces)


def _field(name: str, element: Element, prefixes: _Prefixes) -> JsonValue:
    if name in _TEXT_FIELDS:
        return _required_text(element, name)
    if name in _VOCAB_FIELDS:
        return _expand_curie(element, _required_text(element, name))
    if name == "certificationInfo":
        return _required_text(element, name)
    if name in _EPC_LISTS:
        return [_required_text(e, f"{name}/{i}") for i, e in enumerate(_named(element, "epc", name))]
    if name in _QTY_LISTS:
        return [_quantity(e, f"{name}/{i}") for i, e in enumerate(_named(element, "quantityElement", name))]
    if name in ("readPoint", "bizLocation"):
        return _location(element, name, prefixes)
    if name == "bizTransactionList":
        return [_typed(e, "bizTransaction", f"{name}/{i}", required_type=False)
                for i, e in enumerate(_named(element, "bizTransaction", name))]
    if name in ("sourceList", "destinationList"):
        member = name.removesuffix("List")
        return [_typed(e, member, f"{name}/{i}", required_type=True)
                for i, e in enumerate(_named(element, member, name))]
    if name == "persistentDisposition":
        return _persistent(element)
    if name == "errorDeclaration":
        return _error_declaration(element, prefixes)
    if name == "ilmd":
        ilmd: dict[str, JsonValue] = {}
        _put_extensions(ilmd, _flatten(element)[1], prefixes)
        return ilmd
    if name == "sensorElementList":
        return [_sensor_element(e, prefixes) for e in _named(element, "sensorElement", name)]
    raise EPCISError(f"<{name}> is not an EPCIS event field; extensions need a namespace", field=name)


def _named(element: Element, member: str, field: str) -> list[Element]:
    """The ``<member>`` children of a list element (1.x ``<extension>`` wrappers ignored)."""
    standard, _ = _flatten(element)
    for i, child in enumerate(standard):
        if _local(child) != member:
            raise EPCISError(f"expected <{member}>, found <{_local(child)}>", field=f"{field}/{i}")
    return standard


def _quantity(element: Element, field: str) -> dict[str, JsonValue]:
    parts = {_local(c): c for c in _flatten(element)[0]}
    epc_class = parts.get("epcClass")
    if epc_class is None:
        raise EPCISError("needs an epcClass", field=f"{field}/epcClass")
    out: dict[str, JsonValue] = {"epcClass": _required_text(epc_class, f"{field}/epcClass")}
    quantity = parts.get("quantity")
    if quantity is not None and _text(quantity):
        out["quantity"] = _decimal(_text(quantity), f"{field}/quantity")
    if "uom" in parts:
        out["uom"] = _required_text(parts["uom"], f"{field}/uom")
    return out


def _decimal(text: str, field: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise EPCISError(f"{text!r} is not a number", field=field) from None
    if not value.is_finite():
        raise EPCISError(f"{text!r} is not a finite number", field=field)
    return value


def _location(element: Element, name: str, prefixes: _Prefixes) -> dict[str, JsonValue]:
    standard, extensions = _flatten(element)
    ids = [c for c in standard if _local(c) == "id"]
    if len(ids) != 1:
        raise EPCISError("needs exactly one <id>", field=f"{name}/id")
    out: dict[str, JsonValue] = {"id": _required_text(ids[0], f"{name}/id")}
    _put_extensions(out, extensions, prefixes)
    return out


def _typed(element: Element, member: str, field: str, *, required_type: bool) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {member: _required_text(element, field)}
    kind = element.get("type")
    if kind is not None and kind.strip():
        out["type"] = _expand_curie(element, kind.strip())
    elif required_type:
        raise EPCISError("needs a type attribute", field=f"{field}/type")
    return out


def _persistent(element: Element) -> dict[str, JsonValue]:
    out: dict[str, list[str]] = {"set": [], "unset": []}
    for i, child in enumerate(_flatten(element)[0]):
        name = _local(child)
        if name not in out:
            raise EPCISError(f"expected <set> or <unset>, found <{name}>", field=f"persistentDisposition/{i}")
        out[name].append(_expand_curie(child, _required_text(child, f"persistentDisposition/{name}")))
    return {k: v for k, v in out.items() if v}


def _error_declaration(element: Element, prefixes: _Prefixes) -> dict[str, JsonValue]:
    standard, extensions = _flatten(element)
    out: dict[str, JsonValue] = {}
    for child in standard:
        name = _local(child)
        where = f"errorDeclaration/{name}"
        if name == "declarationTime":
            out[name] = _required_text(child, where)
        elif name == "reason":
            out[name] = _expand_curie(child, _required_text(child, where))
        elif name == "correctiveEventIDs":
            out[name] = [_required_text(c, where) for c in _named(child, "correctiveEventID", where)]
        else:
            raise EPCISError(f"<{name}> is not an errorDeclaration field", field=where)
    _put_extensions(out, extensions, prefixes)
    return out


def _attributes(element: Element, prefixes: _Prefixes) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {}
    for name, value in element.attrib.items():
        key = prefixes.attribute_key(element, name)
        text = value.strip()
        if key in _NUMERIC_SENSOR_ATTRS:
            out[key] = _decimal(text, f"sensorReport/{key}")
        elif key == "booleanValue" and text in ("true", "false", "1", "0"):
            out[key] = text in ("true", "1")
        else:
            out[key] = text
    return out


def _sensor_element(element: Element, prefixes: _Prefixes) -> dict[str, JsonValue]:
    standard, extensions = _flatten(element)
    out: dict[str, JsonValue] = {}
    reports: list[JsonValue] = []
    for child in standard:
        name = _local(child)
        if name == "sensorMetadata":
            out[name] = _attributes(child, prefixes)
        elif name == "sensorReport":
            reports.append(_attributes(child, prefixes))
        else:
            raise EPCISError(f"<{name}> is not a sensorElement field", field=f"sensorElementList/{name}")
    if reports:
        out["sensorReport"] = reports
    _put_extensions(out, extensions, prefixes)
    return out
