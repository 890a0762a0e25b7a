"""The publisher SDK plant systems use to put EPCIS events on the events topic.

Guarantees: an idempotent producer with ``acks=all`` (no duplicates or reordering from retries inside one
producer session), and delivery failures surfaced to the caller — :meth:`EventPublisher.flush` raises
:class:`DeliveryError` listing every event the broker did not acknowledge. Nothing is dropped silently.

Partition key: the event identity (``eventID``, else the CBV 2.0 hash ID). An error declaration has the
identity of the event it retracts, so it lands on the same partition, behind it; events are otherwise
spread evenly. Ordering across events is not needed by the store (projections are order-independent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import structlog
from confluent_kafka import KafkaError, Message, Producer

from schemas.avro.codec import EventCodec
from schemas.epcis.model import EPCISEvent
from schemas.formats.identity import event_identity

log = structlog.get_logger("lotline.publisher")

PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 20,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 200_000,
}


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    """One event the broker did not acknowledge."""

    event_key: str
    error: str


class DeliveryError(RuntimeError):
    """Raised by :meth:`EventPublisher.flush` when any event was not delivered."""

    def __init__(self, failures: list[DeliveryFailure]) -> None:
        self.failures = failures
        head = "; ".join(f"{f.event_key}: {f.error}" for f in failures[:5])
        more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        super().__init__(f"{len(failures)} event(s) not delivered: {head}{more}")


@dataclass(slots=True)
class PublishStats:
    """Counters for one publisher."""

    sent: int = 0
    delivered: int = 0
    failures: list[DeliveryFailure] = field(default_factory=list)


class EventPublisher:
    """Publishes :class:`EPCISEvent` objects, Avro-encoded, keyed by event identity."""

    def __init__(
        self,
        kafka_config: dict[str, Any],
        topic: str,
        codec: EventCodec | None = None,
        on_delivered: Callable[[str], None] | None = None,
        *,
        flush_timeout_s: float = 60.0,
    ) -> None:
        self.topic = topic
        self.flush_timeout_s = flush_timeout_s
        self.codec = codec or EventCodec()
        self.stats = PublishStats()
        self._on_delivered = on_delivered
        self._producer = Producer({**PRODUCER_DEFAULTS, **kafka_config})

    def publish(self, event: EPCISEvent) -> str:
        """Queue one event for delivery and return its identity. Blocks briefly when the queue is full."""
        key = event_identity(event)
        self.publish_raw(key, self.codec.encode(event))
        return key

    def publish_raw(self, key: str, value: bytes, headers: list[tuple[str, str | bytes | None]] | None = None) -> None:
        """Queue already-encoded bytes (used by tests and tools that need to send what they choose)."""
        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key.encode(), headers=headers,
                                       on_delivery=self._delivered)
                break
            except BufferError:
                self._producer.poll(0.1)
        self.stats.sent += 1
        self._producer.poll(0)

    def publish_many(self, events: Iterable[EPCISEvent]) -> int:
        """Queue every event; returns how many were queued. Call :meth:`flush` to wait for delivery."""
        n = 0
        for e in events:
            self.publish(e)
            n += 1
        return n

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        key = (msg.key() or b"").decode(errors="replace")
        if err is not None:
            self.stats.failures.append(DeliveryFailure(key, err.str()))
            log.error("event not delivered", event_key=key, error=err.str(), topic=self.topic)
            return
        self.stats.delivered += 1
        if self._on_delivered is not None:
            self._on_delivered(key)

    def flush(self, timeout: float | None = None) -> None:
        """Wait for every queued event, at most ``timeout`` seconds (default: ``flush_timeout_s``); raise
        :class:`DeliveryError` if any failed or is still queued."""
        timeout = self.flush_timeout_s if timeout is None else timeout
        remaining = self._producer.flush(timeout)
        failures = list(self.stats.failures)
        self.stats.failures.clear()
        if remaining:
            failures.append(DeliveryFailure("*", f"{remaining} event(s) still queued after {timeout}s"))
        if failures:
            raise DeliveryError(failures)

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self.flush()
            else:
                self._producer.flush(5)
        finally:
            self._producer.close()
