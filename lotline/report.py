"""Plain-text summaries of what the event store holds, for the CLI and the demo."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from store.port import StoreStats


def store_table(stats: StoreStats) -> Table:
    """A table of stored events per type and business step, with declarations and lots touched (any adapter's
    :meth:`~store.port.EventStore.stats`)."""
    table = Table(title=f"Event store: {stats.head} events, {stats.lots} distinct lots")
    for col in ("event type", "bizStep", "events", "error declarations", "first eventTime", "last eventTime"):
        table.add_column(col)
    for k in stats.kinds:
        table.add_row(k.event_type, k.biz_step or "-", str(k.events), str(k.declarations),
                      f"{k.first_event_time:%Y-%m-%d %H:%M}", f"{k.last_event_time:%Y-%m-%d %H:%M}")
    return table


def store_summary(stats: StoreStats) -> str:
    """:func:`store_table` rendered to text."""
    buf = io.StringIO()
    Console(width=160, file=buf).print(store_table(stats))
    return buf.getvalue()
