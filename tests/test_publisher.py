"""The publisher SDK surfaces delivery failures to the caller instead of dropping events."""

from __future__ import annotations

import pytest

from lotline.embedded import free_port
from producers.publisher import DeliveryError, EventPublisher
from tests.factories import shipment


def test_undeliverable_events_raise_with_their_keys() -> None:
    dead_broker = f"127.0.0.1:{free_port()}"  # nothing listens there
    pub = EventPublisher({"bootstrap.servers": dead_broker, "message.timeout.ms": 1500,
                          "log_level": 0}, "lotline.events")
    keys = [pub.publish(shipment(i)) for i in range(3)]
    with pytest.raises(DeliveryError) as info:
        pub.flush(timeout=10)
    failed = {f.event_key for f in info.value.failures}
    assert failed == set(keys)
    assert "3 event(s) not delivered" in str(info.value)


def test_delivered_events_are_counted(kafka_bootstrap: str, topic: str) -> None:
    with EventPublisher({"bootstrap.servers": kafka_bootstrap}, topic) as pub:
        pub.publish_many(shipment(i) for i in range(10))
    assert pub.stats.delivered == 10 and not pub.stats.failures
