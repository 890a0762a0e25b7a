"""Reading a whole topic back, for assertions (assign + partition EOF: Tansu's latest offsets are wrong)."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition


def read_topic(bootstrap: str, topic: str, *, expect: int | None = None, timeout: float = 20.0) -> list[Message]:
    """Every message of ``topic`` (waits for ``expect`` messages when given)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts = sorted(meta.partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        out: list[Message] = []
        eof: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in consumer.consume(1000, 0.5):
                err = m.error()
                if err is None:
                    out.append(m)
                    eof.discard(m.partition())
                elif err.code() == KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
            if eof >= set(parts) and (expect is None or len(out) >= expect):
                break
        return out
    finally:
        consumer.close()
