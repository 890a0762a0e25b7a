"""``lotline ingest``: consume the events topic in batches and append them, exactly once, to the store.

Exactly-once into PostgreSQL (design-notes.md): each batch of events and the offsets that follow it are
written in one database transaction, and on partition assignment the consumer seeks to the offsets stored
in the database, not to Kafka's. A crash anywhere therefore either loses the whole batch (it is consumed
again) or keeps all of it together with its offsets (it is not). Redelivery is harmless anyway: the store
skips an identity it already holds. Kafka-side commits are made only so lag monitors work.

Messages that cannot be decoded or validated go to the dead-letter topic with the reason, and the consumer
keeps going. SIGTERM/SIGINT finish the batch in hand and stop.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from consumers.dlq import DeadLetter, DeadLetterPublisher
from consumers.messages import coordinates
from consumers.records import to_new_event
from consumers.store.port import EventStore, NewEvent, OffsetKey, Rejected
from schemas.avro_codec import EventCodec
from schemas.errors import CodecError, EPCISError

log = structlog.get_logger("lotline.ingest")

CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    "enable.partition.eof": True,
    # A group join waits session.timeout.ms/2 on some brokers (22 s with the 45 s default on Tansu).
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
    "max.poll.interval.ms": 300000,
}


@dataclass(slots=True)
class IngestStats:
    """Running totals of one ingest process."""

    consumed: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0


@dataclass(frozen=True, slots=True)
class IngestOptions:
    """How one ingest process runs."""

    topic: str
    group: str
    batch_size: int = 2000
    batch_timeout_s: float = 0.5
    until_idle: bool = False
    idle_timeout_s: float = 15.0


class IngestWorker:
    """One member of the ingest consumer group."""

    def __init__(
        self,
        kafka_config: dict[str, Any],
        store: EventStore,
        dlq: DeadLetterPublisher,
        options: IngestOptions,
        codec: EventCodec | None = None,
        on_batch: Callable[[IngestStats], None] | None = None,
    ) -> None:
        self.store = store
        self.dlq = dlq
        self.options = options
        self.codec = codec or EventCodec()
        self.stats = IngestStats()
        self._on_batch = on_batch
        self._stop = False
        self._assigned: set[int] = set()
        self._at_eof: set[int] = set()
        self._consumer = Consumer({**CONSUMER_DEFAULTS, "group.id": options.group, **kafka_config})

    def request_stop(self, *_: object) -> None:
        """Finish the batch in hand, then stop (installed as the SIGTERM/SIGINT handler)."""
        self._stop = True

    def install_signal_handlers(self) -> None:
        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("stop requested; finishing the batch in hand", signal=signal.Signals(signum).name)
            self.request_stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        stored = self.store.stored_offsets(self.options.group, self.options.topic)
        for tp in partitions:
            tp.offset = stored.get(tp.partition, OFFSET_BEGINNING)
            self._assigned.add(tp.partition)
            self._at_eof.discard(tp.partition)
        log.info("partitions assigned; seeking to offsets stored with the events", topic=self.options.topic,
                 offsets={tp.partition: stored.get(tp.partition, "beginning") for tp in partitions})
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._assigned.discard(tp.partition)
            self._at_eof.discard(tp.partition)
        log.info("partitions revoked", partitions=[tp.partition for tp in partitions])
        consumer.unassign()

    def run(self) -> IngestStats:
        """Consume until stopped (or, with ``until_idle``, until every assigned partition is caught up)."""
        opts = self.options
        self._consumer.subscribe([opts.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                 on_lost=self._on_revoke)
        last_activity = time.monotonic()
        try:
            while not self._stop:
                msgs = self._consumer.consume(num_messages=opts.batch_size, timeout=opts.batch_timeout_s)
                if self._process(msgs):
                    last_activity = time.monotonic()
                if opts.until_idle and self._caught_up(last_activity):
                    log.info("caught up; stopping", **self._summary())
                    break
        finally:
            self._consumer.close()
        log.info("ingest stopped", **self._summary())
        return self.stats

    def _caught_up(self, last_activity: float) -> bool:
        if self._assigned:
            return self._assigned <= self._at_eof
        return time.monotonic() - last_activity > self.options.idle_timeout_s

    def _summary(self) -> dict[str, int]:
        s = self.stats
        return {"consumed": s.consumed, "stored": s.stored, "duplicates": s.duplicates,
                "dead_lettered": s.dead_lettered, "batches": s.batches}

    def _process(self, msgs: list[Message]) -> bool:
        rows: list[NewEvent] = []
        dead: list[DeadLetter] = []
        offsets: dict[OffsetKey, int] = {}
        by_identity: dict[tuple[str, bool], Message] = {}
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self._at_eof.add(coordinates(msg).partition)
                    continue
                if err.fatal():
                    raise KafkaException(err)
                log.warning("consumer error", error=err.str())
                continue
            source = coordinates(msg)
            self._at_eof.discard(source.partition)
            offsets[(source.topic, source.partition)] = source.offset + 1
            try:
                event = self.codec.decode(msg.value() or b"")
                event.validate()
                row = to_new_event(event, source)
            except (CodecError, EPCISError) as exc:
                dead.append(DeadLetter.of(msg, f"{type(exc).__name__}: {exc}"))
                continue
            rows.append(row)
            by_identity.setdefault(row.identity, msg)
        if not offsets:
            return False

        def dead_letter(rejected: list[Rejected]) -> None:
            letters = dead + [DeadLetter.of(by_identity[r.event.identity], r.reason) for r in rejected]
            self.dlq.send(letters)
            self.stats.dead_lettered += len(letters)

        result = self.store.append(rows, group=self.options.group, offsets=offsets, before_commit=dead_letter)
        self.stats.consumed += len(rows) + len(dead)
        self.stats.stored += result.stored
        self.stats.duplicates += result.duplicates
        self.stats.batches += 1
        self._commit_to_kafka(offsets)
        log.debug("batch stored", stored=result.stored, duplicates=result.duplicates, dead=len(dead),
                  position=result.last_position)
        if self._on_batch is not None:
            self._on_batch(self.stats)
        return True

    def _commit_to_kafka(self, offsets: dict[OffsetKey, int]) -> None:
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            self._consumer.commit(offsets=tps, asynchronous=True)
        except KafkaException as exc:  # only lag monitors read these; the store holds the truth
            log.debug("kafka offset commit failed", error=str(exc))
