"""The event as it travels on the events topic (the ``EPCISEvent`` Avro record, a dict): its rules, its lots
and its JSON-LD form, computed from the record itself.

Why here and not on the model: ingest would otherwise build a :class:`~schemas.epcis.model.EPCISEvent` for every
message only to check it and write it back out, which cost more than half of its per-event time
(docs/performance.md). So these are the *only* implementations: :meth:`EPCISEvent.validate` and
:func:`schemas.formats.jsonld.event_to_json` map the model onto a record (:func:`schemas.avro.codec.event_to_record`)
and call them, and the lot-key rule is shared with :meth:`EPCISEvent.lot_keys`.

Field names in errors are the JSON-LD names, which are also the record's.

What the store and the lineage cannot keep is refused here, so capture refuses it and ingest dead-letters it
instead of failing on it at every restart: a NUL character anywhere (PostgreSQL's text holds none,
:func:`body_text`), numbers beyond :func:`schemas.epcis.jsontext.number_problem`'s bounds, and texts the store
or the lineage index (eventID, identifiers, transformationID, a lot number stated in ILMD) longer than
:data:`MAX_KEY_LENGTH`.
"""

from __future__ import annotations

import functools
from decimal import Decimal, InvalidOperation
from typing import Any

from schemas.avro.codec import event_to_record
from schemas.epcis.errors import EPCISError, IdentifierError, shown
from schemas.epcis.identifiers import LotKey, lot_ref
from schemas.epcis.jsontext import dumps, loads, number_problem
from schemas.epcis.lots import ilmd_lot, lot_keys_of
from schemas.epcis.model import EPCISEvent, JsonValue
from schemas.epcis.timefmt import format_timestamp, parse_offset

Record = dict[str, Any]

MAX_KEY_LENGTH = 512
"""The most characters of an indexed text: PostgreSQL refuses a B-tree entry over ~2.7 KB (512 characters of
UTF-8 take at most 2 KB); GS1 keys are far shorter (an SGTIN URN ~40 characters, a lot number at most 20)."""

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


def json_of(text: str | None, name: str, kind: type[dict[str, JsonValue]] | type[list[JsonValue]]) -> JsonValue:
    """A JSON value carried as text that EPCIS requires to be an object (``dict``) or an array (``list``);
    ``None`` (or JSON ``null``) stays ``None``."""
    value = json_field(text, name)
    if value is not None and not isinstance(value, kind):
        what = "object" if kind is dict else "array"
        raise EPCISError(f"must be a JSON {what}, not {type(value).__name__}", field=name)
    return value


def _json_object(text: str | None, name: str) -> dict[str, JsonValue]:
    value = json_of(text, name, dict)
    return {} if value is None else value


def _check_identifier(text: str, name: str, index: int | None = None, part: str = "") -> None:
    """Validate one identifier (keeping what :func:`lot_keys` will ask for); the field named in an error is
    ``name[/index]part``, written out only then."""
    _check_length(text, (name if index is None else f"{name}/{index}") + part)
    try:
        lot_ref(text)
    except IdentifierError as exc:
        field = name if index is None else f"{name}/{index}"
        raise EPCISError(exc.message, field=field + part) from None


def _check_length(text: str, field: str) -> None:
    """Raise unless ``text``, a text the store or the lineage indexes, is at most :data:`MAX_KEY_LENGTH` long."""
    if len(text) > MAX_KEY_LENGTH:
        raise EPCISError(f"is {len(text)} characters long (at most {MAX_KEY_LENGTH})", field=field)


def _quantity(text: str, field_name: str) -> Decimal:
    value = quantity_value(text)
    if isinstance(value, str):
        raise EPCISError(value, field=field_name)
    return value


