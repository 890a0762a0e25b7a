"""``lotline ingest``: consume the events topic in batches and append them, exactly once, to the store.

Exactly-once into PostgreSQL (design-notes.md): each batch of events and the offsets that follow it are
written in one database transaction, and on partition assignment the consumer seeks to the offsets stored
in the database, not to Kafka's. A crash anywhere therefore either loses the whole batch (it is consumed
again) or keeps all of it together with its offsets (it is not). Redelivery is harmless anyway: the store
skips an identity it already holds. Kafka-side commits are made only so lag monitors work.

Messages that cannot be decoded or validated go to the dead-letter topic with the reason, and the consumer
keeps going. SIGTERM/SIGINT finish the batch in hand and stop.

Nothing is skipped without an operator saying so. The stored offsets belong to one topic, known by the id the
broker gives it (:meth:`~store.port.EventStore.bound_topic`): a topic deleted and created again under the same
name (a broker rebuilt, a cluster migrated) has another id, and ingest stops with :class:`IngestError` instead of
seeking into it at the old offsets. So it does where the broker says a stored offset lies outside its partition
(``auto.offset.reset=error``: beyond its end, or before its start, messages deleted before they were read;
Kafka says so, the embedded Tansu broker does not). ``lotline ingest --reset-offsets`` is the deliberate way on.
``--until-idle`` stops only when every partition of the topic, not only this process's share, is stored to its
end.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import structlog
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from consumers.dlq import DeadLetter, DeadLetterPublisher
from consumers.messages import coordinates
from schemas.avro.codec import EventCodec
from schemas.epcis.errors import CodecError, EPCISError
from store.gcpolicy import collecting_rarely
from store.port import AppendResult, EventStore, NewEvent, OffsetKey, Prepared, Rejected
from store.records import checked_row

log = structlog.get_logger("lotline.ingest")

CONSUMER_DEFAULTS: dict[str, Any] = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    # Partitions with no stored offset are assigned at their beginning; a stored offset the broker does not hold
    # is an error, never a silent jump (IngestError).
    "auto.offset.reset": "error",
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
    topic_wait_s: float = 30.0  # until_idle: how long partitions another member holds may stay behind


class IngestError(Exception):
    """Ingest cannot go on without skipping events: what is wrong, where, and what an operator can do."""


RESET_HINT = ("`lotline ingest --reset-offsets` makes the group read the topic from its start (events already "
              "stored are recognised and not stored twice)")


@dataclass(slots=True)
class _Batch:
    """One consumed batch, decoded: rows to store, dead letters, and the offsets that follow it."""

    rows: list[NewEvent] = field(default_factory=list)
    prepared: Prepared | None = None
    dead: list[DeadLetter] = field(default_factory=list)
    offsets: dict[OffsetKey, int] = field(default_factory=dict)
    by_identity: dict[tuple[str, bool], Message] = field(default_factory=dict)
    dead_lettered: int = 0


GIL_SWITCH_INTERVAL_S = 0.0005
"""How long the decoding thread may hold the GIL while the writer thread waits for it. The writer gives the
GIL up on every round trip to PostgreSQL and must win it back each time; at Python's default of 5 ms the
writer spent more time waiting than writing (measured: a 60K-event ingest's writer 8.0 s -> 5.6 s)."""


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
        self._kafka_config = kafka_config
        self._behind_since: float | None = None
        self._checked_at = 0.0
        self._consumer = Consumer({**CONSUMER_DEFAULTS, "group.id": options.group, **kafka_config})
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer")
        self._inflight: tuple[_Batch, Future[AppendResult]] | None = None

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
        self._drain()  # the batch in flight carries offsets of these partitions: finish it first
        for tp in partitions:
            self._assigned.discard(tp.partition)
            self._at_eof.discard(tp.partition)
        log.info("partitions revoked", partitions=[tp.partition for tp in partitions])
        consumer.unassign()

    def run(self) -> IngestStats:
        """Consume until stopped (or, with ``until_idle``, until every assigned partition is caught up).

        Decoding the next batch overlaps with writing the previous one: one writer thread appends batches
        strictly one after another, so the store still sees them in consumption order.
        """
        with collecting_rarely():  # a batch allocates ~100K short-lived containers (store/gcpolicy.py)
            return self._run()

    def _run(self) -> IngestStats:
        opts = self.options
        self._check_topic_identity()
        self._consumer.subscribe([opts.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                                 on_lost=self._on_revoke)
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        last_activity = time.monotonic()
        try:
            while not self._stop:
                msgs = self._consumer.consume(num_messages=opts.batch_size, timeout=opts.batch_timeout_s)
                if self._inflight is not None and self._inflight[1].done():
                    self._drain()  # a failed write stops ingest now, not when the next batch arrives
                batch = self._prepare(msgs)
                if batch is not None:
                    self._drain()
                    self._inflight = (batch, self._writer.submit(self._write, batch))
                    last_activity = time.monotonic()
                if opts.until_idle and self._caught_up(last_activity):
                    self._drain()
                    log.info("caught up; stopping", **self._summary())
                    break
            self._drain()
        finally:
            self._writer.shutdown(wait=True)
            self._consumer.close()
            self.dlq.close()
            sys.setswitchinterval(switch_interval)
        log.info("ingest stopped", **self._summary())
        return self.stats

    def _caught_up(self, last_activity: float) -> bool:
        """Whether every partition of the topic is stored to its end (checked once this process's share is, or
        when it has none after the idle timeout); raises :class:`IngestError` naming the partitions another
        member holds when they stay behind for ``topic_wait_s``."""
        if self._assigned:
            if not self._assigned <= self._at_eof:
                return False
        elif time.monotonic() - last_activity <= self.options.idle_timeout_s:
            return False
        now = time.monotonic()
        if now - self._checked_at < 1.0:
            return False
        self._checked_at = now
        self._drain()  # the batch in flight holds offsets the check reads
        behind = self._behind()
        if not behind:
            return True
        self._behind_since = self._behind_since or now
        if now - self._behind_since > self.options.topic_wait_s:
            left = sum(high - at for at, high in behind.values())
            raise IngestError(
                f"topic {self.options.topic}: partitions {', '.join(map(str, sorted(behind)))} hold {left} messages "
                f"not yet stored (stored/end offsets: "
                f"{', '.join(f'{p}: {at}/{high}' for p, (at, high) in sorted(behind.items()))}), held for "
                f"{self.options.topic_wait_s:g} s by another member of group {self.options.group} that stored none "
                f"of them (a stopped process whose session has not expired yet, or a stalled one). Run again once it "
                f"has left the group.")
        return False

    def _behind(self) -> dict[int, tuple[int, int]]:
        """``{partition: (stored offset, end offset)}`` of the topic's partitions not stored to their end."""
        topic = self.options.topic
        stored = self.store.stored_offsets(self.options.group, topic)
        behind = {}
        for p in self._consumer.list_topics(topic, timeout=10).topics[topic].partitions:
            low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if (at := stored.get(p, low)) < high:
                behind[p] = (at, high)
        return behind

    def _check_topic_identity(self) -> None:
        """Bind the stored offsets to the topic's id, or raise :class:`IngestError` if they belong to another
        topic of the same name. (A broker that gives no topic id is checked by offsets alone.)"""
        topic = self.options.topic
        admin = AdminClient(self._kafka_config)
        try:
            described = admin.describe_topics(TopicCollection([topic]))[topic].result(timeout=10)
        except KafkaException as exc:
            log.warning("topic id unknown; checking stored offsets against the partitions only", topic=topic,
                        error=str(exc))
            return
        topic_id = str(described.topic_id) if getattr(described, "topic_id", None) is not None else ""
        if not topic_id:
            return
        bound = self.store.bound_topic(self.options.group, topic, topic_id)
        if bound != topic_id:
            raise IngestError(
                f"topic {topic} was deleted and created again (its id was {bound}, it is now {topic_id}): the offsets "
                f"stored for group {self.options.group} belong to the old topic, and reading the new one from them "
                f"would skip events. Nothing was skipped. " + RESET_HINT)

    def _summary(self) -> dict[str, int]:
        s = self.stats
        return {"consumed": s.consumed, "stored": s.stored, "duplicates": s.duplicates,
                "dead_lettered": s.dead_lettered, "batches": s.batches}

    def _prepare(self, msgs: list[Message]) -> _Batch | None:
        """Decode and validate one batch (CPU work, on the consuming thread)."""
        batch = _Batch()
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self._at_eof.add(coordinates(msg).partition)
                    continue
                if err.code() == KafkaError._AUTO_OFFSET_RESET:  # a stored offset the partition does not hold
                    raise IngestError(
                        f"topic {self.options.topic}: an offset stored for group {self.options.group} lies outside "
                        f"its partition ({err.str()}): the topic was deleted and created again, or truncated, or "
                        f"its messages expired before ingest read them. Nothing was skipped. " + RESET_HINT)
                if err.fatal():
                    raise KafkaException(err)
                log.warning("consumer error", error=err.str())
                continue
            source = coordinates(msg)
            self._at_eof.discard(source.partition)
            batch.offsets[(source.topic, source.partition)] = source.offset + 1
            try:
                row = checked_row(self.codec.decode_record(msg.value() or b""), source)
            except (CodecError, EPCISError) as exc:
                batch.dead.append(DeadLetter.of(msg, f"{type(exc).__name__}: {exc}"))
                continue
            batch.rows.append(row)
            batch.by_identity.setdefault(row.identity, msg)
        if not batch.offsets:
            return None
        # the rows' encoding and hashes are computed here, not on the writer thread, where they would delay
        # the append they precede (measured: 14.4-14.8K -> 16.9-19.7K events/s, docs/performance.md)
        batch.prepared = self.store.prepare(batch.rows)
        return batch

    def _write(self, batch: _Batch) -> AppendResult:
        """Append one batch with its offsets; dead letters are flushed inside the transaction (writer thread)."""

        def dead_letter(rejected: list[Rejected]) -> None:
            letters = batch.dead + [DeadLetter.of(batch.by_identity[r.event.identity], r.reason) for r in rejected]
            self.dlq.send(letters)
            batch.dead_lettered = len(letters)

        return self.store.append(batch.prepared or batch.rows, group=self.options.group, offsets=batch.offsets,
                                 before_commit=dead_letter)

    def _drain(self) -> None:
        """Wait for the batch being written (re-raising its failure), then account for it."""
        if self._inflight is None:
            return
        batch, future = self._inflight
        self._inflight = None
        result = future.result()
        self.stats.consumed += len(batch.rows) + len(batch.dead)
        self.stats.stored += result.stored
        self.stats.duplicates += result.duplicates
        self.stats.dead_lettered += batch.dead_lettered
        self.stats.batches += 1
        self._commit_to_kafka(batch.offsets)
        log.debug("batch stored", stored=result.stored, duplicates=result.duplicates,
                  dead=batch.dead_lettered, position=result.last_position)
        if self._on_batch is not None:
            self._on_batch(self.stats)

    def _commit_to_kafka(self, offsets: dict[OffsetKey, int]) -> None:
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            self._consumer.commit(offsets=tps, asynchronous=True)
        except KafkaException as exc:  # only lag monitors read these; the store holds the truth
            log.debug("kafka offset commit failed", error=str(exc))
