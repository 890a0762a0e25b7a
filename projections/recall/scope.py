"""A recall's scope as comparable items, and the difference between two scopes.

The scope of a recall is the forward trace of the recalled lot: every lot reached (with its depth) and every
shipment of those lots (customer, location, date, quantity, uom, pallet, reference documents), lot-less
shipments of their GTINs included (no lot number, ``ambiguous``). Each becomes
an item with a stable key, so a later scope can be compared item by item with the one subscribers know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from projections.lineage.trace import TraceRows
from schemas.epcis.timefmt import local_time


def scope_items(rows: TraceRows) -> dict[str, dict[str, Any]]:
    """Every item of the scope a forward trace's rows describe, by key: each lot reached with its depth, and
    each non-retracted shipment of those lots.

    Built from the statement's rows and movement JSON as they come (:func:`projections.lineage.trace.fetch_trace`):
    a 10K-shipment scope is 20K items, and making the trace's result objects first cost as much again.
    """
    items: dict[str, dict[str, Any]] = {
        f"lot:{gtin}/{lot}": {"gtin": gtin, "lotNumber": lot, "depth": depth} for gtin, lot, depth, *_ in rows.lots}
    for m in rows.movements:
        if m["retracted"]:
            continue
        when = datetime.fromisoformat(m["event_time"])
        q = m["quantity"]  # text: the exact numeric
        # a lot-less line (content of the GTIN, no lot said) is one per event, GTIN, uom and pallet; only it says
        # ambiguous, so the payloads of other shipments stay as subscribers know them
        key = (f"ship:{m['event_key']}:{m['gtin']}/{m['lot']}:{m['pallet'] or ''}" if not m["ambiguous"] else
               f"ship:{m['event_key']}:{m['gtin']}:lotless:{m['uom'] or ''}:{m['pallet'] or ''}")
        items[key] = {
            "eventId": m["event_id"] or m["event_key"],
            "date": local_time(when, m["tz_offset"]).date().isoformat(),
            "eventTime": (when - _EPOCH) // _MICROSECOND,  # what Avro's timestamp-micros holds
            "gtin": m["gtin"],
            "lotNumber": m["lot"],
            "customer": m["party"],
            "customerLocation": m["party_location"],
            "shipFrom": m["location"],
            "quantity": None if q is None else format(Decimal(q).normalize(), "f"),
            "uom": m["uom"],
            "pallet": m["pallet"],
            "documents": [{"type": d.get("type"), "id": d["id"]} for d in m["documents"]],
            **_AMBIGUOUS[m["ambiguous"]],
        }
    return items


_AMBIGUOUS: dict[bool, dict[str, bool]] = {False: {}, True: {"ambiguous": True}}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


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
