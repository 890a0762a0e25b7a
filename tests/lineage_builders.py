"""Builders for lineage test events (domain.md §9 scenarios) and the publish → ingest → project → trace path."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine

from lotline.wiring import Runtime
from projections.framework import Projector, Target, wait_for
from projections.lineage.projection import LIVE_SCHEMA, LineageProjection
from projections.lineage.trace import Trace, trace
from schemas.epcis.model import (
    Action,
    BizTransaction,
    EPCISEvent,
    ErrorDeclaration,
    EventType,
    PartyRef,
    QuantityElement,
)
from store.postgres import PostgresEventStore
from store.records import to_new_event

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
CP = "0614141"
PACKER = "urn:epc:id:sgln:0614141.00001.0"

Qty = tuple[str, int | str, str]  # (lot, quantity, uom)


def lgtin(lot: str, item: str = "107346") -> str:
    """An LGTIN URN of company prefix 0614141; ``item`` is the 6-digit item reference."""
    return f"urn:epc:class:lgtin:{CP}.{item}.{lot}"


def pgln(n: int) -> str:
    return f"urn:epc:id:pgln:{CP}.{n:05d}"


def sgln(n: int) -> str:
    return f"urn:epc:id:sgln:{CP}.{n:05d}.0"


def sscc(n: int) -> str:
    return f"urn:epc:id:sscc:{CP}.0{n:09d}"


def eid(name: str) -> str:
    """A readable, stable eventID per scenario event name."""
    return f"urn:lotline:test:{name}"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _q(items: Iterable[Qty]) -> tuple[QuantityElement, ...]:
    return tuple(QuantityElement(c if c.startswith(("urn:", "http")) else lgtin(c), Decimal(str(n)), uom)
                 for c, n, uom in items)


def _base(event_type: EventType, name: str | None, minute: int, **fields: Any) -> EPCISEvent:
    return EPCISEvent(type=event_type, event_id=eid(name) if name else None, event_time=at(minute),
                      event_time_zone_offset="-06:00", **fields)


def harvest(name: str, lot: str, qty: int, uom: str, *, farm: int, field: int, minute: int = 0) -> EPCISEvent:
    """ObjectEvent ADD creating_class_instance at a farm (bizLocation) and field (readPoint)."""
    return _base(EventType.OBJECT, name, minute, action=Action.ADD, biz_step="creating_class_instance",
                 disposition="active", read_point=sgln(field), biz_location=sgln(farm),
                 quantity_list=_q([(lot, qty, uom)]))


def receive(name: str, items: Sequence[Qty], *, supplier: int, minute: int, doc: str = "PO1",
            epcs: tuple[str, ...] = ()) -> EPCISEvent:
    """ObjectEvent OBSERVE receiving from ``supplier`` (owning party and location) at the packer."""
    return _base(EventType.OBJECT, name, minute, action=Action.OBSERVE, biz_step="receiving",
                 disposition="in_progress", biz_location=PACKER, read_point=PACKER,
                 quantity_list=_q(items), epc_list=epcs,
                 biz_transaction_list=(BizTransaction(f"urn:epcglobal:cbv:bt:0614141000012:{doc}", "po"),),
                 source_list=(PartyRef("owning_party", pgln(supplier)), PartyRef("location", sgln(supplier))),
                 destination_list=(PartyRef("owning_party", pgln(1)),))


def ship(name: str, items: Sequence[Qty] = (), *, customer: int, minute: int, epcs: tuple[str, ...] = (),
         doc: str = "BOL1", site: str = PACKER) -> EPCISEvent:
    """ObjectEvent OBSERVE shipping of quantities and/or EPCs (SSCCs) to ``customer``."""
    return _base(EventType.OBJECT, name, minute, action=Action.OBSERVE, biz_step="shipping",
                 disposition="in_transit", biz_location=site, read_point=site, quantity_list=_q(items),
                 epc_list=epcs,
                 biz_transaction_list=(BizTransaction(f"urn:epcglobal:cbv:bt:0614141000012:{doc}", "bol"),),
                 source_list=(PartyRef("owning_party", pgln(1)),),
                 destination_list=(PartyRef("owning_party", pgln(customer)), PartyRef("location", sgln(customer))))


def transform(name: str, inputs: Sequence[Qty], outputs: Sequence[Qty], *, minute: int,
              transformation_id: str | None = None) -> EPCISEvent:
    """TransformationEvent creating_class_instance: input lots → output lots."""
    return _base(EventType.TRANSFORMATION, name, minute, biz_step="creating_class_instance",
                 disposition="active", biz_location=PACKER, read_point=PACKER,
                 input_quantity_list=_q(inputs), output_quantity_list=_q(outputs),
                 transformation_id=transformation_id)


def aggregate(name: str, action: Action, parent: str, children: Sequence[Qty], *, minute: int) -> EPCISEvent:
    """AggregationEvent ADD (packing) or DELETE (unpacking) of lot quantities on an SSCC."""
    return _base(EventType.AGGREGATION, name, minute, action=action,
                 biz_step="packing" if action is Action.ADD else "unpacking", disposition="in_progress",
                 biz_location=PACKER, read_point=PACKER, parent_id=parent, child_quantity_list=_q(children))


def declare(event: EPCISEvent, reason: str = "incorrect_data", corrective: tuple[str, ...] = ()) -> EPCISEvent:
    """The error declaration of ``event``."""
    return replace(event, error_declaration=ErrorDeclaration(event.event_time + timedelta(days=1), reason,
                                                             corrective))


# ---------------------------------------------------------------------------------------------- pipelines


def project(engine: Engine, schema: str = LIVE_SCHEMA, batch_size: int = 500) -> None:
    """Run the lineage projector in-process until it is caught up."""
    Projector(engine, [Target(LineageProjection(), schema)], batch_size=batch_size).run(until_idle=True)


def publish_ingest_project(rt: Runtime, events: Sequence[EPCISEvent]) -> None:
    """The real path: publish to Kafka, ingest into the store, project the lineage."""
    with rt.publisher() as pub:
        for e in events:
            pub.publish(e)
    rt.ingest_worker(until_idle=True, idle_timeout_s=5).run()
    project(rt.engine)


class LivePipeline:
    """An ingest worker running in a thread for a whole test, so each round costs no consumer-group join.

    ``send`` publishes events, waits until the store holds ``expect`` more rows, then projects.
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.worker = rt.ingest_worker(until_idle=False)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)

    def __enter__(self) -> LivePipeline:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.request_stop()
        self.thread.join(30)

    def send(self, events: Sequence[EPCISEvent], expect: int | None = None) -> None:
        before = self.rt.store.count()
        with self.rt.publisher() as pub:
            for e in events:
                pub.publish(e)
        wanted = before + (len(events) if expect is None else expect)
        if not wait_for(lambda: self.rt.store.count() >= wanted, timeout_s=30):
            raise AssertionError(f"store holds {self.rt.store.count()} rows, expected {wanted}")
        project(self.rt.engine)


def append_and_project(store: PostgresEventStore, events: Sequence[EPCISEvent]) -> None:
    """A faster path for framework tests: append straight to the store, then project."""
    store.append([to_new_event(e) for e in events])
    project(store.engine)


def lots_of(t: Trace) -> dict[str, int]:
    """``lot number → depth`` of a trace."""
    return {lot.lot_number: lot.depth for lot in t.lots}


def moves_of(t: Trace) -> list[tuple[str | None, str | None, int | None, str | None]]:
    """``(lot, party, quantity, pallet)`` per shipment/receipt line of a trace (lot None: a lot-less line)."""
    return [(m.lot_number, m.party, None if m.quantity is None else int(m.quantity), m.pallet)
            for m in t.movements]


def tr(engine: Engine, lot: str, direction: str) -> Trace:
    return trace(engine, lot if ":" in lot or "/" in lot else lgtin(lot), direction)
