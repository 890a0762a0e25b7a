"""Settings come from LOTLINE_* variables; librdkafka keys pass through unchanged; engines add their session
options to the ones given."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lotline.settings import load_settings
from lotline.wiring import make_engine


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


def test_engines_run_sessions_with_jit_off_and_keep_the_options_they_are_given(database_url: str) -> None:
    """A trace's plan cost is estimated from the lineage, not the lot traced; where it passes jit_above_cost,
    JIT compilation would add ~130 ms to every trace (lotline/wiring.py). Options the user gives still apply,
    after Lotline's."""
    def show(engine: Engine, *names: str) -> list[str]:
        with engine.connect() as conn:
            return [conn.execute(sa.text(f"SHOW {n}")).scalar_one() for n in names]

    assert show(make_engine(database_url), "jit") == ["off"]
    url = sa.engine.make_url(database_url).update_query_dict({"options": "-c jit=on -c work_mem=7MB"})
    assert show(make_engine(url.render_as_string(hide_password=False)), "jit", "work_mem") == ["on", "7MB"]
    given = make_engine(database_url, connect_args={"options": "-c work_mem=9MB", "connect_timeout": 5})
    assert show(given, "jit", "work_mem") == ["off", "9MB"]
