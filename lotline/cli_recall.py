"""``lotline recall`` and ``lotline alerts``: declaring recalls and following their alerts."""

from __future__ import annotations

import json
import sys
import uuid

import click

from lotline.context import current_context, setting_option


class _RecallGroup(click.Group):
    """``lotline recall LOT`` declares; ``lotline recall lift LOT`` lifts."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                               list[str]]:
        if args and args[0] not in self.commands:
            args = ["declare", *args]
        return super().resolve_command(ctx, args)


def _publish_recall(lot_text: str, reason: str, *, lift: bool) -> None:
    from schemas.epcis.errors import IdentifierError
    from schemas.epcis.identifiers import LotKey
    from schemas.recall import recall_event

    try:
        lot = LotKey.parse(lot_text)
    except IdentifierError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    rt = current_context().runtime(postgres=False)
    rt.ensure_topics()
    event = recall_event(lot, reason, lift=lift)
    with rt.publisher() as pub:
        pub.publish(event)
    verb = "lift of the recall" if lift else "recall"
    click.echo(f"{verb} of lot {lot} published as event {event.event_id} to {rt.settings.events_topic}")


@click.group(cls=_RecallGroup, invoke_without_command=False)
def recall() -> None:
    """Declare a recall of a lot (an EPCIS event marking it recalled), or lift one."""


@recall.command("declare")
@click.argument("lot")
@click.option("--reason", required=True, help="Why the lot is recalled (carried in the event).")
def recall_declare(lot: str, reason: str) -> None:
    """Mark LOT recalled (LGTIN URN, Digital Link or GTIN14/LOT)."""
    _publish_recall(lot, reason, lift=False)


@recall.command("lift")
@click.argument("lot")
@click.option("--reason", default="", help="Why the recall ends.")
def recall_lift(lot: str, reason: str) -> None:
    """End the recall of LOT."""
    _publish_recall(lot, reason, lift=True)


@click.group()
def alerts() -> None:
    """Recall alerts: the relay that publishes them, and a subscriber that prints them."""


@alerts.command("relay")
@click.option("--until-idle", is_flag=True, help="Stop once the outbox is empty.")
@setting_option("--batch-size", setting="relay_batch_size", help="Alerts published per outbox transaction.")
def alerts_relay(until_idle: bool) -> None:
    """Publish recall alerts from the outbox to the recall-alerts topic (at least once, stable ids)."""
    import signal

    rt = current_context().runtime()
    rt.ensure_topics()
    s = rt.settings
    relay = rt.relay()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: relay.stop())
    n = relay.run(until_idle=until_idle)
    click.echo(f"published {n} recall alert(s) to {s.recall_alerts_topic}", err=True)


@alerts.command("tail")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest alert instead of new ones only.")
@click.option("--max", "max_alerts", type=int, default=None, help="Stop after this many distinct alerts.")
@click.option("--idle-timeout", type=float, default=None, help="Stop after this many seconds without an alert.")
def alerts_tail(from_beginning: bool, max_alerts: int | None, idle_timeout: float | None) -> None:
    """Print recall alerts as JSON lines, each alert id once."""
    import time

    from confluent_kafka import Consumer

    from projections.recall.relay import ALERT_ID
    from schemas.recall import AlertCodec

    rt = current_context().runtime(postgres=False)
    s = rt.settings
    consumer = Consumer(rt.kafka_config(**{
        "group.id": f"lotline-tail-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
        "auto.offset.reset": "earliest" if from_beginning else "latest", "session.timeout.ms": 6000}))
    consumer.subscribe([s.recall_alerts_topic])
    codec, last = AlertCodec(), time.monotonic()
    seen: set[bytes | str] = set()
    try:
        while max_alerts is None or len(seen) < max_alerts:
            msg = consumer.poll(s.alerts_tail_poll_s)
            if msg is None or msg.error() is not None:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    break
                continue
            last = time.monotonic()
            alert = codec.decode_record(msg.value() or b"")
            key = dict(msg.headers() or []).get(ALERT_ID, alert["alertId"].encode())
            if key in seen:
                continue
            seen.add(key)
            click.echo(json.dumps(alert, default=str))
    finally:
        consumer.close()


def register(main: click.Group) -> None:
    main.add_command(recall)
    main.add_command(alerts)
