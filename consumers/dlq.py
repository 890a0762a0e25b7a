"""The dead-letter topic: where events the consumer cannot decode or validate go, with the reason.

Each dead letter keeps the original key, value and headers byte for byte, and adds headers naming the
source topic, partition and offset and the reason, so an operator can fix the producer and replay it.
The consumer flushes dead letters *before* it commits the batch's offsets: a crash in between repeats a
dead letter (recognisable by its source coordinates) but never loses one.

A dead letter never fails for its size: a value or key larger than the broker would take is cut to its first
:data:`MAX_VALUE_BYTES` (:data:`MAX_KEY_BYTES`), and the headers say so and give the original size; the source
coordinates still point at the whole message. A reason is cut to :data:`MAX_REASON_CHARS` characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from confluent_kafka import KafkaError, Message, Producer

from consumers.messages import Headers, coordinates, headers_of

log = structlog.get_logger("lotline.dlq")

REASON = "lotline.dlq.reason"
SOURCE_TOPIC = "lotline.dlq.source.topic"
SOURCE_PARTITION = "lotline.dlq.source.partition"
SOURCE_OFFSET = "lotline.dlq.source.offset"
FAILED_AT = "lotline.dlq.failed.at"
VALUE_SIZE = "lotline.dlq.value.size"
TRUNCATED = "lotline.dlq.truncated"

MAX_VALUE_BYTES = 512 * 1024
"""The most of a message's value a dead letter carries (Kafka's default ``message.max.bytes`` is 1 MB)."""
MAX_KEY_BYTES = 4096
MAX_REASON_CHARS = 2000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be stored, and why."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    reason: str

    @classmethod
    def of(cls, msg: Message, reason: str) -> DeadLetter:
        src = coordinates(msg)
        return cls(src.topic, src.partition, src.offset, msg.key(), msg.value(), headers_of(msg), reason)


class DeadLetterPublisher:
    """Sends :class:`DeadLetter` s to ``<topic>.dlq`` and waits for the broker to acknowledge them."""

    def __init__(self, kafka_config: dict[str, Any], topic: str) -> None:
        self.topic = topic
        self._errors: list[str] = []
        self._producer = Producer({"enable.idempotence": True, "acks": "all", **kafka_config})

    def send(self, letters: list[DeadLetter], timeout: float = 30.0) -> None:
        """Publish and flush; raise if any dead letter is not acknowledged (the batch then rolls back)."""
        if not letters:
            return
        now = datetime.now(UTC).isoformat().encode()
        for d in letters:
            reason = d.reason if len(d.reason) <= MAX_REASON_CHARS else d.reason[:MAX_REASON_CHARS] + "..."
            headers: Headers = [*d.headers, (REASON, reason.encode()), (SOURCE_TOPIC, d.topic.encode()),
                                (SOURCE_PARTITION, str(d.partition).encode()),
                                (SOURCE_OFFSET, str(d.offset).encode()), (FAILED_AT, now)]
            value, key = d.value, d.key
            cut = [name for name, part, most in (("value", value, MAX_VALUE_BYTES), ("key", key, MAX_KEY_BYTES))
                   if part is not None and len(part) > most]
            if cut:
                headers += [(VALUE_SIZE, str(len(value or b"")).encode()), (TRUNCATED, ",".join(cut).encode())]
                value = None if value is None else value[:MAX_VALUE_BYTES]
                key = None if key is None else key[:MAX_KEY_BYTES]
            self._producer.produce(self.topic, value=value, key=key, headers=headers, on_delivery=self._delivered)
            log.warning("event dead-lettered", source=f"{d.topic}[{d.partition}]@{d.offset}",
                        event_key=(d.key or b"")[:200].decode(errors="replace"), reason=reason, dlq=self.topic,
                        truncated=cut or None)
        remaining = self._producer.flush(timeout)
        errors, self._errors = self._errors, []
        if remaining or errors:
            raise RuntimeError(f"dead-letter topic {self.topic} did not acknowledge {remaining + len(errors)} "
                               f"message(s): {'; '.join(errors[:3])}")

    def close(self) -> None:
        """Flush and close the producer (no more dead letters can be sent afterwards)."""
        self._producer.close()

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._errors.append(err.str())
