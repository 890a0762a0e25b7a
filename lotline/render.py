"""Traces printed for people and programs: JSON (the full answer), CSV (sortable rows), rich tables."""

from __future__ import annotations

import csv
import io

from rich.console import Console, Group
from rich.table import Table

from projections.lineage.trace import MovementLine, Trace

LOT_COLUMNS = ("gtin", "lot_number", "depth", "identifiers")
MOVEMENT_COLUMNS = ("kind", "event_id", "date", "gtin", "lot_number", "quantity", "uom", "party",
                    "party_location", "location", "pallet", "documents", "ambiguous")
"""``lot_number`` is empty and ``ambiguous`` is ``yes`` on a lot-less line (the event named the GTIN only)."""


def _documents(m: MovementLine) -> str:
    return "; ".join(f"{t}:{v}" if t else v for t, v in m.documents)


def to_csv(t: Trace, rows: str = "lots") -> str:
    """One row per lot, or per shipment/receipt line with ``rows`` = ``shipments``/``receipts``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if rows == "lots":
        w.writerow(LOT_COLUMNS)
        for lot in t.lots:
            w.writerow((lot.gtin, lot.lot_number, lot.depth, " ".join(lot.identifiers)))
        return buf.getvalue()
    w.writerow(MOVEMENT_COLUMNS)
    for m in t.movements:
        w.writerow(("shipment" if m.kind == "ship" else "receipt", m.event_id, m.date.isoformat(), m.gtin,
                    m.lot_number or "", "" if m.quantity is None else str(m.quantity), m.uom or "", m.party or "",
                    m.party_location or "", m.location or "", m.pallet or "", _documents(m),
                    "yes" if m.ambiguous else ""))
    return buf.getvalue()


def to_tables(t: Trace) -> Group:
    """Rich renderables: lots, parties and movements."""
    as_of = f" as of {t.as_of.isoformat()}" if t.as_of else ""
    lots = Table(title=f"{t.direction.value} trace of {t.lot}: {len(t.lots)} lots (store position "
                       f"{t.position}{as_of})")
    for col in ("depth", "GTIN", "lot", "identifiers"):
        lots.add_column(col)
    for lot in t.lots:
        lots.add_row(str(lot.depth), lot.gtin, lot.lot_number, "\n".join(lot.identifiers))
    who = "customers" if t.movement_label == "shipments" else "suppliers"
    parties = Table(title=f"{len(t.parties)} {who}")
    for col in ("party", "locations", "lots"):
        parties.add_column(col)
    for p in t.parties:
        parties.add_row(p.party, "\n".join(p.locations), ", ".join(p.lots))
    moves = Table(title=f"{len(t.movements)} {t.movement_label}"
                        + (f" ({len(t.retracted)} retracted, not counted)" if t.retracted else ""))
    for col in ("date", "event", "lot", "qty", "uom", "party", "pallet", "documents"):
        moves.add_column(col)
    for m in t.movements:
        moves.add_row(m.date.isoformat(), m.event_id, "any lot (not stated)" if m.ambiguous else m.lot_number,
                      "" if m.quantity is None else str(m.quantity), m.uom or "", m.party or "", m.pallet or "",
                      _documents(m))
    return Group(lots, parties, moves)


def print_trace(t: Trace, fmt: str, console: Console | None = None, rows: str = "lots") -> None:
    """Write ``t`` to standard output in ``fmt`` (json, csv or table)."""
    if fmt == "json":
        print(t.to_json())
    elif fmt == "csv":
        print(to_csv(t, rows), end="")
    else:
        (console or Console()).print(to_tables(t))
