"""Typed access to what a consumed Kafka message carries."""

from __future__ import annotations

from confluent_kafka import Message

from store.port import SourceRef

Headers = list[tuple[str, str | bytes | None]]


def coordinates(msg: Message) -> SourceRef:
    """Topic, partition and offset of a consumed message (always set on messages that carry data)."""
    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError("a consumed message without topic, partition or offset")
    return SourceRef(topic, partition, offset)


def headers_of(msg: Message) -> Headers:
    """The message headers as a list of (key, value) pairs."""
    raw = msg.headers()
    if raw is None:
        return []
    return list(raw.items()) if isinstance(raw, dict) else list(raw)
