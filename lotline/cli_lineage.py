"""The lineage commands: ``lotline project``, ``lotline trace backward|forward``, ``lotline replay``.

Registered on the main group by :func:`register`; the heavy imports happen inside the commands so
``lotline --help`` stays fast.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import click

from lotline.context import current_context, setting_option


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time (e.g. 2026-06-01T08:00:00Z)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@click.command()
@click.option("--until-idle", is_flag=True, help="Stop once the projection has caught up with the store.")
@setting_option("--batch-size", setting="project_batch_size", help="Store rows applied per transaction.")
@setting_option("--poll", setting="project_poll_s", help="Seconds between polls when caught up.")
def project(until_idle: bool) -> None:
    """Run the projections over the event store: the lineage, then the recalls that read it (their alerts
    go to the outbox; ``lotline alerts relay`` publishes them). Several projectors can run side by side."""
    import signal

    from projections.framework import Target
    from projections.lineage.ddl import LayoutError
    from projections.lineage.projection import LIVE_SCHEMA, LineageProjection
    from projections.recall.projection import RecallTarget

    rt = current_context().runtime(kafka=False)
    projector = rt.projector([Target(LineageProjection(), LIVE_SCHEMA), RecallTarget(LIVE_SCHEMA)])
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: projector.stop())
    try:
        stats = projector.run(until_idle=until_idle)
    except LayoutError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"projected {stats.rows} events in {stats.batches} batches; lineage at store position "
               f"{stats.position or _position(rt.engine)}", err=True)


def _position(engine: Any) -> int:
    from projections.framework import transaction
    from projections.lineage.trace import checkpoint_position

    with transaction(engine) as cur:
        return checkpoint_position(cur, "lineage") or 0


@click.group()
def trace() -> None:
    """Trace a lot backward (ingredients, suppliers) or forward (products, customers)."""


def _trace_options(f: Any) -> Any:
    f = click.argument("lot")(f)
    f = click.option("--format", "fmt", type=click.Choice(["json", "csv", "table"]), default=None,
                     help="Output format (default: table on a terminal, else json).")(f)
    f = click.option("--rows", type=click.Choice(["lots", "shipments", "receipts"]), default="lots",
                     show_default=True, help="CSV rows: one per lot, or per shipment/receipt line.")(f)
    f = click.option("--as-of", "as_of", default=None,
                     help="Answer from the lineage as known at this record time (ISO 8601).")(f)
    f = click.option("--position", type=int, default=None,
                     help="Answer from the lineage as known at this store position.")(f)
    return f


def _run_trace(direction: str, lot: str, fmt: str | None, rows: str, as_of: str | None,
               position: int | None) -> None:
    from lotline.render import print_trace
    from projections.lineage.projection import LIVE_SCHEMA
    from projections.lineage.replay import build_as_of, position_at
    from projections.lineage.trace import TraceError, trace
    from schemas.epcis.errors import IdentifierError
    from schemas.epcis.identifiers import LotKey

    try:
        key = LotKey.parse(lot)
    except IdentifierError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    rt = current_context().runtime(kafka=False)
    schema, when = LIVE_SCHEMA, None
    if as_of is not None or position is not None:
        if as_of is not None:
            when = _parse_time(as_of)
            position = position_at(rt.engine, when)
        assert position is not None
        built = build_as_of(rt.engine, position, batch_size=rt.settings.replay_batch_size)
        schema = built.schema
    try:
        result = trace(rt.engine, key, direction, schema=schema)
    except TraceError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    result.as_of = when
    fmt = fmt or ("table" if sys.stdout.isatty() else "json")
    print_trace(result, fmt, rows=rows)


@trace.command()
@_trace_options
def backward(lot: str, fmt: str | None, rows: str, as_of: str | None, position: int | None) -> None:
    """Ancestor lots of LOT and their suppliers (LGTIN URN, Digital Link or GTIN14/LOT)."""
    _run_trace("backward", lot, fmt, rows, as_of, position)


@trace.command()
@_trace_options
def forward(lot: str, fmt: str | None, rows: str, as_of: str | None, position: int | None) -> None:
    """Descendant lots of LOT, their shipments and customers (LGTIN URN, Digital Link or GTIN14/LOT)."""
    _run_trace("forward", lot, fmt, rows, as_of, position)


@click.command()
@click.option("--as-of", "as_of", default=None, help="Build the lineage as known at this record time "
                                                     "into its own schema, instead of rebuilding the live one.")
@click.option("--position", type=int, default=None, help="Build the lineage as known at this store position.")
@setting_option("--batch-size", setting="replay_batch_size",
                help="Store rows per read, in the bulk load and in the catch-up after it (default: 10,000 and "
                     "5,000).")
def replay(as_of: str | None, position: int | None) -> None:
    """Rebuild the lineage from position 0 and switch readers over atomically (or build an as-of copy)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from projections.lineage.replay import build_as_of, position_at, rebuild, store_head

    rt = current_context().runtime(kafka=False)
    batch_size = rt.settings.replay_batch_size
    console = Console(stderr=True)
    head = store_head(rt.engine)
    if as_of is not None:
        position = position_at(rt.engine, _parse_time(as_of))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]} events/s"), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=console) as bar:
        total = head if position is None else min(position, head)
        task = bar.add_task("replaying the event store", total=max(total, 1), rate="-")

        def advance(done: int, _total: int) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            bar.update(task, completed=done, rate=f"{done / elapsed:,.0f}" if elapsed else "-")

        if position is None:
            result = rebuild(rt.engine, batch_size=batch_size, progress=advance)
        else:
            result = build_as_of(rt.engine, position, batch_size=batch_size, progress=advance)
        bar.update(task, completed=max(total, 1))
    what = "rebuilt and switched" if position is None else "built as of"
    click.echo(f"lineage {what} store position {result.position} in schema {result.schema} "
               f"({result.rows} events, {result.seconds:.1f}s)")


def register(main: click.Group) -> None:
    """Add the lineage commands to the ``lotline`` group."""
    main.add_command(project)
    main.add_command(trace)
    main.add_command(replay)
