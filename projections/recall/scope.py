"""A recall's scope as comparable items, and the difference between two scopes.

The scope of a recall is the forward trace of the recalled lot: every lot reached (with its depth) and every
shipment of those lots (customer, location, date, quantity, uom, pallet, reference documents). Each becomes
an item with a stable key, so a later scope can be compared item by item with the one subscribers know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from projections.trace import MovementLine, Trace, TracedLot


def lot_item(lot: TracedLot) -> tuple[str, dict[str, Any]]:
    return f"lot:{lot.gtin}/{lot.lot_number}", {"gtin": lot.gtin, "lotNumber": lot.lot_number, "depth": lot.depth}


def shipment_item(m: MovementLine) -> tuple[str, dict[str, Any]]:
    key = f"ship:{m.event_key}:{m.gtin}/{m.lot_number}:{m.pallet or ''}"
    return key, {
        "eventId": m.event_id or m.event_key,
        "date": m.date.isoformat(),
        "eventTime": _micros(m.event_time),
        "gtin": m.gtin,
        "lotNumber": m.lot_number,
        "customer": m.party,
        "customerLocation": m.party_location,
        "shipFrom": m.location,
        "quantity": None if m.quantity is None else format(m.quantity.normalize(), "f"),
        "uom": m.uom,
        "pallet": m.pallet,
        "documents": [{"type": t, "id": v} for t, v in m.documents],
    }


def _micros(when: datetime) -> int:
    """Microseconds since the epoch: what Avro's timestamp-micros holds, and cheap to compare and encode."""
    return (when - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def scope_items(trace: Trace) -> dict[str, dict[str, Any]]:
    """Every item of the scope a forward trace describes, by key."""
    items = dict(lot_item(lot) for lot in trace.lots)
    items.update(shipment_item(m) for m in trace.movements)
    return items


@dataclass(slots=True)
class ScopeChange:
    """What changed between the scope subscribers know and the current one."""

    added: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def diff(known: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]) -> ScopeChange:
    """Items new or changed in ``current`` are added; items gone from it are removed."""
    change = ScopeChange()
    for key, payload in current.items():
        if known.get(key) != payload:
            change.added[key] = payload
    for key, payload in known.items():
        if key not in current:
            change.removed[key] = payload
    return change
