"""Small builders for test events and store rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from schemas.epcis.model import (
    Action,
    BizTransaction,
    EPCISEvent,
    ErrorDeclaration,
    EventType,
    PartyRef,
    QuantityElement,
)
from store.port import NewEvent, SourceRef
from store.records import to_new_event

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def shipment(n: int, lot: str = "L1", *, event_id: str | None = None, customer: str = "0614141.00777",
             qty: int = 40) -> EPCISEvent:
    """An ObjectEvent OBSERVE shipping of ``qty`` cases of ``lot`` to ``customer``."""
    return EPCISEvent(
        type=EventType.OBJECT,
        event_id=event_id if event_id is not None else f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
        event_time=T0 + timedelta(minutes=n),
        event_time_zone_offset="-06:00",
        action=Action.OBSERVE,
        biz_step="shipping",
        disposition="in_transit",
        read_point="urn:epc:id:sgln:0614141.07346.0",
        quantity_list=(QuantityElement(f"urn:epc:class:lgtin:0614141.107346.{lot}", Decimal(qty), "CS"),),
        biz_transaction_list=(BizTransaction("urn:epcglobal:cbv:bt:0614141073467:BOL-1", "bol"),),
        source_list=(PartyRef("owning_party", "urn:epc:id:pgln:0614141.00001"),),
        destination_list=(PartyRef("owning_party", f"urn:epc:id:pgln:{customer}"),),
    )


def declared(event: EPCISEvent, reason: str = "incorrect_data", corrective: tuple[str, ...] = ()) -> EPCISEvent:
    """The error declaration of ``event``: the same event re-captured with ``errorDeclaration``."""
    from dataclasses import replace

    return replace(event, error_declaration=ErrorDeclaration(T0 + timedelta(days=1), reason, corrective))


def row(n: int, **kwargs: object) -> NewEvent:
    return to_new_event(shipment(n, **kwargs), SourceRef("t", 0, n))  # type: ignore[arg-type]
