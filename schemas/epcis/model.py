"""The EPCIS 2.0 event model Lotline carries from capture to store.

The fields lineage and audits need are typed; what EPCIS leaves open (ILMD, extensions, sensor data,
certification info, extensions inside readPoint/bizLocation/errorDeclaration) is kept as JSON values so it
travels without loss. Vocabulary values are stored in their canonical form (:mod:`schemas.epcis.vocab`),
timestamps as aware UTC datetimes with the local offset beside them, quantities as :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from schemas.epcis.identifiers import LotKey
from schemas.epcis.lots import ilmd_lot, lot_keys_of

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
        return lot_keys_of((*self.all_epcs(), *(q.epc_class for q in self.all_quantities())), self.stated_lot())

    def stated_lot(self) -> str | None:
        """The lot number the event states for the SGTINs it commissions or makes (see :func:`ilmd_lot`)."""
        return ilmd_lot(self.type, self.action, self.ilmd)

