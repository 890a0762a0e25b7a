"""EPCIS 2.0 JSON / JSON-LD documents read into :class:`~schemas.epcis.model.EPCISEvent` and written back.

Reading accepts ``EPCISDocument`` and ``EPCISQueryDocument`` bodies, vocabulary values in bare, URN or
web-URI form, and namespaced extensions anywhere the standard allows them; the prefixes of the document's
``@context`` travel with each event so extensions can be expanded later. Writing produces the GS1 JSON-LD
form with bare CBV values, which GS1's JSON schema accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from schemas.avro.codec import event_to_record
from schemas.epcis.errors import EPCISError
from schemas.epcis.jsontext import dumps as dumps
from schemas.epcis.jsontext import loads as loads
from schemas.epcis.model import (
    Action,
    BizTransaction,
    EPCISEvent,
    ErrorDeclaration,
    EventType,
    JsonValue,
    PartyRef,
    PersistentDisposition,
    QuantityElement,
)
from schemas.epcis.timefmt import format_timestamp, parse_offset, parse_timestamp
from schemas.epcis.vocab import Vocab, canonical
from schemas.formats.wire import to_jsonld

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

_EPC_LISTS = {"epcList": "epc_list", "childEPCs": "child_epcs", "inputEPCList": "input_epc_list",
              "outputEPCList": "output_epc_list"}
_QTY_LISTS = {"quantityList": "quantity_list", "childQuantityList": "child_quantity_list",
              "inputQuantityList": "input_quantity_list", "outputQuantityList": "output_quantity_list"}
_STANDARD_KEYS = {
    "type", "eventTime", "eventTimeZoneOffset", "eventID", "recordTime", "action", "bizStep", "disposition",
    "persistentDisposition", "readPoint", "bizLocation", "parentID", "transformationID", "bizTransactionList",
    "sourceList", "destinationList", "errorDeclaration", "certificationInfo", "ilmd", "sensorElementList",
    "@context", *_EPC_LISTS, *_QTY_LISTS,
}


def context_namespaces(context: JsonValue) -> dict[str, str]:
    """The ``prefix → namespace URI`` map declared in a JSON-LD ``@context`` (remote contexts ignored)."""
    out: dict[str, str] = {}
    items = context if isinstance(context, list) else [context]
    for item in items:
        if isinstance(item, Mapping):
            for key, value in item.items():
                if isinstance(value, str) and not key.startswith("@"):
                    out[key] = value
    return out


def document_events(doc: JsonValue, *, document: str = "<document>") -> list[EPCISEvent]:
    """Read every event of an EPCIS (query) document. Raises :class:`EPCISError` naming the event and field."""
    if not isinstance(doc, Mapping):
        raise EPCISError("is not a JSON object", document=document)
    doc_type = doc.get("type")
    body = doc.get("epcisBody")
    if doc_type not in ("EPCISDocument", "EPCISQueryDocument") or not isinstance(body, Mapping):
        raise EPCISError("is not an EPCISDocument (missing type or epcisBody)", document=document)
    if doc_type == "EPCISQueryDocument":
        results = body.get("queryResults", {})
        body = results.get("resultsBody", {}) if isinstance(results, Mapping) else {}
    events = body.get("eventList") if isinstance(body, Mapping) else None
    if not isinstance(events, list):
        raise EPCISError("epcisBody has no eventList", document=document, field="epcisBody/eventList")
    namespaces = context_namespaces(doc.get("@context"))
    out = []
    for index, raw in enumerate(events):
        try:
            out.append(event_from_json(raw, namespaces))
        except EPCISError as exc:
            raise exc.located(event_index=index, document=document) from None
    return out


def _str(raw: Mapping[str, Any], key: str, required: bool = False) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise EPCISError("is required", field=key)
        return None
    if not isinstance(value, str) or not value.strip():
        raise EPCISError(f"must be a non-empty string, got {value!r}", field=key)
    return value.strip()


def _str_list(raw: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise EPCISError("must be a list of non-empty strings", field=key)
    return tuple(v.strip() for v in value)


def _quantity_list(raw: Mapping[str, Any], key: str) -> tuple[QuantityElement, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise EPCISError("must be a list of quantity elements", field=key)
    out = []
    for i, q in enumerate(value):
        where = f"{key}/{i}"
        if not isinstance(q, Mapping) or not isinstance(q.get("epcClass"), str):
            raise EPCISError("needs an epcClass", field=f"{where}/epcClass")
        qty = q.get("quantity")
        if qty is not None and (isinstance(qty, bool) or not isinstance(qty, int | Decimal | float)):
            raise EPCISError(f"{qty!r} is not a number", field=f"{where}/quantity")
        uom = q.get("uom")
        if uom is not None and not isinstance(uom, str):
            raise EPCISError(f"{uom!r} is not a unit code", field=f"{where}/uom")
        if uom is not None and qty is None:
            raise EPCISError("a uom needs a quantity", field=f"{where}/quantity")
        out.append(QuantityElement(q["epcClass"].strip(), None if qty is None else Decimal(str(qty)), uom))
    return tuple(out)


def _party_list(raw: Mapping[str, Any], key: str, member: str) -> tuple[PartyRef, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise EPCISError(f"must be a list of {{type, {member}}} objects", field=key)
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("type"), str) \
                or not isinstance(item.get(member), str):
            raise EPCISError(f"needs a type and a {member}", field=f"{key}/{i}")
        out.append(PartyRef(canonical(Vocab.SOURCE_DEST_TYPE, item["type"]), item[member].strip()))
    return tuple(out)


def _biz_transactions(raw: Mapping[str, Any]) -> tuple[BizTransaction, ...]:
    value = raw.get("bizTransactionList")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise EPCISError("must be a list", field="bizTransactionList")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("bizTransaction"), str):
            raise EPCISError("needs a bizTransaction", field=f"bizTransactionList/{i}")
        btt = item.get("type")
        out.append(BizTransaction(item["bizTransaction"].strip(),
                                  canonical(Vocab.BIZ_TRANSACTION_TYPE, btt) if isinstance(btt, str) else None))
    return tuple(out)


def _location(raw: Mapping[str, Any], key: str) -> tuple[str | None, dict[str, JsonValue]]:
    value = raw.get(key)
    if value is None:
        return None, {}
    if isinstance(value, str):
        return value.strip(), {}
    if not isinstance(value, Mapping) or not isinstance(value.get("id"), str):
        raise EPCISError("must be an object with an id", field=f"{key}/id")
    return value["id"].strip(), {k: v for k, v in value.items() if k != "id"}


def _error_declaration(raw: Mapping[str, Any]) -> ErrorDeclaration | None:
    value = raw.get("errorDeclaration")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise EPCISError("must be an object", field="errorDeclaration")
    when = parse_timestamp(value.get("declarationTime"), "errorDeclaration/declarationTime")
    reason = value.get("reason")
    corrective = value.get("correctiveEventIDs") or []
    if not isinstance(corrective, list) or not all(isinstance(c, str) for c in corrective):
        raise EPCISError("must be a list of event ids", field="errorDeclaration/correctiveEventIDs")
    ext = {k: v for k, v in value.items() if k not in ("declarationTime", "reason", "correctiveEventIDs")}
    return ErrorDeclaration(when, canonical(Vocab.ERROR_REASON, reason) if isinstance(reason, str) else None,
                            tuple(c.strip() for c in corrective), ext)


def _persistent(raw: Mapping[str, Any]) -> PersistentDisposition | None:
    value = raw.get("persistentDisposition")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise EPCISError("must be an object with set and/or unset", field="persistentDisposition")
    return PersistentDisposition(
        tuple(canonical(Vocab.DISPOSITION, v) for v in _str_list(value, "set")),
        tuple(canonical(Vocab.DISPOSITION, v) for v in _str_list(value, "unset")),
    )


def event_from_json(raw: JsonValue, namespaces: Mapping[str, str] | None = None) -> EPCISEvent:
    """Read one event object. ``namespaces`` are the document's context prefixes."""
    if not isinstance(raw, Mapping):
        raise EPCISError("is not a JSON object")
    type_text = raw.get("type")
    try:
        event_type = EventType(str(type_text))
    except ValueError:
        raise EPCISError(f"unknown event type {type_text!r} (expected one of "
                         f"{', '.join(t.value for t in EventType)})", field="type") from None
    unknown = [k for k in raw if k not in _STANDARD_KEYS and ":" not in k]
    if unknown:
        raise EPCISError(f"unknown field(s) {', '.join(sorted(unknown))}; extensions need a namespace prefix",
                         field=unknown[0])
    if "eventTime" not in raw:
        raise EPCISError("is required", field="eventTime")
    ns = dict(namespaces or {})
    ns.update(context_namespaces(raw.get("@context")))
    action_text = raw.get("action")
    try:
        action = Action(action_text) if action_text is not None else None
    except ValueError:
        raise EPCISError(f"{action_text!r} is not ADD, OBSERVE or DELETE", field="action") from None
    biz_step, disposition = _str(raw, "bizStep"), _str(raw, "disposition")
    read_point, rp_ext = _location(raw, "readPoint")
    biz_location, bl_ext = _location(raw, "bizLocation")
    ilmd = raw.get("ilmd")
    if ilmd is not None and not isinstance(ilmd, Mapping):
        raise EPCISError("must be an object", field="ilmd")
    sensors = raw.get("sensorElementList")
    if sensors is not None and not isinstance(sensors, list):
        raise EPCISError("must be a list", field="sensorElementList")
    lists: dict[str, Any] = {attr: _str_list(raw, key) for key, attr in _EPC_LISTS.items()}
    lists.update({attr: _quantity_list(raw, key) for key, attr in _QTY_LISTS.items()})
    return EPCISEvent(
        type=event_type,
        event_time=parse_timestamp(raw.get("eventTime"), "eventTime"),
        event_time_zone_offset=parse_offset(raw.get("eventTimeZoneOffset")),
        event_id=_str(raw, "eventID"),
        record_time=parse_timestamp(raw["recordTime"], "recordTime") if raw.get("recordTime") else None,
        action=action,
        biz_step=canonical(Vocab.BIZ_STEP, biz_step) if biz_step else None,
        disposition=canonical(Vocab.DISPOSITION, disposition) if disposition else None,
        persistent_disposition=_persistent(raw),
        read_point=read_point,
        biz_location=biz_location,
        parent_id=_str(raw, "parentID"),
        transformation_id=_str(raw, "transformationID"),
        biz_transaction_list=_biz_transactions(raw),
        source_list=_party_list(raw, "sourceList", "source"),
        destination_list=_party_list(raw, "destinationList", "destination"),
        error_declaration=_error_declaration(raw),
        certification_info=raw.get("certificationInfo"),
        ilmd=dict(ilmd) if ilmd is not None else None,
        sensor_element_list=list(sensors) if sensors is not None else None,
        extensions={k: v for k, v in raw.items() if k not in _STANDARD_KEYS},
        read_point_extensions=rp_ext,
        biz_location_extensions=bl_ext,
        namespaces=ns,
        **lists,
    )


def event_to_json(event: EPCISEvent) -> dict[str, Any]:
    """Write one event in the GS1 JSON-LD form (without ``@context``; see :func:`document`).

    One writer serves the model and ingest's Avro records alike: :func:`schemas.formats.wire.to_jsonld`.
    """
    return to_jsonld(event_to_record(event))


def document(events: Iterable[EPCISEvent], *, creation_date: datetime | None = None) -> dict[str, Any]:
    """Wrap events in an EPCIS 2.0 JSON-LD document whose ``@context`` declares every prefix they use."""
    evs = list(events)
    namespaces: dict[str, str] = {}
    for e in evs:
        namespaces.update(e.namespaces)
    context: list[Any] = [EPCIS_CONTEXT]
    if namespaces:
        context.append(dict(sorted(namespaces.items())))
    return {
        "@context": context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": format_timestamp(creation_date or datetime.now().astimezone()),
        "epcisBody": {"eventList": [event_to_json(e) for e in evs]},
    }
