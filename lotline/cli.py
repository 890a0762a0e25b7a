"""The ``lotline`` command line.

With ``LOTLINE_KAFKA_BOOTSTRAP`` and ``LOTLINE_DATABASE_URL`` set, every command works against those
services. Without them, a command starts the embedded stack for its own lifetime (a Tansu broker and a
throw-away PostgreSQL) and stops it on exit; ``lotline stack`` keeps one running for a session of commands.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import click
import structlog

from lotline import cli_epcis, cli_lineage, cli_recall
from lotline.context import Context, current_context, pass_context, setting_option
from lotline.embedded import embedded_stack
from lotline.logconfig import configure_logging
from lotline.settings import load_settings
from lotline.wiring import Runtime
from store import schema as store_schema

log = structlog.get_logger("lotline.cli")


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version``: the version and which fast path this installation runs (:mod:`lotline.buildinfo`)."""
    if not value or ctx.resilient_parsing:
        return
    from lotline.buildinfo import version_line

    click.echo(version_line())
    ctx.exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and the active fast path (compiled or incomplete), then exit.")
@click.option("--log-format", type=click.Choice(["auto", "json", "console"]), default=None,
              help="Log format (default: LOTLINE_LOG_FORMAT, else JSON when stderr is not a terminal).")
@click.pass_context
def main(ctx: click.Context, log_format: str | None) -> None:
    """Lotline: GS1 EPCIS 2.0 lot traceability on Kafka and PostgreSQL."""
    settings = load_settings(log_format=log_format)
    configure_logging(settings.log_format, settings.log_level)
    ctx.obj = Context(ctx, settings)


@main.group()
def db() -> None:
    """Event-store schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_context
def db_upgrade(c: Context, revision: str) -> None:
    """Create or upgrade the event-store tables."""
    rt = c.runtime(kafka=False)
    store_schema.upgrade(rt.engine, revision)
    click.echo(f"event store at revision {store_schema.current(rt.engine)}")


@db.command("current")
@pass_context
def db_current(c: Context) -> None:
    """Print the schema revision of the event store."""
    click.echo(store_schema.current(c.runtime(kafka=False).engine) or "(empty database)")


@main.group()
def store() -> None:
    """Inspect the event store."""


@store.command("verify")
@pass_context
def store_verify(c: Context) -> None:
    """Walk the hash chain; name the first row that does not match. Exit 1 on a broken chain."""
    result = c.runtime(kafka=False).store.verify()
    if result.ok:
        click.echo(f"OK: {result.rows} rows, hash chain intact")
        return
    click.echo(f"BROKEN at position {result.first_bad_position}: {result.problem}", err=True)
    sys.exit(1)


@store.command("stats")
@pass_context
def store_stats(c: Context) -> None:
    """Counts of stored events by type."""
    from lotline.report import store_summary

    click.echo(store_summary(c.runtime(kafka=False).store.stats()))


@main.command()
@click.option("--until-idle", is_flag=True,
              help="Stop once every partition of the topic is stored to its end (exit 1 naming those another "
                   "member keeps behind).")
@click.option("--reset-offsets", is_flag=True,
              help="Forget the group's stored offsets of the topic (after the topic was created again), then exit: "
                   "the next run reads the topic from its start, and what is stored already is kept once.")
@setting_option("--group", setting="consumer_group", help="Consumer group.")
@setting_option("--idle-timeout", setting="ingest_idle_timeout_s",
                help="With --until-idle: seconds to wait when no partition is assigned.")
@setting_option("--topic-wait", setting="ingest_topic_wait_s",
                help="With --until-idle: seconds to wait for partitions another member holds.")
@pass_context
def ingest(c: Context, until_idle: bool, reset_offsets: bool) -> None:
    """Consume the events topic into the event store, exactly once."""
    from consumers.ingest import IngestError

    if reset_offsets:
        s = c.settings
        rt = c.runtime(kafka=False)
        n = rt.store.reset_offsets(s.consumer_group, s.events_topic)
        click.echo(f"forgot the stored offsets of {n} partition(s) of topic {s.events_topic} for group "
                   f"{s.consumer_group}: the next `lotline ingest` reads the topic from its start", err=True)
        return
    rt = c.runtime()
    rt.ensure_topics()
    worker = rt.ingest_worker(until_idle=until_idle)
    worker.install_signal_handlers()
    try:
        stats = worker.run()
    except IngestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"consumed {stats.consumed}, stored {stats.stored}, duplicates {stats.duplicates}, "
               f"dead-lettered {stats.dead_lettered}", err=True)


@main.command()
@click.option("--events", "n_events", default=5000, show_default=True, help="How many events to publish.")
@click.option("--seed", default=7, show_default=True)
@click.option("--rate", default=0.0, help="Events per second (0: as fast as the broker takes them).")
@click.option("--loads", "load_probability", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of multi-pallet shipments loaded into one load SSCC first (SSCCs inside an SSCC).")
@pass_context
def simulate(c: Context, n_events: int, seed: int, rate: float, load_probability: float) -> None:
    """Play a bakery plant: receipts, multi-level production, pallets, shipments, corrections."""
    from producers.simulate import config_for_events
    from producers.simulate import simulate as run_simulation

    rt = c.runtime(postgres=False)
    rt.ensure_topics()
    started = time.monotonic()
    with rt.publisher() as pub:
        config = config_for_events(n_events, seed=seed, load_probability=load_probability)
        for i, event in enumerate(run_simulation(config, limit=n_events)):
            pub.publish(event)
            if rate > 0:
                ahead = (i + 1) / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    click.echo(f"published {pub.stats.delivered} events in {time.monotonic() - started:.1f}s", err=True)


@main.command()
@pass_context
def stack(c: Context) -> None:
    """Run the embedded broker and PostgreSQL until Ctrl-C, printing the variables that point at them."""
    s = c.settings
    data_dir = Path(s.embedded_dir).resolve() / "pgdata"
    with embedded_stack(kafka_port=s.embedded_kafka_port, data_dir=data_dir) as started:
        rt = Runtime(s.model_copy(update=started))
        store_schema.upgrade(rt.engine)
        click.echo(f"export LOTLINE_KAFKA_BOOTSTRAP={started['kafka_bootstrap']}")
        click.echo(f"export LOTLINE_DATABASE_URL='{started['database_url']}'")
        click.echo("# embedded stack running; Ctrl-C stops it (the broker keeps its topics in memory only)",
                   err=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


@main.command()
@click.option("--events", "n_events", default=3000, show_default=True)
@click.option("--seed", default=7, show_default=True)
@pass_context
def demo(c: Context, n_events: int, seed: int) -> None:
    """The whole job on the embedded default: simulate a bakery, ingest, show what was stored."""
    from lotline.demo import run_demo

    if "LOTLINE_LOG_LEVEL" not in os.environ:  # the demo speaks through its tables; keep logs to warnings
        configure_logging(c.settings.log_format, "WARNING")
    run_demo(c.runtime(), n_events=n_events, seed=seed)


def run(argv: list[str] | None = None, **kwargs: Any) -> None:
    main.main(args=argv, prog_name="lotline", **kwargs)


cli_lineage.register(main)  # project, trace, replay
cli_epcis.register(main)  # capture, hash, export
cli_recall.register(main)  # recall, alerts

__all__ = ["Context", "current_context", "main", "pass_context", "run"]