@functools.lru_cache(maxsize=4096)
def quantity_value(text: str) -> Decimal | str:
    """The quantity ``text`` as a Decimal, or what is wrong with it (cached: a plant's quantities repeat)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return f"{shown(text)!r} is not a decimal number"
    if (problem := number_problem(value)) is not None:
        return problem
    if value < 0:
        return f"{value} is negative"
    return value


def validate_event(event: EPCISEvent) -> None:
    """Check the rules of EPCIS 2.0 §7 that a parser alone does not enforce on a model event, and what the store
    refuses: :func:`check` of its Avro record, then its JSON-LD form as ingest writes it (its lots and its body,
    :func:`body_text`), the definitions ingest runs too. Raises :class:`EPCISError` naming the field."""
    try:
        record = event_to_record(event)
    except TypeError as exc:  # orjson's refusal of JSON values nested deeper than it writes (254 levels)
        raise EPCISError(f"cannot be written as JSON: {exc}") from None
    check(record)
    body = to_jsonld(record)
    lot_keys(record, body.get("ilmd"))
    body_text(body)


def body_text(body: dict[str, Any]) -> str:
    """The JSON text the store keeps of the JSON-LD ``body``; raises :class:`EPCISError` where it holds a NUL
    character (U+0000) in a name or a value, naming where (PostgreSQL's text and the lineage's COPY cannot carry
    one), or is nested deeper than JSON is written (254 levels)."""
    try:
        text = dumps(body)
    except TypeError as exc:  # orjson's refusal
        raise EPCISError(f"cannot be written as JSON: {exc}", field="/") from None
    if "\\u0000" in text and (where := _nul_path(body, "")) is not None:
        raise EPCISError("holds a NUL character (U+0000), which the event store cannot keep", field=where or "/")
    return text


def _nul_path(value: Any, path: str) -> str | None:
    """The path (``member/index/...``) of the first text in ``value`` that holds U+0000, else None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            name = str(k)
            here = f"{path}/{name}" if path else name
            if "\x00" in name:
                return here.replace("\x00", "\\u0000")
            if (found := _nul_path(v, here)) is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if (found := _nul_path(v, f"{path}/{i}")) is not None:
                return found
    return None


