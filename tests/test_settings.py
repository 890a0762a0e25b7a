"""Settings come from LOTLINE_* variables; librdkafka keys pass through unchanged."""

from __future__ import annotations

import pytest

from lotline.settings import load_settings


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTLINE_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("LOTLINE_DATABASE_URL", "postgresql://u@db/lotline")
    monkeypatch.setenv("LOTLINE_KAFKA_CONFIG", '{"security.protocol": "SASL_SSL", "session.timeout.ms": 10000}')
    monkeypatch.setenv("LOTLINE_EVENTS_TOPIC", "plant.events")
    monkeypatch.setenv("LOTLINE_BATCH_SIZE", "750")
    s = load_settings()
    assert s.database_url == "postgresql://u@db/lotline"
    assert s.dlq_topic == "plant.events.dlq"
    assert s.batch_size == 750
    conf = s.kafka_client_config(**{"session.timeout.ms": 6000, "group.id": "g"})
    assert conf["bootstrap.servers"] == "k1:9092,k2:9092"
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["session.timeout.ms"] == 10000  # the operator's librdkafka keys win over Lotline's defaults
    assert conf["group.id"] == "g"


def test_bad_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTLINE_BATCH_SIZE", "zero")
    with pytest.raises(ValueError, match="batch_size"):
        load_settings()


def test_kafka_needs_a_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOTLINE_KAFKA_BOOTSTRAP", raising=False)
    with pytest.raises(RuntimeError, match="LOTLINE_KAFKA_BOOTSTRAP"):
        load_settings().kafka_client_config()
