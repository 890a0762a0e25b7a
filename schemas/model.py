"""The EPCIS 2.0 event model Lotline carries from capture to store.

The fields lineage and audits need are typed; what EPCIS leaves open (ILMD, extensions, sensor data,
certification info, extensions inside readPoint/bizLocation/errorDeclaration) is kept as JSON values so it
travels without loss. Vocabulary values are stored in their canonical form (:mod:`schemas.vocab`),
timestamps as aware UTC datetimes with the local offset beside them, quantities as :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from schemas.errors import EPCISError, IdentifierError
from schemas.identifiers import IdKind, LotKey, parse_identifier
from schemas.timefmt import parse_offset

JsonValue = Any
"""A value as :func:`json.loads` returns it (decimals as :class:`~decimal.Decimal`)."""


class EventType(StrEnum):
    """The five EPCIS 2.0 event types."""

    OBJECT = "ObjectEvent"
    AGGREGATION = "AggregationEvent"
    TRANSACTION = "TransactionEvent"
    TRANSFORMATION = "TransformationEvent"
    ASSOCIATION = "AssociationEvent"


class Action(StrEnum):
    """What an event did to its objects."""

    ADD = "ADD"
    OBSERVE = "OBSERVE"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class QuantityElement:
    """A quantity of a class (``epcClass``): a lot, or a GTIN pattern. No ``uom`` means a count."""

    epc_class: str
    quantity: Decimal | None = None
    uom: str | None = None


@dataclass(frozen=True, slots=True)
class BizTransaction:
    """A business document reference (PO, BOL, ASN, ...). ``type`` is a canonical BTT value or None."""

    value: str
    type: str | None = None


@dataclass(frozen=True, slots=True)
class PartyRef:
    """A source or destination: ``type`` is a canonical SDT value (owning_party, possessing_party, location)."""

    type: str
    value: str


@dataclass(frozen=True, slots=True)
class PersistentDisposition:
    """Dispositions that persist until unset."""

    set: tuple[str, ...] = ()
    unset: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorDeclaration:
    """Marks a re-capture of an event as erroneous (EPCIS §7.4.1.2)."""

    declaration_time: datetime
    reason: str | None = None
    corrective_event_ids: tuple[str, ...] = ()
    extensions: dict[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EPCISEvent:
    """One EPCIS 2.0 event of any type."""

    type: EventType
    event_time: datetime
    event_time_zone_offset: str
    event_id: str | None = None
    record_time: datetime | None = None
    action: Action | None = None
    biz_step: str | None = None
    disposition: str | None = None
    persistent_disposition: PersistentDisposition | None = None
    read_point: str | None = None
    biz_location: str | None = None
    epc_list: tuple[str, ...] = ()
    quantity_list: tuple[QuantityElement, ...] = ()
    parent_id: str | None = None
    child_epcs: tuple[str, ...] = ()
    child_quantity_list: tuple[QuantityElement, ...] = ()
    input_epc_list: tuple[str, ...] = ()
    input_quantity_list: tuple[QuantityElement, ...] = ()
    output_epc_list: tuple[str, ...] = ()
    output_quantity_list: tuple[QuantityElement, ...] = ()
    transformation_id: str | None = None
    biz_transaction_list: tuple[BizTransaction, ...] = ()
    source_list: tuple[PartyRef, ...] = ()
    destination_list: tuple[PartyRef, ...] = ()
    error_declaration: ErrorDeclaration | None = None
    certification_info: JsonValue = None
    ilmd: dict[str, JsonValue] | None = None
    sensor_element_list: list[JsonValue] | None = None
    extensions: dict[str, JsonValue] = field(default_factory=dict)
    read_point_extensions: dict[str, JsonValue] = field(default_factory=dict)
    biz_location_extensions: dict[str, JsonValue] = field(default_factory=dict)
    namespaces: dict[str, str] = field(default_factory=dict)

    @property
    def is_declaration(self) -> bool:
        """True for an error declaration: a re-capture that retracts the event it repeats."""
        return self.error_declaration is not None

    def all_epcs(self) -> Iterator[str]:
        """Every instance-level identifier the event names, parent included."""
        if self.parent_id:
            yield self.parent_id
        yield from self.epc_list
        yield from self.child_epcs
        yield from self.input_epc_list
        yield from self.output_epc_list

    def all_quantities(self) -> Iterator[QuantityElement]:
        """Every quantity element of the event, in all its lists."""
        yield from self.quantity_list
        yield from self.child_quantity_list
        yield from self.input_quantity_list
        yield from self.output_quantity_list

    def lot_keys(self) -> frozenset[LotKey]:
        """The lots this event touches: LGTIN classes, Digital Links with ``/10/``, and SGTINs whose lot
        the event itself states (a ``/10/`` in the link, or ``cbvmda:lotNumber`` in commissioning ILMD)."""
        keys: set[LotKey] = set()
        ilmd_lot = _ilmd_lot(self.ilmd) if self.action is Action.ADD or self.type is EventType.TRANSFORMATION \
            else None
        for text in (*self.all_epcs(), *(q.epc_class for q in self.all_quantities())):
            try:
                ident = parse_identifier(text)
            except IdentifierError:
                continue
            if ident.lot_key is not None:
                keys.add(ident.lot_key)
            elif ident.kind is IdKind.SGTIN and ilmd_lot is not None and ident.key is not None:
                keys.add(LotKey(ident.key, ilmd_lot))
        return frozenset(keys)

    def validate(self) -> None:
        """Check the rules of EPCIS 2.0 §7 that a parser alone does not enforce.

        Raises :class:`EPCISError` naming the field. Identifiers that use a GS1 scheme must parse and carry
        correct check digits; ``eventTimeZoneOffset`` must be ``±hh:mm`` within -14:00..+14:00 (events decoded
        from Avro have not been through the JSON/XML readers that check it).
        """
        t = self.type
        if parse_offset(self.event_time_zone_offset) != self.event_time_zone_offset:
            raise EPCISError(f"{self.event_time_zone_offset!r} is not a time-zone offset of the form +hh:mm or "
                             "-hh:mm", field="eventTimeZoneOffset")
        if t is not EventType.TRANSFORMATION and self.action is None:
            raise EPCISError(f"is required for {t.value}", field="action")
        if t is EventType.TRANSFORMATION and self.action is not None:
            raise EPCISError("is not allowed on a TransformationEvent", field="action")
        if t is EventType.OBJECT and not (self.epc_list or self.quantity_list or self.sensor_element_list):
            raise EPCISError("an ObjectEvent needs a non-empty epcList or quantityList", field="epcList")
        if t in (EventType.AGGREGATION, EventType.ASSOCIATION) and self.action is not Action.OBSERVE \
                and not self.parent_id:
            raise EPCISError(f"is required for {t.value} with action {self.action}", field="parentID")
        if t is EventType.TRANSACTION and not self.biz_transaction_list:
            raise EPCISError("a TransactionEvent needs at least one bizTransaction", field="bizTransactionList")
        if t is EventType.TRANSFORMATION:
            has_in = bool(self.input_epc_list or self.input_quantity_list)
            has_out = bool(self.output_epc_list or self.output_quantity_list)
            if not ((has_in and has_out) or (self.transformation_id and (has_in or has_out))):
                raise EPCISError("a TransformationEvent needs inputs and outputs, or a transformationID with "
                                 "either", field="inputEPCList")
        for name, values in (("epcList", self.epc_list), ("childEPCs", self.child_epcs),
                             ("inputEPCList", self.input_epc_list), ("outputEPCList", self.output_epc_list)):
            for i, text in enumerate(values):
                _check_identifier(text, f"{name}/{i}")
        if self.parent_id:
            _check_identifier(self.parent_id, "parentID")
        for name, qs in (("quantityList", self.quantity_list), ("childQuantityList", self.child_quantity_list),
                         ("inputQuantityList", self.input_quantity_list),
                         ("outputQuantityList", self.output_quantity_list)):
            for i, q in enumerate(qs):
                _check_identifier(q.epc_class, f"{name}/{i}/epcClass")
                if q.quantity is not None and q.quantity < 0:
                    raise EPCISError(f"{q.quantity} is negative", field=f"{name}/{i}/quantity")
                if q.uom is not None and not ((2 <= len(q.uom) <= 3 and q.uom.isalnum() and q.uom.isupper())
                                              or q.uom.isdigit()):
                    raise EPCISError(f"{q.uom!r} is not a UN/ECE Rec 20 unit code", field=f"{name}/{i}/uom")
        for name, loc in (("readPoint", self.read_point), ("bizLocation", self.biz_location)):
            if loc:
                _check_identifier(loc, f"{name}/id")


def _check_identifier(text: str, field_name: str) -> None:
    try:
        parse_identifier(text)
    except IdentifierError as exc:
        raise EPCISError(exc.message, field=field_name) from None


_LOT_NUMBER_KEYS = ("cbvmda:lotNumber", "urn:epcglobal:cbv:mda#lotNumber", "lotNumber")


def _ilmd_lot(ilmd: dict[str, JsonValue] | None) -> str | None:
    if not ilmd:
        return None
    for key in _LOT_NUMBER_KEYS:
        value = ilmd.get(key)
        if isinstance(value, str) and value:
            return value
    return None
