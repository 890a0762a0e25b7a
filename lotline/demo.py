"""``lotline demo``: the whole job on one machine — a bakery's events through Kafka into the store, the
lineage projected from it, and the three questions of a complaint answered."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lotline.demo_answers import answer_three_questions
from lotline.report import store_table
from lotline.wiring import Runtime
from producers.simulate import config_for_events, simulate
from projections.framework import Projector, Target
from projections.lineage.projection import LIVE_SCHEMA, LineageProjection

DEMO_LOADS = 1 / 3
"""The demo's ``load_probability``: its shipments show SSCCs inside SSCCs (pallets in a load) as well."""


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


def publish_bakery(rt: Runtime, n_events: int, seed: int, console: Console) -> int:
    """Publish ``n_events`` simulated bakery events; returns how many the broker acknowledged."""
    with _progress(console) as progress, rt.publisher() as pub:
        task = progress.add_task("publishing bakery events", total=n_events)
        # a third of the multi-pallet shipments travel as one load SSCC holding its pallets' SSCCs
        for event in simulate(config_for_events(n_events, seed=seed, load_probability=DEMO_LOADS),
                              limit=n_events):
            pub.publish(event)
            progress.advance(task)
    return pub.stats.delivered


def ingest_all(rt: Runtime, expected: int, console: Console) -> None:
    """Run one ingest worker until every partition is caught up, with a progress bar."""
    with _progress(console) as progress:
        task = progress.add_task("ingesting into the event store", total=expected)
        worker = rt.ingest_worker(until_idle=True, idle_timeout_s=10,
                                  on_batch=lambda stats: progress.update(task, completed=stats.consumed))
        worker.run()
        progress.update(task, completed=worker.stats.consumed)


def sample_table(rt: Runtime, limit: int = 8) -> Table:
    """The first stored rows, as an auditor would see them."""
    table = Table(title="First rows of the event store")
    for col in ("position", "type", "bizStep", "lots", "event id", "row hash"):
        table.add_column(col)
    for r in rt.store.read(0, limit):
        e = r.event
        table.add_row(str(r.position), e.event_type, e.biz_step or "-", ", ".join(e.lot_keys)[:40], e.event_key[-12:],
                      r.row_hash.hex()[:16] + "…")
    return table


def run_demo(rt: Runtime, n_events: int = 3000, seed: int = 7, console: Console | None = None) -> None:
    """Simulate a bakery, ingest it exactly once, and show what the store holds."""
    console = console or Console()
    console.rule("[bold]Lotline demo: a bakery's lot traceability")
    console.print(f"Kafka: {rt.settings.kafka_bootstrap}   events topic: {rt.settings.events_topic}")
    rt.ensure_topics()
    started = time.monotonic()
    delivered = publish_bakery(rt, n_events, seed, console)
    ingest_all(rt, delivered, console)
    elapsed = time.monotonic() - started
    console.print(store_table(rt.store.stats()))
    console.print(sample_table(rt))
    check = rt.store.verify()
    console.print(f"hash chain: {'intact' if check.ok else 'BROKEN: ' + str(check.problem)} over {check.rows} rows")
    console.print(f"{delivered} events published and stored in {elapsed:.1f}s")
    project_lineage(rt, console)
    answer_three_questions(rt.engine, console)


def project_lineage(rt: Runtime, console: Console) -> None:
    """Build the lineage tables from the store (what ``lotline project --until-idle`` does)."""
    started = time.monotonic()
    stats = Projector(rt.engine, [Target(LineageProjection(), LIVE_SCHEMA)], batch_size=2000).run(until_idle=True)
    console.print(f"lineage projected from {stats.rows} events in {time.monotonic() - started:.1f}s "
                  f"(store position {stats.position})")
