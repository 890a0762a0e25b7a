"""Builds Lotline's parts from :class:`~lotline.settings.Settings`: engine, store, codec, clients, topics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from sqlalchemy.engine import Engine

from consumers.dlq import DeadLetterPublisher
from consumers.ingest import IngestOptions, IngestStats, IngestWorker
from lotline.registry import SchemaRegistry
from lotline.settings import Settings
from producers.publisher import EventPublisher
from projections.framework import Projector, Target
from projections.recall.relay import MAX_ALERT_BYTES, OutboxRelay
from schemas.avro.codec import ConfluentFraming, EventCodec, Framing, SingleObjectFraming
from store.postgres import PostgresEventStore

# PostgreSQL's JIT compiles a statement's expressions when its *estimated* cost passes jit_above_cost, at every
# execution. A trace's plan is estimated from the lineage's statistics, not from the lot traced: on a lineage
# where that estimate passes the threshold, every trace paid ~130 ms of compilation (the 10K-lot recall scope:
# 510 ms with JIT against 250 ms without; a 3 ms trace would have become 130 ms). Nothing Lotline runs gains from
# it (a rebuild measured the same with and without), so its sessions start with JIT off; an ``options`` given
# in the URL or in ``connect_args`` comes after, and can turn it back on.
_SESSION_OPTIONS = "-c jit=off"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine; plain ``postgresql://`` URLs get the psycopg2 driver; sessions run with JIT off."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg2://" + url.split("://", 1)[1]
    parsed = sa.engine.make_url(url)
    connect_args = dict(kwargs.pop("connect_args", {}))
    given = connect_args.get("options", parsed.query.get("options"))
    if isinstance(given, tuple):  # a query parameter given twice
        given = " ".join(given)
    connect_args["options"] = f"{_SESSION_OPTIONS} {given}" if given else _SESSION_OPTIONS
    return sa.create_engine(parsed.difference_update_query(["options"]), pool_pre_ping=True,
                            connect_args=connect_args, **kwargs)


class Runtime:
    """Lazily built parts for one CLI invocation or test."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def engine(self) -> Engine:
        if not self.settings.database_url:
            raise RuntimeError("LOTLINE_DATABASE_URL is not set and no embedded PostgreSQL is running")
        return make_engine(self.settings.database_url)

    @cached_property
    def store(self) -> PostgresEventStore:
        return PostgresEventStore(self.engine)

    @cached_property
    def framing(self) -> Framing:
        url = self.settings.schema_registry_url
        if url:
            registry = SchemaRegistry(url, timeout=self.settings.schema_registry_timeout_s)
            subject = f"{self.settings.events_topic}-value"
            return ConfluentFraming(lambda s: registry.register(subject, s), registry.matches)
        return SingleObjectFraming()

    @cached_property
    def codec(self) -> EventCodec:
        return EventCodec(self.framing)

    def kafka_config(self, **overrides: Any) -> dict[str, Any]:
        return self.settings.kafka_client_config(**overrides)

    def ensure_topics(self) -> None:
        """Create the events topic (and its DLQ) with the configured partitions if they do not exist."""
        s = self.settings
        admin = AdminClient(self.kafka_config())
        wanted = [NewTopic(s.events_topic, s.events_partitions), NewTopic(s.dlq_topic, 1),
                  NewTopic(s.recall_alerts_topic, s.events_partitions,
                           config={"max.message.bytes": str(MAX_ALERT_BYTES)})]
        for name, fut in admin.create_topics(wanted, request_timeout=s.admin_timeout_s).items():
            try:
                fut.result()
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc):
                    raise RuntimeError(f"cannot create topic {name}: {exc}") from exc

    def publisher(self, on_delivered: Callable[[str], None] | None = None) -> EventPublisher:
        return EventPublisher(self.kafka_config(), self.settings.events_topic, self.codec, on_delivered,
                              flush_timeout_s=self.settings.publisher_flush_timeout_s)

    def ingest_worker(self, *, until_idle: bool = False, group: str | None = None,
                      idle_timeout_s: float | None = None, topic_wait_s: float | None = None,
                      on_batch: Callable[[IngestStats], None] | None = None) -> IngestWorker:
        """An ingest worker; ``group``, ``idle_timeout_s`` and ``topic_wait_s`` default to the settings."""
        s = self.settings
        options = IngestOptions(topic=s.events_topic, group=group or s.consumer_group, batch_size=s.batch_size,
                                batch_timeout_s=s.batch_timeout_s, until_idle=until_idle,
                                idle_timeout_s=s.ingest_idle_timeout_s if idle_timeout_s is None else idle_timeout_s,
                                topic_wait_s=s.ingest_topic_wait_s if topic_wait_s is None else topic_wait_s)
        return IngestWorker(self.kafka_config(), self.store, DeadLetterPublisher(self.kafka_config(), s.dlq_topic),
                            options, self.codec, on_batch)

    def projector(self, targets: Sequence[Target], **kwargs: Any) -> Projector:
        """A projector over ``targets`` with the configured batch size and poll interval."""
        s = self.settings
        return Projector(self.engine, targets, batch_size=s.project_batch_size, poll_interval_s=s.project_poll_s,
                         **kwargs)

    def relay(self) -> OutboxRelay:
        """The recall-alert outbox relay, publishing to the recall-alerts topic."""
        s = self.settings
        return OutboxRelay(self.engine, self.kafka_config(), s.recall_alerts_topic, batch_size=s.relay_batch_size,
                           poll_s=s.relay_poll_s, flush_timeout_s=s.relay_flush_timeout_s,
                           pause_after_publish_s=s.relay_pause_after_publish_s)
