"""All of Lotline's settings, typed, in one place, read from ``LOTLINE_*`` environment variables.

librdkafka settings pass through unchanged: ``LOTLINE_KAFKA_CONFIG`` holds a JSON object of librdkafka keys
(``{"security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN"}``) that is merged over Lotline's own
defaults for every client.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Lotline settings. With no bootstrap servers or database URL, the CLI starts the embedded stack."""

    model_config = SettingsConfigDict(env_prefix="LOTLINE_", extra="ignore")

    kafka_bootstrap: str | None = Field(None, description="Kafka bootstrap servers, host:port[,host:port]")
    database_url: str | None = Field(None, description="SQLAlchemy URL of the event store database")
    kafka_config: dict[str, Any] = Field(default_factory=dict, description="librdkafka keys, passed through")
    schema_registry_url: str | None = Field(None, description="Confluent Schema Registry; else single-object")
    events_topic: str = "lotline.events"
    events_partitions: int = 6
    recall_alerts_topic: str = "lotline.recall-alerts"
    consumer_group: str = "lotline-ingest"
    batch_size: int = Field(2000, ge=1, description="most events written in one store transaction")
    batch_timeout_s: float = Field(0.5, gt=0, description="longest wait to fill a batch")
    # Batch sizes, poll intervals and timeouts of the other parts; the CLI options of the same name override them.
    ingest_idle_timeout_s: float = Field(
        15.0, gt=0, description="ingest --until-idle: longest wait while no partition is assigned")
    ingest_topic_wait_s: float = Field(
        30.0, gt=0, description="ingest --until-idle: longest wait for partitions another member holds to be stored")
    project_batch_size: int = Field(1000, ge=1, description="store rows a projector applies per transaction")
    project_poll_s: float = Field(0.5, gt=0, description="seconds between a caught-up projector's polls")
    replay_batch_size: int | None = Field(None, ge=1, description=(
        "store rows per read of a rebuild or as-of build, in its bulk load and its catch-up; unset: the rebuild's "
        "own, 10,000 (projections.lineage.bulk.CHUNK) and 5,000 (projections.lineage.replay.CATCH_UP)"))
    relay_batch_size: int = Field(500, ge=1, description="recall alerts the relay publishes per outbox transaction")
    relay_poll_s: float = Field(5.0, gt=0, description="longest sleep of an idle relay between outbox checks")
    relay_flush_timeout_s: float = Field(
        30.0, gt=0, description="longest wait for the broker to acknowledge a relay batch")
    publisher_flush_timeout_s: float = Field(
        60.0, gt=0, description="longest wait for the broker to acknowledge published events")
    alerts_tail_poll_s: float = Field(0.5, gt=0, description="alerts tail: longest wait of one poll")
    admin_timeout_s: float = Field(15.0, gt=0, description="longest wait for the broker to create topics")
    schema_registry_timeout_s: float = Field(10.0, gt=0, description="timeout of a Schema Registry request")
    log_format: str = Field("auto", pattern="^(auto|json|console)$")
    log_level: str = "INFO"
    embedded_dir: str = Field(".lotline", description="where the embedded PostgreSQL keeps its data")
    embedded_kafka_port: int = 19092
    epcis_json_schema: str | None = Field(None, description="GS1 EPCIS 2.0 JSON schema that capture validates against")
    epcis_xsd: str | None = Field(None, description="GS1 EPCIS 2.0 XSD that capture validates XML against")
    relay_pause_after_publish_s: float = Field(
        0.0, ge=0, description="fault injection for tests: pause between publishing alerts and marking them")

    @property
    def dlq_topic(self) -> str:
        """Dead-letter topic for events the consumer cannot decode or validate."""
        return f"{self.events_topic}.dlq"

    def kafka_client_config(self, **overrides: Any) -> dict[str, Any]:
        """librdkafka config for one client: Lotline defaults, then ``LOTLINE_KAFKA_CONFIG``, then overrides."""
        if not self.kafka_bootstrap:
            raise RuntimeError("LOTLINE_KAFKA_BOOTSTRAP is not set and no embedded broker is running")
        # log.connection.close: brokers close idle connections routinely; that is not worth a log line.
        conf: dict[str, Any] = {"bootstrap.servers": self.kafka_bootstrap, "log.connection.close": False}
        conf.update(overrides)
        conf.update(self.kafka_config)
        return conf


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment, with explicit overrides (CLI flags) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