def check(r: Record) -> None:
    """Check the rules of EPCIS 2.0 §7 that the Avro schema alone does not enforce.

    Raises :class:`EPCISError` naming the field. Identifiers that use a GS1 scheme must parse and carry
    correct check digits; ``eventTimeZoneOffset`` must be ``±hh:mm`` within -14:00..+14:00; quantities must
    be non-negative decimals. JSON carried as text is checked where it is read, by :func:`to_jsonld`.
    """
    t = r["type"]
    action = r["action"]
    offset = r["eventTimeZoneOffset"]
    for name in ("eventID", "transformationID"):
        if (key := r[name]) is not None:
            _check_length(key, name)
    if parse_offset(offset) != offset:
        raise EPCISError(f"{shown(offset)!r} is not a time-zone offset of the form +hh:mm or -hh:mm",
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
            _check_identifier(text, name, i)
    if r["parentID"]:
        _check_identifier(r["parentID"], "parentID")
    for name in QUANTITY_LISTS:
        if r[name]:
            _check_quantities(r[name], name)
    for name in ("readPoint", "bizLocation"):
        if r[name]:
            _check_identifier(r[name], name, part="/id")


_UNITS_SEEN: set[str] = set()


def _check_quantities(items: list[dict[str, Any]], name: str) -> None:
    for i, q in enumerate(items):
        _check_identifier(q["epcClass"], name, i, "/epcClass")
        if q["quantity"] is not None and isinstance(problem := quantity_value(q["quantity"]), str):
            raise EPCISError(problem, field=f"{name}/{i}/quantity")
        uom = q["uom"]
        if uom is not None and uom not in _UNITS_SEEN:
            if not ((2 <= len(uom) <= 3 and uom.isalnum() and uom.isupper()) or uom.isdigit()):
                raise EPCISError(f"{shown(uom)!r} is not a UN/ECE Rec 20 unit code", field=f"{name}/{i}/uom")
            if len(_UNITS_SEEN) < 4096:
                _UNITS_SEEN.add(uom)


def lot_keys(r: Record, ilmd: JsonValue) -> frozenset[LotKey]:
    """The lots the event touches (the rule of :meth:`EPCISEvent.lot_keys`); ``ilmd`` is the parsed ILMD."""
    lot = ilmd_lot(r["type"], r["action"], ilmd)
    if lot is not None and len(lot) > MAX_KEY_LENGTH:
        raise EPCISError(f"states a lot number of {len(lot)} characters (at most {MAX_KEY_LENGTH})",
                         field="ilmd/cbvmda:lotNumber")
    texts: list[str] = []
    if r["parentID"]:
        texts.append(r["parentID"])
    for name in EPC_LISTS:
        texts.extend(r[name])
    for name in QUANTITY_LISTS:
        texts.extend(q["epcClass"] for q in r[name])
    return lot_keys_of(texts, lot)


def _quantities(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for q in items:
        item: dict[str, Any] = {"epcClass": q["epcClass"]}
        if q["quantity"] is not None:
            item["quantity"] = _quantity(q["quantity"], "quantity")
        if q["uom"] is not None:
            item["uom"] = q["uom"]
        out.append(item)
    return out


def to_jsonld(r: Record) -> dict[str, Any]:
    """The event in the GS1 JSON-LD form (bare CBV values, no ``@context``), quantities as
    :class:`~decimal.Decimal` (which :func:`schemas.epcis.jsontext.dumps` writes exactly).

    Raises :class:`EPCISError` on JSON text that does not parse or, where EPCIS needs an object, is not one.
    Every stored event passes through here: absent members cost one test each, nothing more.
    """
    out: dict[str, Any] = {"type": r["type"]}
    if (v := r["eventID"]) is not None:
        out["eventID"] = v
    out["eventTime"] = format_timestamp(r["eventTime"])
    if (v := r["recordTime"]) is not None:
        out["recordTime"] = format_timestamp(v)
    out["eventTimeZoneOffset"] = r["eventTimeZoneOffset"]
    if (ed := r["errorDeclaration"]) is not None:
        decl: dict[str, Any] = {"declarationTime": format_timestamp(ed["declarationTime"])}
        if ed["reason"] is not None:
            decl["reason"] = ed["reason"]
        if ed["correctiveEventIDs"]:
            decl["correctiveEventIDs"] = list(ed["correctiveEventIDs"])
        if ed["extensionsJson"] is not None:
            decl.update(_json_object(ed["extensionsJson"], "errorDeclaration"))
        out["errorDeclaration"] = decl
    if (v := r["certificationInfoJson"]) is not None and (cert := json_field(v, "certificationInfo")) is not None:
        out["certificationInfo"] = cert
    if (v := r["parentID"]) is not None:
        out["parentID"] = v
    for name in EPC_LISTS:
        if v := r[name]:
            out[name] = list(v)
    for name in QUANTITY_LISTS:
        if v := r[name]:
            out[name] = _quantities(v)
    if (v := r["action"]) is not None:
        out["action"] = v
    if (v := r["transformationID"]) is not None:
        out["transformationID"] = v
    if (v := r["bizStep"]) is not None:
        out["bizStep"] = v
    if (v := r["disposition"]) is not None:
        out["disposition"] = v
    if (pd := r["persistentDisposition"]) is not None:
        out["persistentDisposition"] = {k: list(pd[k]) for k in ("set", "unset") if pd[k]}
    for name, ext in (("readPoint", "readPointExtensionsJson"), ("bizLocation", "bizLocationExtensionsJson")):
        if (v := r[name]) is not None:
            out[name] = {"id": v} if r[ext] is None else {"id": v, **_json_object(r[ext], name)}
    if v := r["bizTransactionList"]:
        out["bizTransactionList"] = [
            {"type": b["type"], "bizTransaction": b["bizTransaction"]} if b["type"] is not None
            else {"bizTransaction": b["bizTransaction"]}
            for b in v
        ]
    if v := r["sourceList"]:
        out["sourceList"] = [{"type": s["type"], "source": s["source"]} for s in v]
    if v := r["destinationList"]:
        out["destinationList"] = [{"type": d["type"], "destination": d["destination"]} for d in v]
    if (v := r["sensorElementListJson"]) is not None and (sensors := json_of(v, "sensorElementList", list)) is not None:
        out["sensorElementList"] = sensors
    if (v := r["ilmdJson"]) is not None and (ilmd := json_of(v, "ilmd", dict)) is not None:
        out["ilmd"] = ilmd
    if (v := r["extensionsJson"]) is not None:
        out.update(_json_object(v, "extensions"))
    return out
