"""The three questions of the bakery demo, answered from the lineage and timed.

1. Which batch did this box of cookies come from? (the cookie lot's dough batches)
2. Which ingredient lots and suppliers are behind it? (backward trace)
3. Who received product sharing an ingredient lot with it? (forward trace of every ingredient lot)

The cookie lot is a finished one: an output of the last TransformationEvent (the oven) that was shipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from projections.framework import quote_ident
from projections.lineage.projection import LIVE_SCHEMA
from projections.lineage.trace import Direction, Trace, trace
from schemas.epcis.identifiers import LotKey

T = TypeVar("T")


def _timed(f: Callable[[], T]) -> tuple[T, float]:
    t0 = time.perf_counter()
    value = f()
    return value, (time.perf_counter() - t0) * 1000


def pick_cookie_lot(engine: Engine, schema: str = LIVE_SCHEMA) -> LotKey | None:
    """A shipped lot made by a transformation whose inputs were themselves made by transformations."""
    s = quote_ident(schema)
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(
            f"SELECT l.gtin, l.lot FROM {s}.lot_edges e JOIN {s}.lot_edges up ON up.dst = e.src "
            f"JOIN {s}.lots l ON l.id = e.dst "
            f"WHERE NOT EXISTS (SELECT 1 FROM {s}.lot_edges d WHERE d.src = e.dst) "
            f"AND EXISTS (SELECT 1 FROM {s}.movement_lines ml WHERE ml.lot_id = e.dst "
            f"  UNION ALL SELECT 1 FROM {s}.aggregations a WHERE a.lot_id = e.dst) "
            f"ORDER BY e.dst DESC LIMIT 1")
        row = cur.fetchone()
        raw.commit()
    finally:
        raw.close()
    return None if row is None else LotKey(row[0], row[1])


def answer_three_questions(engine: Engine, console: Console, schema: str = LIVE_SCHEMA) -> None:
    """Pick a finished cookie lot and print the three answers, each with the time it took."""
    lot = pick_cookie_lot(engine, schema)
    if lot is None:
        console.print("[yellow]No finished, shipped lot in the lineage yet: run `lotline project` first.")
        return
    console.rule(f"[bold]Three questions about cookie lot {lot.lot} (GTIN {lot.gtin})")
    back, ms_back = _timed(lambda: trace(engine, lot, Direction.BACKWARD, schema=schema))
    batches = [x for x in back.lots if x.depth == 1]
    console.print(f"[bold]1. Which batch did it come from?[/] {', '.join(b.lot_number for b in batches)} "
                  f"[dim]({ms_back:.1f} ms, lineage at store position {back.position})[/]")
    ingredients = [x for x in back.lots if x.depth >= 2]
    table = Table(title=f"2. {len(ingredients)} lots behind it, {len(back.parties)} suppliers "
                        f"({ms_back:.1f} ms, same backward trace)")
    for col in ("depth", "lot", "supplier", "received", "quantity"):
        table.add_column(col)
    received = {(m.gtin, m.lot_number): m for m in back.movements}
    for x in ingredients:
        m = received.get((x.gtin, x.lot_number))
        table.add_row(str(x.depth), x.lot_number, m.party if m else "(made here)",
                      m.date.isoformat() if m else "", f"{m.quantity} {m.uom or ''}" if m and m.quantity else "")
    console.print(table)
    started = time.perf_counter()
    customers: dict[str, set[str]] = {}
    raw = engine.raw_connection()  # one connection for all the forward traces
    try:
        for x in back.lots:
            if (x.gtin, x.lot_number) not in received:
                continue  # only supplier lots: "sharing an ingredient lot"
            fwd: Trace = trace(raw, LotKey(x.gtin, x.lot_number), Direction.FORWARD, schema=schema)
            for m in fwd.movements:
                if m.party:
                    customers.setdefault(m.party, set()).add(m.lot_number or f"{m.lot_label} (lot not stated)")
    finally:
        raw.close()
    ms_fwd = (time.perf_counter() - started) * 1000
    table = Table(title=f"3. {len(customers)} customers received product sharing an ingredient lot with it "
                        f"({ms_fwd:.1f} ms for {len(received)} forward traces)")
    table.add_column("customer")
    table.add_column("lots received")
    for party, lots in sorted(customers.items()):
        shown = sorted(lots)
        table.add_row(party, ", ".join(shown[:6]) + (f" … (+{len(shown) - 6})" if len(shown) > 6 else ""))
    console.print(table)
