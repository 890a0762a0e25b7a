"""The event as it travels on the events topic (the ``EPCISEvent`` Avro record, a dict): its rules, its lots
and its JSON-LD form, computed from the record itself.

Why here and not on the model: ingest would otherwise build a :class:`~schemas.model.EPCISEvent` for every
message only to check it and write it back out, which cost more than half of its per-event time
(docs/performance.md). So these are the *only* implementations: :meth:`EPCISEvent.validate` and
:func:`schemas.jsonld.event_to_json` map the model onto a record (:func:`schemas.avro_codec.event_to_record`)
and call them, and the lot-key rule is shared with :meth:`EPCISEvent.lot_keys`.

Field names in errors are the JSON-LD names, which are also the record's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from schemas.errors import EPCISError, IdentifierError
from schemas.identifiers import LotKey, parse_identifier
from schemas.jsontext import loads
from schemas.model import JsonValue, ilmd_lot, lot_keys_of
from schemas.timefmt import format_timestamp, parse_offset

Record = Mapping[str, Any]

EPC_LISTS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")


def json_field(text: str | None, name: str) -> JsonValue:
    """A JSON value carried as text in the record (``None`` stays ``None``)."""
    if text is None:
        return None
    try:
        return loads(text)
    except ValueError as exc:
        raise EPCISError(f"is not valid JSON text: {exc}", field=name) from None


def _json_object(text: str | None, name: str) -> dict[str, JsonValue]:
    value = json_field(text, name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EPCISError(f"must be a JSON object, not {type(value).__name__}", field=name)
    return value


def _check_identifier(text: str, field_name: str) -> None:
    try:
        parse_identifier(text)
    except IdentifierError as exc:
        raise EPCISError(exc.message, field=field_name) from None


def _quantity(text: str, field_name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise EPCISError(f"{text!r} is not a decimal number", field=field_name) from None
    if not value.is_finite():
        raise EPCISError(f"{text!r} is not a finite number", field=field_name)
    if value < 0:
        raise EPCISError(f"{value} is negative", field=field_name)
    return value


def check(r: Record) -> None:
    """Check the rules of EPCIS 2.0 §7 that the Avro schema alone does not enforce.

    Raises :class:`EPCISError` naming the field. Identifiers that use a GS1 scheme must parse and carry
    correct check digits; ``eventTimeZoneOffset`` must be ``±hh:mm`` within -14:00..+14:00; quantities must
    be non-negative decimals. JSON carried as text is checked where it is read, by :func:`to_jsonld`.
    """
    t = r["type"]
    action = r["action"]
    offset = r["eventTimeZoneOffset"]
    if parse_offset(offset) != offset:
        raise EPCISError(f"{offset!r} is not a time-zone offset of the form +hh:mm or -hh:mm",
                         field="eventTimeZoneOffset")
    transformation = t == "TransformationEvent"
    if not transformation and action is None:
        raise EPCISError(f"is required for {t}", field="action")
    if transformation and action is not None:
        raise EPCISError("is not allowed on a TransformationEvent", field="action")
    if t == "ObjectEvent" and not (r["epcList"] or r["quantityList"] or r["sensorElementListJson"]):
        raise EPCISError("an ObjectEvent needs a non-empty epcList or quantityList", field="epcList")
    if t in ("AggregationEvent", "AssociationEvent") and action != "OBSERVE" and not r["parentID"]:
        raise EPCISError(f"is required for {t} with action {action}", field="parentID")
    if t == "TransactionEvent" and not r["bizTransactionList"]:
        raise EPCISError("a TransactionEvent needs at least one bizTransaction", field="bizTransactionList")
    if transformation:
        has_in = bool(r["inputEPCList"] or r["inputQuantityList"])
        has_out = bool(r["outputEPCList"] or r["outputQuantityList"])
        if not ((has_in and has_out) or (r["transformationID"] and (has_in or has_out))):
            raise EPCISError("a TransformationEvent needs inputs and outputs, or a transformationID with "
                             "either", field="inputEPCList")
    for name in EPC_LISTS:
        for i, text in enumerate(r[name]):
            _check_identifier(text, f"{name}/{i}")
    if r["parentID"]:
        _check_identifier(r["parentID"], "parentID")
    for name in QUANTITY_LISTS:
        for i, q in enumerate(r[name]):
            _check_identifier(q["epcClass"], f"{name}/{i}/epcClass")
            if q["quantity"] is not None:
                _quantity(q["quantity"], f"{name}/{i}/quantity")
            uom = q["uom"]
            if uom is not None and not ((2 <= len(uom) <= 3 and uom.isalnum() and uom.isupper()) or uom.isdigit()):
                raise EPCISError(f"{uom!r} is not a UN/ECE Rec 20 unit code", field=f"{name}/{i}/uom")
    for name in ("readPoint", "bizLocation"):
        if r[name]:
            _check_identifier(r[name], f"{name}/id")


def lot_keys(r: Record, ilmd: JsonValue) -> frozenset[LotKey]:
    """The lots the event touches (the rule of :meth:`EPCISEvent.lot_keys`); ``ilmd`` is the parsed ILMD."""
    lot = ilmd_lot(r["type"], r["action"], ilmd)
    texts: list[str] = []
    if r["parentID"]:
        texts.append(r["parentID"])
    for name in EPC_LISTS:
        texts.extend(r[name])
    for name in QUANTITY_LISTS:
        texts.extend(q["epcClass"] for q in r[name])
    return lot_keys_of(texts, lot)


def _quantities(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for q in items:
        item: dict[str, Any] = {"epcClass": q["epcClass"]}
        if q["quantity"] is not None:
            item["quantity"] = Decimal(q["quantity"])
        if q["uom"] is not None:
            item["uom"] = q["uom"]
        out.append(item)
    return out


def to_jsonld(r: Record) -> dict[str, Any]:
    """The event in the GS1 JSON-LD form (bare CBV values, no ``@context``), quantities as
    :class:`~decimal.Decimal` (which :func:`schemas.jsontext.dumps` writes exactly).

    Raises :class:`EPCISError` on JSON text that does not parse or, where EPCIS needs an object, is not one.
    """
    out: dict[str, Any] = {"type": r["type"]}
    if r["eventID"] is not None:
        out["eventID"] = r["eventID"]
    out["eventTime"] = format_timestamp(r["eventTime"])
    if r["recordTime"] is not None:
        out["recordTime"] = format_timestamp(r["recordTime"])
    out["eventTimeZoneOffset"] = r["eventTimeZoneOffset"]
    ed = r["errorDeclaration"]
    if ed is not None:
        decl: dict[str, Any] = {"declarationTime": format_timestamp(ed["declarationTime"])}
        if ed["reason"] is not None:
            decl["reason"] = ed["reason"]
        if ed["correctiveEventIDs"]:
            decl["correctiveEventIDs"] = list(ed["correctiveEventIDs"])
        decl.update(_json_object(ed["extensionsJson"], "errorDeclaration"))
        out["errorDeclaration"] = decl
    cert = json_field(r["certificationInfoJson"], "certificationInfo")
    if cert is not None:
        out["certificationInfo"] = cert
    if r["parentID"] is not None:
        out["parentID"] = r["parentID"]
    for name in EPC_LISTS:
        if r[name]:
            out[name] = list(r[name])
    for name in QUANTITY_LISTS:
        if r[name]:
            out[name] = _quantities(r[name])
    if r["action"] is not None:
        out["action"] = r["action"]
    if r["transformationID"] is not None:
        out["transformationID"] = r["transformationID"]
    if r["bizStep"] is not None:
        out["bizStep"] = r["bizStep"]
    if r["disposition"] is not None:
        out["disposition"] = r["disposition"]
    pd = r["persistentDisposition"]
    if pd is not None:
        out["persistentDisposition"] = {k: list(pd[k]) for k in ("set", "unset") if pd[k]}
    for name, ext in (("readPoint", "readPointExtensionsJson"), ("bizLocation", "bizLocationExtensionsJson")):
        if r[name] is not None:
            out[name] = {"id": r[name], **_json_object(r[ext], name)}
    if r["bizTransactionList"]:
        out["bizTransactionList"] = [
            {"type": b["type"], "bizTransaction": b["bizTransaction"]} if b["type"] is not None
            else {"bizTransaction": b["bizTransaction"]}
            for b in r["bizTransactionList"]
        ]
    if r["sourceList"]:
        out["sourceList"] = [{"type": s["type"], "source": s["source"]} for s in r["sourceList"]]
    if r["destinationList"]:
        out["destinationList"] = [{"type": d["type"], "destination": d["destination"]}
                                  for d in r["destinationList"]]
    sensors = json_field(r["sensorElementListJson"], "sensorElementList")
    if sensors is not None:
        out["sensorElementList"] = sensors
    ilmd = json_field(r["ilmdJson"], "ilmd")
    if ilmd is not None:
        out["ilmd"] = ilmd
    out.update(_json_object(r["extensionsJson"], "extensions"))
    return out
