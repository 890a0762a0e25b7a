"""Plain-text summaries of what the event store holds, for the CLI and the demo."""

from __future__ import annotations

import io

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine


def store_table(engine: Engine) -> Table:
    """A table of stored events per type and business step, with declarations and lots touched."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT event_type, coalesce(biz_step, '-'), count(*), count(*) FILTER (WHERE is_declaration), "
            "min(event_time), max(event_time) FROM events GROUP BY 1, 2 ORDER BY 1, 2"
        )).all()
        lots = conn.execute(sa.text("SELECT count(DISTINCT k) FROM events, unnest(lot_keys) k")).scalar_one()
        head = conn.execute(sa.text("SELECT coalesce(max(position), 0) FROM events")).scalar_one()
    table = Table(title=f"Event store: {head} events, {lots} distinct lots")
    for col in ("event type", "bizStep", "events", "error declarations", "first eventTime", "last eventTime"):
        table.add_column(col)
    for t, step, n, decl, first, last in rows:
        table.add_row(t, step, str(n), str(decl), f"{first:%Y-%m-%d %H:%M}", f"{last:%Y-%m-%d %H:%M}")
    return table


def store_summary(engine: Engine) -> str:
    """:func:`store_table` rendered to text."""
    buf = io.StringIO()
    Console(width=160, file=buf).print(store_table(engine))
    return buf.getvalue()
